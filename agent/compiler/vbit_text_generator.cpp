// SPDX-License-Identifier: Apache-2.0
// V-bit engraving G-code for text strokes: limits checks, depth passes, travel order and job metrics.
#include "compiler/vbit_text_generator.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>
#include <limits>
#include <numbers>
#include <string>
#include <utility>

#include "compiler/gcode_text.hpp"
#include "compiler/stroke_order.hpp"
#include "mto/error.hpp"

namespace mto {
namespace {

// Integer micrometres, as in the laser generator: the printed program, the skipped duplicate points
// and the measured distances then agree exactly, and printing needs no floating-point locale.
// (The two generators share this small toolkit by copy until a common G-code writer file exists.)
struct Um3 {
    std::int64_t x = 0;
    std::int64_t y = 0;
    std::int64_t z = 0;
    bool operator==(const Um3&) const = default;
};
using VbitPath = std::vector<Um3>;   // z unused: the depth comes from the pass

using gcode::appendMm;
using gcode::number;
using gcode::kMaxSizeMm;
using gcode::positive;
using gcode::requireProfile;

double spatialDistance(const Um3& a, const Um3& b) {
    const auto dx = static_cast<double>(a.x - b.x);
    const auto dy = static_cast<double>(a.y - b.y);
    const auto dz = static_cast<double>(a.z - b.z);
    return std::sqrt(dx * dx + dy * dy + dz * dz) / 1000.0;
}

double distanceXY(const Um3& a, const Um3& b) {
    return std::hypot(static_cast<double>(a.x - b.x), static_cast<double>(a.y - b.y));
}

// Program text plus what the artifact reports about it, tracked as lines are added.
class CncProgram {
public:
    explicit CncProgram(Um3 start) : pos_(start), min_(start), max_(start) {}

    void line(const std::string& text) { text_.line(text); }
    void moveXY(const char* word, std::int64_t x, std::int64_t y, const std::string& suffix) {
        std::string text = word;
        text += " X";
        appendMm(text, x);
        text += " Y";
        appendMm(text, y);
        text += suffix;
        line(text);
        moved(word, Um3{x, y, pos_.z});
    }
    void moveZ(const char* word, std::int64_t z, const std::string& suffix) {
        std::string text = word;
        text += " Z";
        appendMm(text, z);
        text += suffix;
        line(text);
        moved(word, Um3{pos_.x, pos_.y, z});
    }
    const Um3& pos() const { return pos_; }

    JobArtifact finish() {
        JobArtifact a = std::move(text_).finish("cnc");
        a.bbox = {static_cast<double>(min_.x) / 1000.0, static_cast<double>(min_.y) / 1000.0,
                  static_cast<double>(min_.z) / 1000.0, static_cast<double>(max_.x) / 1000.0,
                  static_cast<double>(max_.y) / 1000.0, static_cast<double>(max_.z) / 1000.0};
        a.travelMm = travel_;
        a.workMm = work_;
        return a;
    }

private:
    void moved(const char* word, const Um3& to) {
        (word[1] == '0' ? travel_ : work_) += spatialDistance(pos_, to);
        pos_ = to;
        min_ = {std::min(min_.x, to.x), std::min(min_.y, to.y), std::min(min_.z, to.z)};
        max_ = {std::max(max_.x, to.x), std::max(max_.y, to.y), std::max(max_.z, to.z)};
    }

    gcode::GrblProgramText text_;
    Um3 pos_;
    Um3 min_;
    Um3 max_;
    double travel_ = 0;
    double work_ = 0;
};

} // namespace

VBitTextGenerator::VBitTextGenerator(MachineProfile profile) : profile_(std::move(profile)) {
    requireProfile(profile_, "cnc", "V-bit engraving");
}

double VBitTextGenerator::grooveWidth(const VBitTool& tool) {
    return 2.0 * tool.depth * std::tan(tool.angleDeg / 2.0 * std::numbers::pi / 180.0);
}

JobArtifact VBitTextGenerator::generate(const std::vector<Polyline>& strokes, const VBitTool& tool) const {
    const std::string what = "V-bit tool on machine \"" + profile_.name + "\"";
    if (!std::isfinite(tool.angleDeg) || tool.angleDeg <= 0 || tool.angleDeg >= 180) {
        throw Error(what + ": angle " + number(tool.angleDeg) + " degrees must be between 0 and 180");
    }
    if (!positive(tool.depth) || !positive(tool.stepDown) || !positive(tool.safeZ)) {
        throw Error(what + ": depth, stepDown and safeZ must all be above 0 mm (got " + number(tool.depth) + ", " +
                    number(tool.stepDown) + ", " + number(tool.safeZ) + ")");
    }
    for (const auto& [name, feed] : {std::pair{"plungeFeed", tool.plungeFeed}, std::pair{"feed", tool.feed}}) {
        if (!positive(feed) || (profile_.maxFeed > 0 && feed > profile_.maxFeed)) {
            throw Error(what + ": " + name + " " + number(feed) + " mm/min must be above 0 and at most the machine's maxFeed " +
                        number(profile_.maxFeed) + " mm/min");
        }
    }
    if (!positive(tool.rpm)) {
        throw Error(what + ": rpm must be above 0 (got " + number(tool.rpm) + ")");
    }
    if (!std::isfinite(tool.spinUpSeconds) || tool.spinUpSeconds < 0 || tool.spinUpSeconds > 60) {
        throw Error(what + ": spinUpSeconds " + number(tool.spinUpSeconds) + " must be between 0 and 60");
    }

    if (!(-tool.depth >= profile_.minZ && tool.safeZ <= profile_.maxZ) || tool.depth > kMaxSizeMm || tool.safeZ > kMaxSizeMm) {
        throw Error(what + ": cutting from Z" + number(-tool.depth) + " up to safe Z" + number(tool.safeZ) +
                    " leaves the machine's Z range " + number(profile_.minZ) + " .. " + number(profile_.maxZ) +
                    " mm; adjust the tool or the profile's minZ/maxZ");
    }
    const std::int64_t depth = std::llround(tool.depth * 1000.0);
    const std::int64_t safeZ = std::llround(tool.safeZ * 1000.0);
    if (depth < 1 || safeZ < 1) {
        throw Error(what + ": depth and safeZ must be at least 0.001 mm");
    }
    constexpr double kMaxPasses = 1000;
    const double exactPasses = std::ceil(tool.depth / tool.stepDown - 1e-9);
    if (exactPasses > kMaxPasses) {
        throw Error(what + ": depth " + number(tool.depth) + " mm in steps of " + number(tool.stepDown) +
                    " mm needs more than " + number(kMaxPasses) + " passes; raise stepDown");
    }
    const auto passes = static_cast<std::int64_t>(std::max(1.0, exactPasses));

    gcode::requireGrblWords(profile_, {"G0", "G1", "M3", "M5", "S", "F"}, "V-bit engraving");
    if (tool.spinUpSeconds > 0 && !profile_.allowedWords.empty() && !profile_.allowedWords.contains("G4")) {
        throw Error("machine profile \"" + profile_.name +
                    "\" does not allow G4, which V-bit engraving needs for the spindle's spin-up; add it to "
                    "allowedWords or set the tool's spinUpSeconds to 0");
    }

    std::vector<VbitPath> paths = micrometrePaths<Um3>(strokes, profile_, "engrave");

    const std::vector<VbitPath> ordered = orderForTravel(std::move(paths), Um3{}, distanceXY, passes % 2 == 0);
    const std::string plunge = " F" + number(tool.plungeFeed);
    const std::string cut = " F" + number(tool.feed);

    // Like the G-code reader, take the job to start at the work origin; Z0 is inside -depth..safeZ anyway.
    CncProgram out(Um3{});   // opens with the modal preamble
    out.moveZ("G0", safeZ, "");
    out.line("M3 S" + number(tool.rpm));
    if (tool.spinUpSeconds > 0) {
        out.line("G4 P" + number(tool.spinUpSeconds));
    }
    for (const VbitPath& path : ordered) {
        if (out.pos().x != path.front().x || out.pos().y != path.front().y) {
            out.moveXY("G0", path.front().x, path.front().y, "");
        }
        for (std::int64_t pass = 1; pass <= passes; ++pass) {
            // Equal steps, the last one exactly at depth; none deeper than stepDown.
            out.moveZ("G1", -(depth * pass / passes), plunge);
            const bool backwards = pass % 2 == 0;
            for (std::size_t i = 1; i < path.size(); ++i) {
                const Um3& p = backwards ? path[path.size() - 1 - i] : path[i];
                out.moveXY("G1", p.x, p.y, i == 1 ? cut : std::string());
            }
        }
        out.moveZ("G0", safeZ, "");
    }
    out.line("M5");
    out.moveXY("G0", 0, 0, "");
    return out.finish();   // closes with the program end
}

} // namespace mto
