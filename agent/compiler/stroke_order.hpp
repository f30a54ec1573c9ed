// SPDX-License-Identifier: Apache-2.0
// Travel-shortening order of strokes, shared by the G-code generators.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <utility>
#include <vector>

namespace mto {

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
