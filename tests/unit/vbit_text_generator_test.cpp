// SPDX-License-Identifier: Apache-2.0
// V-bit text G-code read back by a small local parser and checked by property: depths, retracts, strokes, metrics.
#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/hershey_font.hpp"
#include "compiler/text_layout.hpp"
#include "compiler/vbit_text_generator.hpp"
#include "mto/error.hpp"
#include "util/sha256.hpp"

namespace mto {
namespace {

namespace fs = std::filesystem;

struct P3 {
    double x = 0, y = 0, z = 0;
};

struct CncMove {
    bool rapid = false;
    P3 from, to;
    double feed = 0;
    bool spindleOn = false;
    int line = 0;
    bool movesXY() const { return from.x != to.x || from.y != to.y; }
    bool movesZOnly() const { return !movesXY() && from.z != to.z; }
};

struct ParsedCnc {
    std::vector<std::string> lines;
    std::vector<CncMove> moves;
    double spindleSpeed = 0;
    int firstSpindleOnLine = 0;
    int spindleOffLine = 0;
    double dwellSeconds = -1;
    int dwellLine = 0;
};

// Just enough G-code for what the generator emits: G0/G1/G4 (G17/G21/G90/G94 change nothing here), M3/M5/M2,
// S, F, P, X, Y, Z.
ParsedCnc parseCnc(const std::string& program) {
    ParsedCnc out;
    std::istringstream in(program);
    P3 pos;
    int motion = -1;
    double feed = 0;
    bool spindleOn = false;
    int lineNo = 0;
    for (std::string line; std::getline(in, line);) {
        ++lineNo;
        out.lines.push_back(line);
        std::istringstream words(line);
        P3 target = pos;
        bool moves = false, dwell = false;
        for (std::string w; words >> w;) {
            double value = 0;
            const auto r = std::from_chars(w.data() + 1, w.data() + w.size(), value);
            EXPECT_TRUE(r.ec == std::errc() && r.ptr == w.data() + w.size()) << "line " << lineNo << ": " << w;
            switch (w[0]) {
            case 'G':
                if (value == 0 || value == 1) {
                    motion = static_cast<int>(value);
                }
                dwell = dwell || value == 4;
                break;
            case 'M':
                if (value == 3 && !spindleOn) {
                    out.firstSpindleOnLine = lineNo;
                }
                spindleOn = value == 3 ? true : value == 5 || value == 2 ? false : spindleOn;
                out.spindleOffLine = value == 5 ? lineNo : out.spindleOffLine;
                break;
            case 'S': out.spindleSpeed = value; break;
            case 'F': feed = value; break;
            case 'P':
                EXPECT_TRUE(dwell) << "P without G4, line " << lineNo;
                out.dwellSeconds = value;
                out.dwellLine = lineNo;
                break;
            case 'X': target.x = value; moves = true; break;
            case 'Y': target.y = value; moves = true; break;
            case 'Z': target.z = value; moves = true; break;
            default: ADD_FAILURE() << "line " << lineNo << ": unexpected word " << w;
            }
        }
        if (moves) {
            EXPECT_GE(motion, 0) << "line " << lineNo << " moves without G0/G1";
            out.moves.push_back({motion == 0, pos, target, feed, spindleOn, lineNo});
            pos = target;
        }
    }
    return out;
}

MachineProfile cncProfile() {
    MachineProfile p;
    p.name = "grbl-cnc-300x200";
    p.capability = "cnc";
    p.sizeX = 300;
    p.sizeY = 200;
    p.minZ = -30;
    p.maxZ = 40;
    p.maxFeed = 3000;
    p.allowedWords = {"G0", "G1", "G4", "G17", "G21", "G90", "G94", "M2", "M3", "M5", "S", "F"};
    return p;
}

VBitTool sixtyDegree() {
    VBitTool t;
    t.angleDeg = 60;
    t.depth = 0.5;
    t.stepDown = 0.2;
    t.safeZ = 5;
    t.plungeFeed = 150;
    t.feed = 900;
    t.rpm = 18000;
    return t;
}

// One stroke as the program cuts it: where it plunges from safe Z, the plunge depths, where it retracts.
// A stroke starts at a plunge from safe Z, not at a G0: the next stroke may begin where the last ended.
struct CutStroke {
    P3 entry;
    std::vector<double> depths;
    P3 exit;
};

std::vector<CutStroke> cutStrokes(const ParsedCnc& parsed, double safeZ) {
    std::vector<CutStroke> out;
    bool cutting = false;
    for (const auto& m : parsed.moves) {
        if (!m.rapid && m.movesZOnly()) {
            if (m.from.z == safeZ) {
                EXPECT_FALSE(cutting) << "plunge from safe Z while cutting, line " << m.line;
                out.push_back({m.from, {}, {}});
                cutting = true;
            }
            EXPECT_TRUE(cutting) << "plunge without entering from safe Z, line " << m.line;
            if (!out.empty()) {
                out.back().depths.push_back(m.to.z);
            }
        } else if (m.rapid && m.movesZOnly() && cutting) {
            EXPECT_EQ(m.to.z, safeZ) << "line " << m.line;
            out.back().exit = m.from;
            cutting = false;
        }
    }
    EXPECT_FALSE(cutting) << "the program ends in the material";
    return out;
}

class VBitTextGeneratorTest : public testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(fs::path(HersheyFont::kFontDir) / "futural.jhf")) {
            GTEST_SKIP() << "hershey-fonts-data is not installed (scripts/setup.sh installs it)";
        }
        options_.areaWidth = 60;
        options_.areaHeight = 20;
        options_.minCapHeight = 3;
        options_.maxCapHeight = 10;
        const auto r = TextLayout(HersheyFont::named("rowmans")).layout("Tom & Ida\n2024", options_);
        ASSERT_TRUE(r) << r.error->message;
        text_ = *r.text;
        strokes_ = text_.strokes;
        for (auto& s : strokes_) {
            for (auto& p : s.points) {
                p.x += 20;
                p.y += 30;
            }
        }
    }
    TextLayoutOptions options_;
    LaidOutText text_;
    std::vector<Polyline> strokes_;
};

TEST_F(VBitTextGeneratorTest, ZNeverGoesBelowTheDepthAndReachesItExactly) {
    const auto tool = sixtyDegree();
    const auto parsed = parseCnc(VBitTextGenerator(cncProfile()).generate(strokes_, tool).program);
    double lowest = 0;
    for (const auto& m : parsed.moves) {
        lowest = std::min(lowest, m.to.z);
    }
    EXPECT_DOUBLE_EQ(lowest, -0.5);
}

TEST_F(VBitTextGeneratorTest, EveryRapidXYMoveHappensAtSafeZ) {
    const auto parsed = parseCnc(VBitTextGenerator(cncProfile()).generate(strokes_, sixtyDegree()).program);
    ASSERT_FALSE(parsed.moves.empty());
    EXPECT_TRUE(parsed.moves.front().rapid && parsed.moves.front().movesZOnly() && parsed.moves.front().to.z == 5)
        << "the first move lifts to safe Z before going anywhere";
    for (const auto& m : parsed.moves) {
        if (m.rapid && m.movesXY()) {
            EXPECT_EQ(m.from.z, 5) << "line " << m.line;
            EXPECT_EQ(m.to.z, 5) << "line " << m.line;
        }
        if (m.rapid) {
            EXPECT_GE(m.to.z, 0) << "no rapid into the material, line " << m.line;
        }
    }
}

TEST_F(VBitTextGeneratorTest, CutsRunWithTheSpindleOnAtTheConfiguredFeeds) {
    const auto parsed = parseCnc(VBitTextGenerator(cncProfile()).generate(strokes_, sixtyDegree()).program);
    EXPECT_EQ(parsed.spindleSpeed, 18000);
    EXPECT_EQ(parsed.dwellSeconds, 2);
    EXPECT_LT(parsed.firstSpindleOnLine, parsed.dwellLine);
    for (const auto& m : parsed.moves) {
        if (m.rapid) {
            continue;
        }
        EXPECT_TRUE(m.spindleOn) << "line " << m.line;
        EXPECT_GT(m.line, parsed.dwellLine);
        EXPECT_LT(m.line, parsed.spindleOffLine);
        if (m.movesZOnly()) {
            EXPECT_LT(m.to.z, m.from.z) << "plunges go down, line " << m.line;
            EXPECT_EQ(m.feed, 150) << "line " << m.line;
        } else {
            EXPECT_EQ(m.from.z, m.to.z) << "cuts stay at one depth, line " << m.line;
            EXPECT_LT(m.to.z, 0) << "line " << m.line;
            EXPECT_EQ(m.feed, 900) << "line " << m.line;
        }
    }
    EXPECT_EQ(parsed.lines.front(), "G21 G90 G17 G94");
    EXPECT_EQ(parsed.lines[parsed.lines.size() - 3], "M5");
    EXPECT_EQ(parsed.lines[parsed.lines.size() - 2], "G0 X0.000 Y0.000");
    EXPECT_EQ(parsed.lines.back(), "M2");
}

TEST_F(VBitTextGeneratorTest, EachLaidOutStrokeIsCutOnceInEqualDepthPasses) {
    const auto parsed = parseCnc(VBitTextGenerator(cncProfile()).generate(strokes_, sixtyDegree()).program);
    const auto cut = cutStrokes(parsed, 5);
    EXPECT_EQ(cut.size(), text_.strokes.size());
    EXPECT_EQ(text_.glyphCount, 11u);   // "Tom&Ida" and "2024"
    for (const auto& s : cut) {
        ASSERT_EQ(s.depths.size(), 3u) << "ceil(0.5 / 0.2) passes";
        double previous = 0;
        for (const double d : s.depths) {
            EXPECT_LE(previous - d, 0.2 + 1e-9);
            EXPECT_GT(previous - d, 0);
            previous = d;
        }
        EXPECT_DOUBLE_EQ(s.depths.back(), -0.5);
        EXPECT_GE(s.entry.x, 20 - 0.0005);
        EXPECT_LE(s.entry.x, 80 + 0.0005);
    }
    for (const auto& m : parsed.moves) {
        if (!m.rapid) {
            EXPECT_GE(m.to.x, 20 - 0.0005);
            EXPECT_LE(m.to.x, 80 + 0.0005);
            EXPECT_GE(m.to.y, 30 - 0.0005);
            EXPECT_LE(m.to.y, 50 + 0.0005);
        }
    }
}

TEST_F(VBitTextGeneratorTest, AnEvenNumberOfPassesLeavesEachStrokeWhereItWasEntered) {
    auto tool = sixtyDegree();
    tool.depth = 0.4;
    tool.stepDown = 0.2;
    const auto parsed = parseCnc(VBitTextGenerator(cncProfile()).generate(strokes_, tool).program);
    const auto cut = cutStrokes(parsed, 5);
    ASSERT_EQ(cut.size(), text_.strokes.size());
    for (const auto& s : cut) {
        EXPECT_EQ(s.depths, (std::vector<double>{-0.2, -0.4}));
        EXPECT_EQ(s.entry.x, s.exit.x);
        EXPECT_EQ(s.entry.y, s.exit.y);
    }
}

TEST_F(VBitTextGeneratorTest, ADepthWithinOneStepIsCutInOnePass) {
    auto tool = sixtyDegree();
    tool.depth = 0.2;
    tool.stepDown = 0.2;
    const auto cut = cutStrokes(parseCnc(VBitTextGenerator(cncProfile()).generate(strokes_, tool).program), 5);
    ASSERT_FALSE(cut.empty());
    for (const auto& s : cut) {
        EXPECT_EQ(s.depths, std::vector<double>{-0.2});
    }
}

TEST_F(VBitTextGeneratorTest, ArtifactMetricsDescribeTheProgram) {
    const auto job = VBitTextGenerator(cncProfile()).generate(strokes_, sixtyDegree());
    const auto parsed = parseCnc(job.program);
    EXPECT_EQ(job.capability, "cnc");
    EXPECT_EQ(job.format, "gcode-grbl");
    EXPECT_EQ(job.sha256, sha256Hex(job.program));
    EXPECT_EQ(job.lines, static_cast<std::uint64_t>(std::count(job.program.begin(), job.program.end(), '\n')));
    EXPECT_EQ(job.estimatedSeconds, 0);
    double travel = 0, work = 0;
    BoundingBox box;
    for (const auto& m : parsed.moves) {
        const double d = std::sqrt(std::pow(m.to.x - m.from.x, 2) + std::pow(m.to.y - m.from.y, 2) +
                                   std::pow(m.to.z - m.from.z, 2));
        (m.rapid ? travel : work) += d;
        box.minX = std::min(box.minX, m.to.x);
        box.minY = std::min(box.minY, m.to.y);
        box.minZ = std::min(box.minZ, m.to.z);
        box.maxX = std::max(box.maxX, m.to.x);
        box.maxY = std::max(box.maxY, m.to.y);
        box.maxZ = std::max(box.maxZ, m.to.z);
    }
    EXPECT_NEAR(job.travelMm, travel, 1e-6);
    EXPECT_NEAR(job.workMm, work, 1e-6);
    EXPECT_DOUBLE_EQ(job.bbox.minX, box.minX);
    EXPECT_DOUBLE_EQ(job.bbox.maxX, box.maxX);
    EXPECT_DOUBLE_EQ(job.bbox.minY, box.minY);
    EXPECT_DOUBLE_EQ(job.bbox.maxY, box.maxY);
    EXPECT_DOUBLE_EQ(job.bbox.minZ, -0.5);
    EXPECT_DOUBLE_EQ(job.bbox.maxZ, 5);
}

TEST(VBitTextGenerator, WithoutSpinUpTheProgramNeedsNoDwell) {
    auto profile = cncProfile();
    profile.allowedWords.erase("G4");
    auto tool = sixtyDegree();
    tool.spinUpSeconds = 0;
    const auto job = VBitTextGenerator(profile).generate({{{{1, 1}, {2, 2}}}}, tool);
    EXPECT_EQ(job.program,
              "G21 G90 G17 G94\nG0 Z5.000\nM3 S18000\n"
              "G0 X1.000 Y1.000\n"
              "G1 Z-0.166 F150\nG1 X2.000 Y2.000 F900\n"
              "G1 Z-0.333 F150\nG1 X1.000 Y1.000 F900\n"
              "G1 Z-0.500 F150\nG1 X2.000 Y2.000 F900\n"
              "G0 Z5.000\nM5\nG0 X0.000 Y0.000\nM2\n");
}

TEST(VBitTextGenerator, GrooveWidthFollowsTheAngleAndDepth) {
    VBitTool t;
    t.angleDeg = 90;
    t.depth = 1;
    EXPECT_NEAR(VBitTextGenerator::grooveWidth(t), 2, 1e-12);
    t.angleDeg = 60;
    t.depth = 0.5;
    EXPECT_NEAR(VBitTextGenerator::grooveWidth(t), 1 / std::sqrt(3.0), 1e-12);
}

TEST(VBitTextGenerator, RefusesWhatTheMachineCannotDo) {
    const std::vector<Polyline> ok = {{{{1, 1}, {2, 2}}}};
    const auto expectError = [](auto&& call, const std::string& fragment) {
        try {
            call();
            ADD_FAILURE() << "no exception, expected one about " << fragment;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
        }
    };
    auto laser = cncProfile();
    laser.capability = "laser";
    expectError([&] { VBitTextGenerator{laser}; }, "capability");

    const VBitTextGenerator generator(cncProfile());
    const auto with = [](auto change) {
        auto t = sixtyDegree();
        change(t);
        return t;
    };
    expectError([&] { generator.generate(ok, with([](VBitTool& t) { t.depth = 31; })); }, "minZ");
    expectError([&] { generator.generate(ok, with([](VBitTool& t) { t.depth = 1e300; })); }, "minZ");
    expectError([&] { generator.generate(ok, with([](VBitTool& t) { t.safeZ = NAN; })); }, "safeZ");
    expectError([&] { generator.generate(ok, with([](VBitTool& t) { t.safeZ = 41; })); }, "maxZ");
    expectError([&] { generator.generate(ok, with([](VBitTool& t) { t.depth = 0; })); }, "depth");
    expectError([&] { generator.generate(ok, with([](VBitTool& t) { t.stepDown = -1; })); }, "stepDown");
    expectError([&] { generator.generate(ok, with([](VBitTool& t) { t.stepDown = 0.0001; })); }, "passes");
    expectError([&] { generator.generate(ok, with([](VBitTool& t) { t.feed = 3001; })); }, "maxFeed");
    expectError([&] { generator.generate(ok, with([](VBitTool& t) { t.plungeFeed = 0; })); }, "plungeFeed");
    expectError([&] { generator.generate(ok, with([](VBitTool& t) { t.angleDeg = 180; })); }, "angle");
    expectError([&] { generator.generate(ok, with([](VBitTool& t) { t.rpm = 0; })); }, "rpm");
    expectError([&] { generator.generate({{{{1, 1}, {301, 2}}}}, sixtyDegree()); }, "outside");
    expectError([&] { generator.generate({}, sixtyDegree()); }, "nothing to engrave");

    auto noDwell = cncProfile();
    noDwell.allowedWords.erase("G4");
    expectError([&] { VBitTextGenerator(noDwell).generate(ok, sixtyDegree()); }, "spinUpSeconds");
    for (const char* word : {"G17", "G21", "G90", "G94", "M2", "M3"}) {
        auto without = cncProfile();
        without.allowedWords.erase(word);
        expectError([&] { VBitTextGenerator(without).generate(ok, sixtyDegree()); }, std::string("does not allow ") + word);
    }
}

} // namespace
} // namespace mto
