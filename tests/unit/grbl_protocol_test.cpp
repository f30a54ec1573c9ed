// SPDX-License-Identifier: Apache-2.0
// GRBL 1.1 protocol reading against the firmware's own output (samples from its docs and report.c), and
// random and truncated input that must never crash or throw.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "grbl/grbl_protocol.hpp"

namespace mto::grbl {
namespace {

// --- Status reports ----------------------------------------------------------------------------------------

TEST(GrblStatusReport, DocumentedIdleReportReadsStatePositionAndFeedSpeed) {
    auto r = parseStatusReport("<Idle|MPos:0.000,0.000,0.000|FS:0.0,0>");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->state, "Idle");
    EXPECT_FALSE(r->subState);
    ASSERT_TRUE(r->machinePos);
    EXPECT_DOUBLE_EQ(r->machinePos->x, 0);
    EXPECT_FALSE(r->workPos);
    EXPECT_FALSE(r->workOffset);
    EXPECT_DOUBLE_EQ(r->feed.value(), 0);
    EXPECT_DOUBLE_EQ(r->spindle.value(), 0);
    EXPECT_FALSE(r->plannerFree);
    EXPECT_FALSE(r->lineNumber);
    EXPECT_TRUE(r->pins.empty());
    EXPECT_FALSE(r->feedOverride);
    EXPECT_TRUE(r->accessories.empty());
}

TEST(GrblStatusReport, EveryFieldIsRead) {
    // Field values are the ones interface.md gives, in the order report.c writes them.
    auto r = parseStatusReport(
        "<Run|MPos:0.000,-10.000,5.000|Bf:15,128|Ln:99999|FS:500,8000|Pn:PZ|WCO:0.000,1.551,5.664|"
        "Ov:100,100,100|A:SFM>\r");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->state, "Run");
    ASSERT_TRUE(r->machinePos);
    EXPECT_DOUBLE_EQ(r->machinePos->x, 0);
    EXPECT_DOUBLE_EQ(r->machinePos->y, -10);
    EXPECT_DOUBLE_EQ(r->machinePos->z, 5);
    EXPECT_EQ(r->plannerFree, 15);
    EXPECT_EQ(r->rxFree, 128);
    EXPECT_EQ(r->lineNumber, 99999);
    EXPECT_DOUBLE_EQ(r->feed.value(), 500);
    EXPECT_DOUBLE_EQ(r->spindle.value(), 8000);
    EXPECT_EQ(r->pins, "PZ");
    ASSERT_TRUE(r->workOffset);
    EXPECT_DOUBLE_EQ(r->workOffset->y, 1.551);
    EXPECT_DOUBLE_EQ(r->workOffset->z, 5.664);
    EXPECT_EQ(r->feedOverride, 100);
    EXPECT_EQ(r->rapidOverride, 100);
    EXPECT_EQ(r->spindleOverride, 100);
    EXPECT_EQ(r->accessories, "SFM");
}

TEST(GrblStatusReport, WorkPositionIsNotMachinePosition) {
    auto r = parseStatusReport("<Idle|WPos:-2.500,0.000,11.000|FS:0,0>");
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->machinePos);
    ASSERT_TRUE(r->workPos);
    EXPECT_DOUBLE_EQ(r->workPos->x, -2.5);
    EXPECT_DOUBLE_EQ(r->workPos->z, 11);
}

TEST(GrblStatusReport, PlainFeedFieldHasNoSpindle) {
    // Builds without VARIABLE_SPINDLE send F: instead of FS:.
    auto r = parseStatusReport("<Run|MPos:1.000,2.000,0.000|F:500>");
    ASSERT_TRUE(r);
    EXPECT_DOUBLE_EQ(r->feed.value(), 500);
    EXPECT_FALSE(r->spindle);
}

TEST(GrblStatusReport, SubStatesAreRead) {
    struct Case {
        const char* line;
        const char* state;
        int sub;
    };
    for (const Case& c : {Case{"<Hold:0|MPos:0.000,0.000,0.000|FS:0,0>", "Hold", 0},
                          Case{"<Hold:1|MPos:0.000,0.000,0.000|FS:120,0>", "Hold", 1},
                          Case{"<Door:1|MPos:0.000,0.000,0.000|FS:0,0|Pn:D>", "Door", 1},
                          Case{"<Door:3|WPos:0.000,0.000,0.000|FS:0,0>", "Door", 3}}) {
        auto r = parseStatusReport(c.line);
        ASSERT_TRUE(r) << c.line;
        EXPECT_EQ(r->state, c.state);
        EXPECT_EQ(r->subState, c.sub) << c.line;
    }
}

TEST(GrblStatusReport, EveryGrbl11StateIsAccepted) {
    for (const char* state : {"Idle", "Run", "Hold", "Jog", "Alarm", "Door", "Check", "Home", "Sleep"}) {
        auto r = parseStatusReport(std::string("<") + state + "|MPos:0.000,0.000,0.000|FS:0,0>");
        ASSERT_TRUE(r) << state;
        EXPECT_EQ(r->state, state);
    }
}

TEST(GrblStatusReport, UnknownFieldsAndAFourthAxisAreTolerated) {
    auto r = parseStatusReport("<Idle|MPos:1.000,2.000,3.000,4.000|XX:whatever|SD:4.5,file.nc|FS:0,0>");
    ASSERT_TRUE(r);
    EXPECT_DOUBLE_EQ(r->machinePos->z, 3);
    EXPECT_DOUBLE_EQ(r->feed.value(), 0);
}

TEST(GrblStatusReport, InchReportsWithFourDecimalsAndNegativeZeroAreRead) {
    auto r = parseStatusReport("<Jog|WPos:-0.0000,1.2345,-0.5000|FS:19.7,0>");
    ASSERT_TRUE(r);
    EXPECT_DOUBLE_EQ(r->workPos->y, 1.2345);
    EXPECT_DOUBLE_EQ(r->workPos->z, -0.5);
}

TEST(GrblStatusReport, MalformedReportsAreRefused) {
    for (const char* line : {
             "",
             "<>",
             "<",
             ">",
             "<Idle|MPos:0.000,0.000,0.000|FS:0.0,0",        // no closing '>'
             "Idle|MPos:0.000,0.000,0.000|FS:0.0,0>",        // no opening '<'
             "<Idle>",                                        // no position
             "<|MPos:0.000,0.000,0.000>",                     // no state
             "<Idle||MPos:0.000,0.000,0.000>",                // empty field
             "<Idle|MPos:0.000,0.000,0.000|>",                // trailing empty field
             "<Idle|MPos:0.000,abc,0.000|FS:0,0>",            // non-numeric position
             "<Idle|MPos:0.000,0.000|FS:0,0>",                // two axes
             "<Idle|MPos:0.000,,0.000|FS:0,0>",               // empty axis
             "<Idle|MPos:1e3,0.000,0.000|FS:0,0>",            // not how GRBL prints numbers
             "<Idle|MPos:nan,0.000,0.000|FS:0,0>",
             "<Idle|MPos:0.000,0.000,0.000|Bf:15>",           // Bf with one number
             "<Idle|MPos:0.000,0.000,0.000|Bf:15,-1>",
             "<Idle|MPos:0.000,0.000,0.000|Ln:x>",
             "<Idle|MPos:0.000,0.000,0.000|FS:500>",          // FS without spindle
             "<Idle|MPos:0.000,0.000,0.000|F:>",
             "<Idle|MPos:0.000,0.000,0.000|Ov:100,100>",
             "<Idle|MPos:0.000,0.000,0.000|Pn:>",
             "<Idle|MPos:0.000,0.000,0.000|A:5>",
             "<Hold:x|MPos:0.000,0.000,0.000>",               // non-numeric sub-state
             "<Hold:|MPos:0.000,0.000,0.000>",
             "<Id le|MPos:0.000,0.000,0.000>",
         }) {
        EXPECT_FALSE(parseStatusReport(line)) << "accepted: " << line;
    }
}

// --- Line classification -----------------------------------------------------------------------------------

TEST(GrblClassify, ResponsesCarryTheirCodes) {
    EXPECT_EQ(classify("ok").kind, LineKind::Ok);
    EXPECT_EQ(classify("ok\r").kind, LineKind::Ok);

    auto e = classify("error:20");
    EXPECT_EQ(e.kind, LineKind::Error);
    EXPECT_EQ(e.code, 20);

    auto a = classify("ALARM:3\r");
    EXPECT_EQ(a.kind, LineKind::Alarm);
    EXPECT_EQ(a.code, 3);
}

TEST(GrblClassify, AnErrorWithoutANumberIsStillAResponse) {
    // GRBL 0.9 sent words; a line starting "error:" always answers one sent line, so it must be counted.
    auto e = classify("error: Bad number format");
    EXPECT_EQ(e.kind, LineKind::Error);
    EXPECT_EQ(e.code, 0);
    EXPECT_EQ(e.text, " Bad number format");
    EXPECT_EQ(classify("error:99999999999999999999").code, 0);
    EXPECT_EQ(classify("ALARM:").kind, LineKind::Alarm);
}

TEST(GrblClassify, WelcomeMessageGivesTheVersion) {
    auto w = classify("Grbl 1.1h ['$' for help]\r");
    EXPECT_EQ(w.kind, LineKind::Welcome);
    EXPECT_EQ(w.text, "1.1h");
    EXPECT_EQ(classify("Grbl 1.1e ['$' for help]").text, "1.1e");
    EXPECT_EQ(classify("Grbl").kind, LineKind::Other);
    EXPECT_EQ(classify("Grbl is great").kind, LineKind::Other);
}

TEST(GrblClassify, StatusReportIsStatus) {
    auto s = classify("<Idle|MPos:0.000,0.000,0.000|FS:0.0,0>");
    EXPECT_EQ(s.kind, LineKind::Status);
    EXPECT_EQ(s.text, "Idle|MPos:0.000,0.000,0.000|FS:0.0,0");
    EXPECT_EQ(classify("<Idle|MPos:0.000").kind, LineKind::Other);
}

TEST(GrblClassify, FeedbackMessagesByTag) {
    auto m = classify("[MSG:'$H'|'$X' to unlock]");
    EXPECT_EQ(m.kind, LineKind::Message);
    EXPECT_EQ(m.text, "'$H'|'$X' to unlock");
    EXPECT_EQ(classify("[MSG:Caution: Unlocked]").text, "Caution: Unlocked");
    EXPECT_EQ(classify("[MSG:Reset to continue]\r").text, "Reset to continue");

    auto gc = classify("[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0.0 S0]");
    EXPECT_EQ(gc.kind, LineKind::GCodeState);
    EXPECT_EQ(gc.text, "G0 G54 G17 G21 G90 G94 M5 M9 T0 F0.0 S0");

    auto ver = classify("[VER:1.1h.20190830:]");
    EXPECT_EQ(ver.kind, LineKind::Version);
    EXPECT_EQ(ver.text, "1.1h.20190830:");

    auto opt = classify("[OPT:VL,15,128]");
    EXPECT_EQ(opt.kind, LineKind::Options);
    EXPECT_EQ(opt.text, "VL,15,128");

    for (const char* line : {"[G54:4.000,0.000,0.000]", "[TLO:0.000]", "[PRB:0.000,0.000,0.000:0]",
                             "[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]",
                             "[echo:G1X0.540Y10.4F100]"}) {
        auto f = classify(line);
        EXPECT_EQ(f.kind, LineKind::Feedback) << line;
        EXPECT_EQ(f.text, std::string_view(line).substr(1, std::string_view(line).size() - 2));
    }
    EXPECT_EQ(classify("[MSG:unterminated").kind, LineKind::Other);
}

TEST(GrblClassify, StartupLineResult) {
    auto ok = classify(">G54G20:ok");
    EXPECT_EQ(ok.kind, LineKind::Startup);
    EXPECT_EQ(ok.text, "G54G20");
    EXPECT_EQ(ok.code, 0);

    auto failed = classify(">G54G20:error:20\r");
    EXPECT_EQ(failed.kind, LineKind::Startup);
    EXPECT_EQ(failed.text, "G54G20");
    EXPECT_EQ(failed.code, 20);

    auto eeprom = classify(">:error:7");   // EEPROM read fail: no line, error 7
    EXPECT_EQ(eeprom.kind, LineKind::Startup);
    EXPECT_EQ(eeprom.text, "");
    EXPECT_EQ(eeprom.code, 7);

    EXPECT_EQ(classify(">G54G20").kind, LineKind::Other);
}

TEST(GrblClassify, SettingLines) {
    auto s = classify("$32=1");
    EXPECT_EQ(s.kind, LineKind::Setting);
    EXPECT_EQ(s.code, 32);
    EXPECT_EQ(s.text, "1");
    auto t = classify("$130=400.000\r");
    EXPECT_EQ(t.code, 130);
    EXPECT_EQ(t.text, "400.000");
    // "$N0=G54" lists a stored startup line, not a setting.
    EXPECT_EQ(classify("$N0=G54").kind, LineKind::Other);
    EXPECT_EQ(classify("$=1").kind, LineKind::Other);
    EXPECT_EQ(classify("$-1=1").kind, LineKind::Other);
}

TEST(GrblClassify, BlankAndGarbage) {
    EXPECT_EQ(classify("").kind, LineKind::Empty);
    EXPECT_EQ(classify("\r").kind, LineKind::Empty);
    EXPECT_EQ(classify("  \t").kind, LineKind::Empty);
    for (std::string_view line : {"okay", "ok ok", "Error:1", "alarm:1", "\x01\x02\xff", "G1X10", "<", "[",
                                  "$", "$$", "Grbl "}) {
        auto r = classify(line);
        EXPECT_EQ(r.kind, LineKind::Other) << line;
        EXPECT_EQ(r.text, line);
    }
    std::string nul("o\0k", 3);
    EXPECT_EQ(classify(nul).kind, LineKind::Other);
}

TEST(GrblClassify, VeryLongLinesAreClassified) {
    std::string longMsg = "[MSG:" + std::string(100000, 'x') + "]";
    EXPECT_EQ(classify(longMsg).kind, LineKind::Message);
    std::string longReport = "<Idle|MPos:0.000,0.000,0.000" + std::string(100000, '|') + ">";
    EXPECT_EQ(classify(longReport).kind, LineKind::Other);
    EXPECT_EQ(classify(std::string(200000, '9')).kind, LineKind::Other);
    EXPECT_EQ(classify("error:" + std::string(5000, '1')).code, 0);
}

// --- Code texts ---------------------------------------------------------------------------------------------

TEST(GrblCodes, ErrorAndAlarmTextsSayWhatHappened) {
    EXPECT_NE(errorText(20).find("unsupported"), std::string::npos) << errorText(20);
    EXPECT_NE(errorText(22).find("feed rate"), std::string::npos);
    EXPECT_NE(errorText(9).find("alarm"), std::string::npos);
    EXPECT_NE(errorText(11).find("too long"), std::string::npos);
    EXPECT_NE(alarmText(3).find("reset while moving"), std::string::npos) << alarmText(3);
    EXPECT_NE(alarmText(1).find("hard limit"), std::string::npos);
    EXPECT_NE(alarmText(2).find("soft limit"), std::string::npos);
}

TEST(GrblCodes, EveryDefinedCodeHasItsOwnTextAndOthersAreUnknown) {
    // GRBL 1.1h defines errors 1..17 and 20..38, alarms 1..10 (10: dual-axis homing, added in 1.1h).
    for (int code = 1; code <= 38; ++code) {
        bool defined = code <= 17 || code >= 20;
        EXPECT_EQ(errorText(code).find("unknown"), defined ? std::string::npos : 0u) << code;
    }
    for (int code = 1; code <= 10; ++code) EXPECT_EQ(alarmText(code).find("unknown"), std::string::npos);
    EXPECT_EQ(errorText(0), "unknown error 0");
    EXPECT_EQ(errorText(18), "unknown error 18");
    EXPECT_EQ(errorText(39), "unknown error 39");
    EXPECT_EQ(errorText(-5), "unknown error -5");
    EXPECT_EQ(alarmText(0), "unknown alarm 0");
    EXPECT_EQ(alarmText(11), "unknown alarm 11");
}

// --- Settings -----------------------------------------------------------------------------------------------

// `$$` as interface.md prints it (defaults of a 1.1 build).
constexpr const char* kSettingsDump[] = {
    "$0=10",      "$1=25",      "$2=0",       "$3=0",       "$4=0",       "$5=0",       "$6=0",
    "$10=255",    "$11=0.010",  "$12=0.002",  "$13=0",      "$20=0",      "$21=0",      "$22=0",
    "$23=0",      "$24=25.000", "$25=500.000", "$26=250",   "$27=1.000",  "$30=1000",   "$31=0",
    "$32=0",      "$100=250.000", "$101=250.000", "$102=250.000", "$110=500.000", "$111=500.000",
    "$112=500.000", "$120=10.000", "$121=10.000", "$122=10.000", "$130=200.000", "$131=200.000",
    "$132=200.000", "ok",
};

TEST(GrblSettings, DocumentedDumpIsReadInFull) {
    Settings s;
    int read = 0;
    for (const char* line : kSettingsDump) {
        std::string withCr = std::string(line) + "\r";
        if (parseSetting(withCr, s)) ++read;
    }
    EXPECT_EQ(read, 34);
    EXPECT_EQ(s.values.size(), 34u);
    EXPECT_FALSE(s.laserMode());
    EXPECT_EQ(s.maxSpindle(), 1000);
    EXPECT_EQ(s.minSpindle(), 0);
    EXPECT_EQ(s.get(10), 255);
    EXPECT_DOUBLE_EQ(s.get(11).value(), 0.01);
    EXPECT_FALSE(s.get(7));
    ASSERT_TRUE(s.maxTravel());
    EXPECT_DOUBLE_EQ(s.maxTravel()->x, 200);
    EXPECT_DOUBLE_EQ(s.maxTravel()->y, 200);
    EXPECT_DOUBLE_EQ(s.maxTravel()->z, 200);
}

TEST(GrblSettings, LaserMachineSettingsOverrideEarlierOnes) {
    Settings s;
    for (const char* line : kSettingsDump) parseSetting(line, s);
    EXPECT_TRUE(parseSetting("$32=1", s));
    EXPECT_TRUE(parseSetting("$30=1000", s));
    EXPECT_TRUE(parseSetting("$130=400.000", s));
    EXPECT_TRUE(parseSetting("$131=400.000\r\n", s));
    EXPECT_TRUE(s.laserMode());
    EXPECT_DOUBLE_EQ(s.maxTravel()->x, 400);
    EXPECT_DOUBLE_EQ(s.maxTravel()->y, 400);
    EXPECT_DOUBLE_EQ(s.maxTravel()->z, 200);
}

TEST(GrblSettings, OlderBuildsTrailingDecimalPointIsRead) {
    // settings.md shows a 1.1d dump printing the spindle range as "$30=1000." and "$31=0.".
    Settings s;
    EXPECT_TRUE(parseSetting("$30=1000.", s));
    EXPECT_TRUE(parseSetting("$31=0.", s));
    EXPECT_EQ(s.maxSpindle(), 1000);
    EXPECT_EQ(s.minSpindle(), 0);
}

TEST(GrblSettings, JunkLinesAreNotSettings) {
    Settings s;
    for (const char* line : {"", "$", "$$", "$32", "$32=", "$32=abc", "$32=1junk", "$32= 1", "$x=1", "$=1",
                             "$-1=5", "$N0=G54", "$N1=", "32=1", "ok", "$32=1=2", "$99999999999=1",
                             "$32=nan", "$32=inf", "$32=1e5", "[MSG:$32=1]"}) {
        EXPECT_FALSE(parseSetting(line, s)) << line;
    }
    EXPECT_TRUE(s.values.empty());
    EXPECT_FALSE(s.laserMode());
    EXPECT_FALSE(s.maxTravel());
    EXPECT_FALSE(s.maxSpindle());
}

// --- Build info ---------------------------------------------------------------------------------------------

TEST(GrblBuildInfo, CurrentFormatWithPlannerAndBufferSizes) {
    BuildInfo b;
    EXPECT_TRUE(parseBuildInfo("[VER:1.1h.20190830:]\r", b));
    EXPECT_TRUE(parseBuildInfo("[OPT:VL,15,128]\r", b));
    EXPECT_EQ(b.version, "1.1h.20190830");
    EXPECT_EQ(b.name, "");
    EXPECT_EQ(b.options, "VL");
    EXPECT_EQ(b.plannerBlocks, 15);
    EXPECT_EQ(b.rxBufferBytes, 128);
}

TEST(GrblBuildInfo, DocumentedExampleKeepsNameAndVersionAsSent) {
    BuildInfo b;
    EXPECT_TRUE(parseBuildInfo("[VER:v1.1f.20170131:Some string]", b));
    EXPECT_TRUE(parseBuildInfo("[OPT:VL,16,128]", b));
    EXPECT_EQ(b.version, "v1.1f.20170131");
    EXPECT_EQ(b.name, "Some string");
    EXPECT_EQ(b.plannerBlocks, 16);
}

TEST(GrblBuildInfo, OtherOptionForms) {
    BuildInfo b;
    EXPECT_TRUE(parseBuildInfo("[OPT:V,15,128]", b));
    EXPECT_EQ(b.options, "V");
    EXPECT_EQ(b.rxBufferBytes, 128);

    // Before 1.1f the line had no numbers.
    EXPECT_TRUE(parseBuildInfo("[OPT:VL]", b));
    EXPECT_EQ(b.options, "VL");
    EXPECT_FALSE(b.plannerBlocks);
    EXPECT_FALSE(b.rxBufferBytes);

    // Options shown when disabled, and no options at all.
    EXPECT_TRUE(parseBuildInfo("[OPT:VNM+*$#IEW,15,255]", b));
    EXPECT_EQ(b.options, "VNM+*$#IEW");
    EXPECT_EQ(b.rxBufferBytes, 255);
    EXPECT_TRUE(parseBuildInfo("[OPT:,15,128]", b));
    EXPECT_EQ(b.options, "");

    EXPECT_TRUE(parseBuildInfo("[VER:1.1h.20190830:MY:LASER]", b));
    EXPECT_EQ(b.name, "MY:LASER");
}

TEST(GrblBuildInfo, OtherLinesAndBrokenOnesAreRefusedUntouched) {
    BuildInfo b;
    ASSERT_TRUE(parseBuildInfo("[OPT:VL,15,128]", b));
    for (const char* line : {"", "ok", "[MSG:Reset to continue]", "[VER:]", "[VER:1.1h", "[OPT:VL,15]",
                             "[OPT:VL,x,128]", "[OPT:VL,15,-1]", "[OPTS:VL,15,128]", "VER:1.1h.20190830:"}) {
        EXPECT_FALSE(parseBuildInfo(line, b)) << line;
    }
    EXPECT_EQ(b.options, "VL");
    EXPECT_EQ(b.plannerBlocks, 15);
    EXPECT_EQ(b.rxBufferBytes, 128);
}

// --- G-code parser state ------------------------------------------------------------------------------------

TEST(GrblGCodeState, WordsAreSplit) {
    EXPECT_EQ(parseGCodeState("[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]\r"),
              (std::vector<std::string>{"G0", "G54", "G17", "G21", "G90", "G94", "M5", "M9", "T0", "F0", "S0"}));
    EXPECT_EQ(parseGCodeState("[GC:G0 G54 G17 G21 G90 G94 M0 M5 M9 T0 S0.0 F500.0]").size(), 12u);
    EXPECT_EQ(parseGCodeState("[GC:G38.2 G54 G17 G21 G91 G94 M3 M8 T1 F100 S1000]").front(), "G38.2");
    EXPECT_TRUE(parseGCodeState("[GC:]").empty());
    EXPECT_TRUE(parseGCodeState("[MSG:G0 G54]").empty());
    EXPECT_TRUE(parseGCodeState("GC:G0 G54").empty());
    EXPECT_TRUE(parseGCodeState("").empty());
}

// --- Wire form ----------------------------------------------------------------------------------------------

TEST(GrblWireForm, StripsSpacesCommentsAndUpperCases) {
    EXPECT_EQ(wireForm("G1 X10 Y5 F1000"), "G1X10Y5F1000");
    EXPECT_EQ(wireForm("g1 x10.5 y-2 f1000"), "G1X10.5Y-2F1000");
    EXPECT_EQ(wireForm("G1 X10 (move) Y5"), "G1X10Y5");
    EXPECT_EQ(wireForm("G1 X10 ; the rest (is gone) Y5"), "G1X10");
    EXPECT_EQ(wireForm("(a whole-line comment)"), "");
    EXPECT_EQ(wireForm("; another"), "");
    EXPECT_EQ(wireForm(""), "");
    EXPECT_EQ(wireForm("M3 S1000\r\n"), "M3S1000");
    EXPECT_EQ(wireForm("\tG0\tX1\v"), "G0X1");
    EXPECT_EQ(wireForm("$J=G91 x1 f100"), "$J=G91X1F100");
}

TEST(GrblWireForm, ParenthesesFollowTheFirmware) {
    // GRBL does not nest: the first ')' ends the comment, what follows is text again.
    EXPECT_EQ(wireForm("G0 (a (b) c) X1"), "G0C)X1");
    EXPECT_EQ(wireForm("(a;b)G1 X1"), "G1X1");   // ';' inside parentheses does not end the line
    EXPECT_EQ(wireForm("G1 X1 (unterminated"), "G1X1");
    EXPECT_EQ(wireForm("G1 X1 ) Y2"), "G1X1)Y2");  // a stray ')' is kept (and refused by GRBL)
}

TEST(GrblWireForm, RealtimeAndControlBytesNeverGoOnTheWire) {
    // Sent as text these would act at once: '!' holds the feed, '~' resumes, 0x18 resets.
    EXPECT_EQ(wireForm("G1 X1 (stop here!) Y2"), "G1X1Y2");
    EXPECT_EQ(wireForm("G1 X1 ! Y2 ~ ?"), "G1X1Y2");
    EXPECT_EQ(wireForm(std::string("G1\x18X1")), "G1X1");
    EXPECT_EQ(wireForm("G1 X1 (caf\xc3\xa9)"), "G1X1");
    EXPECT_EQ(wireForm("G1 X1 \xc3\xa9"), "G1X1");
    EXPECT_EQ(wireForm(std::string("G1\x01X1\x7f", 6)), "G1X1\x7f");
    EXPECT_EQ(wireForm(std::string("G1\0X1", 5)), "G1X1");
    EXPECT_EQ(wireForm("/G1 X1"), "G1X1");   // block delete: GRBL drops the character
}

TEST(GrblDwell, AG4LineDwellsItsPWordInSecondsAndNoOtherLineDwells) {
    EXPECT_EQ(dwellSeconds("G4P2"), 2.0);
    EXPECT_EQ(dwellSeconds("G04P12.5"), 12.5);
    EXPECT_EQ(dwellSeconds("P0.25G4"), 0.25) << "words in any order, as GRBL reads them";
    EXPECT_EQ(dwellSeconds("G4P0"), 0.0);
    EXPECT_EQ(dwellSeconds("G4P.5"), 0.5);
    EXPECT_EQ(dwellSeconds("G4P0X10"), 0.0) << "a number ends at the next letter: no exponent, no hex";
    EXPECT_EQ(dwellSeconds("G4P1E3"), 1.0);
    EXPECT_FALSE(dwellSeconds("G4")) << "no P: GRBL refuses it";
    EXPECT_FALSE(dwellSeconds("G4P-1"));
    EXPECT_FALSE(dwellSeconds("G40P2")) << "G40 is not G4";
    EXPECT_FALSE(dwellSeconds("G1X4P2"));
    EXPECT_FALSE(dwellSeconds("M3S18000"));
    EXPECT_FALSE(dwellSeconds("$J=G4P2"));
    EXPECT_FALSE(dwellSeconds("G4PP2"));
    EXPECT_FALSE(dwellSeconds(""));
}

// --- Robustness ---------------------------------------------------------------------------------------------

const std::vector<std::string>& realSamples() {
    static const std::vector<std::string> samples = {
        "<Idle|MPos:0.000,0.000,0.000|FS:0.0,0>",
        "<Run|MPos:0.000,-10.000,5.000|Bf:15,128|Ln:99999|FS:500,8000|Pn:PZ|WCO:0.000,1.551,5.664|Ov:100,100,100|"
        "A:SFM>",
        "<Door:1|WPos:-2.500,0.000,11.000|F:500>",
        "Grbl 1.1h ['$' for help]",
        "[MSG:'$H'|'$X' to unlock]",
        "[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0.0 S0]",
        "[VER:1.1h.20190830:]",
        "[OPT:VL,15,128]",
        "[PRB:0.000,0.000,0.000:0]",
        ">G54G20:ok",
        ">G54G20:error:20",
        "$130=200.000",
        "error:20",
        "ALARM:3",
        "ok",
    };
    return samples;
}

// Every entry point on one line; none may throw, and what one accepts the others agree with.
void readEverything(const std::string& line) {
    ResponseLine r;
    EXPECT_NO_THROW(r = classify(line)) << line;
    std::optional<StatusReport> status;
    EXPECT_NO_THROW(status = parseStatusReport(line)) << line;
    if (status) {
        EXPECT_EQ(r.kind, LineKind::Status) << line;
    }
    Settings s;
    bool isSetting = false;
    EXPECT_NO_THROW(isSetting = parseSetting(line, s)) << line;
    if (isSetting) {
        EXPECT_EQ(r.kind, LineKind::Setting) << line;
    }
    BuildInfo b;
    EXPECT_NO_THROW(parseBuildInfo(line, b)) << line;
    EXPECT_NO_THROW(parseGCodeState(line)) << line;
    std::string wire;
    EXPECT_NO_THROW(wire = wireForm(line)) << line;
    EXPECT_LE(wire.size(), line.size());
    EXPECT_NO_THROW(errorText(r.code));
    EXPECT_NO_THROW(alarmText(r.code));
}

TEST(GrblRobustness, RandomBytesTruncationsAndMutationsOfRealSamples) {
    std::mt19937 rng(20190830);   // fixed: a failure reproduces
    std::uniform_int_distribution<int> byte(0, 255);

    for (int i = 0; i < 3000; ++i) {
        std::string line(static_cast<std::size_t>(rng() % 200), '\0');
        for (char& c : line) c = static_cast<char>(byte(rng));
        readEverything(line);
    }

    // Random text made of the characters the protocol uses, which reaches deeper than random bytes.
    const std::string alphabet = "<>[]|:,.-0123456789$=okerrorALARMIdleRunHoldMPosWPosWCOBfLnFSPnOvA \r";
    for (int i = 0; i < 3000; ++i) {
        std::string line(static_cast<std::size_t>(rng() % 120), ' ');
        for (char& c : line) c = alphabet[rng() % alphabet.size()];
        if (rng() % 2) line = "<" + line + ">";
        readEverything(line);
    }

    for (const std::string& sample : realSamples()) {
        for (std::size_t len = 0; len <= sample.size(); ++len) {
            readEverything(sample.substr(0, len));
            readEverything(sample.substr(len));
        }
        for (int i = 0; i < 300; ++i) {
            std::string mutated = sample;
            if (mutated.empty()) break;
            int edits = 1 + static_cast<int>(rng() % 3);
            for (int e = 0; e < edits; ++e) {
                std::size_t at = rng() % mutated.size();
                switch (rng() % 3) {
                case 0: mutated[at] = static_cast<char>(byte(rng)); break;
                case 1: mutated.erase(at, 1); break;
                default: mutated.insert(at, 1, static_cast<char>(byte(rng))); break;
                }
                if (mutated.empty()) break;
            }
            readEverything(mutated);
        }
    }
}

} // namespace
} // namespace mto::grbl
