// SPDX-License-Identifier: Apache-2.0
// Trapezoidal-acceleration time estimate of a G-code program, with distances and bounding box.
#include "compiler/gcode_estimator.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>
#include <variant>
#include <vector>

#include "mto/error.hpp"

namespace mto {
namespace {

// cos 45°: joins straighter than this keep their speed.
constexpr double kKeepSpeedCos = 0.70710678118654752;

std::string estimateNumber(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

double length(const Move& m) {
    return std::sqrt((m.to.x - m.from.x) * (m.to.x - m.from.x) + (m.to.y - m.from.y) * (m.to.y - m.from.y) +
                     (m.to.z - m.from.z) * (m.to.z - m.from.z));
}

// Time to cover `len` entering at ve, leaving at vx, never above v, at acceleration a.
double trapezoidSeconds(double len, double ve, double v, double vx, double a) {
    if (len <= 0) return 0;
    v = std::max({v, ve, vx});
    double accelDist = (v * v - ve * ve) / (2 * a);
    double decelDist = (v * v - vx * vx) / (2 * a);
    if (accelDist + decelDist <= len) return (v - ve) / a + (v - vx) / a + (len - accelDist - decelDist) / v;
    // Too short to reach v: a triangle peaking where the two ramps meet.
    double peak = std::sqrt(std::max(0.0, (2 * a * len + ve * ve + vx * vx) / 2));
    peak = std::max({peak, ve, vx});
    return (peak - ve) / a + (peak - vx) / a;
}

} // namespace

GcodeEstimator::GcodeEstimator(MachineProfile profile) : profile_(std::move(profile)) {
    if (!(profile_.maxFeed > 0) || !std::isfinite(profile_.maxFeed))
        throw Error("machine profile '" + profile_.name + "': maxFeed must be > 0 mm/min for a time estimate (got " + estimateNumber(profile_.maxFeed) + ")");
    if (!(profile_.acceleration > 0) || !std::isfinite(profile_.acceleration))
        throw Error("machine profile '" + profile_.name + "': acceleration must be > 0 mm/s^2 for a time estimate (got " +
                    estimateNumber(profile_.acceleration) + ")");
}

GcodeEstimate GcodeEstimator::estimate(const GcodeProgram& program) const {
    const auto& moves = program.moves();
    const std::size_t n = moves.size();
    const double a = profile_.acceleration;
    const double vMax = profile_.maxFeed / 60.0;
    GcodeEstimate out;
    for (const Dwell& d : program.dwells()) out.seconds += dwellSeconds(d, profile_.capability);
    if (n == 0) return out;

    // A move's path length: XYZ, or the filament length for a move that only drives the extruder.
    auto pathLength = [&](const Move& m, double xyz) { return xyz > 0 ? xyz : std::fabs(m.e); };
    auto speed = [&](const Move& m) {
        if (m.rapid || m.feed <= 0) return vMax;
        return std::min(m.feed / 60.0, vMax);
    };

    // Speed at the start of move k is junction[k]; the end of the program is junction[n].
    // Moves of no length start at +inf so the passes below hand the neighbouring join's speed through them.
    std::vector<double> junction(n + 1, std::numeric_limits<double>::infinity());
    junction[0] = 0;
    junction[n] = 0;
    std::size_t prev = n;   // last move with a length; n = none yet
    double prevXyz = 0;
    for (std::size_t k = 0; k < n; ++k) {
        const Move& m = moves[k];
        double xyz = length(m);
        if (pathLength(m, xyz) <= 0) continue;
        double v = 0;
        if (prev != n && xyz > 0 && prevXyz > 0) {
            const Move& p = moves[prev];
            double cosTurn = ((p.to.x - p.from.x) * (m.to.x - m.from.x) + (p.to.y - p.from.y) * (m.to.y - m.from.y) +
                              (p.to.z - p.from.z) * (m.to.z - m.from.z)) /
                             (prevXyz * xyz);
            if (cosTurn >= kKeepSpeedCos) v = std::min(speed(p), speed(m));
        }
        junction[k] = std::min(junction[k], v);
        prev = k;
        prevXyz = xyz;
    }
    // The tool stands still during a pause.
    for (const Dwell& d : program.dwells()) junction[std::min(d.beforeMove, n)] = 0;
    for (std::size_t k = n; k-- > 0;) {
        double len = pathLength(moves[k], length(moves[k]));
        junction[k] = std::min(junction[k], std::sqrt(junction[k + 1] * junction[k + 1] + 2 * a * len));
    }
    for (std::size_t k = 0; k < n; ++k) {
        double len = pathLength(moves[k], length(moves[k]));
        junction[k + 1] = std::min(junction[k + 1], std::sqrt(junction[k] * junction[k] + 2 * a * len));
    }

    const std::string& capability = profile_.capability;
    BoundingBox& box = out.bbox;
    box = {moves[0].to.x, moves[0].to.y, moves[0].to.z, moves[0].to.x, moves[0].to.y, moves[0].to.z};
    for (std::size_t k = 0; k < n; ++k) {
        const Move& m = moves[k];
        double xyz = length(m);
        out.seconds += trapezoidSeconds(pathLength(m, xyz), junction[k], speed(m), junction[k + 1], a);
        (isWorkMove(m, capability) ? out.workMm : out.travelMm) += xyz;
        box.minX = std::min(box.minX, m.to.x);
        box.minY = std::min(box.minY, m.to.y);
        box.minZ = std::min(box.minZ, m.to.z);
        box.maxX = std::max(box.maxX, m.to.x);
        box.maxY = std::max(box.maxY, m.to.y);
        box.maxZ = std::max(box.maxZ, m.to.z);
    }
    return out;
}

double GcodeEstimator::dwellSeconds(const Dwell& dwell, const std::string& capability) {
    if (capability == "fdm") return dwell.s > 0 ? dwell.s : dwell.p / 1000.0;
    return dwell.p;
}

void GcodeEstimator::annotate(JobArtifact& artifact, const MachineProfile& profile) {
    auto parsed = GcodeProgram::parse(artifact.program);
    if (auto* error = std::get_if<GcodeParseError>(&parsed))
        throw Error("job program does not parse at line " + std::to_string(error->line) + ": " + error->message);
    annotate(artifact, std::get<GcodeProgram>(parsed), profile);
}

void GcodeEstimator::annotate(JobArtifact& artifact, const GcodeProgram& program, const MachineProfile& profile) {
    if (!artifact.capability.empty() && artifact.capability != profile.capability)
        throw Error("job artifact is for capability '" + artifact.capability + "' but machine profile '" + profile.name + "' is '" +
                    profile.capability + "'");
    GcodeEstimator estimator(profile);
    GcodeEstimate e = estimator.estimate(program);
    artifact.bbox = e.bbox;
    artifact.travelMm = e.travelMm;
    artifact.workMm = e.workMm;
    artifact.estimatedSeconds = e.seconds;
    artifact.lines = program.lineCount();
}

} // namespace mto
