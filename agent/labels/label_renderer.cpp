// SPDX-License-Identifier: Apache-2.0
// Traveler labels: lays out an item's label once and writes it as PNG, PDF (cairo) and ZPL (Zebra printers).
#include "labels/label_renderer.hpp"

#include <cairo-pdf.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <fstream>
#include <memory>

#include "labels/cairo_handles.hpp"
#include "mto/barcode.hpp"
#include "mto/error.hpp"
#include "util/utf8.hpp"

namespace mto {

namespace json = boost::json;

namespace {

// A personalization longer than this is never shown whole; cutting it first keeps fitting cheap.
constexpr std::size_t kSummaryMaxBytes = 1024;

bool continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Printable text: control characters (tabs, new lines) become spaces, runs of spaces one.
std::string flattenText(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        const bool space = c < 0x20 || c == 0x7f || c == ' ';
        if (space) {
            if (!out.empty() && out.back() != ' ') out.push_back(' ');
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

void drawLabel(cairo_t* cr, const LabelLayout& l) {
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    if (l.rush) {
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_rectangle(cr, l.rush->x, l.rush->y, l.rush->width, l.rush->height);
        cairo_fill(cr);
    }
    for (const auto& t : l.texts) label_text::draw(cr, t);
    const BarcodeSymbol symbol(l.symbology, l.code);
    symbol.draw(cr, l.codeX, l.codeY, l.moduleMm(), l.barHeight);
}

// ^FD data with ^FH: the ZPL command characters and the escape itself are written as _XX.
std::string zplField(const std::string& text) {
    std::string out;
    static const char* hex = "0123456789ABCDEF";
    for (unsigned char c : text) {
        if (c == '^' || c == '~' || c == '_') {
            out += '_';
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

} // namespace

namespace label_text {

Measure::Measure()
    : surface(cairo_image_surface_create(CAIRO_FORMAT_A8, 1, 1)), cr(cairo_create(surface)) {}

Measure::~Measure() {
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
}

void useFont(cairo_t* cr, double size, bool bold) {
    // DejaVu Sans draws Latin, Greek, Cyrillic and the symbols personalizations use (♥ ★); metrics unhinted
    // so a text measured for the PNG takes the same room in the PDF.
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_font_options_t* o = cairo_font_options_create();
    cairo_font_options_set_hint_metrics(o, CAIRO_HINT_METRICS_OFF);
    cairo_font_options_set_hint_style(o, CAIRO_HINT_STYLE_NONE);
    cairo_set_font_options(cr, o);
    cairo_font_options_destroy(o);
}

double width(cairo_t* cr, const std::string& text) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, text.c_str(), &e);
    // The ink may reach past the advance (italics, some symbols): the room taken is the larger of the two.
    return std::max(e.x_advance, e.x_bearing + e.width);
}

std::string fit(cairo_t* cr, const std::string& text, double maxWidth) {
    if (width(cr, text) <= maxWidth) return text;
    // Longest prefix (at a character boundary) that still fits with the ellipsis; binary search over bytes.
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < text.size(); ++i)
        if (!continuation(static_cast<unsigned char>(text[i]))) cuts.push_back(i);
    std::size_t lo = 0, hi = cuts.size();   // answer in [0, hi]: number of usable cuts
    while (lo < hi) {
        const std::size_t mid = (lo + hi + 1) / 2;
        std::string candidate = text.substr(0, cuts[mid - 1]);
        while (!candidate.empty() && candidate.back() == ' ') candidate.pop_back();
        if (width(cr, candidate + "…") <= maxWidth) lo = mid;
        else hi = mid - 1;
    }
    if (lo == 0) return width(cr, "…") <= maxWidth ? "…" : "";
    std::string out = text.substr(0, cuts[lo - 1]);
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "…";
}

std::vector<std::string> wrap(cairo_t* cr, const std::string& text, double maxWidth, std::size_t lines) {
    std::vector<std::string> out;
    std::string rest = text;
    while (!rest.empty() && out.size() + 1 < lines) {
        if (width(cr, rest) <= maxWidth) break;
        // The longest start that fits, then back to the last space in it when there is one in its second half.
        std::string head = fit(cr, rest, maxWidth);
        if (head.size() >= 3 && head.compare(head.size() - 3, 3, "…") == 0) head.resize(head.size() - 3);
        // fit() left room for the ellipsis; a line that goes on needs none, but one character more hardly matters.
        if (head.empty()) break;
        std::size_t take = head.size();
        if (const auto space = head.rfind(' '); space != std::string::npos && space > head.size() / 2) take = space;
        out.push_back(flattenText(rest.substr(0, take)));
        rest = rest.substr(take);
        while (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);
    }
    if (!rest.empty()) out.push_back(fit(cr, rest, maxWidth));
    return out;
}

void draw(cairo_t* cr, const LabelText& t) {
    if (t.text.empty()) return;
    useFont(cr, t.size, t.bold);
    if (t.white) cairo_set_source_rgb(cr, 1, 1, 1);
    else cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, t.x, t.baseline);
    cairo_show_text(cr, t.text.c_str());
}

void replaceFile(const std::filesystem::path& path, const std::function<void(const std::filesystem::path&)>& write) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) throw Error(path.parent_path().string() + ": cannot create: " + ec.message());
    std::filesystem::path tmp = path;
    tmp += ".tmp";
    write(tmp);
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::filesystem::remove(tmp, ec);
        throw Error(path.string() + ": cannot write: " + ec.message());
    }
}

} // namespace label_text

std::string personalizationSummary(const std::string& text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return flattenText(sanitizeUtf8(text, kSummaryMaxBytes));
    std::string out;
    auto add = [&](std::string_view key, const json::value& value) {
        if (!out.empty()) out += "; ";
        if (!key.empty()) {
            out += key;
            out += ": ";
        }
        if (value.is_string()) out += std::string_view(value.as_string());
        else out += json::serialize(value);
    };
    if (v.is_object()) {
        for (const auto& [key, value] : v.as_object()) {
            add(std::string_view(key.data(), key.size()), value);
            if (out.size() > kSummaryMaxBytes) break;
        }
    } else if (!v.is_null()) {
        add("", v);
    }
    return flattenText(sanitizeUtf8(out, kSummaryMaxBytes));
}

std::string dueText(const std::string& dueBy) {
    if (dueBy.empty()) return "-";
    // 2026-11-28T17:00:00Z → 2026-11-28 17:00 UTC; 2026-11-28T17:00:00.5+01:00 → 2026-11-28 17:00 +01:00
    if (dueBy.size() < 16 || dueBy[10] != 'T') return flattenText(sanitizeUtf8(dueBy, 40));
    std::string out = dueBy.substr(0, 10) + " " + dueBy.substr(11, 5);
    const auto zone = dueBy.find_first_of("Zz+-", 16);
    if (zone == std::string::npos) return out;
    const std::string z = dueBy.substr(zone);
    return out + (z == "Z" || z == "z" ? " UTC" : " " + sanitizeUtf8(z, 8));
}

std::filesystem::path labelBasePath(const std::filesystem::path& stateDir, const std::string& orderId,
                                    const std::string& itemId) {
    return stateDir / "labels" / ("order-" + orderId) / ("item-" + itemId);
}

LabelRenderer::LabelRenderer(const LabelsConfig& config) : config_(config) {}

LabelLayout LabelRenderer::layout(const LabelContent& c) const {
    LabelLayout l;
    l.widthMm = config_.widthMm;
    l.heightMm = config_.heightMm;
    l.dpi = config_.dpi;
    l.symbology = config_.symbology;
    l.code = barcode::itemCode(c.orderId, c.itemId);
    const BarcodeSymbol symbol(config_.symbology, l.code);
    const double W = l.widthMm, H = l.heightMm, dpmm = l.dotsPerMm();
    const double margin = std::clamp(std::min(W, H) * 0.05, 1.5, 4.0);
    const double gap = margin * 0.6;
    auto dots = [&](double mm) { return static_cast<int>(std::floor(mm * dpmm)); };
    auto snap = [&](double mm) { return std::round(mm * dpmm) / dpmm; };   // on the printer's dot grid

    label_text::Measure m;
    cairo_t* cr = m.cr;
    // The text area: above the bars for Code 128, right of the square for QR.
    double tx, ty, tw, th;
    double captionSize;
    const std::string tooSmall = "the " + std::string(toString(config_.symbology)) + " code '" + l.code + "' (" +
                                 std::to_string(symbol.modules() + 2 * symbol.quietModules()) +
                                 " modules with its quiet zones) does not fit a " + std::to_string(int(W)) + "x" +
                                 std::to_string(int(H)) + " mm label at " + std::to_string(l.dpi) + " dpi";
    if (!symbol.isMatrix()) {
        // The quiet zones may reach into the margins: they are white either way.
        l.moduleDots = moduleDots(symbol, dots(W), 0);
        if (l.moduleDots < 1) throw Error(tooSmall + "; use a wider label, a higher dpi or labels.symbology = \"qr\"");
        l.moduleDots = std::min(l.moduleDots, 6);   // wider bars add nothing but a longer sweep
        const double total = (symbol.modules() + 2 * symbol.quietModules()) * l.moduleMm();
        captionSize = H * 0.055;
        l.barHeight = snap(H * 0.28);
        l.codeY = snap(H - margin - captionSize * 1.25 - l.barHeight);
        l.codeX = snap((W - total) / 2 + symbol.quietModules() * l.moduleMm());
        l.codeBox = {l.codeX - symbol.quietModules() * l.moduleMm(), l.codeY, total, l.barHeight};
        LabelText caption;
        caption.size = captionSize;
        label_text::useFont(cr, captionSize, false);
        caption.text = label_text::fit(cr, l.code, W - 2 * margin);
        caption.width = label_text::width(cr, caption.text);
        caption.maxWidth = W - 2 * margin;
        caption.x = (W - caption.width) / 2;
        caption.baseline = H - margin - captionSize * 0.25;
        l.texts.push_back(caption);
        tx = margin;
        ty = margin;
        tw = W - 2 * margin;
        th = l.codeY - gap - margin;
    } else {
        // At most a third of the width, so the text beside it stays legible.
        const double side = std::min(H - 2 * margin, W * 0.34);
        l.moduleDots = moduleDots(symbol, dots(side + 2 * margin), dots(side + 2 * margin));
        if (l.moduleDots < 1) throw Error(tooSmall + "; use a taller label or a higher dpi");
        const double total = (symbol.modules() + 2 * symbol.quietModules()) * l.moduleMm();
        l.codeBox = {snap(std::max(0.0, margin - symbol.quietModules() * l.moduleMm())), snap((H - total) / 2), total,
                     total};
        l.codeX = snap(l.codeBox.x + symbol.quietModules() * l.moduleMm());
        l.codeY = snap(l.codeBox.y + symbol.quietModules() * l.moduleMm());
        tx = l.codeBox.x + total + gap;
        ty = margin;
        tw = W - margin - tx;
        th = H - 2 * margin;
        captionSize = std::min(H * 0.055, th / 12);
        if (tw < 20) throw Error("a " + std::to_string(int(W)) + "x" + std::to_string(int(H)) +
                                 " mm label leaves " + std::to_string(int(tw)) +
                                 " mm beside the QR code for the text; it needs 20: use a wider label");
        LabelText caption;
        caption.size = captionSize;
        label_text::useFont(cr, captionSize, false);
        caption.maxWidth = tw;
        caption.text = label_text::fit(cr, l.code, tw);
        caption.width = label_text::width(cr, caption.text);
        caption.x = tx;
        caption.baseline = H - margin - captionSize * 0.25;
        l.texts.push_back(caption);
        th -= captionSize * 1.3;
    }
    // Rows of the text area: heading (order/item, 1.6 units), SKU and quantity, due time, then the
    // personalization on what is left (two lines on a 50 mm label).
    const std::size_t personalizationLines = symbol.isMatrix() ? 3 : 2;
    const double unit = std::min(th / ((1.6 + 2 + personalizationLines) * 1.22), H * 0.08);
    double y = ty;
    auto row = [&](const std::string& text, double size, bool bold, double x, double maxWidth) {
        LabelText t;
        label_text::useFont(cr, size, bold);
        t.text = label_text::fit(cr, text, maxWidth);
        t.width = label_text::width(cr, t.text);
        t.maxWidth = maxWidth;
        t.x = x;
        t.baseline = y + size * 0.93;
        t.size = size;
        t.bold = bold;
        l.texts.push_back(t);
        return t;
    };
    double headingWidth = tw;
    double headingSize = unit * 1.6;
    if (c.rush) {
        LabelText mark;
        mark.size = headingSize * 0.85;
        mark.bold = true;
        mark.white = true;
        mark.text = "RUSH";
        label_text::useFont(cr, mark.size, true);
        mark.width = label_text::width(cr, mark.text);
        const double pad = mark.size * 0.3;
        LabelBox box{tx + tw - mark.width - 2 * pad, ty, mark.width + 2 * pad, headingSize * 1.15};
        mark.x = box.x + pad;
        mark.baseline = box.y + box.height / 2 + mark.size * 0.36;
        mark.maxWidth = mark.width;
        l.rush = box;
        l.texts.push_back(mark);
        headingWidth = tw - box.width - gap;
    }
    // The order and item are what a person looks for: a long pair gets a smaller font before it gets cut.
    const std::string heading = c.orderId + " / " + c.itemId;
    label_text::useFont(cr, headingSize, true);
    if (const double wide = label_text::width(cr, heading); wide > headingWidth)
        row(heading, std::max(unit * 0.8, headingSize * headingWidth / wide), true, tx, headingWidth);
    else
        row(heading, headingSize, true, tx, headingWidth);
    y += headingSize * 1.22;
    row(std::to_string(c.qty) + " × " + c.sku, unit, true, tx, tw);   // the quantity first: a long SKU is cut, not it
    y += unit * 1.22;
    row("Due " + dueText(c.dueBy), unit, false, tx, tw);
    y += unit * 1.22;
    label_text::useFont(cr, unit, false);
    for (const auto& line : label_text::wrap(cr, personalizationSummary(c.personalizationJson), tw, personalizationLines)) {
        row(line, unit, false, tx, tw);
        y += unit * 1.22;
    }
    return l;
}

void LabelRenderer::writePng(const LabelLayout& l, const std::filesystem::path& path) const {
    const int w = static_cast<int>(std::lround(l.widthMm * l.dotsPerMm()));
    const int h = static_cast<int>(std::lround(l.heightMm * l.dotsPerMm()));
    CairoSurface surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h));
    CairoContext cr(cairo_create(surface.get()));
    cairo_scale(cr.get(), l.dotsPerMm(), l.dotsPerMm());
    drawLabel(cr.get(), l);
    cairo_surface_flush(surface.get());
    if (cairo_status(cr.get()) != CAIRO_STATUS_SUCCESS)
        throw Error("drawing the label " + path.string() + ": " + cairo_status_to_string(cairo_status(cr.get())));
    label_text::replaceFile(path, [&](const std::filesystem::path& tmp) {
        const auto rc = cairo_surface_write_to_png(surface.get(), tmp.c_str());
        if (rc != CAIRO_STATUS_SUCCESS) throw Error(tmp.string() + ": cannot write: " + cairo_status_to_string(rc));
    });
}

void LabelRenderer::writePdf(const LabelLayout& l, const std::filesystem::path& path) const {
    label_text::replaceFile(path, [&](const std::filesystem::path& tmp) {
        CairoSurface surface(cairo_pdf_surface_create(tmp.c_str(), l.widthMm * kPointsPerMm, l.heightMm * kPointsPerMm));
        {
            CairoContext cr(cairo_create(surface.get()));
            cairo_scale(cr.get(), kPointsPerMm, kPointsPerMm);
            drawLabel(cr.get(), l);
            cairo_show_page(cr.get());
        }
        cairo_surface_finish(surface.get());
        const auto rc = cairo_surface_status(surface.get());
        if (rc != CAIRO_STATUS_SUCCESS) throw Error(tmp.string() + ": cannot write: " + cairo_status_to_string(rc));
    });
}

std::string LabelRenderer::zpl(const LabelLayout& l) const {
    const double d = l.dotsPerMm();
    auto at = [&](double mm) { return std::to_string(std::lround(mm * d)); };
    std::string z = "^XA\n^CI28\n^PW" + at(l.widthMm) + "\n^LL" + at(l.heightMm) + "\n^LH0,0\n";
    if (l.rush)
        z += "^FO" + at(l.rush->x) + "," + at(l.rush->y) + "^GB" + at(l.rush->width) + "," + at(l.rush->height) + "," +
             at(std::min(l.rush->width, l.rush->height)) + ",B^FS\n";
    for (const auto& t : l.texts) {
        if (t.text.empty()) continue;
        // ^FO places the top of the field; the layout holds baselines.
        z += "^FO" + at(t.x) + "," + at(t.baseline - t.size * 0.93) + (t.white ? "^FR" : "") + "^A0N," + at(t.size) +
             "," + at(t.size * (t.bold ? 0.9 : 0.8)) + "^FB" + at(t.maxWidth + 0.5) + ",1,0,L,0^FH_^FD" +
             zplField(t.text) + "^FS\n";
    }
    if (l.symbology == LabelsConfig::Symbology::Qr) {
        // ^BQ magnification is 1..10 dots per module; error correction M, automatic input mode.
        z += "^FO" + at(l.codeX) + "," + at(l.codeY) + "^BQN,2," + std::to_string(std::clamp(l.moduleDots, 1, 10)) +
             "^FDMA," + l.code + "^FS\n";
    } else {
        z += "^FO" + at(l.codeX) + "," + at(l.codeY) + "^BY" + std::to_string(l.moduleDots) + "^BCN," +
             at(l.barHeight) + ",N,N,N^FD" + l.code + "^FS\n";
    }
    z += "^XZ\n";
    return z;
}

void LabelRenderer::writeAll(const LabelContent& content, const std::filesystem::path& base) const {
    const LabelLayout l = layout(content);
    auto with = [&](const char* ext) {
        std::filesystem::path p = base;
        p += ext;
        return p;
    };
    writePng(l, with(".png"));
    writePdf(l, with(".pdf"));
    const std::string z = zpl(l);
    label_text::replaceFile(with(".zpl"), [&](const std::filesystem::path& tmp) {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(z.data(), static_cast<std::streamsize>(z.size()));
        out.close();
        if (!out) throw Error(tmp.string() + ": cannot write");
    });
}

} // namespace mto
