// SPDX-License-Identifier: Apache-2.0
// Cutting parts out of sheet stock on a GRBL router: outline, tool offset, depth passes and holding tabs.
#pragma once

#include <vector>

#include "mto/job.hpp"

namespace mto {

// An end mill and how hard it may be pushed. Millimetres and mm/min; Z = 0 is the top of the stock.
struct CncTool {
    double diameter;
    double stepDown;      // deepest cut per pass
    double safeZ;         // above the stock and its clamps; every rapid in X/Y happens here
    double plungeFeed;    // for every vertical move into or inside the material
    double feed;
    double rpm;
    double spinUpSeconds = 2.0;   // G4 after M3 so the spindle is at speed before the first plunge; 0 = none
};

// Bridges of material that keep the part attached to the sheet until the operator cuts it free.
struct Tabs {
    int count = 0;        // evenly spaced along the outline; 0 = no tabs
    double width = 0;     // of the bridge left at the part's edge (the tool lifts for width + tool diameter)
    double height = 0;    // above the bottom of the material
};

// The part's outline. A circle is a rounded rectangle whose corner radius is half its size, so all three
// shapes share one offset rule: growing by the tool radius adds that radius to the corner radius.
struct ProfileShape {
    Point2 center{};
    double width = 0;
    double height = 0;
    double cornerRadius = 0;

    static ProfileShape rectangle(Point2 center, double width, double height);
    static ProfileShape roundedRectangle(Point2 center, double width, double height, double cornerRadius);
    static ProfileShape circle(Point2 center, double diameter);
};

enum class MillingDirection {
    Climb,          // clockwise around an outside profile with an M3 spindle: cleaner edge, needs a rigid machine
    Conventional,   // counter-clockwise: gentler on a flexible hobby frame
};

// One part cut out of the sheet, through its full thickness.
struct ProfileCut {
    ProfileShape shape{};
    double thickness = 0;         // of the material
    double breakthrough = 0.2;    // cut this far below the material so no skin is left on the spoilboard
    Tabs tabs{};
    MillingDirection direction = MillingDirection::Climb;
};

// Stateless once built; safe to share between threads.
class ProfileCutGenerator {
public:
    // Throws mto::Error when the tool cannot cut (non-positive size, feed or speed).
    explicit ProfileCutGenerator(CncTool tool, double maxChordError = 0.01);

    // A GRBL program cutting the parts in order: the modal preamble (G21 G90 G17 G94), G0/G1, M3/M5, G4 for
    // the spindle's spin-up when it is above 0, and M2 at the end; estimatedSeconds is left 0.
    // The program assumes the tool starts and ends at X0 Y0 at safe Z. Throws mto::Error naming the part
    // and the problem when a shape, depth or tab layout cannot be cut with this tool.
    JobArtifact generate(const std::vector<ProfileCut>& cuts) const;
    JobArtifact generate(const ProfileCut& cut) const { return generate(std::vector<ProfileCut>{cut}); }

    // Where the tool centre goes on every pass of `cut` (an outside cut, arcs flattened within the chord
    // error): closed, from the plunge point back to it. Throws like generate().
    Polyline toolPath(const ProfileCut& cut) const;

    const CncTool& tool() const { return tool_; }

private:
    CncTool tool_;
    double maxChordError_;
};

} // namespace mto
