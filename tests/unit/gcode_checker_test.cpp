// SPDX-License-Identifier: Apache-2.0
// Machine checks of G-code programs: each violation reason, clean programs, caps and bad profiles.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <variant>

#include "compiler/gcode_checker.hpp"
#include "mto/error.hpp"

namespace mto {
namespace {

MachineProfile checkerLaser() {
    MachineProfile p;
    p.name = "grbl-laser-400x400";
    p.capability = "laser";
    p.sizeX = 400;
    p.sizeY = 400;
    p.minZ = 0;
    p.maxZ = 0;
    p.maxFeed = 6000;
    p.acceleration = 1000;
    p.allowedWords = {"G0", "G1", "G17", "G21", "G90", "G94", "M2", "M3", "M4", "M5", "S", "F"};
    return p;
}

MachineProfile routerProfile() {
    MachineProfile p;
    p.name = "grbl-router-600x400";
    p.capability = "cnc";
    p.sizeX = 600;
    p.sizeY = 400;
    p.minZ = -30;
    p.maxZ = 10;
    p.maxFeed = 3000;
    p.acceleration = 500;
    p.allowedWords = {"G0", "G1", "G2", "G3", "G17", "G21", "G90", "G91", "G94", "M2", "M3", "M5", "S", "F"};
    return p;
}

GcodeProgram checkerProgram(std::string_view text) {
    auto result = GcodeProgram::parse(text);
    if (auto* e = std::get_if<GcodeParseError>(&result)) {
        ADD_FAILURE() << "line " << e->line << ": " << e->message;
        return std::get<GcodeProgram>(GcodeProgram::parse(""));
    }
    return std::get<GcodeProgram>(std::move(result));
}

std::vector<Violation> check(const MachineProfile& profile, std::string_view text) { return GcodeChecker(profile).check(checkerProgram(text)); }

std::vector<Violation> withReason(const std::vector<Violation>& all, const std::string& reason) {
    std::vector<Violation> out;
    std::copy_if(all.begin(), all.end(), std::back_inserter(out), [&](const Violation& v) { return v.reason == reason; });
    return out;
}

std::vector<Violation> withoutReason(const std::vector<Violation>& all, const std::string& reason) {
    std::vector<Violation> out;
    std::copy_if(all.begin(), all.end(), std::back_inserter(out), [&](const Violation& v) { return v.reason != reason; });
    return out;
}

std::string describe(const std::vector<Violation>& all) {
    std::string s;
    for (const auto& v : all) s += v.reason + "@" + std::to_string(v.line) + ": " + v.message + "\n";
    return s;
}

TEST(GcodeChecker, CleanLaserProgramPasses) {
    auto v = check(checkerLaser(), "G21 G90 G17 G94\nG0 X10 Y10\nM4 S800\nG1 X50 F3000\nG1 Y50\nM5\nG0 X0 Y0\nM2\n");
    EXPECT_TRUE(v.empty()) << describe(v);
}

TEST(GcodeChecker, CleanRouterProgramWithArcsPasses) {
    auto v = check(routerProfile(),
                   "G21 G90 G17 G94\nM3 S12000\nG0 Z5\nG0 X50 Y50\nG1 Z-3 F300\nG2 X70 Y50 I10 J0 F1200\nG0 Z5\nM5\nM2\n");
    EXPECT_TRUE(v.empty()) << describe(v);
}

TEST(GcodeChecker, MoveEndingPastTheEnvelopeIsReportedWithItsAxis) {
    auto v = check(checkerLaser(), "G0 X10\nM4 S100\nG1 X500 F1000\nG1 Y-1\nM5\n");
    auto out = withReason(v, "outside_envelope");
    ASSERT_EQ(out.size(), 2u) << describe(v);
    EXPECT_EQ(out[0].line, 3);
    EXPECT_NE(out[0].message.find("X 500"), std::string::npos) << out[0].message;
    EXPECT_EQ(out[1].line, 4);
}

TEST(GcodeChecker, ZOutsideItsRangeIsOutsideTheEnvelope) {
    auto v = check(routerProfile(), "G0 Z11\nG1 Z-31 F100\nG1 Z-30\n");
    auto out = withReason(v, "outside_envelope");
    ASSERT_EQ(out.size(), 2u) << describe(v);
    EXPECT_EQ(out[0].line, 1);
    EXPECT_EQ(out[1].line, 2);
}

TEST(GcodeChecker, ArcBulgingOutOfTheEnvelopeIsReportedOnceForItsLine) {
    auto v = check(routerProfile(), "G0 X5 Y200\nG2 X25 Y200 I10 J0 F500\n");   // bulges up to Y 210: fine
    EXPECT_TRUE(withReason(v, "outside_envelope").empty()) << describe(v);
    v = check(routerProfile(), "G0 X5 Y395\nG2 X25 Y395 I10 J0 F500\n");   // bulges to Y 405
    auto out = withReason(v, "outside_envelope");
    ASSERT_EQ(out.size(), 1u) << describe(v);
    EXPECT_EQ(out[0].line, 2);
}

TEST(GcodeChecker, EnvelopeEdgesThemselvesAreInside) {
    auto v = check(checkerLaser(), "G0 X0 Y0\nG0 X400 Y400\nG20\nG0 X15.748031496062993\n");
    EXPECT_TRUE(withReason(v, "outside_envelope").empty()) << describe(v);
}

TEST(GcodeChecker, RapidWithTheLaserOnIsReported) {
    auto v = check(checkerLaser(), "M4 S500\nG1 X10 F1000\nG0 X20\nS0\nG0 X30\nM5\n");
    auto out = withReason(v, "laser_on_travel");
    ASSERT_EQ(out.size(), 1u) << describe(v);
    EXPECT_EQ(out[0].line, 3);
}

TEST(GcodeChecker, RapidWithTheSpindleOnIsFineOnARouter) {
    auto v = check(routerProfile(), "M3 S10000\nG0 X20\nM5\n");
    EXPECT_TRUE(withReason(v, "laser_on_travel").empty()) << describe(v);
}

TEST(GcodeChecker, WordsMissingFromTheProfileAreReportedOnEachLine) {
    auto v = check(checkerLaser(), "G21\nM106 S255\nG28\nG0 X1\nM106\nG1 X2 E1 F100\n");
    auto out = withReason(v, "command_not_allowed");
    ASSERT_EQ(out.size(), 4u) << describe(v);
    EXPECT_EQ(out[0].line, 2);
    EXPECT_NE(out[0].message.find("M106"), std::string::npos);
    EXPECT_EQ(out[1].line, 3);
    EXPECT_NE(out[1].message.find("G28"), std::string::npos);
    EXPECT_EQ(out[2].line, 5);
    EXPECT_EQ(out[3].line, 6);
    EXPECT_NE(out[3].message.find("E"), std::string::npos);
}

TEST(GcodeChecker, TwoForbiddenWordsOnOneLineAreBothNamed) {
    auto out = withReason(check(checkerLaser(), "G0 X1\nG91 G28 X0\n"), "command_not_allowed");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_NE(out[0].message.find("G28"), std::string::npos);
    EXPECT_NE(out[0].message.find("G91"), std::string::npos);
}

TEST(GcodeChecker, FeedAboveTheMachineMaximumIsReportedForFeedMovesOnly) {
    auto v = check(checkerLaser(), "G0 X10 F9000\nG1 X20 F6000\nG1 X30 F6001\nG1 X40\n");
    auto out = withReason(v, "feed_too_high");
    ASSERT_EQ(out.size(), 2u) << describe(v);
    EXPECT_EQ(out[0].line, 3);
    EXPECT_EQ(out[1].line, 4);
    EXPECT_NE(out[0].message.find("6001"), std::string::npos) << out[0].message;
}

TEST(GcodeChecker, FeedMoveBeforeAnyFeedIsReported) {
    auto v = check(checkerLaser(), "G0 X5\nG1 X10\nG1 X20 F100\n");
    auto out = withReason(v, "feed_missing");
    ASSERT_EQ(out.size(), 1u) << describe(v);
    EXPECT_EQ(out[0].line, 2);
}

TEST(GcodeChecker, ProgramWithoutMovesIsReportedOnce) {
    auto v = check(checkerLaser(), "G21\nG90\n; nothing\nM2\n");
    ASSERT_EQ(v.size(), 1u) << describe(v);
    EXPECT_EQ(v[0].reason, "no_moves");
    EXPECT_EQ(v[0].line, 0);
    EXPECT_EQ(check(checkerLaser(), "")[0].reason, "no_moves");
}

TEST(GcodeChecker, ViolationsComeInLineOrder) {
    auto v = check(checkerLaser(), "M4 S100\nG1 X500 F1000\nG0 X10\nM106\nG1 X1 F7000\nM2\n");
    v = withoutReason(v, "modes_not_set");
    ASSERT_EQ(v.size(), 4u) << describe(v);
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end(), [](const Violation& a, const Violation& b) { return a.line < b.line; }));
    EXPECT_EQ(v[0].reason, "outside_envelope");
    EXPECT_EQ(v[1].reason, "laser_on_travel");
    EXPECT_EQ(v[2].reason, "command_not_allowed");
    EXPECT_EQ(v[3].reason, "feed_too_high");
}

TEST(GcodeChecker, LongRunsOfOneReasonAreSummarisedAfterTheCap) {
    std::string text = "G1 F100\n";
    for (int i = 0; i < 10; ++i) text += "G1 X" + std::to_string(500 + i) + "\n";
    auto v = GcodeChecker(checkerLaser(), 3).check(checkerProgram(text));
    auto out = withReason(v, "outside_envelope");
    ASSERT_EQ(out.size(), 4u) << describe(v);
    EXPECT_EQ(out[0].line, 2);
    EXPECT_EQ(out[3].line, 5) << "the summary points at the first line not listed";
    EXPECT_NE(out[3].message.find("7 more"), std::string::npos) << out[3].message;
}

TEST(GcodeChecker, GrblProgramWithoutAProgramEndIsRefused) {
    for (const MachineProfile& p : {checkerLaser(), routerProfile()}) {
        auto v = check(p, "G21 G90\nG0 X10 Y10\nG1 X20 F100\nG0 X0 Y0\n");
        ASSERT_EQ(v.size(), 1u) << describe(v);
        EXPECT_EQ(v[0].reason, "program_end_missing");
        EXPECT_EQ(v[0].line, 0) << "about the whole program";
        EXPECT_NE(v[0].message.find("M2"), std::string::npos) << v[0].message;
    }
}

TEST(GcodeChecker, M2OrM30EndsAProgramAndOnlyCommentsMayFollow) {
    EXPECT_TRUE(check(checkerLaser(), "G21 G90\nG1 X20 F100\nM2\n").empty());
    auto m30 = checkerLaser();
    m30.allowedWords.insert("M30");
    EXPECT_TRUE(check(m30, "G21 G90\nG1 X20 F100\nM30\n").empty());
    EXPECT_TRUE(check(checkerLaser(), "G21 G90\nG1 X20 F100\nG0 X0 M2\n").empty()) << "the line's move runs before the end";
    auto v = check(checkerLaser(), "G21 G90\nG1 X20 F100\nM2\n; done\n\n(end)\n%\n");
    EXPECT_TRUE(v.empty()) << describe(v);
}

TEST(GcodeChecker, CommandsAfterTheProgramEndAreRefusedAtTheLastOne) {
    auto v = check(checkerLaser(), "G21 G90\nG1 X20 F100\nM2\nG0 X5\n; comment\nS0\n");
    ASSERT_EQ(v.size(), 1u) << describe(v);
    EXPECT_EQ(v[0].reason, "program_end_missing");
    EXPECT_EQ(v[0].line, 6);
    EXPECT_NE(v[0].message.find("line 3"), std::string::npos) << v[0].message;
}

TEST(GcodeChecker, GrblProgramMovingBeforeItSetsUnitsAndDistanceModeIsRefused) {
    auto v = check(checkerLaser(), "G0 X10\nG21 G90\nG1 X20 F100\nM2\n");
    ASSERT_EQ(v.size(), 1u) << describe(v);
    EXPECT_EQ(v[0].reason, "modes_not_set");
    EXPECT_EQ(v[0].line, 1) << "the first move";
    EXPECT_NE(v[0].message.find("G21"), std::string::npos) << v[0].message;
    EXPECT_NE(v[0].message.find("G90"), std::string::npos) << v[0].message;

    v = check(routerProfile(), "G90\nG0 Z5\nG21\nG1 Z-1 F100\nM2\n");
    ASSERT_EQ(v.size(), 1u) << describe(v);
    EXPECT_EQ(v[0].reason, "modes_not_set");
    EXPECT_EQ(v[0].line, 2);
    EXPECT_NE(v[0].message.find("G21"), std::string::npos) << v[0].message;
    EXPECT_EQ(v[0].message.find("G90 (absolute)"), std::string::npos) << "G90 was set: " << v[0].message;

    // Set on the first move's own line counts: GRBL applies modes before the line's motion.
    EXPECT_TRUE(check(checkerLaser(), "G21 G90 G1 X20 F100\nM2\n").empty());
    // G91 states the distance mode too; whether the machine takes it is its allowed words' call.
    EXPECT_TRUE(withReason(check(routerProfile(), "G21 G91\nG1 X20 F100\nM2\n"), "modes_not_set").empty());
}

TEST(GcodeChecker, PrinterProgramsNeedNeitherThePreambleNorAProgramEnd) {
    MachineProfile p;
    p.name = "mk3s";
    p.capability = "fdm";
    p.sizeX = 250;
    p.sizeY = 210;
    p.maxZ = 210;
    p.maxFeed = 12000;
    p.acceleration = 1250;
    p.allowedWords = {"G1", "E", "F"};
    auto v = check(p, "G1 X10 Y10 Z0.2 F3000\nG1 X20 E1\n");
    EXPECT_TRUE(v.empty()) << describe(v);
}

TEST(GcodeChecker, ProfilesWithoutAnEnvelopeOrFeedAreRefused) {
    auto p = checkerLaser();
    p.sizeX = 0;
    EXPECT_THROW(GcodeChecker{p}, Error);
    p = checkerLaser();
    p.maxFeed = 0;
    EXPECT_THROW(GcodeChecker{p}, Error);
    p = checkerLaser();
    p.minZ = 5;
    EXPECT_THROW(GcodeChecker{p}, Error);
}

} // namespace
} // namespace mto
