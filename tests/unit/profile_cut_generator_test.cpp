// SPDX-License-Identifier: Apache-2.0
// ProfileCutGenerator: the program is read back move by move and checked against the part it should cut.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/profile_cut_generator.hpp"
#include "mto/error.hpp"
#include "util/sha256.hpp"

namespace mto {
namespace {

// One move as the controller would execute it, with where it started.
struct CutMove {
    bool rapid = false;
    double x0 = 0, y0 = 0, z0 = 0;
    double x = 0, y = 0, z = 0;
    double feed = 0;
    bool hasXY = false;
};

struct Parsed {
    std::vector<CutMove> moves;
    std::vector<std::string> words;     // every G/M word in order, e.g. "G21", "M3"
    double spindleS = 0;
    double dwellP = 0;                  // G4 P: seconds in GRBL
};

// Just enough of GRBL's dialect to replay what the generator writes; anything else fails the test.
Parsed parse(const std::string& program, double startZ) {
    Parsed out;
    double x = 0, y = 0, z = startZ, feed = 0;
    std::istringstream in(program);
    std::string text;
    int lineNo = 0;
    while (std::getline(in, text)) {
        ++lineNo;
        std::istringstream ls(text);
        std::string word;
        CutMove m;
        bool motion = false;
        m.x0 = x, m.y0 = y, m.z0 = z;
        while (ls >> word) {
            const char letter = word[0];
            const double value = std::stod(word.substr(1));
            switch (letter) {
            case 'G':
            case 'M':
                out.words.push_back(word);
                if (word == "G0" || word == "G1") {
                    motion = true;
                    m.rapid = word == "G0";
                }
                break;
            case 'X': x = value; m.hasXY = true; break;
            case 'Y': y = value; m.hasXY = true; break;
            case 'Z': z = value; break;
            case 'F': feed = value; break;
            case 'S': out.spindleS = value; break;
            case 'P':
                if (out.words.empty() || out.words.back() != "G4") ADD_FAILURE() << "line " << lineNo << ": P outside G4";
                out.dwellP += value;
                break;
            default: ADD_FAILURE() << "line " << lineNo << ": unexpected word " << word;
            }
        }
        if (motion) {
            m.x = x, m.y = y, m.z = z, m.feed = feed;
            out.moves.push_back(m);
        }
    }
    return out;
}

// Distance from p to the outline (not the area) of a rounded rectangle, computed independently of the generator.
double distanceToOutline(const ProfileShape& s, double px, double py) {
    const double hx = s.width / 2 - s.cornerRadius, hy = s.height / 2 - s.cornerRadius;
    const double qx = std::abs(px - s.center.x) - hx, qy = std::abs(py - s.center.y) - hy;
    const double outside = std::hypot(std::max(qx, 0.0), std::max(qy, 0.0));
    const double inside = std::min(std::max(qx, qy), 0.0);
    return std::abs(outside + inside - s.cornerRadius);
}

const CncTool kTool{/*diameter*/ 3.175, /*stepDown*/ 1.5, /*safeZ*/ 5, /*plungeFeed*/ 120, /*feed*/ 800, /*rpm*/ 18000};

ProfileCut plateCut() {
    ProfileCut c;
    c.shape = ProfileShape::roundedRectangle({100, 80}, 60, 40, 5);
    c.thickness = 6;
    c.breakthrough = 0.3;
    c.tabs = {4, 5, 1.5};
    return c;
}

// The distinct depths the tool cuts at, from the G1 plunges at the path start of each pass.
std::vector<double> passDepths(const Parsed& p, double startX, double startY) {
    std::vector<double> depths;
    for (const CutMove& m : p.moves)
        if (!m.rapid && !m.hasXY && m.z < m.z0 && std::abs(m.x - startX) < 1e-3 && std::abs(m.y - startY) < 1e-3)
            depths.push_back(m.z);
    return depths;
}

TEST(ProfileCutGenerator, EveryCuttingPointIsOneToolRadiusOutsideTheOutline) {
    ProfileCutGenerator gen(kTool);
    for (const ProfileShape& shape : {ProfileShape::rectangle({50, 40}, 80, 30),
                                      ProfileShape::roundedRectangle({100, 80}, 60, 40, 5),
                                      ProfileShape::circle({30, 30}, 25)}) {
        ProfileCut cut = plateCut();
        cut.shape = shape;
        const Parsed p = parse(gen.generate(cut).program, kTool.safeZ);
        int checked = 0;
        for (const CutMove& m : p.moves) {
            if (m.rapid || m.z >= 0) continue;
            // Vertices lie on the offset path; 3-decimal output adds at most 0.0007 mm.
            EXPECT_NEAR(distanceToOutline(shape, m.x, m.y), kTool.diameter / 2, 0.001) << m.x << "," << m.y;
            // Chords cut inside an arc by no more than the chord error limit.
            const double mid = distanceToOutline(shape, (m.x + m.x0) / 2, (m.y + m.y0) / 2);
            EXPECT_GE(mid, kTool.diameter / 2 - 0.01 - 0.001);
            EXPECT_LE(mid, kTool.diameter / 2 + 0.001);
            ++checked;
        }
        EXPECT_GT(checked, 100);
    }
}

TEST(ProfileCutGenerator, PassesStepDownEvenlyToThicknessPlusBreakthrough) {
    ProfileCutGenerator gen(kTool);
    const ProfileCut cut = plateCut();
    const Parsed p = parse(gen.generate(cut).program, kTool.safeZ);
    const Polyline path = gen.toolPath(cut);
    const auto depths = passDepths(p, path.points.front().x, path.points.front().y);
    // 6.3 mm in steps of at most 1.5 mm: five passes of 1.26 mm.
    ASSERT_EQ(depths.size(), 5u);
    double previous = 0;
    for (double d : depths) {
        EXPECT_LT(d, previous);
        EXPECT_LE(previous - d, kTool.stepDown + 1e-9);
        previous = d;
    }
    EXPECT_NEAR(depths.back(), -6.3, 1e-9);
    double lowest = 0;
    for (const CutMove& m : p.moves) lowest = std::min(lowest, m.z);
    EXPECT_NEAR(lowest, -6.3, 1e-9);
}

TEST(ProfileCutGenerator, TabsLiftTheToolOnlyOnPassesBelowTheTabTop) {
    ProfileCutGenerator gen(kTool);
    const ProfileCut cut = plateCut();
    const Parsed p = parse(gen.generate(cut).program, kTool.safeZ);
    const double tabZ = -cut.thickness + cut.tabs.height;   // -4.5

    // Per pass depth: how many times the tool rose to the tab top, and how far it went while up there.
    std::map<double, int> lifts;
    std::map<double, std::vector<double>> lengths;
    double passDepth = 0;
    bool onTab = false;
    for (const CutMove& m : p.moves) {
        if (m.rapid) continue;
        if (!m.hasXY && m.z < m.z0 && !onTab) passDepth = m.z;
        if (!m.hasXY && m.z > m.z0) {
            EXPECT_NEAR(m.z, tabZ, 1e-9);
            onTab = true;
            ++lifts[passDepth];
            lengths[passDepth].push_back(0);
        } else if (!m.hasXY && onTab && m.z < m.z0) {
            EXPECT_NEAR(m.z, passDepth, 1e-9) << "back to the pass depth after a tab";
            onTab = false;
        } else if (m.hasXY && onTab) {
            lengths[passDepth].back() += std::hypot(m.x - m.x0, m.y - m.y0);
        }
    }
    // Passes at -1.26, -2.52, -3.78 stay above -4.5: no tabs; -5.04 and -6.3 go over 4 tabs each.
    ASSERT_EQ(lifts.size(), 2u);
    for (const auto& [depth, n] : lifts) {
        EXPECT_LT(depth, tabZ);
        EXPECT_EQ(n, cut.tabs.count) << "at depth " << depth;
        for (double len : lengths[depth]) EXPECT_NEAR(len, cut.tabs.width + kTool.diameter, 0.01);
    }
}

TEST(ProfileCutGenerator, FourTabsSitAtTheMiddleOfEachSideAndNotAtThePlunge) {
    ProfileCutGenerator gen(kTool);
    for (MillingDirection dir : {MillingDirection::Climb, MillingDirection::Conventional}) {
        ProfileCut cut = plateCut();
        cut.direction = dir;
        const Parsed p = parse(gen.generate(cut).program, kTool.safeZ);
        // Midpoints of the stretches cut at the tab top on the last pass.
        std::vector<std::pair<double, double>> centres;
        bool up = false;
        double length = 0;
        std::vector<std::pair<double, double>> pts;
        for (const CutMove& m : p.moves) {
            if (m.rapid) continue;
            if (!m.hasXY && m.z > m.z0 && m.z0 < -6.29) {
                up = true;
                pts.clear();
                pts.emplace_back(m.x, m.y);
                length = 0;
            } else if (!m.hasXY && up) {
                up = false;
                // Walk half the stretch to find its middle.
                double walked = 0;
                for (std::size_t i = 1; i < pts.size(); ++i) {
                    const double seg = std::hypot(pts[i].first - pts[i - 1].first, pts[i].second - pts[i - 1].second);
                    if (walked + seg >= length / 2) {
                        const double f = (length / 2 - walked) / seg;
                        centres.emplace_back(pts[i - 1].first + f * (pts[i].first - pts[i - 1].first),
                                             pts[i - 1].second + f * (pts[i].second - pts[i - 1].second));
                        break;
                    }
                    walked += seg;
                }
            } else if (m.hasXY && up) {
                length += std::hypot(m.x - m.x0, m.y - m.y0);
                pts.emplace_back(m.x, m.y);
            }
        }
        ASSERT_EQ(centres.size(), 4u);
        const double r = kTool.diameter / 2;
        const std::vector<std::pair<double, double>> sides = {
            {100, 60 - r}, {130 + r, 80}, {100, 100 + r}, {70 - r, 80}};
        for (const auto& side : sides) {
            bool found = false;
            for (const auto& c : centres)
                found = found || std::hypot(c.first - side.first, c.second - side.second) < 0.01;
            EXPECT_TRUE(found) << "no tab at the middle of the side at " << side.first << "," << side.second;
        }
        // The plunge goes down away from every tab.
        const Polyline path = gen.toolPath(cut);
        for (const auto& c : centres)
            EXPECT_GT(std::hypot(c.first - path.points.front().x, c.second - path.points.front().y),
                      (cut.tabs.width + kTool.diameter) / 2);
    }
}

TEST(ProfileCutGenerator, EveryRapidInXYHappensAtSafeZ) {
    ProfileCutGenerator gen(kTool);
    ProfileCut second = plateCut();
    second.shape = ProfileShape::circle({30, 30}, 25);
    const Parsed p = parse(gen.generate({plateCut(), second}).program, kTool.safeZ);
    int rapidsXY = 0;
    for (const CutMove& m : p.moves) {
        if (!m.rapid) continue;
        if (m.hasXY) {
            EXPECT_DOUBLE_EQ(m.z0, kTool.safeZ) << "rapid to " << m.x << "," << m.y << " from Z " << m.z0;
            ++rapidsXY;
        } else {
            EXPECT_GE(m.z, m.z0) << "a rapid only ever goes up in Z";
        }
    }
    EXPECT_EQ(rapidsXY, 3);   // to each part, then home
}

TEST(ProfileCutGenerator, ProgramIsPlainGrblWithSpindleAroundTheCut) {
    ProfileCutGenerator gen(kTool);
    const JobArtifact a = gen.generate(plateCut());
    const Parsed p = parse(a.program, kTool.safeZ);
    ASSERT_GE(p.words.size(), 6u);
    EXPECT_EQ(a.program.substr(0, a.program.find('\n')), "G21 G90 G17 G94") << "the whole modal state comes first";
    EXPECT_EQ(p.words.back(), "M2") << "the program ends with a program end";
    EXPECT_EQ(std::count(p.words.begin(), p.words.end(), "M2"), 1);
    for (const std::string& w : p.words)
        EXPECT_TRUE(w == "G0" || w == "G1" || w == "G4" || w == "G17" || w == "G21" || w == "G90" || w == "G94" ||
                    w == "M2" || w == "M3" || w == "M5")
            << w;
    const auto m3 = std::find(p.words.begin(), p.words.end(), "M3");
    const auto firstCut = std::find(p.words.begin(), p.words.end(), "G1");
    // The spindle gets its spin-up time right after M3, before anything touches the stock.
    ASSERT_NE(m3, p.words.end());
    EXPECT_EQ(*(m3 + 1), "G4");
    EXPECT_DOUBLE_EQ(p.dwellP, kTool.spinUpSeconds);
    ProfileCutGenerator noWait(CncTool{kTool.diameter, kTool.stepDown, kTool.safeZ, kTool.plungeFeed, kTool.feed, kTool.rpm, 0});
    const Parsed q = parse(noWait.generate(plateCut()).program, kTool.safeZ);
    EXPECT_EQ(std::count(q.words.begin(), q.words.end(), "G4"), 0) << "spin-up 0: no dwell";
    const auto m5 = std::find(p.words.begin(), p.words.end(), "M5");
    EXPECT_LT(m3, firstCut);
    EXPECT_EQ(std::find(firstCut, p.words.end(), "M3"), p.words.end());
    EXPECT_GT(m5, firstCut);
    EXPECT_DOUBLE_EQ(p.spindleS, kTool.rpm);
    // Plunges and lifts at the plunge feed, the outline at the cutting feed.
    for (const CutMove& m : p.moves)
        if (!m.rapid) {
            EXPECT_DOUBLE_EQ(m.feed, m.hasXY ? kTool.feed : kTool.plungeFeed);
        }
    EXPECT_DOUBLE_EQ(p.moves.back().x, 0);
    EXPECT_DOUBLE_EQ(p.moves.back().y, 0);
    EXPECT_DOUBLE_EQ(p.moves.back().z, kTool.safeZ);
}

TEST(ProfileCutGenerator, ArtifactDescribesTheProgram) {
    ProfileCutGenerator gen(kTool);
    const ProfileCut cut = plateCut();
    const JobArtifact a = gen.generate(cut);
    EXPECT_EQ(a.capability, "cnc");
    EXPECT_EQ(a.format, "gcode-grbl");
    EXPECT_EQ(a.sha256, sha256Hex(a.program));
    EXPECT_EQ(a.lines, static_cast<std::uint64_t>(std::count(a.program.begin(), a.program.end(), '\n')));
    EXPECT_EQ(a.estimatedSeconds, 0);
    const double r = kTool.diameter / 2;
    // The program starts and ends at the origin, so the box reaches it.
    EXPECT_NEAR(a.bbox.minX, 0, 1e-9);
    EXPECT_NEAR(a.bbox.minY, 0, 1e-9);
    EXPECT_NEAR(a.bbox.maxX, 130 + r, 0.001);
    EXPECT_NEAR(a.bbox.maxY, 100 + r, 0.001);
    EXPECT_NEAR(a.bbox.minZ, -6.3, 1e-9);
    EXPECT_NEAR(a.bbox.maxZ, kTool.safeZ, 1e-9);

    const Parsed p = parse(a.program, kTool.safeZ);
    double travel = 0, work = 0;
    for (const CutMove& m : p.moves)
        (m.rapid ? travel : work) +=
            std::sqrt(std::pow(m.x - m.x0, 2) + std::pow(m.y - m.y0, 2) + std::pow(m.z - m.z0, 2));
    EXPECT_NEAR(a.travelMm, travel, 0.01);
    EXPECT_NEAR(a.workMm, work, 0.05);
    // Five laps of the offset path (perimeter of the rounded rectangle grown by r), the plunges from safe Z
    // down to -6.3, and up and down over 4 tabs on the passes at -5.04 (0.54 mm) and -6.3 (1.8 mm).
    const double lap = 2 * (60 - 10) + 2 * (40 - 10) + 2 * M_PI * (5 + r);
    // Chords are a little shorter than the arcs they replace.
    const double expected = 5 * lap + (kTool.safeZ + 6.3) + 4 * 2 * (0.54 + 1.8);
    EXPECT_LE(a.workMm, expected + 0.01);
    EXPECT_GT(a.workMm, expected - 0.2);
}

TEST(ProfileCutGenerator, ClimbGoesClockwiseAndConventionalCounterClockwise) {
    ProfileCutGenerator gen(kTool);
    auto signedArea = [](const Polyline& p) {
        double a = 0;
        for (std::size_t i = 1; i < p.points.size(); ++i)
            a += p.points[i - 1].x * p.points[i].y - p.points[i].x * p.points[i - 1].y;
        return a / 2;
    };
    ProfileCut cut = plateCut();
    cut.shape = ProfileShape::roundedRectangle({0, 0}, 20, 10, 2);
    cut.tabs = {};
    cut.direction = MillingDirection::Climb;
    const Polyline climb = gen.toolPath(cut);
    cut.direction = MillingDirection::Conventional;
    const Polyline conventional = gen.toolPath(cut);
    EXPECT_LT(signedArea(climb), 0);
    EXPECT_GT(signedArea(conventional), 0);
    EXPECT_DOUBLE_EQ(climb.points.front().x, climb.points.back().x);
    EXPECT_DOUBLE_EQ(climb.points.front().y, climb.points.back().y);
    // Area of the offset rounded rectangle: (20+2r)(10+2r) minus the corners a radius of 2+r does not fill.
    const double r = kTool.diameter / 2, R = 2 + r;
    const double exact = (20 + 2 * r) * (10 + 2 * r) - (4 - M_PI) * R * R;
    // Chords cut the arcs short by at most the chord error along their length.
    EXPECT_LT(signedArea(conventional), exact);
    EXPECT_GT(signedArea(conventional), exact - 0.01 * 2 * M_PI * R);
}

TEST(ProfileCutGenerator, NoTabsMeansNoLifts) {
    ProfileCutGenerator gen(kTool);
    ProfileCut cut = plateCut();
    cut.tabs = {};
    const Parsed p = parse(gen.generate(cut).program, kTool.safeZ);
    for (const CutMove& m : p.moves)
        if (!m.rapid) {
            EXPECT_LE(m.z, m.z0 + 1e-12) << "a feed move went up at " << m.x << "," << m.y;
        }
}

TEST(ProfileCutGenerator, ImpossibleCutsAreRefusedWithAReason) {
    ProfileCutGenerator gen(kTool);
    auto message = [&](ProfileCut cut) -> std::string {
        try {
            gen.generate(cut);
        } catch (const Error& e) {
            return e.what();
        }
        return "(accepted)";
    };
    ProfileCut c = plateCut();
    c.shape = ProfileShape::roundedRectangle({0, 0}, 20, 10, 6);
    EXPECT_NE(message(c).find("corner radius"), std::string::npos) << message(c);
    c = plateCut();
    c.tabs = {40, 5, 1.5};
    EXPECT_NE(message(c).find("tabs"), std::string::npos) << message(c);
    c = plateCut();
    c.tabs.height = 6;
    EXPECT_NE(message(c).find("tab height"), std::string::npos) << message(c);
    c = plateCut();
    c.thickness = 0;
    EXPECT_NE(message(c).find("thickness"), std::string::npos) << message(c);
    c = plateCut();
    c.shape = ProfileShape::circle({0, 0}, -3);
    EXPECT_NE(message(c).find("part 1"), std::string::npos) << message(c);

    CncTool bad = kTool;
    bad.stepDown = 0;
    EXPECT_THROW(ProfileCutGenerator{bad}, Error);
    EXPECT_THROW(gen.generate(std::vector<ProfileCut>{}), Error);
}

TEST(ProfileCutGenerator, ThinStockNeedsASinglePass) {
    ProfileCutGenerator gen(kTool);
    ProfileCut cut = plateCut();
    cut.thickness = 1;
    cut.breakthrough = 0.2;
    cut.tabs = {2, 3, 0.5};
    const Parsed p = parse(gen.generate(cut).program, kTool.safeZ);
    const Polyline path = gen.toolPath(cut);
    const auto depths = passDepths(p, path.points.front().x, path.points.front().y);
    ASSERT_EQ(depths.size(), 1u);
    EXPECT_NEAR(depths[0], -1.2, 1e-9);
    int lifts = 0;
    for (const CutMove& m : p.moves)
        if (!m.rapid && !m.hasXY && m.z > m.z0) ++lifts;
    EXPECT_EQ(lifts, 2);
}

} // namespace
} // namespace mto
