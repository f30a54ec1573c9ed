// SPDX-License-Identifier: Apache-2.0
// Batch production on jigs: a machine's jig, and the one program that marks a unit in each of its slots.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "compiler/proof_renderer.hpp"
#include "mto/config.hpp"
#include "mto/job.hpp"

namespace mto {

// A jig as the scheduler uses it: the configured slots and, per SKU it holds, the front-left corner of the
// part in that SKU's single-unit program (the catalog's work area). A unit in slot i runs its own program moved
// by slots[i] origin − that corner, so the part's corner lands on the slot's.
//
// A plate is a jig whose slots the slicer chooses: a printer's bed on which up to plateParts parts (each unit's
// own model) are arranged and sliced as one program. It has no configured slots; partOrigins names the SKUs it
// takes (their origins are unused).
struct Jig {
    std::string id;
    std::vector<JigSlot> slots;
    std::map<std::string, Point2> partOrigins;   // by SKU
    std::size_t plateParts = 0;                  // > 0: a plate of at most this many parts

    bool holds(const std::string& sku) const { return partOrigins.count(sku) != 0; }
    bool isPlate() const { return plateParts > 0; }
    // Units one run takes at most.
    std::size_t capacity() const { return isPlate() ? plateParts : slots.size(); }
};

// The first slot not wholly inside the machine's envelope (0..sizeX, 0..sizeY), or nullopt.
std::optional<std::size_t> slotOutsideEnvelope(const std::vector<JigSlot>& slots, const MachineProfile& profile);

// Why a set of units cannot be marked as one jig program. reason is one of:
//   not_translatable   a unit's program uses what cannot be moved to a slot (G20 inches, G53, G92, G28/G30,
//                      G10, relative arcs centres are fine; line in the message)
//   not_gcode          a unit's program is not a GRBL program (an fdm print: a plate is the slicer's work)
//   check_failed       the whole program breaks the machine's rules (the first violation in the message)
//   no_units           nothing to place, a slot index outside the jig, or a SKU the jig does not hold
//   does_not_fit       plates: the slicer cannot arrange the parts on the bed together
//   slice_failed       plates: a part's model is gone, or the slicer failed
struct JigRefusal {
    std::string reason;
    std::string message;
};

// The program text moved by (dx, dy) mm. Coordinates in absolute mode (G90) are shifted; moves in relative
// mode (G91) and arc centres (I, J: relative in GRBL) are kept. Program ends (M2, M30) become M5 (tool off),
// so the text can be followed by another unit's; comments are dropped. A rapid to the origin (G0 X0 Y0, the
// generators' park at the end) is left out and `*parked` set: the run parks once, after its last unit.
// Refusals as JigRefusal.
std::variant<std::string, JigRefusal> translateGrblProgram(std::string_view program, double dx, double dy,
                                                           bool* parked = nullptr);

// One unit placed in a slot.
struct JigPlacement {
    const JobArtifact* artifact = nullptr;   // the unit's own compiled program
    std::string sku;
    std::size_t slot = 0;
    std::string label;                       // what the proof writes in the slot (order/item/unit)
};

// The program of a jig run and its proof.
struct JigProgram {
    JobArtifact artifact;    // program, sha256, lines, bbox and the estimate of the whole run
    std::string proofPng;    // the whole jig: every slot outlined, with the unit placed in it; empty unless asked
    std::vector<WorkArea> placed;   // plates: where the slicer put each placement's part on the bed (same order)
};

// What the slicer made of a plate's parts: the program and each part's extent on the bed, in placement order.
struct PlateSlice {
    JobArtifact artifact;
    std::vector<WorkArea> parts;
};

// Thread-safe (pure). A plate's program as a jig run: the sliced program checked against the profile
// (GcodeChecker), estimated (the slicer's figure is kept when it has one), and drawn as one proof that outlines
// each part where the slicer put it and names its unit. Placements' slots are their part index.
std::variant<JigProgram, JigRefusal> buildPlateProgram(const Jig& plate, const std::vector<JigPlacement>& placements,
                                                       PlateSlice slice, const MachineProfile& profile, bool withProof);

// Thread-safe (pure). The units' programs, each moved to its slot, one after the other in the order given,
// followed by one program end; checked as a whole against the profile (GcodeChecker) and estimated as a whole
// (GcodeEstimator), parking at the origin at the end when a unit's program did. A refusal says why; nothing is
// partly built.
std::variant<JigProgram, JigRefusal> buildJigProgram(const Jig& jig, const std::vector<JigPlacement>& placements,
                                                     const MachineProfile& profile, bool withProof);

} // namespace mto
