// SPDX-License-Identifier: Apache-2.0
// A Code 128 or QR symbol encoded by libzint, as dark rectangles in module units for any drawing surface.
#include "labels/barcode_symbol.hpp"

#include <zint.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "mto/error.hpp"

namespace mto {

namespace {

struct SymbolDeleter {
    void operator()(zint_symbol* s) const { ZBarcode_Delete(s); }
};

} // namespace

BarcodeSymbol::BarcodeSymbol(LabelsConfig::Symbology symbology, const std::string& text)
    : symbology_(symbology), text_(text) {
    std::unique_ptr<zint_symbol, SymbolDeleter> s(ZBarcode_Create());
    if (!s) throw Error("libzint could not allocate a symbol");
    s->symbology = isMatrix() ? BARCODE_QRCODE : BARCODE_CODE128;
    s->input_mode = DATA_MODE;
    s->show_hrt = 0;
    s->whitespace_width = 0;
    s->border_width = 0;
    if (isMatrix()) s->option_1 = 2;   // error correction level M: survives a scuffed label
    const int rc = ZBarcode_Encode(s.get(), reinterpret_cast<const unsigned char*>(text.data()),
                                   static_cast<int>(text.size()));
    if (rc >= ZINT_ERROR)
        throw Error("cannot encode '" + text + "' as " + toString(symbology) + ": " + std::string(s->errtxt) +
                    (isMatrix() ? "" : "; labels.symbology = \"qr\" carries longer codes"));
    if (ZBarcode_Buffer_Vector(s.get(), 0) >= ZINT_ERROR || !s->vector)
        throw Error("cannot lay out '" + text + "' as " + toString(symbology) + ": " + std::string(s->errtxt));
    modules_ = s->width;
    const zint_vector& v = *s->vector;
    if (modules_ <= 0 || v.width <= 0) throw Error("libzint gave an empty symbol for '" + text + "'");
    // libzint's vector units per module depend on its scale; everything here is in modules.
    const double unit = static_cast<double>(v.width) / modules_;
    double top = INFINITY, bottom = -INFINITY;
    for (const zint_vector_rect* r = v.rectangles; r; r = r->next) {
        if (r->colour > 0 && r->colour != 7) continue;   // only the foreground (or black) modules
        rects_.push_back({r->x / unit, r->y / unit, r->width / unit, r->height / unit});
        top = std::min(top, static_cast<double>(r->y) / unit);
        bottom = std::max(bottom, static_cast<double>(r->y + r->height) / unit);
    }
    if (rects_.empty()) throw Error("libzint gave no modules for '" + text + "'");
    if (!isMatrix()) {
        // Bars run the full height: normalise to 0..1 so the label decides how tall they are.
        const double span = bottom - top;
        for (auto& r : rects_) {
            r.y = (r.y - top) / span;
            r.height /= span;
        }
    }
}

void BarcodeSymbol::draw(cairo_t* cr, double x, double y, double module, double barHeight) const {
    cairo_save(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
    for (const auto& r : rects_) {
        if (isMatrix())
            cairo_rectangle(cr, x + r.x * module, y + r.y * module, r.width * module, r.height * module);
        else
            cairo_rectangle(cr, x + r.x * module, y + r.y * barHeight, r.width * module, r.height * barHeight);
    }
    cairo_fill(cr);
    cairo_restore(cr);
}

int moduleDots(const BarcodeSymbol& symbol, int widthDots, int heightDots) {
    const int total = symbol.modules() + 2 * symbol.quietModules();
    int dots = widthDots / total;
    if (symbol.isMatrix()) dots = std::min(dots, heightDots / total);
    return std::max(dots, 0);
}

} // namespace mto
