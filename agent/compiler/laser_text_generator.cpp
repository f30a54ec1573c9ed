// SPDX-License-Identifier: Apache-2.0
// GRBL laser G-code for text strokes: limits checks, travel-shortening order, program text and its metrics.
#include "compiler/laser_text_generator.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>
#include <limits>
#include <utility>

#include "compiler/gcode_text.hpp"
#include "compiler/stroke_order.hpp"
#include "mto/error.hpp"

namespace mto {
namespace {

// Integer micrometres: rounding once up front makes the printed program, the deduplication of
// points and the measured distances agree exactly, and printing needs no floating-point locale.
struct Um {
    std::int64_t x = 0;
    std::int64_t y = 0;
    bool operator==(const Um&) const = default;
};
using LaserPath = std::vector<Um>;

using gcode::appendMm;
using gcode::number;
using gcode::positive;
using gcode::requireProfile;

double planarDistance(const Um& a, const Um& b) {
    return std::hypot(static_cast<double>(a.x - b.x), static_cast<double>(a.y - b.y)) / 1000.0;
}

// Program text plus what the artifact reports about it, tracked as lines are added.
class LaserProgram {
public:
    void line(const std::string& text) { text_.line(text); }
    void move(const char* word, const Um& to, const std::string& suffix, bool burning) {
        std::string text = word;
        text += " X";
        appendMm(text, to.x);
        text += " Y";
        appendMm(text, to.y);
        text += suffix;
        line(text);
        (burning ? work_ : travel_) += planarDistance(pos_, to);
        pos_ = to;
        extend(to);
    }
    const Um& pos() const { return pos_; }

    JobArtifact finish() {
        JobArtifact a = std::move(text_).finish("laser");
        a.bbox.minX = static_cast<double>(min_.x) / 1000.0;
        a.bbox.minY = static_cast<double>(min_.y) / 1000.0;
        a.bbox.maxX = static_cast<double>(max_.x) / 1000.0;
        a.bbox.maxY = static_cast<double>(max_.y) / 1000.0;
        a.travelMm = travel_;
        a.workMm = work_;
        return a;
    }

private:
    void extend(const Um& p) {
        min_ = {std::min(min_.x, p.x), std::min(min_.y, p.y)};
        max_ = {std::max(max_.x, p.x), std::max(max_.y, p.y)};
    }

    gcode::GrblProgramText text_;
    Um pos_;   // the job starts at the work origin
    Um min_;   // the origin is in the box: the job starts and ends there
    Um max_;
    double travel_ = 0;
    double work_ = 0;
};

} // namespace

LaserTextGenerator::LaserTextGenerator(MachineProfile profile) : profile_(std::move(profile)) {
    requireProfile(profile_, "laser", "laser text");
    if (!positive(profile_.maxPower)) {
        throw Error("machine profile \"" + profile_.name + "\" needs a positive maxPower (GRBL $30)");
    }
}

JobArtifact LaserTextGenerator::generate(const std::vector<Polyline>& strokes, const LaserMaterial& material) const {
    const std::string what = "material \"" + material.name + "\" on machine \"" + profile_.name + "\"";
    if (!positive(material.power) || material.power > profile_.maxPower) {
        throw Error(what + ": power S" + number(material.power) + " must be above 0 and at most the machine's maxPower S" +
                    number(profile_.maxPower));
    }
    if (!positive(material.feed) || (profile_.maxFeed > 0 && material.feed > profile_.maxFeed)) {
        throw Error(what + ": feed " + number(material.feed) + " mm/min must be above 0 and at most the machine's maxFeed " +
                    number(profile_.maxFeed) + " mm/min");
    }
    constexpr int kMaxPasses = 100;
    if (material.passes < 1 || material.passes > kMaxPasses) {
        throw Error(what + ": passes " + std::to_string(material.passes) + " must be between 1 and " +
                    std::to_string(kMaxPasses));
    }
    gcode::requireGrblWords(profile_, {"G0", "G1", "M4", "M5", "S", "F"}, "laser text");

    std::vector<LaserPath> paths = micrometrePaths<Um>(strokes, profile_, "burn");

    const std::vector<LaserPath> ordered = orderForTravel(std::move(paths), Um{}, planarDistance);
    const std::string burn = " S" + number(material.power) + " F" + number(material.feed);

    LaserProgram out;   // opens with the modal preamble
    out.line("M4 S0");
    for (int pass = 0; pass < material.passes; ++pass) {
        // Odd passes retrace the order backwards, so the next pass starts where this one ended.
        const bool backwards = pass % 2 == 1;
        for (std::size_t k = 0; k < ordered.size(); ++k) {
            const LaserPath& path = ordered[backwards ? ordered.size() - 1 - k : k];
            const auto point = [&](std::size_t i) -> const Um& {
                return backwards ? path[path.size() - 1 - i] : path[i];
            };
            if (!(out.pos() == point(0))) {
                out.move("G0", point(0), " S0", false);
            }
            for (std::size_t i = 1; i < path.size(); ++i) {
                out.move("G1", point(i), i == 1 ? burn : std::string(), true);
            }
        }
    }
    out.line("M5 S0");
    out.move("G0", Um{}, "", false);
    return out.finish();   // closes with the program end
}

} // namespace mto
