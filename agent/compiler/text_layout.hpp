// SPDX-License-Identifier: Apache-2.0
// Lays UTF-8 text out in a Hershey font inside a rectangle, refusing text the font or the area cannot hold.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/hershey_font.hpp"
#include "mto/job.hpp"

namespace mto {

enum class HorizontalAlign { Left, Center, Right };
enum class VerticalAlign { Top, Middle, Bottom };

struct TextLayoutOptions {
    double areaWidth = 0;          // mm
    double areaHeight = 0;         // mm
    double minCapHeight = 2.0;     // mm; smaller capitals are not legible after engraving
    double maxCapHeight = 10.0;    // mm
    // Baseline-to-baseline distance as a multiple of the font's full height (highest ascender to lowest
    // descender), so 1.0 is the tightest spacing at which lines cannot touch.
    double lineSpacing = 1.0;
    HorizontalAlign align = HorizontalAlign::Center;
    VerticalAlign verticalAlign = VerticalAlign::Middle;
};

struct LaidOutText {
    std::vector<Polyline> strokes;   // mm, area coordinates: origin at the area's front-left, Y up
    double capHeight = 0;            // mm, the height auto-fit chose
    std::size_t glyphCount = 0;      // visible characters: everything except spaces and line breaks
    std::size_t lineCount = 0;
    BoundingBox bbox;                // of the strokes
};

// Why a text cannot be produced, for the customer or the operator, before anything is cut.
struct LayoutError {
    std::string reason;       // one of the TextLayout::kReason* values
    std::string message;      // what is wrong and what to change
    std::size_t charIndex;    // code point (not byte) index of the offending character, 0 if none
};

// Exactly one of the two is set.
struct LayoutResult {
    std::optional<LaidOutText> text;
    std::optional<LayoutError> error;
    explicit operator bool() const { return text.has_value(); }
};

// Thread-safe: layout() only reads the shared, immutable font.
class TextLayout {
public:
    static constexpr const char* kReasonMissingGlyph = "missing_glyph";
    static constexpr const char* kReasonTextTooLarge = "text_too_large";   // does not fit at minCapHeight
    static constexpr const char* kReasonEmptyText = "empty_text";          // nothing visible to engrave
    static constexpr const char* kReasonInvalidUtf8 = "invalid_utf8";      // bytes that are not UTF-8

    // Throws mto::Error if font is null.
    explicit TextLayout(std::shared_ptr<const HersheyFont> font);

    // Lines split on '\n' ("\r\n" accepted). The largest cap height in [minCapHeight, maxCapHeight] at
    // which every line fits the width and the block fits the height is chosen; lines are aligned and the
    // block placed by their ink, so spaces at line ends do not shift the text. Throws mto::Error only
    // for nonsensical options (non-positive area, min above max, ...), never for the text itself.
    LayoutResult layout(std::string_view utf8, const TextLayoutOptions& options) const;

    const HersheyFont& font() const { return *font_; }

private:
    std::shared_ptr<const HersheyFont> font_;
};

} // namespace mto
