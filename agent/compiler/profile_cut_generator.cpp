// SPDX-License-Identifier: Apache-2.0
// Cutting parts out of sheet stock on a GRBL router: outline, tool offset, depth passes and holding tabs.
#include "compiler/profile_cut_generator.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "compiler/gcode_text.hpp"
#include "mto/error.hpp"

namespace mto {

ProfileShape ProfileShape::rectangle(Point2 center, double width, double height) {
    return ProfileShape{center, width, height, 0};
}

ProfileShape ProfileShape::roundedRectangle(Point2 center, double width, double height, double cornerRadius) {
    return ProfileShape{center, width, height, cornerRadius};
}

ProfileShape ProfileShape::circle(Point2 center, double diameter) {
    return ProfileShape{center, diameter, diameter, diameter / 2};
}

namespace {

constexpr double kPi = std::numbers::pi;
// Below a micrometre two positions are the same place for any router this drives.
constexpr double kEpsilon = 1e-9;

// A straight line or a circular arc of the tool-centre path.
struct Segment {
    bool arc = false;
    Point2 a, b;                    // line ends
    Point2 center;                  // arc
    double radius = 0;
    double startAngle = 0;
    double sweep = 0;               // signed: positive is counter-clockwise

    double length() const {
        return arc ? radius * std::abs(sweep) : std::hypot(b.x - a.x, b.y - a.y);
    }
    Point2 at(double t) const {
        const double len = length();
        const double f = len > 0 ? t / len : 0;
        if (!arc) return {a.x + (b.x - a.x) * f, a.y + (b.y - a.y) * f};
        const double angle = startAngle + sweep * f;
        return {center.x + radius * std::cos(angle), center.y + radius * std::sin(angle)};
    }
    Segment reversed() const {
        Segment r = *this;
        if (arc) {
            r.startAngle = startAngle + sweep;
            r.sweep = -sweep;
        } else {
            std::swap(r.a, r.b);
        }
        return r;
    }
};

Segment line(Point2 a, Point2 b) {
    Segment s;
    s.a = a;
    s.b = b;
    return s;
}

Segment arc(Point2 center, double radius, double startAngle, double sweep) {
    Segment s;
    s.arc = true;
    s.center = center;
    s.radius = radius;
    s.startAngle = startAngle;
    s.sweep = sweep;
    return s;
}

struct Outline {
    std::vector<Segment> segments;
    double length = 0;
    double bottomMiddle = 0;    // distance along the path to the middle of the bottom edge
};

// The outline of a rounded rectangle, counter-clockwise from the left end of its bottom edge, or
// clockwise for climb milling.
Outline outline(const ProfileShape& s, MillingDirection direction) {
    const double r = s.cornerRadius;
    const double x0 = s.center.x - s.width / 2, x1 = s.center.x + s.width / 2;
    const double y0 = s.center.y - s.height / 2, y1 = s.center.y + s.height / 2;
    const std::vector<Segment> all = {
        line({x0 + r, y0}, {x1 - r, y0}), arc({x1 - r, y0 + r}, r, -kPi / 2, kPi / 2),
        line({x1, y0 + r}, {x1, y1 - r}), arc({x1 - r, y1 - r}, r, 0, kPi / 2),
        line({x1 - r, y1}, {x0 + r, y1}), arc({x0 + r, y1 - r}, r, kPi / 2, kPi / 2),
        line({x0, y1 - r}, {x0, y0 + r}), arc({x0 + r, y0 + r}, r, kPi, kPi / 2),
    };
    Outline o;
    for (const Segment& seg : all)
        if (seg.length() > kEpsilon) o.segments.push_back(seg);
    for (const Segment& seg : o.segments) o.length += seg.length();
    const double bottom = s.width - 2 * r;
    o.bottomMiddle = bottom / 2;
    if (direction == MillingDirection::Climb) {
        std::reverse(o.segments.begin(), o.segments.end());
        for (Segment& seg : o.segments) seg = seg.reversed();
        o.bottomMiddle = o.length - bottom / 2;
    }
    return o;
}


// A point of the flattened path and how far along the path it is.
struct Station {
    double s;
    Point2 p;
};

// Chords never stray more than maxChordError inside an arc; `breaks` (distances along the path, sorted)
// become stations too, so tab edges sit exactly on the true path rather than on a chord.
std::vector<Station> flattenPath(const std::vector<Segment>& path, double maxChordError,
                             const std::vector<double>& breaks) {
    std::vector<Station> out;
    out.push_back({0, path.front().at(0)});
    double s0 = 0;
    for (const Segment& seg : path) {
        const double len = seg.length();
        int pieces = 1;
        if (seg.arc && seg.radius > maxChordError) {
            // Sagitta of a chord spanning angle a on radius r is r(1 - cos(a/2)).
            const double maxAngle = 2 * std::acos(1 - maxChordError / seg.radius);
            pieces = std::max(1, static_cast<int>(std::ceil(std::abs(seg.sweep) / maxAngle - kEpsilon)));
        }
        std::vector<double> ts;
        for (int k = 1; k <= pieces; ++k) ts.push_back(len * k / pieces);
        for (double b : breaks)
            if (b > s0 + kEpsilon && b < s0 + len - kEpsilon) ts.push_back(b - s0);
        std::sort(ts.begin(), ts.end());
        double last = 0;
        for (double t : ts) {
            if (t - last < kEpsilon) continue;
            out.push_back({s0 + t, seg.at(t)});
            last = t;
        }
        s0 += len;
    }
    // The path is closed; floating-point rounding must not leave a sub-micron gap at the seam.
    out.back().p = out.front().p;
    return out;
}

// Growing an outline by the tool radius keeps the part its drawn size after an outside cut.
ProfileShape offsetOutside(const ProfileShape& s, double distance) {
    return ProfileShape{s.center, s.width + 2 * distance, s.height + 2 * distance, s.cornerRadius + distance};
}

std::string describeShape(const ProfileShape& s) {
    std::ostringstream o;
    if (s.width == s.height && std::abs(s.cornerRadius - s.width / 2) < kEpsilon)
        o << "circle of diameter " << s.width << " mm";
    else if (s.cornerRadius == 0)
        o << "rectangle " << s.width << " x " << s.height << " mm";
    else
        o << "rounded rectangle " << s.width << " x " << s.height << " mm, corner radius " << s.cornerRadius << " mm";
    o << " at (" << s.center.x << ", " << s.center.y << ")";
    return o.str();
}

void checkShape(const ProfileShape& s, const std::string& what) {
    if (!std::isfinite(s.center.x) || !std::isfinite(s.center.y))
        throw Error(what + ": the position is not a finite number");
    if (!(s.width > 0) || !(s.height > 0) || !std::isfinite(s.width) || !std::isfinite(s.height))
        throw Error(what + ": width and height must be positive finite millimetres");
    if (!(s.cornerRadius >= 0))
        throw Error(what + ": corner radius must be zero or positive");
    if (s.cornerRadius > std::min(s.width, s.height) / 2 + kEpsilon)
        throw Error(what + ": corner radius is more than half the shorter side (" +
                    std::to_string(std::min(s.width, s.height) / 2) + " mm)");
}

// Millimetres with micrometre resolution, without trailing zeros: GRBL's line buffer is small.
std::string millimetres(double v) {
    double rounded = std::round(v * 1000) / 1000;
    if (rounded == 0) rounded = 0;   // no "-0"
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, rounded, std::chars_format::fixed, 3);
    std::string s(buf, res.ptr);
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s;
}

struct ToolPoint {
    double x, y, z;
};

// Writes moves and keeps the artifact's measures in step with what was written.
class ProgramWriter {
public:
    explicit ProgramWriter(ToolPoint start) : at_(start) {
        box_ = {start.x, start.y, start.z, start.x, start.y, start.z};
    }

    void line(const std::string& text) { text_.line(text); }

    void rapid(std::optional<double> x, std::optional<double> y, std::optional<double> z) {
        move("G0", x, y, z, std::nullopt);
    }
    void cut(std::optional<double> x, std::optional<double> y, std::optional<double> z, double feed) {
        move("G1", x, y, z, feed);
    }

    double z() const { return at_.z; }

    JobArtifact finish() {
        JobArtifact a = std::move(text_).finish("cnc");
        a.bbox = box_;
        a.travelMm = travel_;
        a.workMm = work_;
        return a;
    }

private:
    void move(const char* word, std::optional<double> x, std::optional<double> y, std::optional<double> z,
              std::optional<double> feed) {
        // Compare what the controller will see, so a move that rounds to nothing is not sent at all.
        ToolPoint to = at_;
        std::string text = word;
        bool moved = false;
        auto axis = [&](char name, std::optional<double> v, double& current) {
            if (!v || millimetres(*v) == millimetres(current)) return;
            text += ' ';
            text += name;
            text += millimetres(*v);
            current = *v;
            moved = true;
        };
        axis('X', x, to.x);
        axis('Y', y, to.y);
        axis('Z', z, to.z);
        if (!moved) return;
        if (feed && (!feed_ || millimetres(*feed) != millimetres(*feed_))) {
            text += " F" + millimetres(*feed);
            feed_ = feed;
        }
        const double dist = std::sqrt((to.x - at_.x) * (to.x - at_.x) + (to.y - at_.y) * (to.y - at_.y) +
                                      (to.z - at_.z) * (to.z - at_.z));
        (feed ? work_ : travel_) += dist;
        at_ = to;
        box_.minX = std::min(box_.minX, to.x);
        box_.minY = std::min(box_.minY, to.y);
        box_.minZ = std::min(box_.minZ, to.z);
        box_.maxX = std::max(box_.maxX, to.x);
        box_.maxY = std::max(box_.maxY, to.y);
        box_.maxZ = std::max(box_.maxZ, to.z);
        line(text);
    }

    gcode::GrblProgramText text_;
    ToolPoint at_;
    BoundingBox box_;
    double travel_ = 0;
    double work_ = 0;
    std::optional<double> feed_;
};

// One part's tool-centre path, flattened, from its plunge point round to it, and where it lifts for tabs.
struct PartPath {
    std::vector<Station> stations;
    std::vector<std::pair<double, double>> tabs;    // [from, to] along the path
};

PartPath plan(const ProfileCut& cut, double toolDiameter, double maxChordError, const std::string& what) {
    checkShape(cut.shape, what);
    if (!(cut.thickness > 0) || !std::isfinite(cut.thickness))
        throw Error(what + ": material thickness must be positive");
    if (!(cut.breakthrough >= 0) || !std::isfinite(cut.breakthrough))
        throw Error(what + ": breakthrough must be zero or positive");

    const Outline o = outline(offsetOutside(cut.shape, toolDiameter / 2), cut.direction);
    const double length = o.length;
    const Tabs& t = cut.tabs;
    const double lift = t.width + toolDiameter;
    if (t.count < 0) throw Error(what + ": tab count must be zero or positive");
    if (t.count > 0) {
        if (!(t.width > 0) || !(t.height > 0) || !std::isfinite(t.width))
            throw Error(what + ": tabs need a positive width and height");
        if (t.height >= cut.thickness)
            throw Error(what + ": tab height " + millimetres(t.height) + " mm must be less than the material thickness " +
                        millimetres(cut.thickness) + " mm");
        if (t.count * lift > length / 2)
            throw Error(what + ": " + std::to_string(t.count) + " tabs of " + millimetres(t.width) +
                        " mm (the tool lifts for " + millimetres(lift) + " mm each) cover more than half of the " +
                        millimetres(length) + " mm path; use fewer or narrower tabs");
    }

    // Tabs sit at the middle of the bottom edge and every length/count from there, which puts two or four
    // tabs at the middle of the sides of any rectangle rather than on its corners. The plunge goes
    // halfway between two tabs, so the path is re-started there.
    const int n = t.count;
    const double start =
        n > 0 ? std::fmod(o.bottomMiddle + length / (2 * n), length) : std::fmod(o.bottomMiddle, length);
    PartPath out;
    std::vector<double> breaks = {start};
    for (int k = 0; k < n; ++k) {
        const double c = length / (2 * n) + k * length / n;   // from the plunge point
        out.tabs.emplace_back(c - lift / 2, c + lift / 2);
        breaks.push_back(std::fmod(start + c - lift / 2, length));
        breaks.push_back(std::fmod(start + c + lift / 2, length));
    }
    std::sort(breaks.begin(), breaks.end());
    const std::vector<Station> flat = flattenPath(o.segments, maxChordError, breaks);

    std::size_t first = 0;
    for (std::size_t i = 0; i + 1 < flat.size(); ++i)
        if (std::abs(flat[i].s - start) < std::abs(flat[first].s - start)) first = i;
    if (std::abs(flat.back().s - start) < std::abs(flat[first].s - start)) first = 0;   // start at the seam
    for (std::size_t i = first; i + 1 < flat.size(); ++i)
        out.stations.push_back({flat[i].s - flat[first].s, flat[i].p});
    for (std::size_t i = 0; i <= first; ++i) out.stations.push_back({flat[i].s + length - flat[first].s, flat[i].p});
    if (first == 0) out.stations.back() = {length, flat.front().p};
    return out;
}

} // namespace

ProfileCutGenerator::ProfileCutGenerator(CncTool tool, double maxChordError)
    : tool_(tool), maxChordError_(maxChordError) {
    auto positive = [](double v, const char* what) {
        if (!(v > 0) || !std::isfinite(v))
            throw Error(std::string("CNC tool: ") + what + " must be a positive number (got " + std::to_string(v) +
                        ")");
    };
    positive(tool_.diameter, "diameter (mm)");
    positive(tool_.stepDown, "stepDown (mm per pass)");
    positive(tool_.safeZ, "safeZ (mm above the stock top)");
    positive(tool_.plungeFeed, "plungeFeed (mm/min)");
    positive(tool_.feed, "feed (mm/min)");
    positive(tool_.rpm, "rpm");
    positive(maxChordError_, "maximum chord error (mm)");
    if (!(tool_.spinUpSeconds >= 0) || !std::isfinite(tool_.spinUpSeconds))
        throw Error("CNC tool: spinUpSeconds must be 0 or more (got " + std::to_string(tool_.spinUpSeconds) + ")");
}

Polyline ProfileCutGenerator::toolPath(const ProfileCut& cut) const {
    Polyline out;
    for (const Station& st : plan(cut, tool_.diameter, maxChordError_, "part (" + describeShape(cut.shape) + ")").stations)
        out.points.push_back(st.p);
    return out;
}

JobArtifact ProfileCutGenerator::generate(const std::vector<ProfileCut>& cuts) const {
    if (cuts.empty()) throw Error("profile cut: no parts to cut");

    ProgramWriter w({0, 0, tool_.safeZ});   // opens with the modal preamble
    // The position at program start is whatever the last job left; going up first is the only safe move.
    w.line("G0 Z" + millimetres(tool_.safeZ));
    w.line("M3 S" + millimetres(tool_.rpm));
    if (tool_.spinUpSeconds > 0) w.line("G4 P" + millimetres(tool_.spinUpSeconds));   // GRBL: P in seconds

    for (std::size_t i = 0; i < cuts.size(); ++i) {
        const ProfileCut& cut = cuts[i];
        const PartPath path = plan(cut, tool_.diameter, maxChordError_,
                                   "part " + std::to_string(i + 1) + " (" + describeShape(cut.shape) + ")");
        const std::vector<Station>& stations = path.stations;
        const double tabZ = -cut.thickness + cut.tabs.height;
        auto inTab = [&](double s) {
            for (const auto& [a, b] : path.tabs)
                if (s > a && s < b) return true;
            return false;
        };

        const double total = cut.thickness + cut.breakthrough;
        const int passes = std::max(1, static_cast<int>(std::ceil(total / tool_.stepDown - kEpsilon)));

        w.rapid(std::nullopt, std::nullopt, tool_.safeZ);
        w.rapid(stations.front().p.x, stations.front().p.y, std::nullopt);
        for (int pass = 1; pass <= passes; ++pass) {
            const double depth = pass == passes ? -total : -total * pass / passes;
            const bool overTabs = !path.tabs.empty() && depth < tabZ - kEpsilon;
            w.cut(std::nullopt, std::nullopt, depth, tool_.plungeFeed);
            for (std::size_t k = 1; k < stations.size(); ++k) {
                const double mid = (stations[k - 1].s + stations[k].s) / 2;
                const double z = overTabs && inTab(mid) ? tabZ : depth;
                if (millimetres(z) != millimetres(w.z())) w.cut(std::nullopt, std::nullopt, z, tool_.plungeFeed);
                w.cut(stations[k].p.x, stations[k].p.y, std::nullopt, tool_.feed);
            }
        }
        w.rapid(std::nullopt, std::nullopt, tool_.safeZ);
    }
    w.line("M5");
    w.rapid(0, 0, std::nullopt);
    return w.finish();   // closes with the program end
}

} // namespace mto
