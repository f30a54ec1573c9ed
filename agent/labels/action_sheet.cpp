// SPDX-License-Identifier: Apache-2.0
// The action sheet: every action barcode an operator scans (QC, packing, shipping, each machine's decisions).
#include "labels/action_sheet.hpp"

#include <cairo-pdf.h>
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>

#include "labels/barcode_symbol.hpp"
#include "labels/cairo_handles.hpp"
#include "labels/label_renderer.hpp"
#include "mto/barcode.hpp"
#include "mto/error.hpp"

namespace mto {

namespace {

constexpr double kPageW = 210, kPageH = 297, kMargin = 12, kGutter = 10, kHeader = 16, kCellH = 34;
// Module sizes are whole dots of a 300 dpi office printer in the PDF (and of the PNG's own resolution).
constexpr int kPdfDpi = 300;

struct Placed {
    const ActionEntry* entry;
    int page;
    double x, y, width;
};

// Two codes per row, or one across the page when a code is too long for half of it.
std::vector<Placed> place(const std::vector<ActionEntry>& entries, LabelsConfig::Symbology symbology, int dpi) {
    std::vector<Placed> out;
    const double half = (kPageW - 2 * kMargin - kGutter) / 2, full = kPageW - 2 * kMargin;
    const int rowsPerPage = static_cast<int>((kPageH - 2 * kMargin - kHeader) / kCellH);
    int page = 0, row = 0, column = 0;
    auto nextRow = [&] {
        column = 0;
        if (++row >= rowsPerPage) {
            row = 0;
            ++page;
        }
    };
    for (const auto& e : entries) {
        const BarcodeSymbol symbol(symbology, e.code);
        const double dotsPerMm = dpi / 25.4;
        const bool fitsHalf = symbol.isMatrix() ||
                              moduleDots(symbol, static_cast<int>(half * dotsPerMm), 0) >= 2;
        if (!fitsHalf && moduleDots(symbol, static_cast<int>(full * dotsPerMm), 0) < 1)
            throw Error("the action code '" + e.code + "' is too long for a Code 128 across an A4 page; set "
                        "labels.symbology = \"qr\" or use a shorter machine id");
        if (!fitsHalf && column == 1) nextRow();
        const double y = kMargin + kHeader + row * kCellH;
        if (fitsHalf) {
            out.push_back({&e, page, kMargin + column * (half + kGutter), y, half});
            if (++column == 2) nextRow();
        } else {
            out.push_back({&e, page, kMargin, y, full});
            nextRow();
        }
    }
    return out;
}

void drawPage(cairo_t* cr, const std::vector<Placed>& placed, int page, int pages, LabelsConfig::Symbology symbology,
              int dpi, const std::string& title) {
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    const double dotsPerMm = dpi / 25.4;
    auto snap = [&](double mm) { return std::round(mm * dotsPerMm) / dotsPerMm; };
    LabelText head;
    head.size = 6;
    head.bold = true;
    label_text::useFont(cr, head.size, true);
    head.text = label_text::fit(cr, title + (pages > 1 ? "  (" + std::to_string(page + 1) + "/" + std::to_string(pages) + ")" : ""),
                                kPageW - 2 * kMargin);
    head.x = kMargin;
    head.baseline = kMargin + 6;
    label_text::draw(cr, head);
    for (const auto& p : placed) {
        if (p.page != page) continue;
        const BarcodeSymbol symbol(symbology, p.entry->code);
        LabelText caption;
        caption.size = 4.2;
        caption.bold = true;
        label_text::useFont(cr, caption.size, true);
        LabelText code;
        code.size = 2.6;
        if (symbol.isMatrix()) {
            // The square on the left, the words beside it.
            const double side = kCellH - 6;
            const int dots = std::max(1, moduleDots(symbol, static_cast<int>(side * dotsPerMm), static_cast<int>(side * dotsPerMm)));
            const double module = dots / dotsPerMm;
            symbol.draw(cr, snap(p.x + symbol.quietModules() * module), snap(p.y + symbol.quietModules() * module), module, 0);
            const double tx = p.x + (symbol.modules() + 2 * symbol.quietModules()) * module + 2;
            caption.text = label_text::fit(cr, p.entry->caption, p.x + p.width - tx);
            caption.x = tx;
            caption.baseline = p.y + 10;
            label_text::draw(cr, caption);
            label_text::useFont(cr, code.size, false);
            code.text = label_text::fit(cr, p.entry->code, p.x + p.width - tx);
            code.x = tx;
            code.baseline = p.y + 16;
            label_text::draw(cr, code);
        } else {
            caption.text = label_text::fit(cr, p.entry->caption, p.width);
            caption.x = p.x;
            caption.baseline = p.y + 5;
            label_text::draw(cr, caption);
            const int dots = std::min(4, moduleDots(symbol, static_cast<int>(p.width * dotsPerMm), 0));
            const double module = dots / dotsPerMm;
            const double barTop = snap(p.y + 7.5), barHeight = snap(16);
            symbol.draw(cr, snap(p.x + symbol.quietModules() * module), barTop, module, barHeight);
            label_text::useFont(cr, code.size, false);
            code.text = label_text::fit(cr, p.entry->code, p.width);
            code.x = p.x + symbol.quietModules() * module;
            code.baseline = barTop + barHeight + 3.5;
            label_text::draw(cr, code);
        }
    }
}

int pageCount(const std::vector<Placed>& placed) { return placed.empty() ? 1 : placed.back().page + 1; }

} // namespace

std::vector<ActionEntry> ActionSheet::entries(const std::vector<std::string>& machineIds) {
    using barcode::Action;
    std::vector<ActionEntry> out;
    out.push_back({"QC pass", barcode::actionCode(Action::QcPass)});
    for (const auto& reason : barcode::qcFailReasons()) {
        std::string words = reason;
        std::replace(words.begin(), words.end(), '_', ' ');
        out.push_back({"QC fail: " + words, barcode::actionCode(Action::QcFail, reason)});
    }
    out.push_back({"Packed", barcode::actionCode(Action::Packed)});
    out.push_back({"Shipped (then scan the tracking code)", barcode::actionCode(Action::Shipped)});
    out.push_back({"Cancel (forget this scan)", barcode::actionCode(Action::Cancel)});
    for (const auto& m : machineIds) {
        out.push_back({m + ": bed clear", barcode::actionCode(Action::ClearBed, m)});
        out.push_back({m + ": resume", barcode::actionCode(Action::Resume, m)});
        out.push_back({m + ": restart", barcode::actionCode(Action::Restart, m)});
        out.push_back({m + ": scrap", barcode::actionCode(Action::Scrap, m)});
    }
    return out;
}

ActionSheet::ActionSheet(std::vector<ActionEntry> entries, LabelsConfig::Symbology symbology, std::string title)
    : entries_(std::move(entries)), symbology_(symbology), title_(std::move(title)) {}

void ActionSheet::writePdf(const std::filesystem::path& path) const {
    const auto placed = place(entries_, symbology_, kPdfDpi);
    const int pages = pageCount(placed);
    label_text::replaceFile(path, [&](const std::filesystem::path& tmp) {
        CairoSurface surface(cairo_pdf_surface_create(tmp.c_str(), kPageW * kPointsPerMm, kPageH * kPointsPerMm));
        {
            CairoContext cr(cairo_create(surface.get()));
            cairo_scale(cr.get(), kPointsPerMm, kPointsPerMm);
            for (int page = 0; page < pages; ++page) {
                drawPage(cr.get(), placed, page, pages, symbology_, kPdfDpi, title_);
                cairo_show_page(cr.get());
            }
        }
        cairo_surface_finish(surface.get());
        const auto rc = cairo_surface_status(surface.get());
        if (rc != CAIRO_STATUS_SUCCESS) throw Error(tmp.string() + ": cannot write: " + cairo_status_to_string(rc));
    });
}

void ActionSheet::writePng(const std::filesystem::path& path, int dpi) const {
    const auto placed = place(entries_, symbology_, dpi);
    const int pages = pageCount(placed);
    const double dotsPerMm = dpi / 25.4;
    const int w = static_cast<int>(std::lround(kPageW * dotsPerMm));
    const int pageH = static_cast<int>(std::lround(kPageH * dotsPerMm));
    CairoSurface surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, pageH * pages));
    {
        CairoContext cr(cairo_create(surface.get()));
        for (int page = 0; page < pages; ++page) {
            cairo_save(cr.get());
            cairo_translate(cr.get(), 0, page * pageH);
            cairo_scale(cr.get(), dotsPerMm, dotsPerMm);
            cairo_rectangle(cr.get(), 0, 0, kPageW, kPageH);   // each page paints only its own part of the image
            cairo_clip(cr.get());
            drawPage(cr.get(), placed, page, pages, symbology_, dpi, title_);
            cairo_restore(cr.get());
        }
    }
    cairo_surface_flush(surface.get());
    label_text::replaceFile(path, [&](const std::filesystem::path& tmp) {
        const auto rc = cairo_surface_write_to_png(surface.get(), tmp.c_str());
        if (rc != CAIRO_STATUS_SUCCESS) throw Error(tmp.string() + ": cannot write: " + cairo_status_to_string(rc));
    });
}

void ActionSheet::write(const std::filesystem::path& path) const {
    const std::string ext = path.extension().string();
    if (ext == ".pdf") return writePdf(path);
    if (ext == ".png") return writePng(path, 200);
    throw Error("the action sheet is written as .pdf or .png, not '" + path.filename().string() + "'");
}

} // namespace mto
