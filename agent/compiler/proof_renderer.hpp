// SPDX-License-Identifier: Apache-2.0
// Draws a program's tool path over the machine and work area as a PNG proof for a person to approve.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>
#include <string_view>

#include "compiler/gcode_program.hpp"
#include "mto/job.hpp"

namespace mto {

// A rectangle on the machine bed, mm, machine coordinates.
struct WorkArea {
    double x = 0, y = 0;
    double width = 0, height = 0;   // 0 → no work area drawn
};

// Where the drawing landed: lets a caller (or a test) find a machine point in the image.
struct ProofLayout {
    int width = 0, height = 0;          // image, px
    double pxPerMm = 1;
    double viewMinX = 0, viewMaxY = 0;  // mm at the plot's top-left corner
    double plotLeft = 0, plotTop = 0;   // px
    double plotRight = 0, plotBottom = 0;

    // Machine mm → image px (Y up on the machine, down in the image).
    Point2 toPixel(Point2 mm) const {
        return {plotLeft + (mm.x - viewMinX) * pxPerMm, plotTop + (viewMaxY - mm.y) * pxPerMm};
    }
};

// A labelled rectangle drawn over the tool path, e.g. a jig slot and the unit placed in it.
struct ProofMark {
    WorkArea box;
    std::string label;   // drawn in ASCII inside the box's top-left corner; other characters become '?'
};

// A rendered proof and whether every move made it onto it.
struct Proof {
    std::string png;
    bool complete = true;         // false: the time limit stopped the drawing; the image says so in red
    std::size_t movesDrawn = 0;
    std::size_t moves = 0;
};

// Thread-safe: holds only the profile, the size and the time limit.
//
// White page; envelope in grey, work area in blue, work moves in black, travel in light grey, a scale
// bar in mm below and a title line above. The view spans the envelope, the work area and the program,
// the program clipped at half an envelope beyond the machine so one wild move cannot shrink the rest
// to a dot (the checker reports such moves anyway).
class ProofRenderer {
public:
    // longSidePx: the image's longer side. Throws mto::Error outside 64..8192 px or for an empty envelope.
    // timeLimit bounds the drawing of pathological programs (millions of long raster lines take minutes):
    // travel gets a quarter of it, work the rest; what is not drawn by then is left off and the image
    // carries a red "incomplete" line.
    explicit ProofRenderer(MachineProfile profile, int longSidePx = 1024,
                           std::chrono::milliseconds timeLimit = std::chrono::seconds(10));

    // PNG bytes. The title is drawn in ASCII; other characters become '?'.
    std::string render(const GcodeProgram& program, const WorkArea& workArea = {}, std::string_view title = {}) const;
    // Several programs for the same machine over each other, e.g. a sign's lettering and its cut-out: the
    // first program's work in black, the next in red, then green, then orange (the colours repeat).
    std::string render(const std::vector<const GcodeProgram*>& layers, const WorkArea& workArea = {},
                       std::string_view title = {}) const;

    // The same with whether it is complete; marks are drawn in blue with their labels.
    Proof renderProof(const std::vector<const GcodeProgram*>& layers, const WorkArea& workArea = {},
                      std::string_view title = {}, const std::vector<ProofMark>& marks = {}) const;

    ProofLayout layout(const GcodeProgram& program, const WorkArea& workArea = {}) const;
    ProofLayout layout(const std::vector<const GcodeProgram*>& layers, const WorkArea& workArea = {}) const;

    // Work moves in BGR of layer i.
    static std::array<double, 3> layerColour(std::size_t i);

private:
    MachineProfile profile_;
    int longSidePx_;
    std::chrono::milliseconds timeLimit_;
};

} // namespace mto
