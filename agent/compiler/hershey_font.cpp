// SPDX-License-Identifier: Apache-2.0
// Parser for the Hershey `.jhf` glyph format and the process-wide cache of parsed fonts.
#include "compiler/hershey_font.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <string_view>

#include "mto/error.hpp"

namespace mto {
namespace {

// Glyph records: columns 1-5 a glyph number, 6-8 the vertex count (the bounds pair included), then
// two characters per vertex whose distance from 'R' is the coordinate. Old distributions wrap long
// records at 72 columns, Debian's do not; both are read.
constexpr std::size_t kNumberWidth = 5;
constexpr std::size_t kCountWidth = 3;
constexpr std::size_t kHeaderWidth = kNumberWidth + kCountWidth;

struct RawGlyph {
    int left = 0;
    int right = 0;
    std::vector<std::vector<std::pair<int, int>>> strokes;   // Hershey coordinates, Y down
};

std::string printableExcerpt(std::string_view s, std::size_t maxChars = 40) {
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < maxChars; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
        }
    }
    if (s.size() > maxChars) {
        out += "...";
    }
    return out;
}

[[noreturn]] void malformed(const std::filesystem::path& path, std::size_t line, const std::string& what) {
    throw Error(path.string() + ":" + std::to_string(line) + ": " + what +
                "; this is not a valid Hershey .jhf font (reinstall hershey-fonts-data or choose another font)");
}

// A fixed-width numeric field: optional leading spaces, then digits only.
bool parseField(std::string_view field, int& value) {
    const auto first = field.find_first_not_of(' ');
    if (first == std::string_view::npos) {
        return false;
    }
    value = 0;
    for (const char c : field.substr(first)) {
        if (c < '0' || c > '9') {
            return false;
        }
        value = value * 10 + (c - '0');
    }
    return true;
}

bool isBlankLine(std::string_view line) {
    return line.find_first_not_of(" \t") == std::string_view::npos;
}

class JhfReader {
public:
    JhfReader(const std::filesystem::path& path, std::vector<std::string> lines)
        : path_(path), lines_(std::move(lines)) {}

    std::vector<RawGlyph> readAll() {
        std::vector<RawGlyph> glyphs;
        while (next_ < lines_.size()) {
            if (isBlankLine(lines_[next_])) {
                ++next_;
                continue;
            }
            glyphs.push_back(readGlyph());
        }
        return glyphs;
    }

private:
    RawGlyph readGlyph() {
        const std::size_t headerLine = next_ + 1;
        const std::string& line = lines_[next_++];
        if (line.size() < kHeaderWidth) {
            malformed(path_, headerLine, "glyph header \"" + printableExcerpt(line) +
                                             "\" is shorter than the 5-digit number and 3-digit vertex count");
        }
        int number = 0;
        if (!parseField(std::string_view(line).substr(0, kNumberWidth), number)) {
            malformed(path_, headerLine, "glyph number \"" + printableExcerpt(line.substr(0, kNumberWidth)) + "\" is not a number");
        }
        int count = 0;
        if (!parseField(std::string_view(line).substr(kNumberWidth, kCountWidth), count) || count < 1) {
            malformed(path_, headerLine, "vertex count \"" + printableExcerpt(line.substr(kNumberWidth, kCountWidth)) +
                                             "\" is not a positive number");
        }

        // Coordinate characters with the line each came from, so errors point at the right line.
        const std::size_t needed = 2 * static_cast<std::size_t>(count);
        std::string data = line.substr(kHeaderWidth);
        std::vector<std::size_t> dataLines(data.size(), headerLine);
        while (data.size() < needed) {
            if (next_ >= lines_.size()) {
                malformed(path_, headerLine, "glyph " + std::to_string(number) + " declares " + std::to_string(count) +
                                                 " vertices but the file ends after " + std::to_string(data.size() / 2));
            }
            const std::string& more = lines_[next_++];
            data += more;
            dataLines.resize(data.size(), next_);
        }
        if (data.size() > needed) {
            if (!isBlankLine(std::string_view(data).substr(needed))) {
                malformed(path_, dataLines[needed], "glyph " + std::to_string(number) + " has characters after its " +
                                                        std::to_string(count) + " declared vertices");
            }
        }

        RawGlyph glyph;
        std::vector<std::pair<int, int>> stroke;
        for (std::size_t i = 0; i < needed; i += 2) {
            const char cx = data[i];
            const char cy = data[i + 1];
            const std::size_t at = dataLines[i];
            if (cx == ' ' && cy == 'R') {
                if (i == 0) {
                    malformed(path_, at, "glyph " + std::to_string(number) + " starts with a pen-up instead of its left/right bounds");
                }
                if (stroke.size() >= 2) {
                    glyph.strokes.push_back(std::move(stroke));
                }
                stroke.clear();
                continue;
            }
            for (const char c : {cx, cy}) {
                if (c < '!' || c > '~') {
                    malformed(path_, at, "glyph " + std::to_string(number) + " has the coordinate character \"" +
                                             printableExcerpt(std::string(1, c)) + "\", outside '!'..'~'");
                }
            }
            const int x = cx - 'R';
            const int y = cy - 'R';
            if (i == 0) {
                glyph.left = x;
                glyph.right = y;
                if (glyph.right < glyph.left) {
                    malformed(path_, at, "glyph " + std::to_string(number) + " has its right bound left of its left bound");
                }
            } else {
                stroke.emplace_back(x, y);
            }
        }
        if (stroke.size() >= 2) {
            glyph.strokes.push_back(std::move(stroke));
        }
        return glyph;
    }

    const std::filesystem::path& path_;
    std::vector<std::string> lines_;
    std::size_t next_ = 0;
};

} // namespace

HersheyFont HersheyFont::load(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        throw Error("cannot read Hershey font " + path.string() + ": " + std::strerror(err) +
                    " (fonts come from the Debian package hershey-fonts-data)");
    }
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        lines.push_back(std::move(line));
    }
    if (in.bad()) {
        throw Error("cannot read Hershey font " + path.string() + ": read error");
    }

    const std::vector<RawGlyph> raw = JhfReader(path, std::move(lines)).readAll();
    if (raw.empty()) {
        throw Error(path.string() + " contains no glyphs; this is not a valid Hershey .jhf font");
    }

    // Hershey fonts put the baseline where a capital H ends; Y grows downwards. Fonts without a usable
    // H fall back to the values every Roman Hershey set shares (baseline 9, caps 21 units tall).
    int baseline = 9;
    int capTop = -12;
    constexpr std::size_t kH = 'H' - kFirstChar;
    if (raw.size() > kH && !raw[kH].strokes.empty()) {
        int top = std::numeric_limits<int>::max();
        int bottom = std::numeric_limits<int>::min();
        for (const auto& stroke : raw[kH].strokes) {
            for (const auto& [x, y] : stroke) {
                top = std::min(top, y);
                bottom = std::max(bottom, y);
            }
        }
        if (bottom > top) {
            baseline = bottom;
            capTop = top;
        }
    }

    HersheyFont font;
    font.path_ = path;
    font.capHeight_ = baseline - capTop;
    const std::size_t mapped = std::min(raw.size(), static_cast<std::size_t>(kLastChar - kFirstChar + 1));
    font.glyphs_.reserve(mapped);
    bool anyInk = false;
    for (std::size_t i = 0; i < mapped; ++i) {
        Glyph glyph;
        glyph.advance = raw[i].right - raw[i].left;
        for (const auto& rawStroke : raw[i].strokes) {
            Polyline stroke;
            stroke.points.reserve(rawStroke.size());
            for (const auto& [x, y] : rawStroke) {
                const Point2 p{static_cast<double>(x - raw[i].left), static_cast<double>(baseline - y)};
                font.ascent_ = anyInk ? std::max(font.ascent_, p.y) : p.y;
                font.descent_ = anyInk ? std::min(font.descent_, p.y) : p.y;
                anyInk = true;
                stroke.points.push_back(p);
            }
            glyph.strokes.push_back(std::move(stroke));
        }
        font.glyphs_.push_back(std::move(glyph));
    }
    return font;
}

std::filesystem::path HersheyFont::fontPath(const std::string& name) {
    const bool plain = !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
    if (!plain) {
        throw Error("font name \"" + printableExcerpt(name) +
                    "\" is not a Hershey font stem such as \"futural\" (letters, digits, '_' and '-' only)");
    }
    return std::filesystem::path(kFontDir) / (name + ".jhf");
}

std::shared_ptr<const HersheyFont> HersheyFont::named(const std::string& name) {
    static std::mutex mutex;
    static std::map<std::string, std::shared_ptr<const HersheyFont>> cache;

    const std::filesystem::path path = fontPath(name);
    // Parsing under the lock keeps two threads from loading the same file twice; a font takes a millisecond.
    const std::lock_guard lock(mutex);
    if (const auto it = cache.find(name); it != cache.end()) {
        return it->second;
    }
    auto font = std::make_shared<const HersheyFont>(load(path));
    cache.emplace(name, font);
    return font;
}

bool HersheyFont::hasGlyph(char32_t c) const {
    return c >= kFirstChar && c <= kLastChar && c - kFirstChar < glyphs_.size();
}

const Glyph& HersheyFont::glyph(char32_t c) const {
    if (!hasGlyph(c)) {
        throw Error("font " + path_.string() + " has no glyph for U+" + [c] {
            char buf[16];
            std::snprintf(buf, sizeof buf, "%04X", static_cast<unsigned>(c));
            return std::string(buf);
        }() + "; Hershey fonts cover printable ASCII only");
    }
    return glyphs_[c - kFirstChar];
}

namespace {

// Code point → the ASCII slot of its drawing in symbolic.jhf (Debian's file holds the Hershey symbol set at
// U+0020..U+007E; the slots were read off a rendering of every glyph). Outline and solid forms of a
// symbol share one drawing: a single-stroke tool engraves outlines either way.
constexpr std::pair<char32_t, char> kSymbolSlots[] = {
    {U'\u00A7', 'i'},   // § section sign
    {U'\u00A9', '_'},   // © copyright sign
    {U'\u00D7', 'N'},   // × multiplication sign
    {U'\u2020', 'j'},   // † dagger
    {U'\u2021', 'k'},   // ‡ double dagger
    {U'\u2234', 'l'},   // ∴ therefore
    {U'\u25A1', 'I'},   // □ white square
    {U'\u25B3', 'J'},   // △ white up-pointing triangle
    {U'\u25C7', 'K'},   // ◇ white diamond
    {U'\u25CB', 'H'},   // ○ white circle
    {U'\u2605', '~'},   // ★ black star
    {U'\u2606', 'L'},   // ☆ white star
    {U'\u2618', 'h'},   // ☘ shamrock
    {U'\u2660', 'm'},   // ♠ black spade suit
    {U'\u2661', 'n'},   // ♡ white heart suit
    {U'\u2662', 'o'},   // ♢ white diamond suit
    {U'\u2663', 'p'},   // ♣ black club suit
    {U'\u2664', 'm'},   // ♤ white spade suit
    {U'\u2665', 'n'},   // ♥ black heart suit
    {U'\u2666', 'o'},   // ♦ black diamond suit
    {U'\u2667', 'p'},   // ♧ white club suit
    {U'\u2693', 'X'},   // ⚓ anchor
    {U'\u2721', '`'},   // ✡ star of David
    {U'\u2764', 'n'},   // ❤ heavy black heart
};

} // namespace

const Glyph* HersheyFont::symbol(char32_t c) {
    const auto* end = std::end(kSymbolSlots);
    const auto* it = std::find_if(std::begin(kSymbolSlots), end, [c](const auto& s) { return s.first == c; });
    if (it == end) return nullptr;
    try {
        const std::shared_ptr<const HersheyFont> font = named(kSymbolFont);   // cached for the process
        return &font->glyph(static_cast<char32_t>(it->second));
    } catch (const Error&) {
        return nullptr;
    }
}

std::vector<char32_t> HersheyFont::symbols() {
    std::vector<char32_t> out;
    for (const auto& [code, slot] : kSymbolSlots) out.push_back(code);
    return out;
}

} // namespace mto
