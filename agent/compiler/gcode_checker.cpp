// SPDX-License-Identifier: Apache-2.0
// Envelope, laser, command-word, feed and GRBL start/end checks of a G-code program for one machine profile.
#include "compiler/gcode_checker.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <utility>

#include "mto/error.hpp"

namespace mto {
namespace {

// Inch programs converted to mm land a few ulps off the edge they aimed at.
constexpr double kEdgeToleranceMm = 1e-6;

std::string checkerNumber(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", std::round(v * 1000) / 1000);
    return buf;
}

// Collects one reason's violations, one per line, up to the cap.
class Bucket {
public:
    Bucket(std::string reason, std::size_t cap) : reason_(std::move(reason)), cap_(cap) {}

    void add(int line, const std::function<std::string()>& message) {
        if (line == lastLine_) return;
        lastLine_ = line;
        if (list_.size() < cap_) {
            list_.push_back({reason_, line, message()});
            return;
        }
        if (extra_ == 0) firstExtraLine_ = line;
        ++extra_;
    }

    void appendTo(std::vector<Violation>& out) {
        for (auto& v : list_) out.push_back(std::move(v));
        if (extra_ > 0)
            out.push_back({reason_, firstExtraLine_,
                           "... and " + std::to_string(extra_) + " more lines with " + reason_ + " from this line on"});
    }

private:
    std::string reason_;
    std::size_t cap_;
    std::vector<Violation> list_;
    std::size_t extra_ = 0;
    int firstExtraLine_ = 0;
    int lastLine_ = -1;
};

// First line of any of `words` (0 when none).
int firstLine(const GcodeProgram& program, std::initializer_list<const char*> words) {
    int first = 0;
    for (const char* w : words) {
        auto it = program.words().find(w);
        if (it != program.words().end() && !it->second.empty() && (first == 0 || it->second.front() < first))
            first = it->second.front();
    }
    return first;
}

// Last line of any of `words` (0 when none).
int lastLine(const GcodeProgram& program, std::initializer_list<const char*> words) {
    int last = 0;
    for (const char* w : words) {
        auto it = program.words().find(w);
        if (it != program.words().end() && !it->second.empty()) last = std::max(last, it->second.back());
    }
    return last;
}

// The start and end every GRBL program needs, so it neither inherits modes nor leaves them behind.
void checkFrame(const GcodeProgram& program, const MachineProfile& p, std::vector<Violation>& out) {
    const auto& moves = program.moves();
    if (!moves.empty()) {
        const int firstMove = moves.front().line;
        std::string missing;
        // G20 or G91 set the mode just as well; whether the machine takes them is the allowed words' call.
        auto setBefore = [&](int line) { return line > 0 && line <= firstMove; };
        if (!setBefore(firstLine(program, {"G21", "G20"}))) missing = "G21 (millimetres)";
        if (!setBefore(firstLine(program, {"G90", "G91"}))) missing += (missing.empty() ? "" : " and ") + std::string("G90 (absolute)");
        if (!missing.empty())
            out.push_back({"modes_not_set", firstMove,
                           "the program moves before it sets " + missing + ", so it would run in whatever mode the last "
                           "program or the operator left on " + p.name + "; start it with G21 G90"});
    }
    const int end = lastLine(program, {"M2", "M30"});
    const int last = program.lastCommandLine();
    if (end == 0) {
        out.push_back({"program_end_missing", 0,
                       "the program does not end with M2 or M30, so " + p.name +
                           " keeps its modes and spindle or laser state for whatever runs next; end it with M2"});
    } else if (last > end) {
        out.push_back({"program_end_missing", last,
                       "line " + std::to_string(last) + " comes after the program end on line " + std::to_string(end) +
                           "; M2 or M30 must be the last command"});
    }
}

void requireFinite(const MachineProfile& p, const char* key, double v) {
    if (!std::isfinite(v)) throw Error("machine profile '" + p.name + "': " + key + " is not a finite number");
}

} // namespace

GcodeChecker::GcodeChecker(MachineProfile profile, std::size_t maxPerReason)
    : profile_(std::move(profile)), maxPerReason_(std::max<std::size_t>(maxPerReason, 1)) {
    const auto& p = profile_;
    for (auto [key, v] : {std::pair{"sizeX", p.sizeX}, {"sizeY", p.sizeY}, {"minZ", p.minZ}, {"maxZ", p.maxZ}, {"maxFeed", p.maxFeed}})
        requireFinite(p, key, v);
    if (p.sizeX <= 0 || p.sizeY <= 0)
        throw Error("machine profile '" + p.name + "': sizeX and sizeY must be > 0 mm (got " + checkerNumber(p.sizeX) + " x " + checkerNumber(p.sizeY) + ")");
    if (p.minZ > p.maxZ)
        throw Error("machine profile '" + p.name + "': minZ " + checkerNumber(p.minZ) + " is above maxZ " + checkerNumber(p.maxZ));
    if (p.maxFeed <= 0)
        throw Error("machine profile '" + p.name + "': maxFeed must be > 0 mm/min (got " + checkerNumber(p.maxFeed) + ")");
}

std::vector<Violation> GcodeChecker::check(const GcodeProgram& program) const {
    const auto& p = profile_;
    std::vector<Violation> out;
    const auto& moves = program.moves();
    if (moves.empty()) out.push_back({"no_moves", 0, "the program has no moves: nothing would be made"});
    if (p.capability == "laser" || p.capability == "cnc") checkFrame(program, p, out);

    Bucket envelope("outside_envelope", maxPerReason_);
    Bucket laser("laser_on_travel", maxPerReason_);
    Bucket fast("feed_too_high", maxPerReason_);
    Bucket noFeed("feed_missing", maxPerReason_);
    const bool isLaser = p.capability == "laser";
    const double e = kEdgeToleranceMm;

    for (const Move& m : moves) {
        const Point3& t = m.to;
        auto outside = [&](double v, double lo, double hi) { return v < lo - e || v > hi + e; };
        if (outside(t.x, 0, p.sizeX) || outside(t.y, 0, p.sizeY) || outside(t.z, p.minZ, p.maxZ)) {
            envelope.add(m.line, [&] {
                std::string what;
                if (outside(t.x, 0, p.sizeX)) what = "X " + checkerNumber(t.x) + " is outside 0.." + checkerNumber(p.sizeX);
                else if (outside(t.y, 0, p.sizeY)) what = "Y " + checkerNumber(t.y) + " is outside 0.." + checkerNumber(p.sizeY);
                else what = "Z " + checkerNumber(t.z) + " is outside " + checkerNumber(p.minZ) + ".." + checkerNumber(p.maxZ);
                return "a move ends outside the machine: " + what + " mm on " + p.name;
            });
        }
        if (isLaser && m.rapid && m.toolOn && m.power > 0) {
            laser.add(m.line, [&] {
                return "G0 travel with the laser on at S" + checkerNumber(m.power) +
                       ": switch it off (M5 or S0) before travelling, or the travel is burned";
            });
        }
        if (!m.rapid && m.feed > p.maxFeed + 1e-9) {
            fast.add(m.line, [&] {
                return "feed F" + checkerNumber(m.feed) + " mm/min is above the " + checkerNumber(p.maxFeed) + " mm/min " + p.name + " can do";
            });
        }
        if (!m.rapid && m.feed <= 0) {
            noFeed.add(m.line, [&] { return std::string("a feed move before any F word: the controller refuses it mid-job; set F first"); });
        }
    }

    Bucket words("command_not_allowed", maxPerReason_);
    // Words are grouped by word; interleave them by line so the list reads in program order.
    std::vector<std::pair<int, const std::string*>> forbidden;
    for (const auto& [word, lines] : program.words()) {
        if (p.allowedWords.count(word)) continue;
        for (int line : lines) forbidden.emplace_back(line, &word);
    }
    std::sort(forbidden.begin(), forbidden.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first < b.first : *a.second < *b.second;
    });
    // A line with two forbidden words names both, so Bucket's one-per-line rule must not drop one.
    for (std::size_t i = 0; i < forbidden.size();) {
        int line = forbidden[i].first;
        std::string names;
        for (; i < forbidden.size() && forbidden[i].first == line; ++i) names += (names.empty() ? "" : ", ") + *forbidden[i].second;
        words.add(line, [&] { return "not accepted by " + p.name + " (missing from its allowed words): " + names; });
    }

    for (Bucket* b : {&envelope, &laser, &words, &fast, &noFeed}) b->appendTo(out);
    std::stable_sort(out.begin(), out.end(), [](const Violation& a, const Violation& b) { return a.line < b.line; });
    return out;
}

} // namespace mto
