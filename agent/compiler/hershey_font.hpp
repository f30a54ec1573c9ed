// SPDX-License-Identifier: Apache-2.0
// Hershey single-stroke vector fonts read from the `.jhf` files of Debian's hershey-fonts-data.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "mto/job.hpp"

namespace mto {

// One character: strokes in font units with Y up, the baseline at y = 0 and the pen position
// (the glyph's left bound) at x = 0, so a line is laid out by adding advances.
struct Glyph {
    std::vector<Polyline> strokes;   // only strokes of two points or more; a space has none
    double advance = 0;              // distance to the next glyph's pen position
};

// An immutable font: safe to share between threads once loaded.
class HersheyFont {
public:
    // Where Debian installs the fonts; fontPath() looks nowhere else.
    static constexpr const char* kFontDir = "/usr/share/hershey-fonts";

    // Parses a .jhf file. Throws mto::Error naming the file (and line) if it cannot be read or is malformed.
    static HersheyFont load(const std::filesystem::path& path);

    // The path of a font by its file stem, e.g. "futural" or "rowmans". Throws mto::Error for names
    // that are not a plain stem, so a name taken from an order cannot reach outside kFontDir.
    static std::filesystem::path fontPath(const std::string& name);

    // The font by stem, parsed once per process and shared afterwards; thread-safe. Failed loads are
    // not remembered, so installing the package later fixes the next call.
    static std::shared_ptr<const HersheyFont> named(const std::string& name);

    // The Hershey sets cover printable ASCII only (U+0020..U+007E).
    bool hasGlyph(char32_t c) const;

    // The stem of the symbol font the text fonts fall back to.
    static constexpr const char* kSymbolFont = "symbolic";
    // A symbol no text font has (hearts, card suits, stars, §, ©, ×, anchor, shamrock, a few shapes), drawn
    // from kSymbolFont in the same units as the text fonts; nullptr for anything else or when the symbol
    // font is not installed. The glyph lives as long as the process.
    static const Glyph* symbol(char32_t c);
    // Every code point symbol() knows, ascending.
    static std::vector<char32_t> symbols();
    // Throws mto::Error if hasGlyph(c) is false.
    const Glyph& glyph(char32_t c) const;

    // Height of a capital (from 'H') above the baseline; layout scales fonts to a requested cap height.
    double capHeight() const { return capHeight_; }
    // The highest and lowest ink over all glyphs, relative to the baseline (descent is negative).
    double ascent() const { return ascent_; }
    double descent() const { return descent_; }
    const std::filesystem::path& path() const { return path_; }

private:
    static constexpr char32_t kFirstChar = 0x20;
    static constexpr char32_t kLastChar = 0x7e;

    std::filesystem::path path_;
    std::vector<Glyph> glyphs_;   // glyphs_[c - kFirstChar]
    double capHeight_ = 0;
    double ascent_ = 0;
    double descent_ = 0;
};

} // namespace mto
