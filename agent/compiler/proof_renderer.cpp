// SPDX-License-Identifier: Apache-2.0
// OpenCV drawing of the proof image: envelope, work area, tool path, scale bar and title, as PNG.
#include "compiler/proof_renderer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "mto/error.hpp"

namespace mto {
namespace {

constexpr int kMinLongSide = 64;
constexpr int kMaxLongSide = 8192;
constexpr int kShift = 4;                 // cv::line fixed-point bits: sub-pixel placement for anti-aliasing
constexpr double kFixed = 1 << kShift;
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;

// BGR
const cv::Scalar kWhite(255, 255, 255);
const cv::Scalar kEnvelopeGrey(150, 150, 150);
const cv::Scalar kWorkAreaBlue(230, 120, 30);
const cv::Scalar kTravelGrey(215, 215, 215);
const cv::Scalar kInk(40, 40, 40);
const cv::Scalar kIncompleteRed(0, 0, 255);

struct Style {
    int margin;
    double fontScale;
    int textThickness;
    int band;   // height of the title band and of the scale band
};

Style styleFor(int longSide) {
    Style s{};
    s.margin = std::max(6, longSide / 64);
    s.fontScale = std::max(0.35, longSide / 1600.0);
    s.textThickness = std::max(1, static_cast<int>(std::lround(longSide / 1024.0)));
    int baseline = 0;
    cv::Size text = cv::getTextSize("Ag", kFont, s.fontScale, s.textThickness, &baseline);
    s.band = text.height + baseline + 2 * s.margin;
    return s;
}

// Liang-Barsky: keeps coordinates bounded before they become cv::Point ints (a far move would overflow).
bool clip(cv::Point2d& a, cv::Point2d& b, double xmin, double ymin, double xmax, double ymax) {
    double t0 = 0, t1 = 1;
    double dx = b.x - a.x, dy = b.y - a.y;
    const double p[4] = {-dx, dx, -dy, dy};
    const double q[4] = {a.x - xmin, xmax - a.x, a.y - ymin, ymax - a.y};
    for (int i = 0; i < 4; ++i) {
        if (p[i] == 0) {
            if (q[i] < 0) return false;
            continue;
        }
        double r = q[i] / p[i];
        if (p[i] < 0) {
            if (r > t1) return false;
            t0 = std::max(t0, r);
        } else {
            if (r < t0) return false;
            t1 = std::min(t1, r);
        }
    }
    cv::Point2d start = a;
    a = {start.x + t0 * dx, start.y + t0 * dy};
    b = {start.x + t1 * dx, start.y + t1 * dy};
    return true;
}

cv::Point fixedPoint(const cv::Point2d& p) {
    return {static_cast<int>(std::lround(p.x * kFixed)), static_cast<int>(std::lround(p.y * kFixed))};
}

std::string asciiOnly(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (u >= 0x80 && u <= 0xbf) continue;   // UTF-8 continuation: one '?' per character, not per byte
        out += (u >= 0x20 && u <= 0x7e) ? c : '?';
    }
    return out;
}

std::string mmLabel(double mm) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g mm", mm);
    return buf;
}

// 1, 2 or 5 times a power of ten, at most `target`.
double niceLength(double target) {
    double p = std::pow(10.0, std::floor(std::log10(target)));
    for (double f : {5.0, 2.0, 1.0})
        if (f * p <= target) return f * p;
    return p;
}

} // namespace

ProofRenderer::ProofRenderer(MachineProfile profile, int longSidePx, std::chrono::milliseconds timeLimit)
    : profile_(std::move(profile)), longSidePx_(longSidePx), timeLimit_(timeLimit) {
    if (longSidePx_ < kMinLongSide || longSidePx_ > kMaxLongSide)
        throw Error("proof image size " + std::to_string(longSidePx_) + " px is outside " + std::to_string(kMinLongSide) + ".." +
                    std::to_string(kMaxLongSide) + " px");
    if (!(profile_.sizeX > 0) || !(profile_.sizeY > 0) || !std::isfinite(profile_.sizeX) || !std::isfinite(profile_.sizeY))
        throw Error("machine profile '" + profile_.name + "': sizeX and sizeY must be > 0 mm to draw a proof");
}

std::array<double, 3> ProofRenderer::layerColour(std::size_t i) {
    static constexpr std::array<std::array<double, 3>, 4> colours{{{0, 0, 0}, {30, 30, 210}, {40, 150, 40}, {0, 140, 255}}};
    return colours[i % colours.size()];
}

ProofLayout ProofRenderer::layout(const GcodeProgram& program, const WorkArea& workArea) const {
    return layout(std::vector<const GcodeProgram*>{&program}, workArea);
}

std::string ProofRenderer::render(const GcodeProgram& program, const WorkArea& workArea, std::string_view title) const {
    return render(std::vector<const GcodeProgram*>{&program}, workArea, title);
}

ProofLayout ProofRenderer::layout(const std::vector<const GcodeProgram*>& layers, const WorkArea& workArea) const {
    const double sx = profile_.sizeX, sy = profile_.sizeY;
    double minX = 0, minY = 0, maxX = sx, maxY = sy;
    if (workArea.width > 0 && workArea.height > 0 && std::isfinite(workArea.x + workArea.y + workArea.width + workArea.height)) {
        minX = std::min(minX, workArea.x);
        minY = std::min(minY, workArea.y);
        maxX = std::max(maxX, workArea.x + workArea.width);
        maxY = std::max(maxY, workArea.y + workArea.height);
    }
    for (const GcodeProgram* program : layers)
    for (const Move& m : program->moves()) {
        for (const Point3& p : {m.from, m.to}) {
            minX = std::min(minX, p.x);
            minY = std::min(minY, p.y);
            maxX = std::max(maxX, p.x);
            maxY = std::max(maxY, p.y);
        }
    }
    minX = std::max(minX, -sx / 2);
    maxX = std::min(maxX, sx * 1.5);
    minY = std::max(minY, -sy / 2);
    maxY = std::min(maxY, sy * 1.5);
    const double viewW = maxX - minX, viewH = maxY - minY;

    const int longSide = longSidePx_;
    const Style st = styleFor(longSide);
    const double availW = std::max(1.0, static_cast<double>(longSide - 2 * st.margin));
    const double availH = std::max(1.0, static_cast<double>(longSide - 2 * st.band));
    const double scale = std::min(availW / viewW, availH / viewH);

    ProofLayout l;
    l.width = static_cast<int>(std::lround(scale * viewW + 2 * st.margin));
    l.height = static_cast<int>(std::lround(scale * viewH + 2 * st.band));
    if (l.width >= l.height) l.width = longSide;
    else l.height = longSide;
    l.width = std::clamp(l.width, 1, longSide);
    l.height = std::clamp(l.height, 1, longSide);
    l.pxPerMm = scale;
    l.viewMinX = minX;
    l.viewMaxY = maxY;
    l.plotLeft = (l.width - scale * viewW) / 2;
    l.plotTop = st.band + ((l.height - 2 * st.band) - scale * viewH) / 2;
    l.plotRight = l.plotLeft + scale * viewW;
    l.plotBottom = l.plotTop + scale * viewH;
    return l;
}

std::string ProofRenderer::render(const std::vector<const GcodeProgram*>& layers, const WorkArea& workArea,
                                  std::string_view title) const {
    return renderProof(layers, workArea, title).png;
}

Proof ProofRenderer::renderProof(const std::vector<const GcodeProgram*>& layers, const WorkArea& workArea,
                                 std::string_view title, const std::vector<ProofMark>& marks) const {
    using Clock = std::chrono::steady_clock;
    const Clock::time_point began = Clock::now();
    Proof proof;
    for (const GcodeProgram* program : layers) proof.moves += program->moves().size();
    // Anti-aliasing costs several times a plain line; past this many moves nobody sees the difference.
    constexpr std::size_t kAntiAliasUpTo = 200'000;
    const int lineType = proof.moves <= kAntiAliasUpTo ? cv::LINE_AA : cv::LINE_8;
    const ProofLayout l = layout(layers, workArea);
    const Style st = styleFor(longSidePx_);
    cv::Mat img(l.height, l.width, CV_8UC3, kWhite);

    const int outlineThickness = std::max(1, static_cast<int>(std::lround(longSidePx_ / 512.0)));
    const int workThickness = std::max(1, static_cast<int>(std::lround(longSidePx_ / 512.0)));
    // Lines may spill this far outside the plot before being cut, so thick strokes at the edge stay whole.
    const double pad = 2.0 * std::max(outlineThickness, workThickness);
    auto segment = [&](Point2 a, Point2 b, const cv::Scalar& colour, int thickness) {
        Point2 pa = l.toPixel(a), pb = l.toPixel(b);
        cv::Point2d ca(pa.x, pa.y), cb(pb.x, pb.y);
        if (!clip(ca, cb, l.plotLeft - pad, l.plotTop - pad, l.plotRight + pad, l.plotBottom + pad)) return;
        cv::line(img, fixedPoint(ca), fixedPoint(cb), colour, thickness, lineType, kShift);
    };
    auto box = [&](double x0, double y0, double x1, double y1, const cv::Scalar& colour, int thickness) {
        segment({x0, y0}, {x1, y0}, colour, thickness);
        segment({x1, y0}, {x1, y1}, colour, thickness);
        segment({x1, y1}, {x0, y1}, colour, thickness);
        segment({x0, y1}, {x0, y0}, colour, thickness);
    };

    box(0, 0, profile_.sizeX, profile_.sizeY, kEnvelopeGrey, outlineThickness);
    if (workArea.width > 0 && workArea.height > 0)
        box(workArea.x, workArea.y, workArea.x + workArea.width, workArea.y + workArea.height, kWorkAreaBlue, outlineThickness);
    for (const ProofMark& mark : marks) {
        const WorkArea& b = mark.box;
        box(b.x, b.y, b.x + b.width, b.y + b.height, kWorkAreaBlue, outlineThickness);
        if (mark.label.empty()) continue;
        // Small enough for a slot of a dense jig; never drawn larger than the title.
        const double scale = std::min(st.fontScale, std::max(0.25, b.height * l.pxPerMm / 60.0));
        const Point2 corner = l.toPixel({b.x, b.y + b.height});
        int base = 0;
        const cv::Size size = cv::getTextSize(asciiOnly(mark.label), kFont, scale, 1, &base);
        cv::putText(img, asciiOnly(mark.label),
                    {static_cast<int>(corner.x) + 2, static_cast<int>(corner.y) + size.height + 2}, kFont, scale,
                    kWorkAreaBlue, 1, cv::LINE_AA);
    }

    // Raster engravings and flattened arcs are millions of moves shorter than a pixel; joined moves that
    // stay within a pixel of where the stroke started are drawn as one line, which looks the same.
    // Stops at `deadline`, checked every few thousand moves; false when it did.
    auto strokes = [&](const std::vector<Move>& moves, bool work, const cv::Scalar& colour, int thickness,
                       Clock::time_point deadline) {
        bool pending = false;
        Point2 start, end;
        std::size_t seen = 0;
        for (const Move& m : moves) {
            if ((++seen & 4095) == 0 && Clock::now() > deadline) {
                if (pending) segment(start, end, colour, thickness);
                return false;
            }
            if (work) ++proof.movesDrawn;
            if (isWorkMove(m, profile_.capability) != work) continue;
            Point2 from{m.from.x, m.from.y}, to{m.to.x, m.to.y};
            if (pending && from.x == end.x && from.y == end.y && std::hypot(to.x - start.x, to.y - start.y) * l.pxPerMm < 1.0) {
                end = to;
                continue;
            }
            if (pending) segment(start, end, colour, thickness);
            start = from;
            end = to;
            pending = true;
        }
        if (pending) segment(start, end, colour, thickness);
        return true;
    };
    // Travel first so that work crossing it stays visible; travel may use a quarter of the time.
    for (const GcodeProgram* program : layers)
        if (!strokes(program->moves(), false, kTravelGrey, 1, began + timeLimit_ / 4)) break;
    for (std::size_t i = 0; i < layers.size() && proof.complete; ++i) {
        const auto c = layerColour(i);
        proof.complete = strokes(layers[i]->moves(), true, cv::Scalar(c[0], c[1], c[2]), workThickness, began + timeLimit_);
    }


    // Scale bar, bottom left, about a fifth of the plot wide.
    const double plotWmm = (l.plotRight - l.plotLeft) / l.pxPerMm;
    const double barMm = niceLength(std::max(plotWmm / 5, 1e-3));
    const int barPx = std::max(1, static_cast<int>(std::lround(barMm * l.pxPerMm)));
    const int barY = l.height - st.band / 2;
    const int barX = st.margin;
    const int tick = std::max(3, st.band / 5);
    cv::line(img, {barX, barY}, {barX + barPx, barY}, kInk, st.textThickness + 1, cv::LINE_8);
    cv::line(img, {barX, barY - tick}, {barX, barY + tick}, kInk, st.textThickness, cv::LINE_8);
    cv::line(img, {barX + barPx, barY - tick}, {barX + barPx, barY + tick}, kInk, st.textThickness, cv::LINE_8);
    int baseline = 0;
    const std::string label = mmLabel(barMm);
    cv::Size labelSize = cv::getTextSize(label, kFont, st.fontScale, st.textThickness, &baseline);
    cv::putText(img, label, {barX + barPx + st.margin, barY + labelSize.height / 2}, kFont, st.fontScale, kInk, st.textThickness,
                cv::LINE_AA);

    if (!proof.complete) {
        // Bottom right, in red, where the scale bar leaves room: a person must not approve half a picture.
        const std::string warning = "INCOMPLETE: " + std::to_string(proof.movesDrawn) + " of " + std::to_string(proof.moves) +
                                    " moves drawn";
        const cv::Size size = cv::getTextSize(warning, kFont, st.fontScale, st.textThickness, &baseline);
        cv::putText(img, warning, {std::max(st.margin, l.width - st.margin - size.width), barY + size.height / 2}, kFont,
                    st.fontScale, kIncompleteRed, st.textThickness, cv::LINE_AA);
    }

    std::string text = asciiOnly(title.empty() ? std::string_view(profile_.name) : title);
    const int maxTextWidth = l.width - 2 * st.margin;
    while (!text.empty() && cv::getTextSize(text, kFont, st.fontScale, st.textThickness, &baseline).width > maxTextWidth) {
        // Shorten with an ellipsis rather than drawing past the edge.
        text.resize(text.size() > 4 ? text.size() - 4 : 0);
        if (!text.empty()) text += "...";
    }
    cv::Size titleSize = cv::getTextSize(text.empty() ? "A" : text, kFont, st.fontScale, st.textThickness, &baseline);
    if (!text.empty())
        cv::putText(img, text, {st.margin, st.margin + titleSize.height}, kFont, st.fontScale, kInk, st.textThickness, cv::LINE_AA);

    std::vector<uchar> png;
    if (!cv::imencode(".png", img, png)) throw Error("could not encode the proof image as PNG (OpenCV built without PNG support?)");
    proof.png.assign(png.begin(), png.end());
    return proof;
}

} // namespace mto
