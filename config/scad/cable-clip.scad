// SPDX-License-Identifier: Apache-2.0
// Cable clip: a flat C-ring that snaps over a 6 mm cable, with a tab for a screw. No personalization:
// the catalog points at gcode/cable-clip.gcode, sliced from this file with printers/prusa-mk3s-pla.ini
// (openscad --export-format binstl -o clip.stl cable-clip.scad, then prusa-slicer --export-gcode --load
// ../printers/prusa-mk3s-pla.ini -o ../gcode/cable-clip.gcode clip.stl); edit here and slice again rather
// than editing the G-code.

cable_diameter = 6;
wall = 1.6;
height = 8;         // along Z, as printed
opening = 4.5;      // gap the cable is pushed through (narrower than the cable: it snaps)
tab_length = 12;
tab_width = 10;
hole_diameter = 3.4;

$fn = 64;

r_in = cable_diameter / 2;
r_out = r_in + wall;

difference() {
    union() {
        cylinder(h = height, r = r_out);
        translate([-tab_width / 2, -r_out - tab_length + wall, 0]) cube([tab_width, tab_length, height / 2]);
    }
    translate([0, 0, -1]) cylinder(h = height + 2, r = r_in);
    translate([-opening / 2, 0, -1]) cube([opening, r_out + 1, height + 2]);
    translate([0, -r_out - tab_length / 2 + wall, -1]) cylinder(h = height, d = hole_diameter);
}
