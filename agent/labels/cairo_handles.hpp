// SPDX-License-Identifier: Apache-2.0
// Owning cairo handles and the PDF unit, shared by the label and action-sheet renderers.
#pragma once

#include <cairo.h>

#include <memory>

namespace mto {

// PDF surfaces measure in points; the layouts are in millimetres.
constexpr double kPointsPerMm = 72.0 / 25.4;

struct CairoSurfaceDeleter {
    void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct CairoContextDeleter {
    void operator()(cairo_t* c) const { cairo_destroy(c); }
};
using CairoSurface = std::unique_ptr<cairo_surface_t, CairoSurfaceDeleter>;
using CairoContext = std::unique_ptr<cairo_t, CairoContextDeleter>;

} // namespace mto
