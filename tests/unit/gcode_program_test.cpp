// SPDX-License-Identifier: Apache-2.0
// G-code reading: words, modal state, units, offsets, arcs, checksums, limits and garbage input.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <string>
#include <string_view>
#include <variant>

#include "compiler/gcode_program.hpp"

namespace mto {
namespace {

GcodeProgram parseProgram(std::string_view text, const GcodeParseLimits& limits = {}) {
    auto result = GcodeProgram::parse(text, limits);
    if (auto* e = std::get_if<GcodeParseError>(&result)) {
        ADD_FAILURE() << "unexpected parse error at line " << e->line << ": " << e->message << "\nin:\n" << text;
        return std::get<GcodeProgram>(GcodeProgram::parse(""));
    }
    return std::get<GcodeProgram>(std::move(result));
}

GcodeParseError parseError(std::string_view text, const GcodeParseLimits& limits = {}) {
    auto result = GcodeProgram::parse(text, limits);
    if (auto* e = std::get_if<GcodeParseError>(&result)) return *e;
    ADD_FAILURE() << "expected a parse error for:\n" << text;
    return {};
}

double pathLength(const GcodeProgram& p, int line) {
    double sum = 0;
    for (const Move& m : p.moves())
        if (m.line == line) sum += std::hypot(m.to.x - m.from.x, m.to.y - m.from.y, m.to.z - m.from.z);
    return sum;
}

std::string withChecksum(std::string_view body) {
    unsigned cs = 0;
    for (char c : body) cs ^= static_cast<unsigned char>(c);
    return std::string(body) + "*" + std::to_string(cs);
}

std::vector<int> wordLines(const GcodeProgram& p, const std::string& word) {
    auto it = p.words().find(word);
    return it == p.words().end() ? std::vector<int>{} : it->second;
}

TEST(GcodeProgram, CommentsAreIgnoredAndWordsKeepTheirLines) {
    auto p = parseProgram("G21 ; metric\nG90 (absolute)\n(setup done)\nG0 X10 Y5 ; go\n");
    ASSERT_EQ(p.moves().size(), 1u);
    const Move& m = p.moves()[0];
    EXPECT_TRUE(m.rapid);
    EXPECT_DOUBLE_EQ(m.to.x, 10);
    EXPECT_DOUBLE_EQ(m.to.y, 5);
    EXPECT_EQ(m.line, 4);
    EXPECT_EQ(wordLines(p, "G21"), std::vector<int>{1});
    EXPECT_EQ(wordLines(p, "G90"), std::vector<int>{2});
    EXPECT_EQ(wordLines(p, "G0"), std::vector<int>{4});
    EXPECT_EQ(p.words().count("X"), 0u) << "geometry letters are not command words";
    EXPECT_EQ(p.lineCount(), 4u);
}

TEST(GcodeProgram, LeadingZerosAndLowerCaseAreTheSameCode) {
    auto p = parseProgram("g01 x1 f100\nG00X2\nM03 S10");
    EXPECT_EQ(wordLines(p, "G1"), std::vector<int>{1});
    EXPECT_EQ(wordLines(p, "G0"), std::vector<int>{2});
    EXPECT_EQ(wordLines(p, "M3"), std::vector<int>{3});
    EXPECT_EQ(wordLines(p, "F"), std::vector<int>{1});
    EXPECT_EQ(wordLines(p, "S"), std::vector<int>{3});
}

TEST(GcodeProgram, DecimalGCodesKeepTheirFraction) {
    auto p = parseProgram("G38.2 Z-5 F10\nG92.1");
    EXPECT_EQ(wordLines(p, "G38.2"), std::vector<int>{1});
    EXPECT_EQ(wordLines(p, "G92.1"), std::vector<int>{2});
    EXPECT_TRUE(p.moves().empty()) << "probing is not modelled as a move";
}

TEST(GcodeProgram, MotionModeAndFeedCarryOverToFollowingLines) {
    auto p = parseProgram("G1 X10 F1000\nX20\nY5\nG0 X0\nX1");
    ASSERT_EQ(p.moves().size(), 5u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_FALSE(p.moves()[i].rapid);
        EXPECT_DOUBLE_EQ(p.moves()[i].feed, 1000);
    }
    EXPECT_TRUE(p.moves()[3].rapid);
    EXPECT_TRUE(p.moves()[4].rapid);
    EXPECT_DOUBLE_EQ(p.moves()[2].from.x, 20);
    EXPECT_DOUBLE_EQ(p.moves()[2].to.y, 5);
}

TEST(GcodeProgram, RelativeMovesAccumulateUntilG90) {
    auto p = parseProgram("G91\nG1 X10 F100\nX10 Y-5\nZ2\nG90\nX0");
    ASSERT_EQ(p.moves().size(), 4u);
    EXPECT_DOUBLE_EQ(p.moves()[0].to.x, 10);
    EXPECT_DOUBLE_EQ(p.moves()[1].to.x, 20);
    EXPECT_DOUBLE_EQ(p.moves()[1].to.y, -5);
    EXPECT_DOUBLE_EQ(p.moves()[2].to.z, 2);
    EXPECT_DOUBLE_EQ(p.moves()[3].to.x, 0);
    EXPECT_DOUBLE_EQ(p.moves()[3].to.y, -5);
}

TEST(GcodeProgram, InchesAreConvertedToMillimetresIncludingFeed) {
    auto p = parseProgram("G20\nG1 X1 Y2 F10\nG21\nG1 X1");
    ASSERT_EQ(p.moves().size(), 2u);
    EXPECT_NEAR(p.moves()[0].to.x, 25.4, 1e-12);
    EXPECT_NEAR(p.moves()[0].to.y, 50.8, 1e-12);
    EXPECT_NEAR(p.moves()[0].feed, 254, 1e-12);
    EXPECT_NEAR(p.moves()[1].to.x, 1, 1e-12);
    EXPECT_NEAR(p.moves()[1].to.y, 50.8, 1e-12);
}

TEST(GcodeProgram, UnitsOnALineApplyToThatLinesNumbers) {
    auto p = parseProgram("G20 G1 X2 F1");
    ASSERT_EQ(p.moves().size(), 1u);
    EXPECT_NEAR(p.moves()[0].to.x, 50.8, 1e-12);
}

TEST(GcodeProgram, G92ShiftsLaterCoordinatesAndG921ClearsTheShift) {
    auto p = parseProgram("G0 X50 Y20\nG92 X0 Y0\nG0 X10 Y10\nG92.1\nG0 X10");
    ASSERT_EQ(p.moves().size(), 3u);
    EXPECT_DOUBLE_EQ(p.moves()[1].to.x, 60);
    EXPECT_DOUBLE_EQ(p.moves()[1].to.y, 30);
    EXPECT_DOUBLE_EQ(p.moves()[2].to.x, 10);
}

TEST(GcodeProgram, G53MovesInMachineCoordinatesDespiteAShift) {
    auto p = parseProgram("G0 X50\nG92 X0\nG53 G0 X5\nG0 X5");
    ASSERT_EQ(p.moves().size(), 3u);
    EXPECT_DOUBLE_EQ(p.moves()[1].to.x, 5);
    EXPECT_DOUBLE_EQ(p.moves()[2].to.x, 55);
}

TEST(GcodeProgram, G28HomesTheNamedAxesAndClearsTheirShift) {
    auto p = parseProgram("G0 X50 Y50\nG92 X0 Y0\nG28 X\nG0 X10 Y10");
    ASSERT_EQ(p.moves().size(), 2u);
    EXPECT_DOUBLE_EQ(p.moves()[1].from.x, 0);
    EXPECT_DOUBLE_EQ(p.moves()[1].from.y, 50);
    EXPECT_DOUBLE_EQ(p.moves()[1].to.x, 10);
    EXPECT_DOUBLE_EQ(p.moves()[1].to.y, 60);
}

TEST(GcodeProgram, AbsoluteExtrusionGivesDeltasAndG92E0ResetsIt) {
    auto p = parseProgram("M82\nG1 X10 E5 F100\nG1 X20 E8\nG92 E0\nG1 X30 E3\nG1 E1");
    ASSERT_EQ(p.moves().size(), 4u);
    EXPECT_DOUBLE_EQ(p.moves()[0].e, 5);
    EXPECT_DOUBLE_EQ(p.moves()[1].e, 3);
    EXPECT_DOUBLE_EQ(p.moves()[2].e, 3);
    EXPECT_DOUBLE_EQ(p.moves()[3].e, -2) << "an E-only move is a retraction";
    EXPECT_DOUBLE_EQ(p.moves()[3].to.x, 30);
    EXPECT_EQ(wordLines(p, "E"), (std::vector<int>{2, 3, 5, 6})) << "G92 E0 resets, it does not extrude";
}

TEST(GcodeProgram, M83MakesExtrusionRelativeEvenAfterG90) {
    auto p = parseProgram("M83\nG90\nG1 X10 E1 F100\nG1 X20 E1\nM82\nG1 X30 E5");
    ASSERT_EQ(p.moves().size(), 3u);
    EXPECT_DOUBLE_EQ(p.moves()[0].e, 1);
    EXPECT_DOUBLE_EQ(p.moves()[1].e, 1);
    EXPECT_DOUBLE_EQ(p.moves()[2].e, 3) << "absolute again from E 2";
    EXPECT_DOUBLE_EQ(p.moves()[1].to.x, 20) << "G90 keeps XYZ absolute";
}

TEST(GcodeProgram, G91MakesExtrusionRelativeToo) {
    auto p = parseProgram("G91\nG1 X1 E2 F100\nG1 X1 E2");
    ASSERT_EQ(p.moves().size(), 2u);
    EXPECT_DOUBLE_EQ(p.moves()[0].e, 2);
    EXPECT_DOUBLE_EQ(p.moves()[1].e, 2);
}

TEST(GcodeProgram, SpindleStateAndPowerFollowM3M4M5AndS) {
    auto p = parseProgram("M3 S500\nG1 X10 F1000\nM5\nG1 X20\nM4\nS0\nG1 X30\nS250 G1 X40\nM2\nG1 X50");
    ASSERT_EQ(p.moves().size(), 5u);
    EXPECT_TRUE(p.moves()[0].toolOn);
    EXPECT_DOUBLE_EQ(p.moves()[0].power, 500);
    EXPECT_FALSE(p.moves()[1].toolOn);
    EXPECT_TRUE(p.moves()[2].toolOn);
    EXPECT_DOUBLE_EQ(p.moves()[2].power, 0);
    EXPECT_DOUBLE_EQ(p.moves()[3].power, 250);
    EXPECT_FALSE(p.moves()[4].toolOn) << "program end switches the spindle off";
}

TEST(GcodeProgram, ProgramEndResetsMotionPlaneAndDistanceModeAsGrblDoesButKeepsUnitsAndFeed) {
    // G18 and G91 before M2; after it a bare "X2 Y1" is an absolute G1 in inches at the old feed, and an
    // XY arc is allowed again.
    auto p = parseProgram("G20 G91 G18 G1 X1 F10\nG0 X1\nM2\nX2 Y1\nG2 X3 Y0 I0.5 J-0.5");
    ASSERT_GE(p.moves().size(), 4u);
    const Move& after = p.moves()[2];
    EXPECT_FALSE(after.rapid) << "G1 after the end, not the G0 before it";
    EXPECT_DOUBLE_EQ(after.to.x, 2 * 25.4) << "absolute, in inches";
    EXPECT_DOUBLE_EQ(after.to.y, 25.4);
    EXPECT_DOUBLE_EQ(after.feed, 254);
    EXPECT_DOUBLE_EQ(p.moves().back().to.x, 3 * 25.4);
}

TEST(GcodeProgram, LastCommandLineSkipsTrailingCommentsAndBlankLines) {
    EXPECT_EQ(parseProgram("G0 X1\nM2\n; done\n\n(end)\n%\n").lastCommandLine(), 2);
    EXPECT_EQ(parseProgram("G0 X1\nS0\n").lastCommandLine(), 2);
    EXPECT_EQ(parseProgram("G0 X1\n$H\n").lastCommandLine(), 2);
    EXPECT_EQ(parseProgram("; only a comment\n").lastCommandLine(), 0);
    EXPECT_EQ(parseProgram("").lastCommandLine(), 0);
}

TEST(GcodeProgram, ParametersOfOtherCommandsAreNotPowerFeedOrMotion) {
    auto p = parseProgram("M104 S200\nM92 X80 Y80 E93\nG4 P1\nM106 S255\nG1 X1 F100");
    ASSERT_EQ(p.moves().size(), 1u);
    EXPECT_DOUBLE_EQ(p.moves()[0].power, 0);
    EXPECT_DOUBLE_EQ(p.moves()[0].from.x, 0);
    EXPECT_TRUE(wordLines(p, "S").empty());
    EXPECT_TRUE(wordLines(p, "P").empty());
    EXPECT_EQ(wordLines(p, "M104"), std::vector<int>{1});
    EXPECT_EQ(wordLines(p, "G4"), std::vector<int>{3});
}

TEST(GcodeProgram, UnknownLettersAndToolNumbersAreListedAsWords) {
    auto p = parseProgram("G1 X1 A5 F100\nT1\nM6 T2");
    EXPECT_EQ(wordLines(p, "A"), std::vector<int>{1});
    EXPECT_EQ(wordLines(p, "T1"), std::vector<int>{2});
    EXPECT_TRUE(wordLines(p, "T2").empty()) << "T on M6 is M6's parameter";
    EXPECT_EQ(wordLines(p, "M6"), std::vector<int>{3});
}

TEST(GcodeProgram, MessageAndFileNameTextIsNotParsed) {
    auto p = parseProgram("M117 Printing X10 (oops :-(\nM23 part.gco\nM118 E1 hello ; note");
    EXPECT_TRUE(p.moves().empty());
    EXPECT_EQ(wordLines(p, "M117"), std::vector<int>{1});
    EXPECT_EQ(wordLines(p, "M23"), std::vector<int>{2});
    EXPECT_TRUE(wordLines(p, "E").empty());
}

TEST(GcodeProgram, GrblSystemCommandsAreListedByName) {
    auto p = parseProgram("$H\n$32=1\n$X ; unlock\nG0 X1");
    EXPECT_EQ(wordLines(p, "$H"), std::vector<int>{1});
    EXPECT_EQ(wordLines(p, "$32"), std::vector<int>{2});
    EXPECT_EQ(wordLines(p, "$X"), std::vector<int>{3});
}

TEST(GcodeProgram, PercentDelimitersAndBlankLinesAreSkipped) {
    auto p = parseProgram("%\n\n   \nG0 X1\n%\n");
    EXPECT_EQ(p.moves().size(), 1u);
    EXPECT_EQ(p.lineCount(), 5u);
}

TEST(GcodeProgram, LineEndingsCrLfAndLoneCrCountAsOneLineEach) {
    auto p = parseProgram("G0 X1\r\nG0 X2\rG0 X3\n");
    ASSERT_EQ(p.moves().size(), 3u);
    EXPECT_EQ(p.moves()[2].line, 3);
    EXPECT_EQ(p.lineCount(), 3u);
    EXPECT_EQ(parseProgram("").lineCount(), 0u);
    EXPECT_EQ(parseProgram("G0 X1").lineCount(), 1u);
}

TEST(GcodeProgram, ClockwiseHalfCircleIsPiRLongAndBulgesUp) {
    auto p = parseProgram("G1 X0 Y0 F100\nG2 X20 Y0 I10 J0");
    EXPECT_NEAR(pathLength(p, 2), std::numbers::pi * 10, 0.02);
    double maxY = -1, minY = 1;
    for (const Move& m : p.moves()) {
        if (m.line != 2) continue;
        maxY = std::max(maxY, m.to.y);
        minY = std::min(minY, m.to.y);
        EXPECT_NEAR(std::hypot(m.to.x - 10, m.to.y), 10, 1e-9);
    }
    EXPECT_NEAR(maxY, 10, 0.01);
    EXPECT_GE(minY, -1e-9);
    EXPECT_DOUBLE_EQ(p.moves().back().to.x, 20);
    EXPECT_DOUBLE_EQ(p.moves().back().to.y, 0);
}

TEST(GcodeProgram, CounterClockwiseHalfCircleBulgesDown) {
    auto p = parseProgram("G3 X20 Y0 I10 J0");
    double minY = 1;
    for (const Move& m : p.moves()) minY = std::min(minY, m.to.y);
    EXPECT_NEAR(minY, -10, 0.01);
    EXPECT_NEAR(pathLength(p, 1), std::numbers::pi * 10, 0.02);
}

TEST(GcodeProgram, ArcEndingAtItsStartIsAFullCircle) {
    auto p = parseProgram("G0 X10 Y0\nG3 X10 Y0 I-10 J0 F100");
    EXPECT_NEAR(pathLength(p, 2), 2 * std::numbers::pi * 10, 0.05);
    EXPECT_GT(p.moves().size(), 20u);
}

TEST(GcodeProgram, RadiusFormArcsPickTheShortOrLongWayBySign) {
    auto shortArc = parseProgram("G2 X10 Y10 R10 F100");
    EXPECT_NEAR(pathLength(shortArc, 1), std::numbers::pi * 5, 0.02);
    for (const Move& m : shortArc.moves()) EXPECT_NEAR(std::hypot(m.to.x - 10, m.to.y), 10, 1e-9) << "centre (10,0)";
    auto longArc = parseProgram("G2 X10 Y10 R-10 F100");
    EXPECT_NEAR(pathLength(longArc, 1), std::numbers::pi * 15, 0.05);
}

TEST(GcodeProgram, HelicalArcRaisesZEvenly) {
    auto p = parseProgram("G2 X20 Y0 Z4 I10 J0 F100");
    ASSERT_GT(p.moves().size(), 4u);
    double prevZ = 0;
    for (const Move& m : p.moves()) {
        EXPECT_GE(m.to.z, prevZ);
        prevZ = m.to.z;
    }
    EXPECT_DOUBLE_EQ(p.moves().back().to.z, 4);
}

TEST(GcodeProgram, ArcExtrusionIsSpreadOverItsChords) {
    auto p = parseProgram("M83\nG2 X20 Y0 I10 J0 E6 F100");
    double sum = 0;
    for (const Move& m : p.moves()) sum += m.e;
    EXPECT_NEAR(sum, 6, 1e-9);
}

TEST(GcodeProgram, ArcsInInchesScaleTheirCentre) {
    auto p = parseProgram("G20\nG2 X1 Y0 I0.5 J0 F10");
    EXPECT_NEAR(pathLength(p, 2), std::numbers::pi * 12.7, 0.03);
}

TEST(GcodeProgram, ArcWhoseEndIsOffItsCircleIsRefused) {
    auto e = parseError("G0 X0 Y0\nG2 X20 Y0 I5 J0");
    EXPECT_EQ(e.line, 2);
    EXPECT_NE(e.message.find("circle"), std::string::npos) << e.message;
}

TEST(GcodeProgram, ArcsNeedACentreOrRadiusAndTheXYPlane) {
    EXPECT_EQ(parseError("G2 X10 Y0").line, 1);
    EXPECT_EQ(parseError("G2 X10 Y0 R5 I5").line, 1);
    EXPECT_EQ(parseError("G18\nG2 X10 Z0 I5 K0").line, 2);
    EXPECT_EQ(parseError("G2 X1 Y0 R0.2").line, 1) << "radius shorter than half the chord";
}

TEST(GcodeProgram, ValidChecksumsPassAndBadOnesNameTheLine) {
    std::string good = withChecksum("N1 G1 X10 F100") + "\n" + withChecksum("N2 G1 Y5") + " ; trailing comment\n";
    auto p = parseProgram(good);
    EXPECT_EQ(p.moves().size(), 2u);
    EXPECT_TRUE(p.words().count("N") == 0);

    std::string bad = withChecksum("N1 G1 X10 F100") + "\nN2 G1 Y5*1\n";
    auto e = parseError(bad);
    EXPECT_EQ(e.line, 2);
    EXPECT_NE(e.message.find("checksum"), std::string::npos) << e.message;
}

TEST(GcodeProgram, ChecksumNeedsALineNumberAndNothingButCommentsAfter) {
    EXPECT_EQ(parseError(withChecksum("G1 X10")).line, 1);
    EXPECT_EQ(parseError(withChecksum("N5 G1 X10") + " X2").line, 1);
    EXPECT_EQ(parseError("N5 G1 X10*").line, 1);
    EXPECT_EQ(parseError("N5 G1 X10*999").line, 1);
}

TEST(GcodeProgram, MalformedLinesAreReportedWithTheirLineNumber) {
    struct Case {
        const char* text;
        int line;
    };
    for (const Case& c : {Case{"G21\nG90\nG1 X\n", 3}, Case{"G1 X1 X2", 1}, Case{"G0 X1\nG1 X1 (unclosed", 2}, Case{"G1 X1 #3", 1},
                          Case{"G1 X1..2", 1}, Case{"G0 G1 X1", 1}, Case{"G92 G1 X1", 1},
                          Case{"M104 M106 S1", 1}, Case{"G1 F-100 X1", 1}, Case{"G1 X1 S-2", 1}, Case{"G1.25 X1", 1},
                          Case{"M3.5", 1}, Case{"N-1 G0 X1", 1}, Case{"G80\nX1", 2}, Case{"G1 X99999999999", 1},
                          Case{"G1 X1 I2", 1}, Case{"M3 M5", 1}, Case{"G20 G21", 1}, Case{"G0 X1 ?", 1},
                          Case{"G0 X\xc3\xa9", 1}}) {
        auto e = parseError(c.text);
        EXPECT_EQ(e.line, c.line) << c.text;
        EXPECT_FALSE(e.message.empty()) << c.text;
    }
}

TEST(GcodeProgram, ExponentIsNotANumberButAnEWord) {
    // "X1e5" reads as X1 then E5: valid G-code (an extrusion), unlike the C reading 100000.
    auto p = parseProgram("G1 X1e5 F100");
    ASSERT_EQ(p.moves().size(), 1u);
    EXPECT_DOUBLE_EQ(p.moves()[0].to.x, 1);
    EXPECT_DOUBLE_EQ(p.moves()[0].e, 5);
}

TEST(GcodeProgram, TheDefaultLineCapIsFiveMillion) { EXPECT_EQ(GcodeParseLimits{}.maxLines, 5'000'000u); }

TEST(GcodeProgram, ProgramsLongerThanTheLineCapAreRefusedAtTheFirstExtraLine) {
    GcodeParseLimits limits;
    limits.maxLines = 3;
    EXPECT_EQ(parseProgram("G0 X1\nG0 X2\nG0 X3\n", limits).moves().size(), 3u);
    auto e = parseError("G0 X1\nG0 X2\nG0 X3\nG0 X4\n", limits);
    EXPECT_EQ(e.line, 4);
    EXPECT_NE(e.message.find("3 lines"), std::string::npos) << e.message;
}

TEST(GcodeProgram, ProgramsExpandingBeyondTheMoveCapAreRefused) {
    GcodeParseLimits limits;
    limits.maxMoves = 50;
    auto e = parseError("G0 X10\nG2 X10 Y0 I-10 J0 F100", limits);
    EXPECT_EQ(e.line, 2);
}

TEST(GcodeProgram, ByteOrderMarkAtTheStartIsIgnored) {
    auto p = parseProgram("\xef\xbb\xbfG0 X1");
    EXPECT_EQ(p.moves().size(), 1u);
}

TEST(GcodeProgram, WorkMovesDependOnTheCapability) {
    Move burn;
    burn.toolOn = true;
    burn.power = 100;
    Move dark = burn;
    dark.power = 0;
    Move rapid = burn;
    rapid.rapid = true;
    Move extrude;
    extrude.e = 0.5;
    Move retract;
    retract.e = -1;
    EXPECT_TRUE(isWorkMove(burn, "laser"));
    EXPECT_FALSE(isWorkMove(dark, "laser"));
    EXPECT_FALSE(isWorkMove(rapid, "laser"));
    EXPECT_TRUE(isWorkMove(dark, "cnc"));
    EXPECT_FALSE(isWorkMove(rapid, "cnc"));
    EXPECT_TRUE(isWorkMove(extrude, "fdm"));
    EXPECT_FALSE(isWorkMove(retract, "fdm"));
    EXPECT_FALSE(isWorkMove(burn, "fdm"));
}

// Garbage must come back as a program or an error on an existing line, never a crash or a hang.
TEST(GcodeProgram, RandomGarbageNeverCrashesTheReader) {
    std::mt19937 rng(20240611);
    const std::string alphabet = "GMNXYZIJKREFSPTgxyz0123456789.-+ \t;()*%$=\n\r\n";
    const std::string sample =
        "G21\nG90\nM83\nN1 G1 X10 Y10 F3000 E1\nG2 X20 Y10 I5 J0\nG3 X10 Y10 R5\nG91 G0 X1\nM3 S500\nG92 X0\nM117 hi\n";
    for (int i = 0; i < 5000; ++i) {
        std::string input;
        switch (i % 3) {
        case 0: {   // raw bytes
            std::size_t len = rng() % 200;
            for (std::size_t k = 0; k < len; ++k) input += static_cast<char>(rng() % 256);
            break;
        }
        case 1: {   // G-code-looking noise
            std::size_t len = rng() % 300;
            for (std::size_t k = 0; k < len; ++k) input += alphabet[rng() % alphabet.size()];
            break;
        }
        default: {   // a real program with a few bytes flipped, dropped or inserted
            input = sample;
            int edits = 1 + static_cast<int>(rng() % 6);
            for (int k = 0; k < edits && !input.empty(); ++k) {
                std::size_t at = rng() % input.size();
                switch (rng() % 3) {
                case 0: input[at] = alphabet[rng() % alphabet.size()]; break;
                case 1: input.erase(at, 1); break;
                default: input.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
                }
            }
        }
        }
        auto result = GcodeProgram::parse(input);
        if (auto* e = std::get_if<GcodeParseError>(&result)) {
            EXPECT_GE(e->line, 1) << testing::PrintToString(input);
            EXPECT_FALSE(e->message.empty());
        } else {
            for (const Move& m : std::get<GcodeProgram>(result).moves()) {
                ASSERT_TRUE(std::isfinite(m.to.x) && std::isfinite(m.to.y) && std::isfinite(m.to.z) && std::isfinite(m.e))
                    << testing::PrintToString(input);
            }
        }
    }
}

} // namespace
} // namespace mto
