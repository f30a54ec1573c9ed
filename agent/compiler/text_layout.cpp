// SPDX-License-Identifier: Apache-2.0
// Text layout: UTF-8 decoding, glyph lookup, auto-fit of the cap height and placement inside the area.
#include "compiler/text_layout.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "mto/error.hpp"

namespace mto {
namespace {

struct DecodedChar {
    char32_t code = 0;
    std::size_t byteOffset = 0;
};

// Strict RFC 3629 decoding: overlongs, surrogates and values above U+10FFFF are errors.
// Returns false and sets badOffset at the first byte that does not start a well-formed sequence.
bool decodeUtf8(std::string_view s, std::vector<DecodedChar>& out, std::size_t& badOffset) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b0 = static_cast<unsigned char>(s[i]);
        std::size_t len = 0;
        char32_t code = 0;
        char32_t min = 0;
        if (b0 < 0x80) {
            len = 1;
            code = b0;
        } else if ((b0 & 0xe0) == 0xc0) {
            len = 2;
            code = b0 & 0x1f;
            min = 0x80;
        } else if ((b0 & 0xf0) == 0xe0) {
            len = 3;
            code = b0 & 0x0f;
            min = 0x800;
        } else if ((b0 & 0xf8) == 0xf0) {
            len = 4;
            code = b0 & 0x07;
            min = 0x10000;
        } else {
            badOffset = i;
            return false;
        }
        if (s.size() - i < len) {
            badOffset = i;
            return false;
        }
        for (std::size_t k = 1; k < len; ++k) {
            const auto b = static_cast<unsigned char>(s[i + k]);
            if ((b & 0xc0) != 0x80) {
                badOffset = i;
                return false;
            }
            code = (code << 6) | (b & 0x3f);
        }
        if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
            badOffset = i;
            return false;
        }
        out.push_back({code, i});
        i += len;
    }
    return true;
}

std::string describeChar(char32_t c) {
    char buf[32];
    if (c >= 0x20 && c < 0x7f) {
        std::snprintf(buf, sizeof buf, "'%c'", static_cast<char>(c));
    } else {
        std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(c));
    }
    return buf;
}

std::string mm(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f mm", v);
    return buf;
}

// One line in font units at its pen origin: which characters it holds and where its ink lies.
struct Line {
    std::size_t firstChar = 0;   // code point index, for errors
    std::vector<char32_t> chars;
    bool hasInk = false;
    double inkMinX = 0, inkMaxX = 0, inkMinY = 0, inkMaxY = 0;
};

LayoutResult failure(const char* reason, std::string message, std::size_t charIndex) {
    LayoutResult r;
    r.error = LayoutError{reason, std::move(message), charIndex};
    return r;
}

// The text font's glyph, or the symbol font's for the symbols it lacks (checked before layout).
const Glyph& glyphOf(const HersheyFont& font, char32_t c) {
    if (font.hasGlyph(c)) return font.glyph(c);
    return *HersheyFont::symbol(c);
}

void validate(const TextLayoutOptions& o) {
    const auto positive = [](double v) { return std::isfinite(v) && v > 0; };
    if (!positive(o.areaWidth) || !positive(o.areaHeight)) {
        throw Error("text area must have a positive width and height in mm (got " + std::to_string(o.areaWidth) +
                    " x " + std::to_string(o.areaHeight) + ")");
    }
    if (!positive(o.minCapHeight) || !positive(o.maxCapHeight) || o.maxCapHeight < o.minCapHeight) {
        throw Error("text cap height range must satisfy 0 < min <= max (got min " + std::to_string(o.minCapHeight) +
                    " mm, max " + std::to_string(o.maxCapHeight) + " mm)");
    }
    if (!positive(o.lineSpacing)) {
        throw Error("text line spacing must be a positive factor (got " + std::to_string(o.lineSpacing) + ")");
    }
}

} // namespace

TextLayout::TextLayout(std::shared_ptr<const HersheyFont> font) : font_(std::move(font)) {
    if (!font_) {
        throw Error("TextLayout needs a loaded font");
    }
}

LayoutResult TextLayout::layout(std::string_view utf8, const TextLayoutOptions& options) const {
    validate(options);
    const HersheyFont& font = *font_;

    std::vector<DecodedChar> chars;
    chars.reserve(utf8.size());
    std::size_t badOffset = 0;
    if (!decodeUtf8(utf8, chars, badOffset)) {
        return failure(kReasonInvalidUtf8,
                       "the text is not valid UTF-8 at byte " + std::to_string(badOffset) + "; resend it as UTF-8",
                       chars.size());
    }

    std::vector<Line> lines(1);
    std::size_t glyphCount = 0;
    for (std::size_t i = 0; i < chars.size(); ++i) {
        const char32_t c = chars[i].code;
        if (c == U'\r' && i + 1 < chars.size() && chars[i + 1].code == U'\n') {
            continue;
        }
        if (c == U'\n') {
            lines.emplace_back();
            lines.back().firstChar = i + 1;
            continue;
        }
        if (!font.hasGlyph(c) && !HersheyFont::symbol(c)) {
            return failure(kReasonMissingGlyph,
                           "character " + std::to_string(i + 1) + " (" + describeChar(c) + ") cannot be engraved: the font " +
                               font.path().stem().string() +
                               " has no glyph for it (printable ASCII, plus hearts, card suits, stars and a few symbols)",
                           i);
        }
        lines.back().chars.push_back(c);
        if (c != U' ') {
            ++glyphCount;
        }
    }
    if (glyphCount == 0) {
        return failure(kReasonEmptyText, "the text has nothing to engrave (it is empty or only spaces and line breaks)", 0);
    }

    // Measure in font units; everything scales linearly with the cap height, so the fit is a division.
    for (Line& line : lines) {
        double pen = 0;
        for (const char32_t c : line.chars) {
            const Glyph& g = glyphOf(font, c);
            for (const Polyline& stroke : g.strokes) {
                for (const Point2& p : stroke.points) {
                    const double x = pen + p.x;
                    if (!line.hasInk) {
                        line.inkMinX = line.inkMaxX = x;
                        line.inkMinY = line.inkMaxY = p.y;
                        line.hasInk = true;
                    }
                    line.inkMinX = std::min(line.inkMinX, x);
                    line.inkMaxX = std::max(line.inkMaxX, x);
                    line.inkMinY = std::min(line.inkMinY, p.y);
                    line.inkMaxY = std::max(line.inkMaxY, p.y);
                }
            }
            pen += g.advance;
        }
    }

    const double pitch = options.lineSpacing * (font.ascent() - font.descent());
    double blockTop = -std::numeric_limits<double>::infinity();
    double blockBottom = std::numeric_limits<double>::infinity();
    double widest = 0;
    std::size_t widestLine = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const Line& line = lines[i];
        if (!line.hasInk) {
            continue;
        }
        const double baseline = -static_cast<double>(i) * pitch;
        blockTop = std::max(blockTop, baseline + line.inkMaxY);
        blockBottom = std::min(blockBottom, baseline + line.inkMinY);
        if (line.inkMaxX - line.inkMinX > widest) {
            widest = line.inkMaxX - line.inkMinX;
            widestLine = i;
        }
    }
    if (blockTop < blockBottom) {
        return failure(kReasonEmptyText, "the text has no strokes to engrave in font " + font.path().stem().string(), 0);
    }
    const double blockHeight = blockTop - blockBottom;

    const double unitsPerCap = font.capHeight();
    double cap = options.maxCapHeight;
    const double capForWidth = widest > 0 ? options.areaWidth * unitsPerCap / widest : std::numeric_limits<double>::infinity();
    const double capForHeight =
        blockHeight > 0 ? options.areaHeight * unitsPerCap / blockHeight : std::numeric_limits<double>::infinity();
    cap = std::min({cap, capForWidth, capForHeight});
    if (cap < options.minCapHeight) {
        const bool widthLimits = capForWidth <= capForHeight;
        std::string message = "the text does not fit the " + mm(options.areaWidth) + " x " + mm(options.areaHeight) +
                              " area at the minimum legible cap height of " + mm(options.minCapHeight) + ": ";
        message += widthLimits ? "line " + std::to_string(widestLine + 1) + " is too long"
                               : "its " + std::to_string(lines.size()) + " line(s) are too tall together";
        message += " (it would need a cap height of " + mm(cap) + "); shorten the text or use fewer lines";
        return failure(kReasonTextTooLarge, std::move(message), widthLimits ? lines[widestLine].firstChar : 0);
    }

    const double scale = cap / unitsPerCap;
    double yOffset = 0;
    switch (options.verticalAlign) {
    case VerticalAlign::Top: yOffset = options.areaHeight - blockTop * scale; break;
    case VerticalAlign::Middle: yOffset = options.areaHeight / 2 - (blockTop + blockBottom) / 2 * scale; break;
    case VerticalAlign::Bottom: yOffset = -blockBottom * scale; break;
    }

    LaidOutText out;
    out.capHeight = cap;
    out.glyphCount = glyphCount;
    out.lineCount = lines.size();
    bool first = true;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const Line& line = lines[i];
        if (!line.hasInk) {
            continue;
        }
        double xOffset = 0;
        switch (options.align) {
        case HorizontalAlign::Left: xOffset = -line.inkMinX * scale; break;
        case HorizontalAlign::Center: xOffset = options.areaWidth / 2 - (line.inkMinX + line.inkMaxX) / 2 * scale; break;
        case HorizontalAlign::Right: xOffset = options.areaWidth - line.inkMaxX * scale; break;
        }
        const double baseline = -static_cast<double>(i) * pitch;
        double pen = 0;
        for (const char32_t c : line.chars) {
            const Glyph& g = glyphOf(font, c);
            for (const Polyline& stroke : g.strokes) {
                Polyline placed;
                placed.points.reserve(stroke.points.size());
                for (const Point2& p : stroke.points) {
                    // The clamp only absorbs rounding at the exact fit; the fit itself keeps the ink inside.
                    const double x = std::clamp(xOffset + (pen + p.x) * scale, 0.0, options.areaWidth);
                    const double y = std::clamp(yOffset + (baseline + p.y) * scale, 0.0, options.areaHeight);
                    if (first) {
                        out.bbox.minX = out.bbox.maxX = x;
                        out.bbox.minY = out.bbox.maxY = y;
                        first = false;
                    }
                    out.bbox.minX = std::min(out.bbox.minX, x);
                    out.bbox.maxX = std::max(out.bbox.maxX, x);
                    out.bbox.minY = std::min(out.bbox.minY, y);
                    out.bbox.maxY = std::max(out.bbox.maxY, y);
                    placed.points.push_back({x, y});
                }
                out.strokes.push_back(std::move(placed));
            }
            pen += g.advance;
        }
    }

    LayoutResult result;
    result.text = std::move(out);
    return result;
}

} // namespace mto
