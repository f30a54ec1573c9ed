// SPDX-License-Identifier: Apache-2.0
// Batch production on jigs: a machine's jig, and the one program that marks a unit in each of its slots.
#include "scheduler/jig.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "compiler/gcode_checker.hpp"
#include "compiler/gcode_estimator.hpp"
#include "compiler/gcode_program.hpp"
#include "compiler/gcode_text.hpp"
#include "compiler/proof_renderer.hpp"
#include "util/sha256.hpp"

namespace mto {

namespace {

struct JigWord {
    char letter;
    std::string value;   // as written, without spaces
};

// The words of one line, comments dropped; nullopt when a letter has no number (left for the checker).
std::optional<std::vector<JigWord>> wordsOf(std::string_view line) {
    std::vector<JigWord> out;
    std::size_t i = 0;
    while (i < line.size()) {
        const char c = line[i];
        if (c == ';') break;
        if (c == '(') {
            const auto close = line.find(')', i);
            if (close == std::string_view::npos) break;
            i = close + 1;
            continue;
        }
        if (std::isspace(static_cast<unsigned char>(c))) {
            ++i;
            continue;
        }
        if (!std::isalpha(static_cast<unsigned char>(c))) return std::nullopt;
        JigWord w{static_cast<char>(std::toupper(static_cast<unsigned char>(c))), {}};
        ++i;
        while (i < line.size() && (std::isdigit(static_cast<unsigned char>(line[i])) || line[i] == '.' || line[i] == '-' ||
                                   line[i] == '+' || line[i] == ' '))
            if (line[i++] != ' ') w.value += line[i - 1];
        if (w.value.empty()) return std::nullopt;
        out.push_back(std::move(w));
    }
    return out;
}

bool isCode(const JigWord& w, char letter, double code) {
    if (w.letter != letter) return false;
    char* end = nullptr;
    const double v = std::strtod(w.value.c_str(), &end);
    return end && *end == '\0' && std::fabs(v - code) < 1e-9;
}

// G0 X0 Y0 with nothing else that moves (S and F may ride along).
bool isPark(const std::vector<JigWord>& words) {
    bool rapid = false, x = false, y = false;
    for (const JigWord& w : words) {
        if (isCode(w, 'G', 0)) rapid = true;
        else if (w.letter == 'X') x = std::strtod(w.value.c_str(), nullptr) == 0;
        else if (w.letter == 'Y') y = std::strtod(w.value.c_str(), nullptr) == 0;
        else if (w.letter != 'S' && w.letter != 'F') return false;
    }
    return rapid && x && y;
}

JigRefusal refuse(std::string reason, std::string message) { return {std::move(reason), std::move(message)}; }

} // namespace

std::optional<std::size_t> slotOutsideEnvelope(const std::vector<JigSlot>& slots, const MachineProfile& profile) {
    for (std::size_t i = 0; i < slots.size(); ++i) {
        const JigSlot& s = slots[i];
        if (!(s.x >= 0 && s.y >= 0 && s.x + s.width <= profile.sizeX && s.y + s.height <= profile.sizeY)) return i;
    }
    return std::nullopt;
}

std::variant<std::string, JigRefusal> translateGrblProgram(std::string_view program, double dx, double dy,
                                                           bool* parked) {
    std::string out;
    out.reserve(program.size() + program.size() / 8);
    bool absolute = true;   // GRBL's power-on default; every generated program sets it in its first line
    int lineNo = 0;
    std::size_t pos = 0;
    while (pos < program.size()) {
        auto eol = program.find('\n', pos);
        if (eol == std::string_view::npos) eol = program.size();
        std::string_view line = program.substr(pos, eol - pos);
        pos = eol + 1;
        ++lineNo;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const auto first = line.find_first_not_of(" \t");
        if (first == std::string_view::npos) continue;
        if (line[first] == '$')
            return refuse("not_translatable", "line " + std::to_string(lineNo) + ": a GRBL system command (" +
                                                  std::string(line.substr(first)) + ") has no place in a jig program");
        auto words = wordsOf(line);
        if (!words)
            return refuse("not_translatable", "line " + std::to_string(lineNo) + " cannot be read as G-code words");
        if (words->empty()) continue;
        bool end = false;
        for (const JigWord& w : *words) {
            if (isCode(w, 'G', 90)) absolute = true;
            if (isCode(w, 'G', 91)) absolute = false;
            if (isCode(w, 'M', 2) || isCode(w, 'M', 30)) end = true;
            for (double g : {20.0, 53.0, 92.0, 92.1, 28.0, 28.1, 30.0, 30.1, 10.0})
                if (isCode(w, 'G', g))
                    return refuse("not_translatable", "line " + std::to_string(lineNo) + ": G" + w.value +
                                                          " works in machine coordinates or other units; the program "
                                                          "cannot be moved to a jig slot");
        }
        if (end) {
            // The unit's end: the tool goes off; the run's one program end follows the last unit.
            out += "M5\n";
            continue;
        }
        if (absolute && isPark(*words)) {
            if (parked) *parked = true;
            continue;
        }
        std::string text;
        for (const JigWord& w : *words) {
            if (!text.empty()) text += ' ';
            text += w.letter;
            if (absolute && (w.letter == 'X' || w.letter == 'Y')) {
                char* stop = nullptr;
                const double v = std::strtod(w.value.c_str(), &stop);
                if (!stop || *stop != '\0' || !std::isfinite(v))
                    return refuse("not_translatable", "line " + std::to_string(lineNo) + ": " + w.letter + w.value +
                                                          " is not a number");
                const double moved = v + (w.letter == 'X' ? dx : dy);
                gcode::appendMm(text, static_cast<std::int64_t>(std::llround(moved * 1000.0)));
            } else {
                text += w.value;
            }
        }
        out += text;
        out += '\n';
    }
    return out;
}

std::variant<JigProgram, JigRefusal> buildJigProgram(const Jig& jig, const std::vector<JigPlacement>& placements,
                                                     const MachineProfile& profile, bool withProof) {
    if (placements.empty()) return refuse("no_units", "no unit to place on jig " + jig.id);
    std::string text;
    std::vector<ProofMark> marks;
    bool park = false;
    for (const JigPlacement& p : placements) {
        if (!p.artifact || p.slot >= jig.slots.size())
            return refuse("no_units", "slot " + std::to_string(p.slot) + " is not a slot of jig " + jig.id);
        auto origin = jig.partOrigins.find(p.sku);
        if (origin == jig.partOrigins.end())
            return refuse("no_units", "jig " + jig.id + " does not hold SKU " + p.sku);
        if (p.artifact->format != "gcode-grbl" || (p.artifact->capability != "laser" && p.artifact->capability != "cnc"))
            return refuse("not_gcode", "the program of " + p.label + " is " + p.artifact->format + " for " +
                                           p.artifact->capability + "; jigs take GRBL laser and cnc programs");
        const JigSlot& slot = jig.slots[p.slot];
        auto moved = translateGrblProgram(p.artifact->program, slot.x - origin->second.x, slot.y - origin->second.y, &park);
        if (auto* r = std::get_if<JigRefusal>(&moved)) {
            r->message = p.label + ": " + r->message;
            return *r;
        }
        text += std::get<std::string>(moved);
        marks.push_back({{slot.x, slot.y, slot.width, slot.height}, std::to_string(p.slot) + " " + p.label});
    }
    if (park) text += "G0 X0 Y0\n";
    text += gcode::kGrblProgramEnd;
    text += '\n';

    auto parsed = GcodeProgram::parse(text);
    if (auto* e = std::get_if<GcodeParseError>(&parsed))
        return refuse("check_failed", "the jig program does not parse at line " + std::to_string(e->line) + ": " + e->message);
    const GcodeProgram& program = std::get<GcodeProgram>(parsed);
    const auto violations = GcodeChecker(profile).check(program);
    if (!violations.empty())
        return refuse("check_failed", "the jig program breaks " + profile.name + "'s rules: " + violations.front().reason +
                                          " at line " + std::to_string(violations.front().line) + ": " +
                                          violations.front().message);
    JigProgram out;
    out.artifact.capability = placements.front().artifact->capability;
    out.artifact.format = "gcode-grbl";
    out.artifact.sha256 = sha256Hex(text);
    out.artifact.program = std::move(text);
    GcodeEstimator::annotate(out.artifact, program, profile);
    if (withProof)
        out.proofPng = ProofRenderer(profile)
                           .renderProof({&program}, {}, "jig " + jig.id + ": " + std::to_string(placements.size()) + " of " +
                                                            std::to_string(jig.slots.size()) + " slots",
                                        marks)
                           .png;
    return out;
}

std::variant<JigProgram, JigRefusal> buildPlateProgram(const Jig& plate, const std::vector<JigPlacement>& placements,
                                                       PlateSlice slice, const MachineProfile& profile, bool withProof) {
    if (placements.empty()) return refuse("no_units", "no part to place on plate " + plate.id);
    if (slice.parts.size() != placements.size())
        return refuse("slice_failed", "the slicer placed " + std::to_string(slice.parts.size()) + " parts of " +
                                          std::to_string(placements.size()));
    std::vector<ProofMark> marks;
    for (std::size_t i = 0; i < placements.size(); ++i) {
        const JigPlacement& p = placements[i];
        if (!p.artifact || p.artifact->capability != "fdm" || p.artifact->format != "gcode-marlin")
            return refuse("not_gcode", "the program of " + p.label + " is not a Marlin print; plates take fdm prints");
        if (!plate.holds(p.sku)) return refuse("no_units", "plate " + plate.id + " does not take SKU " + p.sku);
        marks.push_back({slice.parts[i], std::to_string(i) + " " + p.label});
    }
    JigProgram out;
    out.artifact = std::move(slice.artifact);
    auto parsed = GcodeProgram::parse(out.artifact.program);
    if (auto* e = std::get_if<GcodeParseError>(&parsed))
        return refuse("check_failed", "the plate program does not parse at line " + std::to_string(e->line) + ": " + e->message);
    const GcodeProgram& program = std::get<GcodeProgram>(parsed);
    const auto violations = GcodeChecker(profile).check(program);
    if (!violations.empty())
        return refuse("check_failed", "the plate program breaks " + profile.name + "'s rules: " + violations.front().reason +
                                          " at line " + std::to_string(violations.front().line) + ": " +
                                          violations.front().message);
    // The slicer models its firmware's planner better than the estimator does (as for single prints).
    const double slicerSeconds = out.artifact.estimatedSeconds;
    GcodeEstimator::annotate(out.artifact, program, profile);
    if (slicerSeconds > 0) out.artifact.estimatedSeconds = slicerSeconds;
    out.placed = std::move(slice.parts);
    if (withProof)
        out.proofPng = ProofRenderer(profile)
                           .renderProof({&program}, {}, "plate " + plate.id + ": " + std::to_string(placements.size()) +
                                                            " parts",
                                        marks)
                           .png;
    return out;
}

} // namespace mto
