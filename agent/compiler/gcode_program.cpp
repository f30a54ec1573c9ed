// SPDX-License-Identifier: Apache-2.0
// Reads GRBL/Marlin G-code line by line into moves, following the modal state the firmware keeps.
#include "compiler/gcode_program.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>
#include <unordered_map>

namespace mto {
namespace {

constexpr double kMmPerInch = 25.4;
// Far beyond any machine, small enough that sums over millions of lines stay finite and exact enough.
constexpr double kMaxMagnitude = 1e9;
constexpr std::size_t kMaxNumberChars = 32;
// A pathological radius would otherwise ask for millions of chords from one line.
constexpr long kMaxChordsPerArc = 10000;

// Internal only: parse() turns it into a GcodeParseError for the line being read.
struct Malformed {
    std::string message;
};

[[noreturn]] void fail(std::string message) { throw Malformed{std::move(message)}; }

std::string briefNumber(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

std::string printableByte(char c) {
    if (c >= 0x21 && c <= 0x7e) return std::string("'") + c + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02x", static_cast<unsigned char>(c));
    return buf;
}

bool isSpaceOrTab(char c) { return c == ' ' || c == '\t'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isLetter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// G and M codes kept ×10 so "G38.2" and "G92.1" stay exact.
std::string codeName(char letter, int code10) {
    std::string s(1, letter);
    s += std::to_string(code10 / 10);
    if (code10 % 10 != 0) {
        s += '.';
        s += static_cast<char>('0' + code10 % 10);
    }
    return s;
}

// Marlin commands whose argument is free text (a message or a file name), so letters in it are not words.
bool takesText(int m) {
    switch (m) {
    case 16: case 23: case 28: case 30: case 32: case 33: case 117: case 118: case 928: return true;
    default: return false;
    }
}

// G codes the model follows as modal state or motion; any other G code owns the line's parameters.
bool isModelledG(int code10) {
    switch (code10) {
    case 0: case 10: case 20: case 30: case 800:      // motion
    case 170: case 180: case 190:                     // plane
    case 200: case 210:                               // units
    case 900: case 910: case 901: case 911:           // distance, arc centre distance
    case 930: case 940:                               // feed rate mode
    case 530:                                         // machine coordinates for this line
    case 400: case 490: case 640:                     // compensation off, path blending: no geometry
        return true;
    default:
        return code10 >= 540 && code10 <= 593;        // work offsets (taken as zero)
    }
}

// M codes the model follows; any other M code (M104 S…, M92 X…, M6 T…) owns the line's parameters.
bool isModelledM(int m) {
    switch (m) {
    case 0: case 1: case 2: case 30: case 3: case 4: case 5: case 7: case 8: case 9: case 82: case 83: return true;
    default: return false;
    }
}

int motionGroup(int code10) { return (code10 == 0 || code10 == 10 || code10 == 20 || code10 == 30 || code10 == 800) ? 1 : 0; }

// One line's words after comments, line number and checksum are taken off.
struct Block {
    std::array<double, 26> value{};
    std::uint32_t present = 0;     // bit per parameter letter (everything but G, M and N)
    std::uint32_t bare = 0;        // of those, the ones written without a number
    std::vector<int> g;            // ×10
    std::vector<int> m;
    std::string system;            // a GRBL "$…" line, as its word
    bool hasLineNumber = false;

    void clear() {
        present = 0;
        bare = 0;
        g.clear();
        m.clear();
        system.clear();
        hasLineNumber = false;
    }
    bool has(char letter) const { return (present >> (letter - 'A')) & 1u; }
    double get(char letter) const { return value[static_cast<std::size_t>(letter - 'A')]; }
};

// Reads an unsigned or signed decimal (no exponent: 'E' is a word letter in G-code).
double readNumber(std::string_view line, std::size_t& pos, char letter) {
    std::size_t start = pos;
    bool negative = false;
    if (pos < line.size() && (line[pos] == '+' || line[pos] == '-')) {
        negative = line[pos] == '-';
        ++pos;
    }
    std::size_t digitsStart = pos;
    std::size_t digits = 0;
    while (pos < line.size() && isDigit(line[pos])) ++pos, ++digits;
    if (pos < line.size() && line[pos] == '.') {
        ++pos;
        while (pos < line.size() && isDigit(line[pos])) ++pos, ++digits;
    }
    if (digits == 0) fail(std::string("word ") + letter + " has no number after it");
    if (pos - start > kMaxNumberChars) fail(std::string("the number after ") + letter + " is too long");
    double v = 0;
    auto [end, ec] = std::from_chars(line.data() + digitsStart, line.data() + pos, v, std::chars_format::fixed);
    if (ec != std::errc() || end != line.data() + pos || !std::isfinite(v) || v > kMaxMagnitude)
        fail(std::string("the number after ") + letter + " is out of range");
    return negative ? -v : v;
}

void skipBlanks(std::string_view line, std::size_t& pos) {
    while (pos < line.size() && isSpaceOrTab(line[pos])) ++pos;
}

// After the checksum only blanks and comments may follow.
void expectOnlyComments(std::string_view line, std::size_t pos) {
    while (pos < line.size()) {
        char c = line[pos];
        if (isSpaceOrTab(c)) {
            ++pos;
        } else if (c == ';') {
            return;
        } else if (c == '(') {
            std::size_t close = line.find(')', pos + 1);
            if (close == std::string_view::npos) fail("a '(' comment is not closed on this line");
            pos = close + 1;
        } else {
            fail("unexpected " + printableByte(c) + " after the checksum");
        }
    }
}

void readChecksum(std::string_view line, std::size_t star, const Block& block) {
    std::size_t pos = star + 1;
    unsigned given = 0;
    std::size_t digits = 0;
    while (pos < line.size() && isDigit(line[pos]) && digits < 4) given = given * 10 + static_cast<unsigned>(line[pos++] - '0'), ++digits;
    if (digits == 0 || digits > 3 || given > 255) fail("the checksum after '*' must be a number 0..255");
    if (!block.hasLineNumber) fail("a checksum needs a line number (N) on the same line");
    unsigned computed = 0;
    for (std::size_t i = 0; i < star; ++i) computed ^= static_cast<unsigned char>(line[i]);
    if (computed != given)
        fail("checksum mismatch: the line says *" + std::to_string(given) + " but its text gives *" + std::to_string(computed));
    expectOnlyComments(line, pos);
}

void tokenize(std::string_view line, Block& block) {
    block.clear();
    std::size_t pos = 0;
    skipBlanks(line, pos);
    if (pos < line.size() && line[pos] == '$') {
        // GRBL system commands ($H, $X, $J=…, $32=1) are not G-code; they are listed for the checker only.
        std::size_t end = std::min(line.find(';'), line.find('='));
        std::string_view word = line.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        while (!word.empty() && isSpaceOrTab(word.back())) word.remove_suffix(1);
        for (char c : word)
            if (c < 0x21 || c > 0x7e) fail("unexpected " + printableByte(c) + " in a '$' command");
        block.system = std::string(word);
        return;
    }
    if (pos < line.size() && line[pos] == '%') {
        // Program delimiters of CNC post-processors.
        ++pos;
        expectOnlyComments(line, pos);
        return;
    }
    std::uint32_t seen = 0;
    while (true) {
        skipBlanks(line, pos);
        if (pos >= line.size()) return;
        char c = line[pos];
        if (c == ';') return;
        if (c == '(') {
            std::size_t close = line.find(')', pos + 1);
            if (close == std::string_view::npos) fail("a '(' comment is not closed on this line");
            pos = close + 1;
            continue;
        }
        if (c == '*') {
            readChecksum(line, pos, block);
            return;
        }
        if (!isLetter(c)) fail("unexpected " + printableByte(c) + " where a word (letter and number) should start");
        char letter = upper(c);
        ++pos;
        skipBlanks(line, pos);
        bool hasNumber = pos < line.size() && (isDigit(line[pos]) || line[pos] == '-' || line[pos] == '+' || line[pos] == '.');
        if (!hasNumber && letter != 'G' && letter != 'M' && letter != 'N') {
            // Marlin takes bare letters as flags ("G28 X Y", "M3 I"); whether that is fine depends on the command.
            std::uint32_t bit = 1u << (letter - 'A');
            if (seen & bit) fail(std::string(1, letter) + " appears twice on one line");
            seen |= bit;
            block.present |= bit;
            block.bare |= bit;
            block.value[static_cast<std::size_t>(letter - 'A')] = 0;
            continue;
        }
        double v = readNumber(line, pos, letter);
        if (letter == 'G' || letter == 'M') {
            if (v < 0 || v > 9999) fail(std::string(1, letter) + briefNumber(v) + " is not a valid code");
            long code10 = std::lround(v * 10);
            if (std::fabs(v * 10 - static_cast<double>(code10)) > 1e-6 || (letter == 'M' && code10 % 10 != 0))
                fail(std::string(1, letter) + briefNumber(v) + " is not a valid code");
            if (letter == 'G') {
                block.g.push_back(static_cast<int>(code10));
            } else {
                int m = static_cast<int>(code10 / 10);
                block.m.push_back(m);
                if (takesText(m)) {
                    // The rest of the line up to a comment or checksum is the command's text.
                    std::size_t end = pos;
                    while (end < line.size() && line[end] != ';' && line[end] != '*') ++end;
                    pos = end;
                    if (pos < line.size() && line[pos] == '*') readChecksum(line, pos, block);
                    return;
                }
            }
            continue;
        }
        if (letter == 'N') {
            if (block.hasLineNumber) fail("N appears twice on one line");
            if (v < 0 || v != std::floor(v)) fail("line number N" + briefNumber(v) + " must be a whole number >= 0");
            block.hasLineNumber = true;
            continue;
        }
        std::uint32_t bit = 1u << (letter - 'A');
        if (seen & bit) fail(std::string(1, letter) + " appears twice on one line");
        seen |= bit;
        block.present |= bit;
        block.value[static_cast<std::size_t>(letter - 'A')] = v;
    }
}

// Applies lines to the machine state the firmware would hold and collects moves and words.
class ProgramReader {
public:
    ProgramReader(const GcodeParseLimits& limits, std::size_t expectedMoves) : limits_(limits) { moves_.reserve(expectedMoves); }

    void execute(const Block& b, int line) {
        line_ = line;
        if (!b.system.empty() || b.present != 0 || !b.g.empty() || !b.m.empty()) lastCommandLine_ = line;
        if (!b.system.empty()) {
            note(b.system);
            return;
        }
        for (int g : b.g) note('G', g);
        for (int m : b.m) note('M', m * 10);

        int motion = -1;
        bool machineCoordinates = false;
        std::vector<std::string> owners;
        int ownerG = -1;
        int spindle = -1;
        for (int g : b.g) {
            if (!isModelledG(g)) {
                owners.push_back(codeName('G', g));
                ownerG = g;
                continue;
            }
            if (motionGroup(g)) {
                if (motion >= 0 && motion != g) fail(codeName('G', motion) + " and " + codeName('G', g) + " on one line");
                motion = g;
            }
            switch (g) {
            case 170: case 180: case 190: plane_ = g; break;
            case 200: unit_ = kMmPerInch; break;   // before any value on this line is read
            case 210: unit_ = 1; break;
            case 900: relative_ = false; break;
            case 910: relative_ = true; break;
            case 901: arcCentreAbsolute_ = true; break;
            case 911: arcCentreAbsolute_ = false; break;
            case 530: machineCoordinates = true; break;
            default: break;
            }
        }
        for (int m : b.m) {
            if (!isModelledM(m)) {
                owners.push_back(codeName('M', m * 10));
                continue;
            }
            if (m == 3 || m == 4 || m == 5) {
                if (spindle >= 0 && spindle != m) fail("M" + std::to_string(spindle) + " and M" + std::to_string(m) + " on one line");
                spindle = m;
            }
            if (m == 82) eRelative_ = false;
            if (m == 83) eRelative_ = true;
        }
        if (b.g.size() > 0 && (isUnitConflict(b.g, 200, 210) || isUnitConflict(b.g, 900, 910)))
            fail("conflicting modes on one line (G20/G21 or G90/G91)");

        if (!owners.empty()) {
            if (owners.size() > 1) fail(owners[0] + " and " + owners[1] + " on one line: each would take its parameters");
            if (motion >= 0 && motion != 800) fail(codeName('G', motion) + " and " + owners[0] + " on one line: both would use the axis words");
            if (ownerG == 920) setPosition(b);
            else if (ownerG == 921) offset_ = {};
            else if (ownerG == 280) home(b);
            else if (ownerG == 40) dwell(b, line);
            applySpindle(spindle);
            applyProgramEnd(b);
            return;
        }

        // Outside commands that take flags, a letter without a number is a typo or a cut-off line.
        std::uint32_t bare = b.bare;
        if (spindle == 3 || spindle == 4) bare &= ~(1u << ('I' - 'A'));   // Marlin's inline laser power flag
        if (bare != 0) {
            char l = 'A';
            while (!((bare >> (l - 'A')) & 1u)) ++l;
            fail(std::string("word ") + l + " has no number after it");
        }
        if (b.has('F')) {
            double f = b.get('F');
            if (f < 0) fail("feed F" + briefNumber(f) + " is negative");
            feed_ = f * unit_;
            note('F');
        }
        if (b.has('S')) {
            double s = b.get('S');
            if (s < 0) fail("power S" + briefNumber(s) + " is negative");
            power_ = s;
            note('S');
        }
        if (b.has('T')) {
            double t = b.get('T');
            if (t < 0 || t != std::floor(t)) fail("tool T" + briefNumber(t) + " must be a whole number >= 0");
            if (t > 9999) fail("tool T" + briefNumber(t) + " is not a tool number");
            note('T', static_cast<int>(t) * 10);
        }
        // Letters the model has no meaning for are listed so a machine profile can refuse them.
        int effectiveMotion = motion >= 0 ? motion : motion_;
        bool arcMotion = effectiveMotion == 20 || effectiveMotion == 30;
        for (char l = 'A'; l <= 'Z'; ++l) {
            if (!b.has(l)) continue;
            switch (l) {
            case 'X': case 'Y': case 'Z': case 'I': case 'J': case 'K': case 'R': case 'F': case 'S': case 'T': break;
            case 'E': note('E'); break;
            case 'P': if (!arcMotion) note('P'); break;
            default: note(l); break;
            }
        }
        applySpindle(spindle);

        if (motion >= 0) motion_ = motion;
        bool axisWords = b.has('X') || b.has('Y') || b.has('Z') || b.has('E');
        bool arcWords = b.has('I') || b.has('J') || b.has('R');
        if (axisWords || (motion >= 0 && arcWords)) {
            if (motion_ == 800) fail("axis words with no motion mode (G80 is in effect)");
            move(b, machineCoordinates);
        }
        applyProgramEnd(b);
    }

    std::vector<Move> takeMoves() {
        if (moves_.capacity() > 2 * moves_.size() + 1024) moves_.shrink_to_fit();   // a file mostly of comments
        return std::move(moves_);
    }
    std::map<std::string, std::vector<int>> takeWords() { return std::move(words_); }
    std::vector<Dwell> takeDwells() { return std::move(dwells_); }
    int lastCommandLine() const { return lastCommandLine_; }

private:
    // G4: P and S as written; which unit P is in depends on the firmware (see Dwell).
    void dwell(const Block& b, int line) {
        Dwell d;
        d.beforeMove = moves_.size();
        d.line = line;
        if (b.has('P')) d.p = b.get('P');
        if (b.has('S')) d.s = b.get('S');
        if (d.p < 0 || d.s < 0 || !std::isfinite(d.p) || !std::isfinite(d.s)) fail("G4 dwell time is negative or not a number");
        dwells_.push_back(d);
    }

    static bool isUnitConflict(const std::vector<int>& g, int a, int b) {
        return std::find(g.begin(), g.end(), a) != g.end() && std::find(g.begin(), g.end(), b) != g.end();
    }

    void note(const std::string& word) { record(words_[word]); }

    // Codes and letters repeat on nearly every line; a numeric key skips building and comparing strings.
    void note(char letter, int code10 = 0) {
        std::uint32_t key = (static_cast<std::uint32_t>(static_cast<unsigned char>(letter)) << 24) | static_cast<std::uint32_t>(code10);
        auto it = cache_.find(key);
        if (it == cache_.end()) {
            std::string name = (letter == 'G' || letter == 'M' || letter == 'T') ? codeName(letter, code10) : std::string(1, letter);
            it = cache_.emplace(key, &words_[name]).first;   // std::map nodes stay put, so the pointer stays valid
        }
        record(*it->second);
    }

    void record(std::vector<int>& lines) {
        if (lines.empty() || lines.back() != line_) lines.push_back(line_);
    }

    void applySpindle(int spindle) {
        if (spindle == 3 || spindle == 4) toolOn_ = true;
        if (spindle == 5) toolOn_ = false;
    }

    // At M2/M30 GRBL (after the line's own motion) resets motion, plane and distance modes and turns
    // the spindle off; a program that continues afterwards starts from those.
    void applyProgramEnd(const Block& b) {
        for (int m : b.m) {
            if (m != 2 && m != 30) continue;
            toolOn_ = false;
            motion_ = 10;
            plane_ = 170;
            relative_ = false;
        }
    }

    double axisValue(const Block& b, char letter, int axis, bool machineCoordinates) const {
        double v = b.get(letter) * unit_;
        if (machineCoordinates) return v;
        if (relative_) return pos_[axis] + v;
        return v + offset_[axis];
    }

    void setPosition(const Block& b) {
        static constexpr char kAxes[3] = {'X', 'Y', 'Z'};
        for (int a = 0; a < 3; ++a)
            if (b.has(kAxes[a])) offset_[a] = pos_[a] - b.get(kAxes[a]) * unit_;
        if (b.has('E')) e_ = b.get('E') * unit_;
    }

    void home(const Block& b) {
        static constexpr char kAxes[3] = {'X', 'Y', 'Z'};
        bool any = b.has('X') || b.has('Y') || b.has('Z');
        for (int a = 0; a < 3; ++a) {
            if (any && !b.has(kAxes[a])) continue;
            pos_[a] = 0;
            offset_[a] = 0;
        }
    }

    void move(const Block& b, bool machineCoordinates) {
        Point3 from{pos_[0], pos_[1], pos_[2]};
        Point3 to = from;
        if (b.has('X')) to.x = axisValue(b, 'X', 0, machineCoordinates);
        if (b.has('Y')) to.y = axisValue(b, 'Y', 1, machineCoordinates);
        if (b.has('Z')) to.z = axisValue(b, 'Z', 2, machineCoordinates);
        double de = 0;
        if (b.has('E')) {
            double v = b.get('E') * unit_;
            bool rel = relative_ || eRelative_;
            de = rel ? v : v - e_;
            e_ = rel ? e_ + v : v;
        }
        if (motion_ == 20 || motion_ == 30) {
            arc(b, from, to, de);
        } else {
            if (b.has('I') || b.has('J') || b.has('R')) fail("I, J or R given on a straight move (" + codeName('G', motion_) + ")");
            emit(from, to, de);
        }
        pos_ = {to.x, to.y, to.z};
    }

    void emit(const Point3& from, const Point3& to, double de) {
        if (moves_.size() >= limits_.maxMoves)
            fail("the program expands to more than " + std::to_string(limits_.maxMoves) + " moves");
        Move m;
        m.from = from;
        m.to = to;
        m.rapid = motion_ == 0;
        m.feed = feed_;
        m.power = power_;
        m.toolOn = toolOn_;
        m.e = de;
        m.line = line_;
        moves_.push_back(m);
    }

    void arc(const Block& b, const Point3& from, const Point3& to, double de) {
        if (plane_ != 170) fail("arcs are supported in the XY plane (G17) only, not " + codeName('G', plane_));
        bool clockwise = motion_ == 20;
        bool hasCentre = b.has('I') || b.has('J');
        if (hasCentre && b.has('R')) fail("an arc takes either I/J or R, not both");
        if (!hasCentre && !b.has('R')) fail(codeName('G', motion_) + " needs I/J (centre) or R (radius)");
        if (b.has('K')) fail("K is not used by an XY-plane arc");

        double cx = 0, cy = 0;
        if (hasCentre) {
            double i = b.has('I') ? b.get('I') * unit_ : 0;
            double j = b.has('J') ? b.get('J') * unit_ : 0;
            cx = arcCentreAbsolute_ ? i + offset_[0] : from.x + i;
            cy = arcCentreAbsolute_ ? j + offset_[1] : from.y + j;
        } else {
            double r = b.get('R') * unit_;
            double dx = to.x - from.x, dy = to.y - from.y;
            double chord = std::hypot(dx, dy);
            if (chord < 1e-9) fail("an R arc needs an end point different from its start");
            double h2 = r * r - chord * chord / 4;
            if (h2 < 0) {
                // Rounding in post-processors leaves R a hair short of half the chord on half circles.
                if (h2 < -(1e-3 * std::max(1.0, chord * chord))) fail("R" + briefNumber(b.get('R')) + " is shorter than half the distance to the end point");
                h2 = 0;
            }
            double h = std::sqrt(h2);
            double nx = -dy / chord, ny = dx / chord;   // left of the chord
            // Short arc (R > 0): counter-clockwise has its centre on the left of the chord, clockwise on the right.
            double side = (clockwise ? -1.0 : 1.0) * (r < 0 ? -1.0 : 1.0);
            cx = from.x + dx / 2 + side * h * nx;
            cy = from.y + dy / 2 + side * h * ny;
        }

        double r0 = std::hypot(from.x - cx, from.y - cy);
        double r1 = std::hypot(to.x - cx, to.y - cy);
        if (r0 < 1e-9) fail("the arc's centre is its start point (radius 0)");
        double dr = std::fabs(r0 - r1);
        // Same tolerance GRBL applies before it refuses an arc whose end is off the circle.
        if (dr > 0.5 || (dr > 0.005 && dr > 0.001 * r0))
            fail("the arc's end point is not on its circle (radius " + briefNumber(r0) + " mm at the start, " + briefNumber(r1) + " mm at the end)");

        double a0 = std::atan2(from.y - cy, from.x - cx);
        double a1 = std::atan2(to.y - cy, to.x - cx);
        double sweep = a1 - a0;
        constexpr double kEps = 5e-7;
        constexpr double kTwoPi = 2 * std::numbers::pi;
        if (clockwise) {
            if (sweep >= -kEps) sweep -= kTwoPi;
        } else {
            if (sweep <= kEps) sweep += kTwoPi;
        }
        if (b.has('P')) {
            double turns = b.get('P');
            if (turns < 0 || turns != std::floor(turns) || turns > 1000) fail("P (extra full turns) must be a whole number 0..1000");
            sweep += (clockwise ? -1.0 : 1.0) * kTwoPi * turns;
        }

        double step = r0 > limits_.arcToleranceMm ? 2 * std::acos(1 - limits_.arcToleranceMm / r0) : std::numbers::pi / 2;
        step = std::min(step, std::numbers::pi / 8);   // never fewer than 16 chords on a full circle
        long n = static_cast<long>(std::ceil(std::fabs(sweep) / step));
        n = std::clamp(n, 1L, kMaxChordsPerArc);

        Point3 prev = from;
        for (long k = 1; k <= n; ++k) {
            Point3 p;
            if (k == n) {
                p = to;
            } else {
                double t = static_cast<double>(k) / static_cast<double>(n);
                double a = a0 + sweep * t;
                p = {cx + r0 * std::cos(a), cy + r0 * std::sin(a), from.z + (to.z - from.z) * t};
            }
            emit(prev, p, de / static_cast<double>(n));
            prev = p;
        }
    }

    const GcodeParseLimits& limits_;
    int line_ = 0;
    std::array<double, 3> pos_{};      // machine coordinates
    std::array<double, 3> offset_{};   // G92 shift: machine = program + offset
    double e_ = 0;                     // extruder position as the program counts it
    double unit_ = 1;                  // mm per program unit
    bool relative_ = false;
    bool eRelative_ = false;
    bool arcCentreAbsolute_ = false;
    int motion_ = 0;                   // ×10; GRBL starts in G0
    int plane_ = 170;
    double feed_ = 0;
    double power_ = 0;
    bool toolOn_ = false;
    std::vector<Move> moves_;
    std::vector<Dwell> dwells_;
    std::map<std::string, std::vector<int>> words_;
    std::unordered_map<std::uint32_t, std::vector<int>*> cache_;
    int lastCommandLine_ = 0;
};

} // namespace

std::variant<GcodeProgram, GcodeParseError> GcodeProgram::parse(std::string_view text, const GcodeParseLimits& limits) {
    if (text.size() >= 3 && text.substr(0, 3) == "\xef\xbb\xbf") text.remove_prefix(3);   // editors on Windows add a BOM
    // One move per line is the common case; reserving it avoids copying a vector of hundreds of MB as it grows.
    std::size_t lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    ProgramReader reader(limits, std::min({lines, limits.maxMoves, limits.maxLines}));
    Block block;
    std::uint64_t lineNo = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = pos;
        while (end < text.size() && text[end] != '\n' && text[end] != '\r') ++end;
        std::string_view line = text.substr(pos, end - pos);
        pos = end;
        if (pos < text.size()) {
            // "\r\n" is one line end; a lone '\r' (old Mac files) is one too.
            if (text[pos] == '\r' && pos + 1 < text.size() && text[pos + 1] == '\n') ++pos;
            ++pos;
        }
        ++lineNo;
        int lineInt = static_cast<int>(std::min<std::uint64_t>(lineNo, std::numeric_limits<int>::max()));
        if (lineNo > limits.maxLines)
            return GcodeParseError{lineInt, "the program has more than " + std::to_string(limits.maxLines) + " lines; split it into several jobs"};
        try {
            tokenize(line, block);
            reader.execute(block, lineInt);
        } catch (const Malformed& e) {
            return GcodeParseError{lineInt, e.message};
        }
    }
    return GcodeProgram(reader.takeMoves(), reader.takeWords(), lineNo, reader.takeDwells(), reader.lastCommandLine());
}

bool isWorkMove(const Move& move, std::string_view capability) {
    if (capability == "laser") return !move.rapid && move.toolOn && move.power > 0;
    if (capability == "cnc") return !move.rapid;
    if (capability == "fdm") return move.e > 0;
    return !move.rapid && (move.toolOn || move.e > 0);
}

} // namespace mto
