// SPDX-License-Identifier: Apache-2.0
// A Code 128 or QR symbol encoded by libzint, as dark rectangles in module units for any drawing surface.
#pragma once

#include <cairo.h>

#include <string>
#include <vector>

#include "mto/config.hpp"

namespace mto {

// Immutable after construction; safe to use from any thread.
class BarcodeSymbol {
public:
    struct Rect {
        double x, y, width, height;   // in modules; y and height are 0..1 of the bar height for Code 128
    };

    // Throws mto::Error when libzint refuses the text (it names the text and libzint's reason).
    BarcodeSymbol(LabelsConfig::Symbology symbology, const std::string& text);

    LabelsConfig::Symbology symbology() const { return symbology_; }
    bool isMatrix() const { return symbology_ == LabelsConfig::Symbology::Qr; }
    const std::string& text() const { return text_; }
    // Width of the symbol in modules, without quiet zones; a QR code is as many modules high.
    int modules() const { return modules_; }
    // Modules of quiet zone each side that scanners need (10 for Code 128, 4 for QR).
    int quietModules() const { return isMatrix() ? 4 : 10; }
    const std::vector<Rect>& rects() const { return rects_; }

    // Draws the dark modules in black with the top-left of the symbol (not of its quiet zone) at (x, y),
    // `module` user units per module; `barHeight` is the height of Code 128 bars (ignored for QR).
    void draw(cairo_t* cr, double x, double y, double module, double barHeight) const;

private:
    LabelsConfig::Symbology symbology_;
    std::string text_;
    int modules_ = 0;
    std::vector<Rect> rects_;
};

// The largest module size, in whole printer dots, at which `symbol` and its quiet zones fit `widthDots`
// (and, for QR, `heightDots`); 0 when not even one dot per module fits.
int moduleDots(const BarcodeSymbol& symbol, int widthDots, int heightDots);

} // namespace mto
