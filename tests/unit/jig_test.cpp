// SPDX-License-Identifier: Apache-2.0
// Jig layout: a unit's program moved to its slot, many joined into one checked and estimated program, slots
// outside the machine found.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <string>
#include <variant>

#include "compiler/gcode_checker.hpp"
#include "compiler/gcode_estimator.hpp"
#include "compiler/gcode_program.hpp"
#include "compiler/proof_renderer.hpp"
#include "scheduler/jig.hpp"
#include "util/sha256.hpp"

namespace mto {
namespace {

MachineProfile laser400() {
    MachineProfile p;
    p.name = "laser-400";
    p.capability = "laser";
    p.sizeX = 400;
    p.sizeY = 400;
    p.maxFeed = 6000;
    p.acceleration = 1000;
    p.maxPower = 1000;
    p.allowedWords = {"G0", "G1", "G17", "G21", "G90", "G94", "M2", "M4", "M5", "S", "F"};
    return p;
}

// A tag's program as the laser text generator frames it: its part's work area starts at (10, 10).
JobArtifact tagProgram(double x0) {
    JobArtifact a;
    a.capability = "laser";
    a.format = "gcode-grbl";
    a.program = "G21 G90 G17 G94\nM4 S0\n";
    a.program += "G0 X" + std::to_string(x0) + " Y12 S0\n";
    a.program += "G1 X" + std::to_string(x0 + 30) + " Y12 S800 F3000 (underline)\n";
    a.program += "G1 X" + std::to_string(x0 + 30) + " Y25 S800\n";
    a.program += "G0 X0 Y0 S0\nM5\nM2\n";
    a.sha256 = sha256Hex(a.program);
    return a;
}

Jig tagJig() {
    Jig j;
    j.id = "tags-20";
    for (int r = 0; r < 5; ++r)
        for (int c = 0; c < 4; ++c) j.slots.push_back({10.0 + 60 * c, 5.0 + 30 * r, 50, 20});
    j.partOrigins["TAG"] = {10, 10};
    return j;
}

const GcodeProgram& parsedProgram(const std::variant<GcodeProgram, GcodeParseError>& v) {
    EXPECT_TRUE(std::holds_alternative<GcodeProgram>(v)) << std::get<GcodeParseError>(v).message;
    return std::get<GcodeProgram>(v);
}

TEST(JigLayout, TranslationMovesAbsoluteCoordinatesAndKeepsRelativeMovesAndArcCentres) {
    const auto moved = translateGrblProgram("G21 G90\nG0 X10 Y10 ; start\nG1 X12.5 Y-1 F100\nG91\nG1 X5 Y5\n"
                                            "G90 G1 X1 I3 J4\nM2\n",
                                            100, 50.5);
    ASSERT_TRUE(std::holds_alternative<std::string>(moved)) << std::get<JigRefusal>(moved).message;
    EXPECT_EQ(std::get<std::string>(moved),
              "G21 G90\nG0 X110.000 Y60.500\nG1 X112.500 Y49.500 F100\nG91\nG1 X5 Y5\nG90 G1 X101.000 I3 J4\nM5\n");
}

TEST(JigLayout, TranslationRefusesWhatWorksOutsideTheProgramsOwnCoordinates) {
    for (const char* text : {"G92 X0 Y0\n", "G53 G0 X0\n", "G20\nG0 X1\n", "$H\n", "G28\n", "G10 L2 P1 X0\n"}) {
        const auto moved = translateGrblProgram(text, 1, 1);
        ASSERT_TRUE(std::holds_alternative<JigRefusal>(moved)) << text;
        EXPECT_EQ(std::get<JigRefusal>(moved).reason, "not_translatable") << text;
        EXPECT_NE(std::get<JigRefusal>(moved).message.find("line 1"), std::string::npos) << text;
    }
}

TEST(JigLayout, EachUnitRunsInItsOwnSlotAndTheWholeJigIsOneCheckedAndEstimatedProgram) {
    const Jig jig = tagJig();
    const MachineProfile profile = laser400();
    const JobArtifact a = tagProgram(10), b = tagProgram(10), c = tagProgram(10);
    const std::vector<JigPlacement> placements{{&a, "TAG", 0, "A/1#1"}, {&b, "TAG", 1, "B/1#1"}, {&c, "TAG", 5, "C/1#1"}};
    auto built = buildJigProgram(jig, placements, profile, true);
    ASSERT_TRUE(std::holds_alternative<JigProgram>(built)) << std::get<JigRefusal>(built).message;
    const JigProgram& run = std::get<JigProgram>(built);

    const auto p = GcodeProgram::parse(run.artifact.program);
    const GcodeProgram& program = parsedProgram(p);
    EXPECT_TRUE(GcodeChecker(profile).check(program).empty());
    ASSERT_EQ(program.words().at("M2").size(), 1u) << "one program end, after the last unit";
    EXPECT_EQ(program.words().at("M2").front(), program.lastCommandLine());

    // The burns, in order, each inside the slot of its unit: slot 0, 1, then 5 (second row, second column).
    std::vector<std::size_t> slotOfBurn;
    for (const Move& m : program.moves()) {
        if (!isWorkMove(m, "laser")) continue;
        std::size_t in = 99;
        for (std::size_t s = 0; s < jig.slots.size(); ++s) {
            const JigSlot& r = jig.slots[s];
            auto inside = [&](const Point3& q) { return q.x >= r.x && q.x <= r.x + r.width && q.y >= r.y && q.y <= r.y + r.height; };
            if (inside(m.from) && inside(m.to)) in = s;
        }
        slotOfBurn.push_back(in);
    }
    EXPECT_EQ(slotOfBurn, (std::vector<std::size_t>{0, 0, 1, 1, 5, 5}));
    // Slot 1's origin is 60 mm right of slot 0's; the part's corner (10, 10) lands on the slot's (70, 5).
    EXPECT_NE(run.artifact.program.find("G1 X100.000 Y7.000"), std::string::npos) << run.artifact.program;

    // Estimated as a whole: all the units' work plus the travel between slots.
    JobArtifact single = a;
    GcodeEstimator::annotate(single, profile);
    EXPECT_GT(run.artifact.estimatedSeconds, 3 * single.estimatedSeconds * 0.9);
    EXPECT_NEAR(run.artifact.workMm, 3 * single.workMm, 1e-6);
    EXPECT_EQ(run.artifact.sha256, sha256Hex(run.artifact.program));
    EXPECT_EQ(run.artifact.lines, program.lineCount());

    // One proof of the whole jig: every used slot is outlined in the work-area blue.
    ASSERT_FALSE(run.proofPng.empty());
    const cv::Mat img = cv::imdecode(std::vector<uchar>(run.proofPng.begin(), run.proofPng.end()), cv::IMREAD_COLOR);
    ASSERT_FALSE(img.empty());
    const ProofLayout layout = ProofRenderer(profile).layout(program);
    for (std::size_t s : {0u, 1u, 5u}) {
        const JigSlot& r = jig.slots[s];
        const Point2 px = layout.toPixel({r.x + r.width, r.y + r.height / 2});   // the slot's right edge
        bool blue = false;
        for (int dx = -2; dx <= 2 && !blue; ++dx) {
            const cv::Vec3b v = img.at<cv::Vec3b>(static_cast<int>(px.y), static_cast<int>(px.x) + dx);
            blue = v[0] > 180 && v[2] < 120;
        }
        EXPECT_TRUE(blue) << "slot " << s << " is outlined";
    }
    const JigSlot& unused = jig.slots[19];
    const Point2 px = layout.toPixel({unused.x + unused.width, unused.y + unused.height / 2});
    const cv::Vec3b v = img.at<cv::Vec3b>(static_cast<int>(px.y), static_cast<int>(px.x));
    EXPECT_FALSE(v[0] > 180 && v[2] < 120) << "an empty slot is not drawn as holding a unit";
}

TEST(JigLayout, AProgramThatWouldLeaveTheMachineFromItsSlotIsRefusedAsAWhole) {
    Jig jig = tagJig();
    jig.slots.push_back({380, 390, 50, 20});   // reaches past the 400 mm envelope
    const JobArtifact a = tagProgram(10);
    auto built = buildJigProgram(jig, {{&a, "TAG", 0, "A"}, {&a, "TAG", 20, "B"}}, laser400(), false);
    ASSERT_TRUE(std::holds_alternative<JigRefusal>(built));
    EXPECT_EQ(std::get<JigRefusal>(built).reason, "check_failed");
    EXPECT_NE(std::get<JigRefusal>(built).message.find("outside_envelope"), std::string::npos)
        << std::get<JigRefusal>(built).message;
}

TEST(JigLayout, SlotsOutsideTheWorkAreaAreFoundByIndex) {
    const MachineProfile profile = laser400();
    EXPECT_FALSE(slotOutsideEnvelope(tagJig().slots, profile));
    EXPECT_EQ(slotOutsideEnvelope({{0, 0, 10, 10}, {395, 0, 10, 10}}, profile), std::optional<std::size_t>(1));
    EXPECT_EQ(slotOutsideEnvelope({{-1, 0, 10, 10}}, profile), std::optional<std::size_t>(0));
    EXPECT_EQ(slotOutsideEnvelope({{0, 0, 10, 10}, {0, 390.5, 10, 10}}, profile), std::optional<std::size_t>(1));
    EXPECT_FALSE(slotOutsideEnvelope({{390, 390, 10, 10}}, profile)) << "a slot may touch the envelope's edge";
}

TEST(JigLayout, OverlappingSlotsAreFoundAndTouchingOnesAreNot) {
    EXPECT_FALSE(overlappingJigSlots(tagJig().slots));
    EXPECT_FALSE(overlappingJigSlots({{0, 0, 10, 10}, {10, 0, 10, 10}, {0, 10, 10, 10}}));
    const auto clash = overlappingJigSlots({{0, 0, 10, 10}, {50, 50, 10, 10}, {55, 59, 10, 10}});
    ASSERT_TRUE(clash);
    EXPECT_EQ(*clash, (std::pair<std::size_t, std::size_t>{1, 2}));
}

TEST(JigLayout, WhatTheJigDoesNotHoldOrCannotRunIsRefusedWithAReason) {
    const Jig jig = tagJig();
    const JobArtifact a = tagProgram(10);
    auto sku = buildJigProgram(jig, {{&a, "COASTER", 0, "A"}}, laser400(), false);
    ASSERT_TRUE(std::holds_alternative<JigRefusal>(sku));
    EXPECT_EQ(std::get<JigRefusal>(sku).reason, "no_units");
    auto slot = buildJigProgram(jig, {{&a, "TAG", 20, "A"}}, laser400(), false);
    ASSERT_TRUE(std::holds_alternative<JigRefusal>(slot));
    EXPECT_EQ(std::get<JigRefusal>(slot).reason, "no_units");
    JobArtifact print = a;
    print.capability = "fdm";
    print.format = "gcode-marlin";
    auto fdm = buildJigProgram(jig, {{&print, "TAG", 0, "A"}}, laser400(), false);
    ASSERT_TRUE(std::holds_alternative<JigRefusal>(fdm));
    EXPECT_EQ(std::get<JigRefusal>(fdm).reason, "not_gcode");
    EXPECT_TRUE(std::holds_alternative<JigRefusal>(buildJigProgram(jig, {}, laser400(), false)));
}

} // namespace
} // namespace mto
