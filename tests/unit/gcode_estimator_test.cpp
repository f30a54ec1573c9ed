// SPDX-License-Identifier: Apache-2.0
// Time estimates with known trapezoid answers, distances, bounding box and artifact annotation.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <string_view>
#include <variant>

#include "compiler/gcode_estimator.hpp"
#include "mto/error.hpp"

namespace mto {
namespace {

MachineProfile estimatorLaser() {
    MachineProfile p;
    p.name = "grbl-laser-400x400";
    p.capability = "laser";
    p.sizeX = 400;
    p.sizeY = 400;
    p.maxFeed = 6000;        // 100 mm/s
    p.acceleration = 1000;   // mm/s²
    return p;
}

GcodeEstimate estimate(std::string_view text, const MachineProfile& profile = estimatorLaser()) {
    auto result = GcodeProgram::parse(text);
    if (auto* e = std::get_if<GcodeParseError>(&result)) {
        ADD_FAILURE() << "line " << e->line << ": " << e->message;
        return {};
    }
    return GcodeEstimator(profile).estimate(std::get<GcodeProgram>(result));
}

// 100 mm at 100 mm/s and 1000 mm/s²: 0.1 s and 5 mm to reach speed, the same to stop, 90 mm cruising.
TEST(GcodeEstimator, StraightLineFollowsTheTrapezoid) {
    EXPECT_NEAR(estimate("G1 X100 F6000").seconds, 0.1 + 0.9 + 0.1, 1e-9);
}

TEST(GcodeEstimator, ProgramEndAndThePreambleTakeNoTime) {
    EXPECT_NEAR(estimate("G21 G90 G17 G94\nG1 X100 F6000\nM5\nM2\n").seconds, 0.1 + 0.9 + 0.1, 1e-9);
    EXPECT_EQ(estimate("G21 G90 G17 G94\nM2\n").seconds, 0);
}

TEST(GcodeEstimator, ShortLineNeverReachesFullSpeed) {
    // 2 mm: peaks at sqrt(a·L) = 44.7 mm/s halfway, then stops.
    EXPECT_NEAR(estimate("G1 X2 F6000").seconds, 2 * std::sqrt(1000.0 * 2) / 1000, 1e-9);
}

TEST(GcodeEstimator, SplitStraightLineKeepsItsSpeedThroughTheJoin) {
    EXPECT_NEAR(estimate("G1 X50 F6000\nG1 X100").seconds, 1.1, 1e-9);
}

TEST(GcodeEstimator, GentleBendKeepsSpeed) {
    double x = 50 + 50 * std::cos(std::numbers::pi / 6), y = 50 * std::sin(std::numbers::pi / 6);
    EXPECT_NEAR(estimate("G1 X50 F6000\nG1 X" + std::to_string(x) + " Y" + std::to_string(y)).seconds, 1.1, 1e-6);
}

TEST(GcodeEstimator, RightAngleCornerStops) {
    // Two 50 mm trapezoids: 0.1 + 0.4 + 0.1 each.
    EXPECT_NEAR(estimate("G1 X50 F6000\nG1 Y50").seconds, 1.2, 1e-9);
}

TEST(GcodeEstimator, StraightJoinBetweenFeedsRunsAtTheSlowerFeed) {
    // 50 mm at 100 mm/s ending at 50 mm/s: 0.1 up (5 mm), 0.05 down (3.75 mm), 41.25 mm cruise = 0.5625 s;
    // then 50 mm at 50 mm/s stopping: 48.75 mm cruise (0.975 s) and 0.05 s down = 1.025 s.
    EXPECT_NEAR(estimate("G1 X50 F6000\nG1 X100 F3000").seconds, 0.5625 + 1.025, 1e-9);
}

TEST(GcodeEstimator, RapidsAndTooFastFeedsRunAtMaxFeed) {
    EXPECT_NEAR(estimate("G0 X100").seconds, 1.1, 1e-9);
    EXPECT_NEAR(estimate("G0 X100 F100").seconds, 1.1, 1e-9);
    EXPECT_NEAR(estimate("G1 X100 F12000").seconds, 1.1, 1e-9);
}

TEST(GcodeEstimator, SlowFeedIsDominatedByCruise) {
    // 100 mm at 10 mm/s: 0.01 s to reach speed over 0.05 mm each way.
    EXPECT_NEAR(estimate("G1 X100 F600").seconds, 0.01 + 99.9 / 10 + 0.01, 1e-9);
}

TEST(GcodeEstimator, ArcFlowsAtItsFeed) {
    // Half circle r = 10 at 10 mm/s: about π·10 / 10 s plus one ramp up and one down.
    double t = estimate("G1 X0 Y0 F600\nG2 X20 Y0 I10 J0").seconds;
    EXPECT_NEAR(t, std::numbers::pi + 0.01, 0.01);
}

TEST(GcodeEstimator, ExtruderOnlyMovesTakeTheirFilamentLength) {
    // 2 mm retraction at 40 mm/s: 0.8 mm up, 0.4 mm cruise, 0.8 mm down.
    EXPECT_NEAR(estimate("M83\nG1 E-2 F2400").seconds, 0.04 + 0.01 + 0.04, 1e-9);
}

// A pause stops the tool: the split line now brakes to 0 and starts again (2 x 1.1 s), plus the pause.
TEST(GcodeEstimator, DwellStopsTheToolAndAddsItsSecondsOnGrbl) {
    EXPECT_NEAR(estimate("G1 X100 F6000\nG1 X200").seconds, 0.1 + 1.9 + 0.1, 1e-9);
    EXPECT_NEAR(estimate("G1 X100 F6000\nG4 P1.5\nG1 X200").seconds, 2 * 1.1 + 1.5, 1e-9);
    EXPECT_NEAR(estimate("M3 S1000\nG4 P2\nG1 X100 F6000").seconds, 2 + 1.1, 1e-9) << "spin-up before the first move";
    EXPECT_NEAR(estimate("G1 X100 F6000\nG4 P0.5").seconds, 1.1 + 0.5, 1e-9) << "a pause at the end";
}

TEST(GcodeEstimator, MarlinDwellIsMillisecondsInPOrSecondsInS) {
    MachineProfile printer = estimatorLaser();
    printer.capability = "fdm";
    EXPECT_NEAR(estimate("G4 P250", printer).seconds, 0.25, 1e-12);
    EXPECT_NEAR(estimate("G4 S3", printer).seconds, 3, 1e-12);
    EXPECT_NEAR(estimate("G4 P250", estimatorLaser()).seconds, 250, 1e-12) << "GRBL reads P as seconds";
    auto parsed = GcodeProgram::parse("G4 P-1");
    ASSERT_TRUE(std::holds_alternative<GcodeParseError>(parsed));
    EXPECT_NE(std::get<GcodeParseError>(parsed).message.find("G4"), std::string::npos);
}

TEST(GcodeEstimator, EmptyProgramTakesNoTime) {
    GcodeEstimate e = estimate("G21\nG90\n");
    EXPECT_EQ(e.seconds, 0);
    EXPECT_EQ(e.travelMm, 0);
    EXPECT_EQ(e.workMm, 0);
    EXPECT_EQ(e.bbox.maxX, 0);
}

TEST(GcodeEstimator, DistancesSplitIntoTravelAndWorkAndTheBoxCoversEveryMove) {
    GcodeEstimate e = estimate("G0 X10 Y10\nM3 S100\nG1 X60 F1000\nG1 Y40\nM5\nG1 X30 Y40\nG0 X0 Y0\n");
    EXPECT_NEAR(e.workMm, 80, 1e-9);
    EXPECT_NEAR(e.travelMm, std::hypot(10, 10) + 30 + std::hypot(30, 40), 1e-9);
    EXPECT_DOUBLE_EQ(e.bbox.minX, 0);
    EXPECT_DOUBLE_EQ(e.bbox.minY, 0);
    EXPECT_DOUBLE_EQ(e.bbox.maxX, 60);
    EXPECT_DOUBLE_EQ(e.bbox.maxY, 40);
}

TEST(GcodeEstimator, PrinterWorkIsWhatExtrudes) {
    MachineProfile printer = estimatorLaser();
    printer.capability = "fdm";
    GcodeEstimate e = estimate("M83\nG0 X10 F6000\nG1 X30 E1 F1200\nG1 E-1\nG1 X40\n", printer);
    EXPECT_NEAR(e.workMm, 20, 1e-9);
    EXPECT_NEAR(e.travelMm, 20, 1e-9);
}

TEST(GcodeEstimator, AnnotateFillsTheArtifact) {
    JobArtifact a;
    a.capability = "laser";
    a.format = "gcode-grbl";
    a.program = "G21\nG90\nG0 X10 Y10\nM4 S500\nG1 X110 F6000\nM5\n";
    GcodeEstimator::annotate(a, estimatorLaser());
    EXPECT_EQ(a.lines, 6u);
    EXPECT_NEAR(a.workMm, 100, 1e-9);
    EXPECT_NEAR(a.travelMm, std::hypot(10, 10), 1e-9);
    EXPECT_NEAR(a.estimatedSeconds, estimate(a.program).seconds, 1e-12);
    EXPECT_GT(a.estimatedSeconds, 1.1);
    EXPECT_DOUBLE_EQ(a.bbox.minX, 10);
    EXPECT_DOUBLE_EQ(a.bbox.maxX, 110);
    EXPECT_DOUBLE_EQ(a.bbox.maxY, 10);
}

TEST(GcodeEstimator, AnnotateThrowsWithTheLineOfAParseError) {
    JobArtifact a;
    a.program = "G21\nG1 X1 X2\n";
    try {
        GcodeEstimator::annotate(a, estimatorLaser());
        FAIL() << "expected mto::Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
    }
}

TEST(GcodeEstimator, AnnotateRefusesAnArtifactForAnotherCapability) {
    JobArtifact a;
    a.capability = "fdm";
    a.program = "G1 X1 F100";
    EXPECT_THROW(GcodeEstimator::annotate(a, estimatorLaser()), Error);
}

TEST(GcodeEstimator, ProfileWithoutAccelerationIsRefused) {
    MachineProfile p = estimatorLaser();
    p.acceleration = 0;
    EXPECT_THROW(GcodeEstimator{p}, Error);
    p = estimatorLaser();
    p.maxFeed = -1;
    EXPECT_THROW(GcodeEstimator{p}, Error);
}

} // namespace
} // namespace mto
