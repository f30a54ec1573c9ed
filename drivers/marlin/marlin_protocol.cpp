// SPDX-License-Identifier: Apache-2.0
// Marlin's host protocol as text: numbered lines with checksums, and the lines the firmware answers with.
#include "marlin/marlin_protocol.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>

namespace mto::marlin {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

bool startsWith(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

bool containsNoCase(std::string_view s, std::string_view what) {
    if (what.size() > s.size()) return false;
    for (std::size_t i = 0; i + what.size() <= s.size(); ++i) {
        std::size_t k = 0;
        while (k < what.size() &&
               std::tolower(static_cast<unsigned char>(s[i + k])) == std::tolower(static_cast<unsigned char>(what[k])))
            ++k;
        if (k == what.size()) return true;
    }
    return false;
}

// A decimal number at s[i..]; advances i past it.
std::optional<double> number(std::string_view s, std::size_t& i) {
    std::size_t j = i;
    if (j < s.size() && (s[j] == '-' || s[j] == '+')) ++j;
    const std::size_t digitsFrom = j;
    while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
    if (j == digitsFrom) return std::nullopt;
    const std::string text(s.substr(i, j - i));
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (end == text.c_str()) return std::nullopt;
    i = j;
    return v;
}

// "<key><actual> /<target>" starting at i (just after the key).
std::optional<Heater> heaterAt(std::string_view s, std::size_t i) {
    Heater h;
    auto actual = number(s, i);
    if (!actual) return std::nullopt;
    h.actual = *actual;
    while (i < s.size() && s[i] == ' ') ++i;
    if (i < s.size() && s[i] == '/') {
        ++i;
        if (auto target = number(s, i)) h.target = *target;
    }
    return h;
}

// Position of a report key ("T:", "B:") at a word start.
std::size_t keyAt(std::string_view s, std::string_view key) {
    std::size_t from = 0;
    while (true) {
        auto p = s.find(key, from);
        if (p == std::string_view::npos) return p;
        if (p == 0 || s[p - 1] == ' ') return p;
        from = p + 1;
    }
}

} // namespace

std::uint8_t checksum(std::string_view text) {
    std::uint8_t cs = 0;
    for (char c : text) cs ^= static_cast<std::uint8_t>(c);
    return cs;
}

std::string numberedLine(std::uint64_t n, std::string_view command) {
    std::string body = "N" + std::to_string(n) + " ";
    body.append(command);
    return body + "*" + std::to_string(checksum(body));
}

std::string wireForm(std::string_view programLine) {
    std::string out;
    out.reserve(programLine.size());
    for (char ch : programLine) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == ';') break;
        if (c == '*' || c > 0x7E || (c < ' ' && c != '\t')) continue;
        out.push_back(c == '\t' ? ' ' : static_cast<char>(c));
    }
    return std::string(trim(out));
}

NumberedLine splitNumberedLine(std::string_view line) {
    NumberedLine out;
    line = trim(line);
    std::string_view body = line;
    const auto star = line.rfind('*');
    if (star != std::string_view::npos) {
        out.hasChecksum = true;
        body = line.substr(0, star);
        std::size_t i = star + 1;
        const auto given = number(line, i);
        out.checksumOk = given && i == line.size() && *given == checksum(body);
    }
    std::string_view command = body;
    if (!body.empty() && (body[0] == 'N' || body[0] == 'n') && body.size() > 1 &&
        std::isdigit(static_cast<unsigned char>(body[1]))) {
        std::size_t i = 1;
        std::uint64_t n = 0;
        while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) n = n * 10 + (body[i++] - '0');
        out.hasNumber = true;
        out.number = n;
        command = body.substr(i);
        if (!command.empty() && command.front() == ' ') command.remove_prefix(1);
    }
    out.command = std::string(command);
    return out;
}

std::optional<Temperatures> parseTemperatures(std::string_view line) {
    Temperatures t;
    std::size_t p = keyAt(line, "T:");
    std::size_t keyLen = 2;
    if (p == std::string_view::npos) {
        p = keyAt(line, "T0:");
        keyLen = 3;
    }
    if (p != std::string_view::npos) t.hotend = heaterAt(line, p + keyLen);
    if (auto b = keyAt(line, "B:"); b != std::string_view::npos) t.bed = heaterAt(line, b + 2);
    if (!t.hotend && !t.bed) return std::nullopt;
    return t;
}

std::string describe(const Temperatures& t) {
    auto one = [](const char* name, const Heater& h) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s %.1f/%.0f °C", name, h.actual, h.target);
        return std::string(buf);
    };
    std::string out;
    if (t.hotend) out = one("hotend", *t.hotend);
    if (t.bed) out += (out.empty() ? "" : ", ") + one("bed", *t.bed);
    return out;
}

Response parseResponse(std::string_view raw) {
    Response r;
    std::string_view line = trim(raw);
    r.text = std::string(line);
    if (line == "ok" || startsWith(line, "ok ")) {
        r.kind = LineKind::Ok;
        r.temperatures = parseTemperatures(line.substr(2));
        return r;
    }
    if (startsWith(line, "Resend:") || startsWith(line, "rs ")) {
        std::size_t i = line[0] == 'R' ? 7 : 3;
        while (i < line.size() && (line[i] == ' ' || line[i] == 'N')) ++i;
        if (auto n = number(line, i); n && *n >= 0) {
            r.kind = LineKind::Resend;
            r.resendLine = static_cast<std::uint64_t>(*n);
            return r;
        }
        r.kind = LineKind::Other;
        return r;
    }
    std::string_view body = line;
    const bool echo = startsWith(line, "echo:");
    if (echo) body = trim(line.substr(5));
    if (startsWith(body, "busy:")) {
        r.kind = LineKind::Busy;
        r.text = std::string(trim(body.substr(5)));
        return r;
    }
    const bool error = startsWith(line, "Error:") || startsWith(line, "error:") || startsWith(line, "!!");
    if (error) {
        r.text = std::string(trim(line.substr(line[0] == '!' ? 2 : 6)));
        if (line[0] == '!') r.text = r.text.empty() ? "!! (emergency stop)" : "!! " + r.text;
        const std::string_view t = r.text;
        if (containsNoCase(t, "checksum mismatch") || containsNoCase(t, "Line Number is not") ||
            containsNoCase(t, "No Checksum") || containsNoCase(t, "No Line Number")) {
            r.kind = LineKind::LineError;
            return r;
        }
        if (containsNoCase(t, "thermal runaway") || containsNoCase(t, "heating failed") ||
            containsNoCase(t, "MINTEMP") || containsNoCase(t, "MAXTEMP")) {
            r.kind = LineKind::Fatal;
            r.faultReason = "thermal_runaway";
            return r;
        }
        if (line[0] == '!' || containsNoCase(t, "kill()") || containsNoCase(t, "halted") ||
            containsNoCase(t, "stopped")) {
            r.kind = LineKind::Fatal;
            r.faultReason = "halted";
            return r;
        }
        r.kind = LineKind::Error;
        return r;
    }
    if (line == "start") {
        r.kind = LineKind::Start;
        return r;
    }
    if (startsWith(line, "FIRMWARE_NAME:")) {
        r.kind = LineKind::FirmwareInfo;
        return r;
    }
    if (startsWith(line, "Cap:")) {
        r.kind = LineKind::Capability;
        return r;
    }
    if (echo) {
        r.kind = LineKind::Echo;
        r.text = std::string(body);
        return r;
    }
    if (auto t = parseTemperatures(line); t && (startsWith(line, "T") || startsWith(line, "B"))) {
        r.kind = LineKind::Temperature;
        r.temperatures = t;
        return r;
    }
    return r;
}

std::string FirmwareInfo::field(const std::string& key) const {
    auto it = fields.find(key);
    return it == fields.end() ? std::string() : it->second;
}

std::string FirmwareInfo::name() const {
    const std::string v = field("FIRMWARE_NAME");
    return v.substr(0, v.find(' '));
}

std::string FirmwareInfo::version() const {
    const std::string v = field("FIRMWARE_NAME");
    const auto space = v.find(' ');
    if (space == std::string::npos) return {};
    const auto rest = v.substr(space + 1);
    return rest.substr(0, rest.find(' '));
}

FirmwareInfo parseFirmwareInfo(std::string_view line) {
    FirmwareInfo info;
    line = trim(line);
    // A key is an upper-case word ending in ':' at the start or after a blank; its value runs to the next key.
    auto keyEnd = [&](std::size_t at) -> std::size_t {
        std::size_t i = at;
        while (i < line.size() && (std::isupper(static_cast<unsigned char>(line[i])) || line[i] == '_' ||
                                   std::isdigit(static_cast<unsigned char>(line[i]))))
            ++i;
        if (i > at + 1 && i < line.size() && line[i] == ':' && std::isupper(static_cast<unsigned char>(line[at])))
            return i;
        return std::string::npos;
    };
    std::string key;
    std::size_t valueFrom = 0;
    auto flush = [&](std::size_t valueTo) {
        if (!key.empty()) info.fields[key] = std::string(trim(line.substr(valueFrom, valueTo - valueFrom)));
    };
    for (std::size_t i = 0; i < line.size(); ++i) {
        if (i != 0 && line[i - 1] != ' ') continue;
        const auto end = keyEnd(i);
        if (end == std::string::npos) continue;
        flush(i);
        key = std::string(line.substr(i, end - i));
        valueFrom = end + 1;
        i = end;
    }
    flush(line.size());
    return info;
}

std::optional<std::pair<std::string, bool>> parseCapability(std::string_view line) {
    line = trim(line);
    if (!startsWith(line, "Cap:")) return std::nullopt;
    line.remove_prefix(4);
    const auto colon = line.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    const auto value = trim(line.substr(colon + 1));
    if (value != "0" && value != "1") return std::nullopt;
    return std::make_pair(std::string(line.substr(0, colon)), value == "1");
}

bool isLongCommand(std::string_view command) {
    command = trim(command);
    std::size_t end = 0;
    while (end < command.size() && command[end] != ' ') ++end;
    std::string word(command.substr(0, end));
    for (auto& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return word == "M109" || word == "M190" || word == "G28" || word == "G29" || word == "M191" || word == "M303" ||
           word == "M400" || word == "G4";
}

} // namespace mto::marlin
