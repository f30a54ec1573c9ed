// SPDX-License-Identifier: Apache-2.0
// Strokes made ready for the G-code generators: in micrometres inside the machine, and in an order
// that shortens travel.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "compiler/gcode_text.hpp"
#include "mto/error.hpp"
#include "mto/job.hpp"

namespace mto {

// Each stroke as micrometre points (Point has integer x and y; other members stay as default-built),
// repeated points dropped, and strokes left shorter than two points dropped. Throws mto::Error for a
// coordinate that is not a number or lies outside the profile's envelope, or when nothing is left to
// `verb` ("burn", "engrave").
template <class Point>
std::vector<std::vector<Point>> micrometrePaths(const std::vector<Polyline>& strokes, const MachineProfile& profile,
                                                std::string_view verb) {
    const auto limitX = std::llround(profile.sizeX * 1000.0);
    const auto limitY = std::llround(profile.sizeY * 1000.0);
    std::vector<std::vector<Point>> paths;
    paths.reserve(strokes.size());
    for (std::size_t s = 0; s < strokes.size(); ++s) {
        std::vector<Point> path;
        path.reserve(strokes[s].points.size());
        for (const Point2& p : strokes[s].points) {
            if (!std::isfinite(p.x) || !std::isfinite(p.y))
                throw Error("stroke " + std::to_string(s) + " has a coordinate that is not a number; the layout is broken");
            // Far-off points are refused before rounding, which could not represent them.
            const bool near = p.x > -1 && p.y > -1 && p.x < profile.sizeX + 1 && p.y < profile.sizeY + 1;
            Point q{};
            if (near) {
                q.x = std::llround(p.x * 1000.0);
                q.y = std::llround(p.y * 1000.0);
            }
            if (!near || q.x < 0 || q.y < 0 || q.x > limitX || q.y > limitY)
                throw Error("stroke " + std::to_string(s) + " reaches X" + gcode::number(p.x) + " Y" + gcode::number(p.y) +
                            ", outside the " + gcode::number(profile.sizeX) + " x " + gcode::number(profile.sizeY) +
                            " mm work area of machine \"" + profile.name + "\"; move or shrink the text");
            if (path.empty() || !(path.back() == q)) path.push_back(q);
        }
        if (path.size() >= 2) paths.push_back(std::move(path));
    }
    if (paths.empty()) throw Error("nothing to " + std::string(verb) + ": no stroke is longer than 0.001 mm");
    return paths;
}

// Greedy nearest neighbour over both ends of every stroke: O(n²), fine for the hundreds of strokes a
// text has, and typically halves the travel of the layout order. `distance(a, b)` measures travel
// between points; with `exitsAtEntry` a stroke is left where it was entered (the next search starts there).
template <class Path, class Point, class Distance>
std::vector<Path> orderForTravel(std::vector<Path> paths, Point from, Distance distance, bool exitsAtEntry = false) {
    std::vector<Path> ordered;
    ordered.reserve(paths.size());
    std::vector<bool> used(paths.size(), false);
    for (std::size_t n = 0; n < paths.size(); ++n) {
        std::size_t best = 0;
        bool reverse = false;
        double bestDist = std::numeric_limits<double>::infinity();
        for (std::size_t i = 0; i < paths.size(); ++i) {
            if (used[i]) continue;
            const double toStart = distance(from, paths[i].front());
            const double toEnd = distance(from, paths[i].back());
            if (toStart < bestDist) {
                bestDist = toStart;
                best = i;
                reverse = false;
            }
            if (toEnd < bestDist) {
                bestDist = toEnd;
                best = i;
                reverse = true;
            }
        }
        used[best] = true;
        Path p = std::move(paths[best]);
        if (reverse) std::reverse(p.begin(), p.end());
        from = exitsAtEntry ? p.front() : p.back();
        ordered.push_back(std::move(p));
    }
    return ordered;
}

} // namespace mto
