// SPDX-License-Identifier: Apache-2.0
// GRBL 1.1 host protocol: reading what the firmware sends, and lines as the firmware counts them.
// Everything here reads untrusted serial data: no function throws for any input (only std::bad_alloc could
// leave, as from any std::string), and malformed data is refused rather than guessed at.
#include "grbl/grbl_protocol.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

namespace mto::grbl {
namespace {

// The firmware ends its lines with "\r\n"; callers may hand us either or both still attached.
std::string_view stripLineEnd(std::string_view s) {
    while (!s.empty() && (s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
    return s;
}

bool startsWith(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isLetter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// A whole decimal integer: optional '-', digits, nothing else. Out of range is a failure.
template <typename Int>
std::optional<Int> toInteger(std::string_view s) {
    if (s.empty()) return std::nullopt;
    Int value{};
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, 10);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return value;
}

// A whole finite decimal number as GRBL prints it ("-12.500", "0", "1000"). from_chars is locale-free;
// it also reads "inf"/"nan" and exponents, which the firmware never prints: non-finite is refused.
std::optional<double> toNumber(std::string_view s) {
    if (s.empty()) return std::nullopt;
    double value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, std::chars_format::fixed);
    if (ec != std::errc{} || end != s.data() + s.size() || !std::isfinite(value)) return std::nullopt;
    return value;
}

// Splits at `sep` into at most `max` parts (more parts than that: nullopt, the field is not ours).
template <std::size_t max>
struct Parts {
    std::string_view part[max];
    std::size_t count = 0;
};

template <std::size_t max>
std::optional<Parts<max>> split(std::string_view s, char sep) {
    Parts<max> out;
    while (true) {
        if (out.count == max) return std::nullopt;
        auto pos = s.find(sep);
        out.part[out.count++] = s.substr(0, pos);
        if (pos == std::string_view::npos) break;
        s.remove_prefix(pos + 1);
    }
    return out;
}

// X,Y,Z[,A[,B[,C]]]: GRBL 1.1 sends three, the docs reserve a fourth for an A axis; extra axes are read
// for validity and dropped.
std::optional<Axes> toAxes(std::string_view s) {
    auto parts = split<6>(s, ',');
    if (!parts || parts->count < 3) return std::nullopt;
    double v[6] = {};
    for (std::size_t i = 0; i < parts->count; ++i) {
        auto n = toNumber(parts->part[i]);
        if (!n) return std::nullopt;
        v[i] = *n;
    }
    return Axes{v[0], v[1], v[2]};
}

// Pn: and A: carry one letter per active pin or accessory, at least one.
bool isLetterSet(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        if (!isLetter(c)) return false;
    }
    return true;
}

// One "type:values" field of a status report into `r`. False when a field we know has bad values;
// fields we do not know are skipped (later firmware may add some).
bool readField(std::string_view field, StatusReport& r) {
    auto colon = field.find(':');
    if (colon == std::string_view::npos) return true;   // not type:value; not a field we know
    std::string_view type = field.substr(0, colon);
    std::string_view value = field.substr(colon + 1);

    if (type == "MPos" || type == "WPos" || type == "WCO") {
        auto axes = toAxes(value);
        if (!axes) return false;
        (type == "MPos" ? r.machinePos : type == "WPos" ? r.workPos : r.workOffset) = *axes;
    } else if (type == "Bf") {
        auto parts = split<2>(value, ',');
        if (!parts || parts->count != 2) return false;
        auto blocks = toInteger<int>(parts->part[0]);
        auto bytes = toInteger<int>(parts->part[1]);
        if (!blocks || !bytes || *blocks < 0 || *bytes < 0) return false;
        r.plannerFree = *blocks;
        r.rxFree = *bytes;
    } else if (type == "Ln") {
        auto n = toInteger<long>(value);
        if (!n || *n < 0) return false;
        r.lineNumber = *n;
    } else if (type == "F") {
        auto feed = toNumber(value);
        if (!feed) return false;
        r.feed = *feed;
    } else if (type == "FS") {
        auto parts = split<2>(value, ',');
        if (!parts || parts->count != 2) return false;
        auto feed = toNumber(parts->part[0]);
        auto spindle = toNumber(parts->part[1]);
        if (!feed || !spindle) return false;
        r.feed = *feed;
        r.spindle = *spindle;
    } else if (type == "Pn") {
        if (!isLetterSet(value)) return false;
        r.pins = std::string(value);
    } else if (type == "Ov") {
        auto parts = split<3>(value, ',');
        if (!parts || parts->count != 3) return false;
        auto feed = toInteger<int>(parts->part[0]);
        auto rapid = toInteger<int>(parts->part[1]);
        auto spindle = toInteger<int>(parts->part[2]);
        if (!feed || !rapid || !spindle || *feed < 0 || *rapid < 0 || *spindle < 0) return false;
        r.feedOverride = *feed;
        r.rapidOverride = *rapid;
        r.spindleOverride = *spindle;
    } else if (type == "A") {
        if (!isLetterSet(value)) return false;
        r.accessories = std::string(value);
    }
    return true;
}

// "[TAG:body]" -> body when the line is that feedback message.
std::optional<std::string_view> bracketBody(std::string_view line, std::string_view tag) {
    line = stripLineEnd(line);
    if (line.size() < tag.size() + 3 || line.front() != '[' || line.back() != ']') return std::nullopt;
    std::string_view inside = line.substr(1, line.size() - 2);
    if (!startsWith(inside, tag) || inside[tag.size()] != ':') return std::nullopt;
    return inside.substr(tag.size() + 1);
}

// "error:20" / "ALARM:3" -> code; 0 when the rest is not a code (GRBL 0.9 sent words: "error: Bad number
// format"). Such a line is still a response, so it is still counted as one.
int codeAfter(std::string_view rest) {
    auto n = toInteger<int>(rest);
    return n && *n > 0 ? *n : 0;
}

} // namespace

std::optional<StatusReport> parseStatusReport(std::string_view line) {
    line = stripLineEnd(line);
    if (line.size() < 2 || line.front() != '<' || line.back() != '>') return std::nullopt;
    std::string_view inside = line.substr(1, line.size() - 2);

    StatusReport r;
    bool first = true;
    bool sawPosition = false;
    while (true) {
        auto bar = inside.find('|');
        std::string_view field = inside.substr(0, bar);
        if (field.empty()) return std::nullopt;   // "<>", "<Idle|>", "<Idle||MPos..>"
        if (first) {
            // Machine state, with an optional numeric sub-state: Idle, Hold:0, Door:2.
            auto colon = field.find(':');
            std::string_view name = field.substr(0, colon);
            if (!isLetterSet(name)) return std::nullopt;
            if (colon != std::string_view::npos) {
                auto sub = toInteger<int>(field.substr(colon + 1));
                if (!sub || *sub < 0) return std::nullopt;
                r.subState = *sub;
            }
            r.state = std::string(name);
            first = false;
        } else {
            if (!readField(field, r)) return std::nullopt;
            sawPosition = sawPosition || startsWith(field, "MPos:") || startsWith(field, "WPos:");
        }
        if (bar == std::string_view::npos) break;
        inside.remove_prefix(bar + 1);
    }
    // GRBL always sends one position vector; without it this is not a report (e.g. "<text>" in a message).
    if (!sawPosition) return std::nullopt;
    return r;
}

ResponseLine classify(std::string_view raw) {
    std::string_view line = stripLineEnd(raw);
    ResponseLine out;

    if (line.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        out.kind = LineKind::Empty;   // the welcome message, for one, is preceded by "\r\n"
        return out;
    }
    if (line == "ok") {
        out.kind = LineKind::Ok;
        return out;
    }
    if (startsWith(line, "error:")) {
        out.kind = LineKind::Error;
        out.text = std::string(line.substr(6));
        out.code = codeAfter(line.substr(6));
        return out;
    }
    if (startsWith(line, "ALARM:")) {
        out.kind = LineKind::Alarm;
        out.text = std::string(line.substr(6));
        out.code = codeAfter(line.substr(6));
        return out;
    }
    switch (line.front()) {
    case '<':
        if (parseStatusReport(line)) {
            out.kind = LineKind::Status;
            out.text = std::string(line.substr(1, line.size() - 2));
            return out;
        }
        break;
    case '[':
        if (line.back() == ']' && line.size() >= 2) {
            std::string_view inside = line.substr(1, line.size() - 2);
            struct Tag {
                std::string_view prefix;
                LineKind kind;
            };
            static constexpr Tag kTags[] = {
                {"MSG:", LineKind::Message},
                {"GC:", LineKind::GCodeState},
                {"VER:", LineKind::Version},
                {"OPT:", LineKind::Options},
            };
            out.kind = LineKind::Feedback;
            out.text = std::string(inside);
            for (const Tag& tag : kTags) {
                if (startsWith(inside, tag.prefix)) {
                    out.kind = tag.kind;
                    out.text = std::string(inside.substr(tag.prefix.size()));
                    break;
                }
            }
            return out;
        }
        break;
    case '>': {
        // Startup line executed: ">G54G20:ok" or ">G54G20:error:20" (">:error:7" on an EEPROM read fail).
        std::string_view body = line.substr(1);
        if (body.size() >= 3 && body.substr(body.size() - 3) == ":ok") {
            out.kind = LineKind::Startup;
            out.text = std::string(body.substr(0, body.size() - 3));
            return out;
        }
        auto err = body.rfind(":error:");
        if (err != std::string_view::npos) {
            out.kind = LineKind::Startup;
            out.text = std::string(body.substr(0, err));
            out.code = codeAfter(body.substr(err + 7));
            return out;
        }
        break;
    }
    case '$': {
        // "$32=1". "$N0=G54" (a stored startup line listed by "$N") is not a setting: it stays Other.
        auto eq = line.find('=');
        if (eq != std::string_view::npos && eq > 1 && eq <= 6) {
            auto n = toInteger<int>(line.substr(1, eq - 1));
            if (n && *n >= 0 && isDigit(line[1])) {
                out.kind = LineKind::Setting;
                out.code = *n;
                out.text = std::string(line.substr(eq + 1));
                return out;
            }
        }
        break;
    }
    case 'G':
        if (startsWith(line, "Grbl ")) {
            // "Grbl 1.1h ['$' for help]": the version is the word after "Grbl ".
            std::string_view rest = line.substr(5);
            std::string_view version = rest.substr(0, rest.find(' '));
            if (!version.empty() && isDigit(version.front())) {
                out.kind = LineKind::Welcome;
                out.text = std::string(version);
                return out;
            }
        }
        break;
    default:
        break;
    }
    out.kind = LineKind::Other;
    out.text = std::string(line);
    return out;
}

std::string errorText(int code) {
    switch (code) {
    case 1: return "G-code word without a letter";
    case 2: return "bad or missing number";
    case 3: return "'$' command not recognised or not supported";
    case 4: return "negative value where a positive one is expected";
    case 5: return "homing is not enabled in the settings";
    case 6: return "step pulse must be at least 3 microseconds";
    case 7: return "EEPROM read failed; defaults restored";
    case 8: return "'$' command only allowed when idle";
    case 9: return "G-code locked out in alarm or jog state";
    case 10: return "soft limits need homing enabled";
    case 11: return "line too long; not executed";
    case 12: return "setting would exceed the maximum step rate";
    case 13: return "safety door open; door state entered";
    case 14: return "build info or startup line too long for EEPROM";
    case 15: return "jog target beyond machine travel; jog ignored";
    case 16: return "jog command without '=' or with a forbidden G-code";
    case 17: return "laser mode needs PWM spindle output";
    case 20: return "unsupported or invalid G-code command";
    case 21: return "two commands of the same modal group in one block";
    case 22: return "feed rate not set";
    case 23: return "G-code command needs an integer value";
    case 24: return "two commands in the block both need the axis words";
    case 25: return "G-code word repeated in the block";
    case 26: return "command needs axis words but the block has none";
    case 27: return "invalid line number";
    case 28: return "command is missing a required value word (P or L)";
    case 29: return "G59.1, G59.2 and G59.3 are not supported";
    case 30: return "G53 needs G0 or G1 motion mode";
    case 31: return "axis words in a block that does not use them";
    case 32: return "arc needs at least one axis word in the selected plane";
    case 33: return "invalid motion target";
    case 34: return "arc radius cannot be computed";
    case 35: return "arc needs at least one offset word (IJK) in the selected plane";
    case 36: return "unused words left in the block";
    case 37: return "G43.1 offset only applies to the tool length axis";
    case 38: return "tool number above the maximum";
    default: return "unknown error " + std::to_string(code);
    }
}

std::string alarmText(int code) {
    switch (code) {
    case 1: return "hard limit triggered; position likely lost, re-home";
    case 2: return "soft limit: target beyond machine travel; position kept, may unlock";
    case 3: return "reset while moving; position likely lost, re-home";
    case 4: return "probe fail: probe not in the expected state before the cycle";
    case 5: return "probe fail: no contact within the programmed travel";
    case 6: return "homing fail: reset during homing";
    case 7: return "homing fail: safety door opened during homing";
    case 8: return "homing fail: pull-off did not clear the limit switch";
    case 9: return "homing fail: limit switch not found within search distance";
    case 10: return "homing fail: second limit switch of a dual axis not found";
    default: return "unknown alarm " + std::to_string(code);
    }
}

std::optional<double> Settings::get(int n) const {
    auto it = values.find(n);
    if (it == values.end()) return std::nullopt;
    return it->second;
}

bool Settings::laserMode() const {
    auto v = get(32);
    return v && *v != 0;
}

std::optional<double> Settings::maxSpindle() const { return get(30); }

std::optional<double> Settings::minSpindle() const { return get(31); }

std::optional<Axes> Settings::maxTravel() const {
    auto x = get(130), y = get(131), z = get(132);
    if (!x || !y || !z) return std::nullopt;
    return Axes{*x, *y, *z};
}

bool parseSetting(std::string_view raw, Settings& into) {
    std::string_view line = stripLineEnd(raw);
    if (line.size() < 4 || line.front() != '$' || !isDigit(line[1])) return false;
    auto eq = line.find('=');
    if (eq == std::string_view::npos || eq > 6) return false;
    auto n = toInteger<int>(line.substr(1, eq - 1));
    auto value = toNumber(line.substr(eq + 1));
    if (!n || !value) return false;
    into.values[*n] = *value;
    return true;
}

bool parseBuildInfo(std::string_view line, BuildInfo& into) {
    if (auto ver = bracketBody(line, "VER")) {
        // "1.1h.20190830:name"; the name may itself hold ':' and is empty when none was stored.
        auto colon = ver->find(':');
        std::string_view version = ver->substr(0, colon);
        if (version.empty()) return false;
        into.version = std::string(version);
        into.name = colon == std::string_view::npos ? std::string() : std::string(ver->substr(colon + 1));
        return true;
    }
    if (auto opt = bracketBody(line, "OPT")) {
        // "VL,15,128". Builds before 1.1f (January 2017) send the letters alone: "[OPT:VL]". Later forks
        // append more numbers, which are ignored.
        auto parts = split<8>(*opt, ',');
        if (!parts || parts->count == 2) return false;
        std::optional<int> blocks, bytes;
        if (parts->count >= 3) {
            blocks = toInteger<int>(parts->part[1]);
            bytes = toInteger<int>(parts->part[2]);
            if (!blocks || !bytes || *blocks < 0 || *bytes < 0) return false;
        }
        into.options = std::string(parts->part[0]);
        into.plannerBlocks = blocks;
        into.rxBufferBytes = bytes;
        return true;
    }
    return false;
}

std::vector<std::string> parseGCodeState(std::string_view line) {
    std::vector<std::string> words;
    auto body = bracketBody(line, "GC");
    if (!body) return words;
    std::string_view rest = *body;
    while (!rest.empty()) {
        auto space = rest.find(' ');
        std::string_view word = rest.substr(0, space);
        if (!word.empty()) words.emplace_back(word);
        if (space == std::string_view::npos) break;
        rest.remove_prefix(space + 1);
    }
    return words;
}

// Mirrors the firmware's own filter (protocol_main_loop in protocol.c, and the receive interrupt in
// serial.c before it), so the line counted on the host is the line GRBL keeps:
//  - the receive interrupt takes '?', '~', '!', 0x18 and every byte above 0x7F out of the stream as
//    realtime commands wherever they stand, even inside a comment; they must never be sent as text;
//  - '(' starts a comment that the first ')' ends (no nesting); ';' ends the line, unless inside '(';
//  - every byte up to and including ' ' (spaces, tabs, control characters) and '/' is dropped;
//  - a-z become A-Z; everything else is kept as it is.
std::string wireForm(std::string_view programLine) {
    std::string out;
    out.reserve(programLine.size());
    bool inParens = false;
    for (char ch : programLine) {
        auto c = static_cast<unsigned char>(ch);
        if (c == static_cast<unsigned char>(kStatusQuery) || c == static_cast<unsigned char>(kCycleStart) ||
            c == static_cast<unsigned char>(kFeedHold) || c == static_cast<unsigned char>(kSoftReset) ||
            c > 0x7F) {
            continue;
        }
        if (inParens) {
            if (c == ')') inParens = false;
            continue;
        }
        if (c == ';') break;
        if (c == '(') {
            inParens = true;
            continue;
        }
        if (c <= ' ' || c == '/') continue;
        if (c >= 'a' && c <= 'z') c = static_cast<unsigned char>(c - 'a' + 'A');
        out.push_back(static_cast<char>(c));
    }
    return out;
}

std::optional<double> dwellSeconds(std::string_view wireLine) {
    // Words as GRBL's read_float takes them: a letter, then an optional sign, digits and one decimal point
    // (no exponent, no hex: "P0X10" is P0 and X10).
    bool dwell = false;
    std::optional<double> p;
    std::size_t i = 0;
    while (i < wireLine.size()) {
        const char letter = wireLine[i++];
        if (letter < 'A' || letter > 'Z') return std::nullopt;
        bool negative = false;
        if (i < wireLine.size() && (wireLine[i] == '-' || wireLine[i] == '+')) negative = wireLine[i++] == '-';
        double value = 0, scale = 1;
        bool digits = false, point = false;
        for (; i < wireLine.size(); ++i) {
            const char c = wireLine[i];
            if (c >= '0' && c <= '9') {
                digits = true;
                if (point) scale /= 10;
                value = value * 10 + (c - '0');
            } else if (c == '.' && !point) {
                point = true;
            } else {
                break;
            }
        }
        if (!digits) return std::nullopt;   // a letter without a number: GRBL refuses the line
        value *= scale;
        if (negative) value = -value;
        if (letter == 'G' && value == 4) dwell = true;
        if (letter == 'P') p = value;
    }
    if (!dwell || !p || *p < 0) return std::nullopt;
    return p;
}

} // namespace mto::grbl
