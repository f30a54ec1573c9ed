// SPDX-License-Identifier: Apache-2.0
// Proof images: PNG that decodes at the asked size, ink exactly on the work path, outline on empty programs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "compiler/proof_renderer.hpp"
#include "mto/error.hpp"

namespace mto {
namespace {

MachineProfile proofLaser(double sx = 200, double sy = 200) {
    MachineProfile p;
    p.name = "grbl-laser-test";
    p.capability = "laser";
    p.sizeX = sx;
    p.sizeY = sy;
    p.maxFeed = 6000;
    p.acceleration = 1000;
    return p;
}

GcodeProgram proofProgram(std::string_view text) {
    auto result = GcodeProgram::parse(text);
    if (auto* e = std::get_if<GcodeParseError>(&result)) {
        ADD_FAILURE() << "line " << e->line << ": " << e->message;
        return std::get<GcodeProgram>(GcodeProgram::parse(""));
    }
    return std::get<GcodeProgram>(std::move(result));
}

cv::Mat decodePng(const std::string& png) {
    std::vector<uchar> bytes(png.begin(), png.end());
    return cv::imdecode(bytes, cv::IMREAD_COLOR);
}

bool isDark(const cv::Vec3b& px) { return std::max({px[0], px[1], px[2]}) < 100; }

double distanceToSegment(double px, double py, Point2 a, Point2 b) {
    double dx = b.x - a.x, dy = b.y - a.y;
    double t = std::clamp(((px - a.x) * dx + (py - a.y) * dy) / (dx * dx + dy * dy), 0.0, 1.0);
    return std::hypot(px - (a.x + t * dx), py - (a.y + t * dy));
}

TEST(ProofRenderer, PngDecodesWithTheDefaultLongSide) {
    ProofRenderer r(proofLaser(400, 200));
    cv::Mat img = decodePng(r.render(proofProgram("G0 X10 Y10\nM3 S100\nG1 X300 F1000\nM5\n"), {}, "order 42"));
    ASSERT_FALSE(img.empty());
    EXPECT_EQ(img.cols, 1024);
    EXPECT_LT(img.rows, 1024);
    EXPECT_GT(img.rows, 400);
}

TEST(ProofRenderer, LongSideIsConfigurableForTallMachines) {
    ProofRenderer r(proofLaser(200, 400), 500);
    cv::Mat img = decodePng(r.render(proofProgram("G0 X1")));
    ASSERT_FALSE(img.empty());
    EXPECT_EQ(img.rows, 500);
    EXPECT_LT(img.cols, 500);
}

TEST(ProofRenderer, EmptyProgramDrawsJustTheOutline) {
    ProofRenderer r(proofLaser(), 400);
    GcodeProgram empty = proofProgram("");
    cv::Mat img = decodePng(r.render(empty));
    ASSERT_FALSE(img.empty());
    ProofLayout l = r.layout(empty);
    // The envelope's bottom edge (Y = 0) is grey, neither white nor black.
    Point2 mid = l.toPixel({100, 0});
    cv::Vec3b px = img.at<cv::Vec3b>(static_cast<int>(std::lround(mid.y)), static_cast<int>(std::lround(mid.x)));
    EXPECT_LT(px[0], 240);
    EXPECT_FALSE(isDark(px));
    // Nothing dark inside the plot.
    for (int y = static_cast<int>(l.plotTop) + 2; y < static_cast<int>(l.plotBottom) - 2; ++y)
        for (int x = static_cast<int>(l.plotLeft) + 2; x < static_cast<int>(l.plotRight) - 2; ++x)
            ASSERT_FALSE(isDark(img.at<cv::Vec3b>(y, x))) << x << "," << y;
}

TEST(ProofRenderer, DarkPixelsLieOnTheWorkLineAndNowhereElse) {
    ProofRenderer r(proofLaser());
    GcodeProgram p = proofProgram("G0 X50 Y50\nM3 S1000\nG1 X150 Y120 F1000\nM5\nG0 X0 Y0\n");
    cv::Mat img = decodePng(r.render(p, {20, 20, 160, 160}, "proof"));
    ASSERT_FALSE(img.empty());
    ProofLayout l = r.layout(p, {20, 20, 160, 160});
    ASSERT_EQ(img.cols, l.width);
    ASSERT_EQ(img.rows, l.height);
    Point2 a = l.toPixel({50, 50}), b = l.toPixel({150, 120});

    for (int i = 0; i <= 100; ++i) {
        double t = i / 100.0;
        int x = static_cast<int>(std::lround(a.x + t * (b.x - a.x)));
        int y = static_cast<int>(std::lround(a.y + t * (b.y - a.y)));
        EXPECT_TRUE(isDark(img.at<cv::Vec3b>(y, x))) << "on the line at t=" << t;
    }
    int dark = 0;
    for (int y = static_cast<int>(l.plotTop); y < static_cast<int>(l.plotBottom); ++y) {
        for (int x = static_cast<int>(l.plotLeft); x < static_cast<int>(l.plotRight); ++x) {
            if (!isDark(img.at<cv::Vec3b>(y, x))) continue;
            ++dark;
            ASSERT_LE(distanceToSegment(x, y, a, b), 3.0) << "dark pixel away from the work line at " << x << "," << y;
        }
    }
    EXPECT_GT(dark, 100);
}

TEST(ProofRenderer, CircleMadeOfManyShortChordsIsDrawnAllAround) {
    ProofRenderer r(proofLaser(), 512);
    GcodeProgram p = proofProgram("G0 X150 Y100\nM3 S500\nG3 X150 Y100 I-50 J0 F1000\nM5\n");
    ASSERT_GT(p.moves().size(), 100u);
    cv::Mat img = decodePng(r.render(p));
    ProofLayout l = r.layout(p);
    for (int deg = 0; deg < 360; deg += 5) {
        double a = deg * std::acos(-1.0) / 180;
        Point2 c = l.toPixel({100 + 50 * std::cos(a), 100 + 50 * std::sin(a)});
        bool dark = false;
        for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx)
                dark = dark || isDark(img.at<cv::Vec3b>(static_cast<int>(std::lround(c.y)) + dy, static_cast<int>(std::lround(c.x)) + dx));
        EXPECT_TRUE(dark) << "no ink at " << deg << " degrees";
    }
}

TEST(ProofRenderer, TravelIsLightAndTheWorkAreaIsBlue) {
    ProofRenderer r(proofLaser());
    GcodeProgram p = proofProgram("G0 X100 Y100\nM3 S1000\nG1 X150 F1000\nM5\n");
    WorkArea area{20, 20, 160, 160};
    cv::Mat img = decodePng(r.render(p, area));
    ProofLayout l = r.layout(p, area);
    Point2 travel = l.toPixel({50, 50});
    cv::Vec3b t = img.at<cv::Vec3b>(static_cast<int>(std::lround(travel.y)), static_cast<int>(std::lround(travel.x)));
    EXPECT_FALSE(isDark(t));
    EXPECT_LT(t[1], 250) << "travel is drawn, lightly";
    Point2 edge = l.toPixel({100, 20});
    cv::Vec3b blue = img.at<cv::Vec3b>(static_cast<int>(std::lround(edge.y)), static_cast<int>(std::lround(edge.x)));
    EXPECT_GT(blue[0], blue[2] + 100) << "BGR blue on the work area edge";
}

TEST(ProofRenderer, MachineYPointsUpInTheImage) {
    ProofRenderer r(proofLaser());
    GcodeProgram p = proofProgram("");
    ProofLayout l = r.layout(p);
    EXPECT_LT(l.toPixel({0, 200}).y, l.toPixel({0, 0}).y);
    EXPECT_LT(l.toPixel({0, 0}).x, l.toPixel({200, 0}).x);
}

TEST(ProofRenderer, FarAwayMovesAndOddTitlesDoNotBreakTheImage) {
    ProofRenderer r(proofLaser(), 256);
    GcodeProgram p = proofProgram("M3 S100\nG1 X999999999 Y-999999999 F100\nG1 X-5 Y300\n");
    std::string title(300, 'W');
    title += "\xc3\xa9\n\t";
    cv::Mat img = decodePng(r.render(p, {1e9, 1e9, 1e9, 1e9}, title));
    ASSERT_FALSE(img.empty());
    EXPECT_EQ(std::max(img.cols, img.rows), 256);
}

TEST(ProofRenderer, SizesOutsideTheSupportedRangeAreRefused) {
    EXPECT_THROW(ProofRenderer(proofLaser(), 10), Error);
    EXPECT_THROW(ProofRenderer(proofLaser(), 100000), Error);
    EXPECT_THROW(ProofRenderer(proofLaser(0, 100)), Error);
}

// A raster of long lines from corner to corner: the worst case for drawing time.
std::string longLines(int n) {
    std::string text = "M4 S500\nF3000\n";
    for (int i = 0; i < n; ++i) text += (i % 2 ? "G1 X0 Y" : "G1 X200 Y") + std::to_string(i % 200) + "\n";
    return text;
}

std::size_t countRed(const cv::Mat& img) {
    std::size_t n = 0;
    for (int y = 0; y < img.rows; ++y)
        for (int x = 0; x < img.cols; ++x) {
            const cv::Vec3b px = img.at<cv::Vec3b>(y, x);
            n += px[2] > 180 && px[1] < 100 && px[0] < 100;
        }
    return n;
}

std::size_t countColour(const cv::Mat& img, cv::Vec3b colour) {
    std::size_t n = 0;
    for (int y = 0; y < img.rows; ++y)
        for (int x = 0; x < img.cols; ++x) n += img.at<cv::Vec3b>(y, x) == colour;
    return n;
}

TEST(ProofRenderer, TheTimeLimitLeavesAMarkedIncompleteProofInsteadOfHangingTheCompiler) {
    const GcodeProgram huge = proofProgram(longLines(300'000));
    const Proof cut = ProofRenderer(proofLaser(), 1024, std::chrono::milliseconds(1)).renderProof({&huge});
    EXPECT_FALSE(cut.complete);
    EXPECT_EQ(cut.moves, huge.moves().size());
    EXPECT_LT(cut.movesDrawn, cut.moves);
    const cv::Mat img = decodePng(cut.png);
    ASSERT_FALSE(img.empty());
    EXPECT_GT(countRed(img), 50u) << "the red INCOMPLETE line is on the image";

    const GcodeProgram small = proofProgram(longLines(50));
    const Proof whole = ProofRenderer(proofLaser()).renderProof({&small});
    EXPECT_TRUE(whole.complete);
    EXPECT_EQ(whole.movesDrawn, whole.moves);
    EXPECT_EQ(countRed(decodePng(whole.png)), 0u);
}

TEST(ProofRenderer, LayersShareOneViewAndEachHasItsColour) {
    const GcodeProgram engrave = proofProgram("G0 X20 Y20\nM4 S500\nG1 X60 F1000\nM5\n");
    const GcodeProgram cut = proofProgram("G0 X20 Y100\nM4 S500\nG1 X180 F1000\nM5\n");
    const ProofRenderer r(proofLaser());
    const cv::Mat img = decodePng(r.render(std::vector<const GcodeProgram*>{&engrave, &cut}));
    const auto first = ProofRenderer::layerColour(0), second = ProofRenderer::layerColour(1);
    const std::size_t black = countColour(img, cv::Vec3b(first[0], first[1], first[2]));
    const std::size_t red = countColour(img, cv::Vec3b(second[0], second[1], second[2]));
    EXPECT_GT(black, 0u);
    EXPECT_GT(red, 2 * black) << "the 160 mm cut is drawn in the second colour, the 40 mm line in the first";
    // The view is the same as for either program alone: the machine envelope.
    const ProofLayout both = r.layout(std::vector<const GcodeProgram*>{&engrave, &cut});
    const ProofLayout one = r.layout(engrave);
    EXPECT_DOUBLE_EQ(both.pxPerMm, one.pxPerMm);
}

} // namespace
} // namespace mto
