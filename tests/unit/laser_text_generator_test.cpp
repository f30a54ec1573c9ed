// SPDX-License-Identifier: Apache-2.0
// Laser text G-code read back by a small local parser and checked by property: dark travel, burn moves, strokes, metrics.
#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <locale>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/hershey_font.hpp"
#include "compiler/laser_text_generator.hpp"
#include "compiler/text_layout.hpp"
#include "mto/error.hpp"
#include "util/sha256.hpp"

namespace mto {
namespace {

namespace fs = std::filesystem;

// What the firmware would do with one line that moves.
struct LaserMove {
    bool rapid = false;
    Point2 from, to;
    double power = 0;        // S in effect during the move
    bool laserOn = false;    // M3/M4 in effect
    double feed = 0;
    bool setsPower = false;  // the line itself carries an S word
    int line = 0;
};

struct ParsedLaser {
    std::vector<std::string> lines;
    std::vector<LaserMove> moves;
    std::vector<std::string> badNumbers;   // X/Y values not printed with exactly three decimals
};

// Just enough G-code for what the generator emits: G0/G1 (G17/G21/G90/G94 change nothing here), M4/M5/M2,
// S, F, X, Y.
ParsedLaser parseLaser(const std::string& program) {
    ParsedLaser out;
    std::istringstream in(program);
    Point2 pos;
    int motion = -1;
    double power = 0, feed = 0;
    bool laserOn = false;
    int lineNo = 0;
    for (std::string line; std::getline(in, line);) {
        ++lineNo;
        out.lines.push_back(line);
        std::istringstream words(line);
        Point2 target = pos;
        bool moves = false, setsPower = false;
        for (std::string w; words >> w;) {
            const char letter = w[0];
            double value = 0;
            const auto r = std::from_chars(w.data() + 1, w.data() + w.size(), value);
            EXPECT_TRUE(r.ec == std::errc() && r.ptr == w.data() + w.size()) << "line " << lineNo << ": " << w;
            switch (letter) {
            case 'G':
                if (value == 0 || value == 1) {
                    motion = static_cast<int>(value);
                }
                break;
            case 'M': laserOn = value == 3 || value == 4 ? true : value == 5 || value == 2 ? false : laserOn; break;
            case 'S':
                power = value;
                setsPower = true;
                break;
            case 'F': feed = value; break;
            case 'X':
            case 'Y': {
                (letter == 'X' ? target.x : target.y) = value;
                moves = true;
                const auto dot = w.find('.');
                if (dot == std::string::npos || w.size() - dot - 1 != 3) {
                    out.badNumbers.push_back(w);
                }
                break;
            }
            default: ADD_FAILURE() << "line " << lineNo << ": unexpected word " << w;
            }
        }
        if (moves) {
            EXPECT_GE(motion, 0) << "line " << lineNo << " moves without G0/G1";
            out.moves.push_back({motion == 0, pos, target, power, laserOn, feed, setsPower, lineNo});
            pos = target;
        }
    }
    return out;
}

double length(const LaserMove& m) {
    return std::hypot(m.to.x - m.from.x, m.to.y - m.from.y);
}

MachineProfile generatorLaser() {
    MachineProfile p;
    p.name = "grbl-laser-400x400";
    p.capability = "laser";
    p.sizeX = 400;
    p.sizeY = 400;
    p.maxFeed = 6000;
    p.maxPower = 1000;
    p.allowedWords = {"G0", "G1", "G17", "G21", "G90", "G94", "M2", "M4", "M5", "S", "F"};
    return p;
}

LaserMaterial birch() {
    return {"birch plywood 3mm", 700, 1800, 1};
}

std::vector<Polyline> shiftedStrokes(std::vector<Polyline> strokes, double dx, double dy) {
    for (auto& s : strokes) {
        for (auto& p : s.points) {
            p.x += dx;
            p.y += dy;
        }
    }
    return strokes;
}

class LaserTextGeneratorTest : public testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(fs::path(HersheyFont::kFontDir) / "futural.jhf")) {
            GTEST_SKIP() << "hershey-fonts-data is not installed (scripts/setup.sh installs it)";
        }
        options_.areaWidth = 80;
        options_.areaHeight = 30;
        options_.minCapHeight = 2;
        options_.maxCapHeight = 12;
        const auto r = TextLayout(HersheyFont::named("futural")).layout("Happy Birthday,\nLena!", options_);
        ASSERT_TRUE(r) << r.error->message;
        text_ = *r.text;
        // The area sits at (50, 60) on the bed.
        strokes_ = shiftedStrokes(text_.strokes, 50, 60);
    }
    TextLayoutOptions options_;
    LaidOutText text_;
    std::vector<Polyline> strokes_;
};

TEST_F(LaserTextGeneratorTest, TravelIsDarkAndEveryBurnMoveHasPower) {
    const auto job = LaserTextGenerator(generatorLaser()).generate(strokes_, birch());
    const auto parsed = parseLaser(job.program);
    ASSERT_FALSE(parsed.moves.empty());
    for (const auto& m : parsed.moves) {
        if (m.rapid) {
            EXPECT_TRUE(m.power == 0 || !m.laserOn) << "G0 with the beam on, line " << m.line;
        } else {
            EXPECT_TRUE(m.laserOn) << "line " << m.line;
            EXPECT_EQ(m.power, 700) << "line " << m.line;
            EXPECT_EQ(m.feed, 1800) << "line " << m.line;
        }
    }
}

TEST_F(LaserTextGeneratorTest, HeaderAndFooterFollowGrblLaserMode) {
    const auto job = LaserTextGenerator(generatorLaser()).generate(strokes_, birch());
    const auto parsed = parseLaser(job.program);
    ASSERT_GE(parsed.lines.size(), 6u);
    EXPECT_EQ(parsed.lines[0], "G21 G90 G17 G94");
    EXPECT_EQ(parsed.lines[1], "M4 S0");
    EXPECT_EQ(parsed.lines[parsed.lines.size() - 3], "M5 S0");
    EXPECT_EQ(parsed.lines[parsed.lines.size() - 2], "G0 X0.000 Y0.000");
    EXPECT_EQ(parsed.lines.back(), "M2");
    EXPECT_EQ(job.program.back(), '\n');
    EXPECT_TRUE(parsed.badNumbers.empty()) << parsed.badNumbers.front();
}

TEST_F(LaserTextGeneratorTest, BurntStrokesMatchTheLaidOutGlyphsAndStayInTheArea) {
    const auto job = LaserTextGenerator(generatorLaser()).generate(strokes_, birch());
    const auto parsed = parseLaser(job.program);
    std::size_t strokeStarts = 0;
    for (const auto& m : parsed.moves) {
        if (m.rapid) {
            continue;
        }
        strokeStarts += m.setsPower ? 1 : 0;
        for (const auto& p : {m.from, m.to}) {
            EXPECT_GE(p.x, 50 - 0.0005);
            EXPECT_LE(p.x, 50 + options_.areaWidth + 0.0005);
            EXPECT_GE(p.y, 60 - 0.0005);
            EXPECT_LE(p.y, 60 + options_.areaHeight + 0.0005);
        }
    }
    EXPECT_EQ(strokeStarts, text_.strokes.size());
    EXPECT_EQ(text_.glyphCount, 19u);   // "Happy Birthday," and "Lena!" without the space and the break

    double expectedWork = 0;
    for (const auto& s : strokes_) {
        for (std::size_t i = 1; i < s.points.size(); ++i) {
            expectedWork += std::hypot(s.points[i].x - s.points[i - 1].x, s.points[i].y - s.points[i - 1].y);
        }
    }
    EXPECT_NEAR(job.workMm, expectedWork, 0.001 * static_cast<double>(parsed.moves.size()));
}

TEST_F(LaserTextGeneratorTest, ArtifactMetricsDescribeTheProgram) {
    const auto job = LaserTextGenerator(generatorLaser()).generate(strokes_, birch());
    const auto parsed = parseLaser(job.program);
    EXPECT_EQ(job.capability, "laser");
    EXPECT_EQ(job.format, "gcode-grbl");
    EXPECT_EQ(job.sha256, sha256Hex(job.program));
    EXPECT_EQ(job.lines, static_cast<std::uint64_t>(std::count(job.program.begin(), job.program.end(), '\n')));
    EXPECT_EQ(job.estimatedSeconds, 0);

    double travel = 0, work = 0;
    BoundingBox box;   // the job starts at the origin
    for (const auto& m : parsed.moves) {
        (m.rapid ? travel : work) += length(m);
        box.minX = std::min(box.minX, m.to.x);
        box.minY = std::min(box.minY, m.to.y);
        box.maxX = std::max(box.maxX, m.to.x);
        box.maxY = std::max(box.maxY, m.to.y);
    }
    EXPECT_NEAR(job.travelMm, travel, 1e-6);
    EXPECT_NEAR(job.workMm, work, 1e-6);
    EXPECT_DOUBLE_EQ(job.bbox.minX, box.minX);
    EXPECT_DOUBLE_EQ(job.bbox.minY, box.minY);
    EXPECT_DOUBLE_EQ(job.bbox.maxX, box.maxX);
    EXPECT_DOUBLE_EQ(job.bbox.maxY, box.maxY);
    EXPECT_EQ(job.bbox.minZ, 0);
    EXPECT_EQ(job.bbox.maxZ, 0);
}

TEST_F(LaserTextGeneratorTest, PassesRepeatEveryStrokeAndLaterPassesStartWhereTheLastEnded) {
    const LaserTextGenerator generator(generatorLaser());
    const auto once = generator.generate(strokes_, birch());
    auto thrice = birch();
    thrice.passes = 3;
    const auto job = generator.generate(strokes_, thrice);
    const auto parsed = parseLaser(job.program);
    std::size_t starts = 0, travels = 0;
    for (const auto& m : parsed.moves) {
        starts += !m.rapid && m.setsPower ? 1 : 0;
        travels += m.rapid ? 1 : 0;
    }
    EXPECT_EQ(starts, 3 * text_.strokes.size());
    EXPECT_NEAR(job.workMm, 3 * once.workMm, 1e-6);
    const auto onceMoves = parseLaser(once.program).moves;
    const auto onceTravels = static_cast<std::size_t>(
        std::count_if(onceMoves.begin(), onceMoves.end(), [](const LaserMove& m) { return m.rapid; }));
    // Per pass the same hops between strokes; the first and the final return are not repeated.
    EXPECT_EQ(travels, 3 * (onceTravels - 2) + 2);
}

TEST_F(LaserTextGeneratorTest, TheSameInputGivesTheSameProgram) {
    const LaserTextGenerator generator(generatorLaser());
    EXPECT_EQ(generator.generate(strokes_, birch()).sha256, generator.generate(strokes_, birch()).sha256);
}

TEST_F(LaserTextGeneratorTest, OrderingShortensTravelComparedWithTheLayoutOrder) {
    // Interleave the strokes of both ends of the text so the layout order zigzags across the area.
    std::vector<Polyline> zigzag;
    for (std::size_t i = 0, j = strokes_.size() - 1; i <= j && j < strokes_.size(); ++i, --j) {
        zigzag.push_back(strokes_[i]);
        if (i != j) {
            zigzag.push_back(strokes_[j]);
        }
    }
    double naive = std::hypot(zigzag.front().points.front().x, zigzag.front().points.front().y);
    for (std::size_t i = 1; i < zigzag.size(); ++i) {
        const auto& a = zigzag[i - 1].points.back();
        const auto& b = zigzag[i].points.front();
        naive += std::hypot(a.x - b.x, a.y - b.y);
    }
    naive += std::hypot(zigzag.back().points.back().x, zigzag.back().points.back().y);
    const auto job = LaserTextGenerator(generatorLaser()).generate(zigzag, birch());
    EXPECT_LT(job.travelMm, naive / 2);
}

TEST(LaserTextGenerator, AStrokeIsBurntBackwardsWhenItsEndIsNearer) {
    std::vector<Polyline> strokes = {{{{10, 10}, {20, 10}}}, {{{30, 10}, {21, 10}}}, {{{21, 12}, {30, 12}}}};
    const auto job = LaserTextGenerator(generatorLaser()).generate(strokes, birch());
    EXPECT_EQ(job.program,
              "G21 G90 G17 G94\nM4 S0\n"
              "G0 X10.000 Y10.000 S0\nG1 X20.000 Y10.000 S700 F1800\n"
              "G0 X21.000 Y10.000 S0\nG1 X30.000 Y10.000 S700 F1800\n"
              "G0 X30.000 Y12.000 S0\nG1 X21.000 Y12.000 S700 F1800\n"
              "M5 S0\nG0 X0.000 Y0.000\nM2\n");
    EXPECT_NEAR(job.workMm, 28, 1e-9);
    EXPECT_NEAR(job.travelMm, std::hypot(10, 10) + 1 + 2 + std::hypot(21, 12), 1e-9);
}

TEST(LaserTextGenerator, StrokesThatMeetAreBurntWithoutAStop) {
    // The two legs of a V share their apex: the second starts where the first ends, so no G0.
    std::vector<Polyline> strokes = {{{{10, 10}, {15, 20}}}, {{{15, 20}, {20, 10}}}};
    const auto parsed = parseLaser(LaserTextGenerator(generatorLaser()).generate(strokes, birch()).program);
    EXPECT_EQ(std::count_if(parsed.moves.begin(), parsed.moves.end(), [](const LaserMove& m) { return m.rapid; }), 2)
        << "to the first stroke and home";
    EXPECT_EQ(std::count_if(parsed.moves.begin(), parsed.moves.end(),
                            [](const LaserMove& m) { return !m.rapid && m.setsPower; }),
              2)
        << "each stroke still starts by setting its power";
    for (const auto& m : parsed.moves) {
        EXPECT_TRUE(m.rapid || m.power == 700);
    }
}

TEST(LaserTextGenerator, CoordinatesUseAPointWhateverTheGlobalLocale) {
    struct CommaDecimal : std::numpunct<char> {
        char do_decimal_point() const override { return ','; }
        char do_thousands_sep() const override { return '.'; }
        std::string do_grouping() const override { return "\3"; }
    };
    const std::locale previous = std::locale::global(std::locale(std::locale::classic(), new CommaDecimal));
    std::vector<Polyline> strokes = {{{{1234.5678 / 10, 1.25}, {300.0005, 2}}}};
    std::string program;
    try {
        program = LaserTextGenerator(generatorLaser()).generate(strokes, {"x", 333.5, 1234.25, 1}).program;
    } catch (...) {
        std::locale::global(previous);
        throw;
    }
    std::locale::global(previous);
    EXPECT_EQ(program.find(','), std::string::npos) << program;
    EXPECT_NE(program.find("G0 X123.457 Y1.250 S0"), std::string::npos) << program;
    EXPECT_NE(program.find("S333.5 F1234.25"), std::string::npos) << program;
}

TEST(LaserTextGenerator, DegenerateStrokesAreDroppedAndNothingLeftIsAnError) {
    const LaserTextGenerator generator(generatorLaser());
    std::vector<Polyline> strokes = {{}, {{{5, 5}}}, {{{5, 5}, {5.0002, 5.0001}}}, {{{1, 1}, {2, 2}}}};
    const auto parsed = parseLaser(generator.generate(strokes, birch()).program);
    EXPECT_EQ(std::count_if(parsed.moves.begin(), parsed.moves.end(), [](const LaserMove& m) { return !m.rapid; }), 1);
    EXPECT_THROW(generator.generate({}, birch()), Error);
    EXPECT_THROW(generator.generate({{{{5, 5}, {5.0001, 5}}}}, birch()), Error);
}

TEST(LaserTextGenerator, RefusesWhatTheMachineCannotDo) {
    const std::vector<Polyline> ok = {{{{1, 1}, {2, 2}}}};
    const auto expectError = [](auto&& call, const std::string& fragment) {
        try {
            call();
            ADD_FAILURE() << "no exception, expected one about " << fragment;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
        }
    };
    auto cnc = generatorLaser();
    cnc.capability = "cnc";
    expectError([&] { LaserTextGenerator{cnc}; }, "capability");
    auto noArea = generatorLaser();
    noArea.sizeX = 0;
    expectError([&] { LaserTextGenerator{noArea}; }, "sizeX");

    const LaserTextGenerator generator(generatorLaser());
    expectError([&] { generator.generate(ok, {"m", 1001, 1000, 1}); }, "maxPower");
    expectError([&] { generator.generate(ok, {"m", 0, 1000, 1}); }, "power");
    expectError([&] { generator.generate(ok, {"m", 500, 6001, 1}); }, "maxFeed");
    expectError([&] { generator.generate(ok, {"m", 500, NAN, 1}); }, "feed");
    expectError([&] { generator.generate(ok, {"m", 500, 1000, 0}); }, "passes");
    expectError([&] { generator.generate({{{{1, 1}, {401, 2}}}}, birch()); }, "outside");
    expectError([&] { generator.generate({{{{1, 1}, {-0.01, 2}}}}, birch()); }, "outside");
    expectError([&] { generator.generate({{{{1, 1}, {NAN, 2}}}}, birch()); }, "not a number");
    expectError([&] { generator.generate({{{{1, 1}, {1e300, 2}}}}, birch()); }, "outside");
    auto huge = generatorLaser();
    huge.sizeY = 1e300;
    expectError([&] { LaserTextGenerator{huge}; }, "sizeX and sizeY");

    auto noM4 = generatorLaser();
    noM4.allowedWords.erase("M4");
    expectError([&] { LaserTextGenerator(noM4).generate(ok, birch()); }, "M4");
    for (const char* frame : {"G17", "G21", "G90", "G94", "M2"}) {
        auto noFrame = generatorLaser();
        noFrame.allowedWords.erase(frame);
        expectError([&] { LaserTextGenerator(noFrame).generate(ok, birch()); }, std::string("does not allow ") + frame);
    }
    auto open = generatorLaser();
    open.allowedWords.clear();
    EXPECT_NO_THROW(LaserTextGenerator(open).generate(ok, birch()));
}

} // namespace
} // namespace mto
