// SPDX-License-Identifier: Apache-2.0
// Traveler labels: lays out an item's label once and writes it as PNG, PDF (cairo) and ZPL (Zebra printers).
#pragma once

#include <cairo.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "labels/barcode_symbol.hpp"
#include "mto/config.hpp"

namespace mto {

// What a traveler label says about one item.
struct LabelContent {
    std::string orderId;
    std::string itemId;
    std::string sku;
    std::int64_t qty = 1;
    std::string personalizationJson = "{}";   // the item's personalization object as stored
    std::string dueBy;                        // RFC 3339; empty when HQ gave none
    bool rush = false;
};

// A line of text placed on the label, in millimetres from the top-left corner.
struct LabelText {
    std::string text;        // as drawn: already cut to fit, ending in "…" when it was cut
    double x = 0;
    double baseline = 0;
    double size = 0;         // font size (em height)
    double maxWidth = 0;     // the room it was given
    double width = 0;        // the room it takes (measured with the font it is drawn in)
    bool bold = false;
    bool white = false;      // drawn white on black (the RUSH mark)
};

struct LabelBox {
    double x = 0, y = 0, width = 0, height = 0;
};

// Where everything goes. The PNG, the PDF and the ZPL are all drawn from one layout, so what a test decodes
// from the PNG is what the PDF and the Zebra print.
struct LabelLayout {
    double widthMm = 0, heightMm = 0;
    int dpi = 0;
    std::string code;                  // the barcode's text
    LabelsConfig::Symbology symbology = LabelsConfig::Symbology::Code128;
    double codeX = 0, codeY = 0;       // top-left of the symbol (inside its quiet zone)
    int moduleDots = 0;                // printer dots per module
    double barHeight = 0;              // Code 128 bar height; a QR code is square
    LabelBox codeBox;                  // the symbol with its quiet zones
    std::optional<LabelBox> rush;      // the black RUSH box, for rush orders
    std::vector<LabelText> texts;

    double dotsPerMm() const { return dpi / 25.4; }
    double moduleMm() const { return moduleDots / dotsPerMm(); }
};

// Stateless: one renderer may draw labels on several threads at once.
class LabelRenderer {
public:
    explicit LabelRenderer(const LabelsConfig& config);

    // Throws mto::Error when the item's code does not fit the configured label (it says what would).
    LabelLayout layout(const LabelContent& content) const;
    // Write `path` through a temporary file and a rename, so a reader never sees half a label.
    void writePng(const LabelLayout& layout, const std::filesystem::path& path) const;
    void writePdf(const LabelLayout& layout, const std::filesystem::path& path) const;
    std::string zpl(const LabelLayout& layout) const;

    // <base>.png, <base>.pdf and <base>.zpl.
    void writeAll(const LabelContent& content, const std::filesystem::path& base) const;

private:
    LabelsConfig config_;
};

// The files of an item's label without extension: <state_dir>/labels/order-<order_id>/item-<item_id>
// (the prefixes keep ids such as ".." from naming a directory above).
std::filesystem::path labelBasePath(const std::filesystem::path& stateDir, const std::string& orderId,
                                    const std::string& itemId);

// "text: Ada & Max; font: script" from the personalization object; control characters become spaces and
// invalid UTF-8 becomes U+FFFD. Not cut: the label cuts it to the room it has.
std::string personalizationSummary(const std::string& json);

// "2026-11-28 17:00 UTC" from RFC 3339 (the offset kept when it is not Z); "-" when empty.
std::string dueText(const std::string& dueBy);

// Shared with the action sheet: fonts and text cut to a width, on any cairo surface whose unit is a millimetre.
namespace label_text {
void useFont(cairo_t* cr, double size, bool bold);
double width(cairo_t* cr, const std::string& text);
// The longest start of `text` that fits `maxWidth` with "…" after it (or `text` itself when it fits).
std::string fit(cairo_t* cr, const std::string& text, double maxWidth);
// Up to `lines` lines of at most `maxWidth`, broken at spaces where it can; the last one cut with "…".
std::vector<std::string> wrap(cairo_t* cr, const std::string& text, double maxWidth, std::size_t lines);
void draw(cairo_t* cr, const LabelText& t);
// A cairo context measuring in millimetres, for layout before any surface exists.
struct Measure {
    Measure();
    ~Measure();
    Measure(const Measure&) = delete;
    Measure& operator=(const Measure&) = delete;
    cairo_surface_t* surface;
    cairo_t* cr;
};
// Replaces `path` with what `write` puts into `path`.tmp; throws mto::Error naming the file.
void replaceFile(const std::filesystem::path& path, const std::function<void(const std::filesystem::path&)>& write);
} // namespace label_text

} // namespace mto
