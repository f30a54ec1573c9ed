// SPDX-License-Identifier: Apache-2.0
// Name keychain: a rounded plate with a ring hole and the name raised on top, sized to the name.
//
// Rendered by the print job compiler with -D name="..." (and optionally the other parameters below).
// Units are millimetres; the plate lies on the bed at Z = 0 and the text reads along +X.

name = "Name";
// Pinned by name so every factory prints the same letters; the compiler checks it is installed
// because OpenSCAD silently renders nothing when no font matches.
font = "DejaVu Sans:style=Bold";
text_size = 10;          // cap height is about 0.73 of this
min_text_size = 5;       // long names shrink down to this, then the plate grows instead
max_text_length = 70;    // a name wider than this (estimated) gets a smaller font
plate_thickness = 3;
text_height = 1.5;       // how far the letters stand above the plate
margin = 3;              // plate border around the letters
ring_diameter = 5;       // hole for the key ring
ring_wall = 2.5;

$fn = 48;

// OpenSCAD 2021 cannot measure text, so the width is estimated from DejaVu Sans Bold's average advance;
// the plate itself is built around the real glyphs below, so the estimate only picks the size.
function estimated_width(s, size) = len(s) * size * 0.72;
size = len(name) == 0 ? text_size
     : max(min_text_size, min(text_size, text_size * max_text_length / estimated_width(name, text_size)));

ring_r = ring_diameter / 2 + ring_wall;
// The ring boss sits left of the text, 1 mm into the border so its wall blends into the plate outline.
ring_x = -margin - ring_r + 1;
ring_y = size * 0.36;

module letters() {
    text(name, size = size, font = font, halign = "left", valign = "baseline");
}

module plate_outline() {
    offset(r = margin) hull() {
        letters();
        // Fixes the plate's height to the font's ascent and descent even for names like "ww" or "".
        translate([0, -size * 0.22]) square([0.01, size * 1.16]);
        translate([ring_x, ring_y]) circle(r = ring_r - margin);
    }
}

difference() {
    linear_extrude(height = plate_thickness) plate_outline();
    translate([ring_x, ring_y, -1]) cylinder(d = ring_diameter, h = plate_thickness + 2);
}
// Letters start inside the plate so the union fuses them into one solid without coplanar faces.
translate([0, 0, plate_thickness - 0.2]) linear_extrude(height = text_height + 0.2) letters();
