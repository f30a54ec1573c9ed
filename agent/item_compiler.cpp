// SPDX-License-Identifier: Apache-2.0
// Picks an item's generator from the catalog, runs it, and checks, estimates and draws what it produced.
#include "item_compiler.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <exception>
#include <map>
#include <optional>
#include <utility>

#include "compiler/gcode_checker.hpp"
#include "compiler/gcode_estimator.hpp"
#include "compiler/gcode_program.hpp"
#include "compiler/hershey_font.hpp"
#include "compiler/laser_text_generator.hpp"
#include "compiler/profile_cut_generator.hpp"
#include "compiler/proof_renderer.hpp"
#include "compiler/text_layout.hpp"
#include "compiler/vbit_text_generator.hpp"
#include "mto/error.hpp"

namespace mto {

namespace {

namespace json = boost::json;

// The personalization with the schema's defaults filled in: strings as text, numbers as doubles.
struct Params {
    std::map<std::string, std::string> text;
    std::map<std::string, double> number;
};

// What a generator produced before the common checks, plus what the failure paths need.
struct Generated {
    JobArtifact artifact;
    double textHeight = 0;
};

// A failure raised inside a generator branch; caught in compile() and returned as a value.
struct Refusal {
    ItemFailure failure;
};

Params readParams(const CatalogEntry& entry, const std::string& personalizationJson, const std::string& itemPath) {
    Params out;
    json::object given;
    if (!personalizationJson.empty()) {
        boost::system::error_code ec;
        json::value v = json::parse(personalizationJson, ec);
        if (ec || !v.is_object())
            throw Refusal{{"compile_failed", itemPath + ".personalization", "personalization is not a JSON object"}};
        given = std::move(v.as_object());
    }
    for (const auto& [name, spec] : entry.params) {
        const json::value* v = given.if_contains(name);
        if (v && v->is_string()) {
            out.text[name] = std::string(v->as_string());
        } else if (v && v->is_number()) {
            out.number[name] = v->to_number<double>();
        } else if (v && v->is_bool()) {
            out.text[name] = v->as_bool() ? "true" : "false";
        } else if (spec.defaultValue) {
            if (spec.type == ParamSpec::Type::Integer || spec.type == ParamSpec::Type::Number)
                out.number[name] = std::stod(*spec.defaultValue);
            else
                out.text[name] = *spec.defaultValue;
        }
    }
    return out;
}

// The parameter a text generator engraves: "text", else "name".
std::string textParam(const CatalogEntry& entry) {
    for (const char* name : {"text", "name"})
        if (entry.params.count(name)) return name;
    throw Error("SKU " + entry.sku + " has a text generator but no 'text' or 'name' parameter in its schema");
}

HorizontalAlign alignOf(const Params& p) {
    auto it = p.text.find("align");
    if (it == p.text.end()) return HorizontalAlign::Center;
    if (it->second == "left") return HorizontalAlign::Left;
    if (it->second == "right") return HorizontalAlign::Right;
    return HorizontalAlign::Center;
}

// Laid-out text in machine coordinates, or a Refusal naming the parameter.
LaidOutText layOut(const CatalogEntry& entry, const Params& params, const std::string& itemPath) {
    const std::string param = textParam(entry);
    const std::string path = itemPath + ".personalization." + param;
    auto it = params.text.find(param);
    if (it == params.text.end()) throw Refusal{{TextLayout::kReasonEmptyText, path, "no text to engrave"}};
    TextLayoutOptions options;
    options.areaWidth = entry.workArea->width;
    options.areaHeight = entry.workArea->height;
    if (entry.minTextHeight > 0) options.minCapHeight = entry.minTextHeight;
    options.maxCapHeight = entry.maxTextHeight > 0 ? entry.maxTextHeight : std::max(options.maxCapHeight, options.minCapHeight);
    options.align = alignOf(params);
    LayoutResult result = TextLayout(HersheyFont::named(entry.font)).layout(it->second, options);
    if (!result) {
        const LayoutError& e = *result.error;
        throw Refusal{{e.reason, path, e.message + " (character " + std::to_string(e.charIndex) + ")"}};
    }
    LaidOutText text = std::move(*result.text);
    for (Polyline& stroke : text.strokes)
        for (Point2& p : stroke.points) {
            p.x += entry.workArea->x;
            p.y += entry.workArea->y;
        }
    return text;
}

const MachineProfile& machineOf(const Catalog& catalog, const CatalogEntry& entry) {
    const MachineProfile* m = catalog.machine(entry.machine);
    if (!m) throw Error("SKU " + entry.sku + " names machine '" + entry.machine + "', which the catalog does not define");
    return *m;
}

const MaterialProfile& materialOf(const Catalog& catalog, const CatalogEntry& entry) {
    const MaterialProfile* m = catalog.material(entry.material);
    if (!m) throw Error("SKU " + entry.sku + " names material '" + entry.material + "', which the catalog does not define");
    return *m;
}

double numberParam(const Params& p, const std::string& name) {
    auto it = p.number.find(name);
    if (it == p.number.end()) throw Error("the profile cut needs the number parameter '" + name + "'");
    return it->second;
}

} // namespace

ItemCompiler::ItemCompiler(const std::filesystem::path& printCacheDir)
    : ItemCompiler(PrintToolOptions{.cacheDir = printCacheDir}) {}

ItemCompiler::ItemCompiler(PrintToolOptions printOptions)
    : print_(std::make_unique<PrintJobCompiler>(std::move(printOptions))) {}

std::variant<CompiledItem, ItemFailure> ItemCompiler::compile(const Catalog& catalog, const std::string& sku,
                                                              const std::string& personalizationJson,
                                                              std::size_t itemIndex) const {
    const std::string itemPath = "items[" + std::to_string(itemIndex) + "]";
    const std::string skuPath = itemPath + ".sku";
    const CatalogEntry* entry = catalog.find(sku);
    if (!entry) return ItemFailure{"unknown_sku", skuPath, "this factory's catalog has no SKU " + sku};
    try {
        if (entry->generator.empty())
            return ItemFailure{"compile_failed", skuPath, "SKU " + sku + " has no generator: its jobs are not made here yet"};
        const Params params = readParams(*entry, personalizationJson, itemPath);
        const MachineProfile& machine = machineOf(catalog, *entry);
        Generated out;
        const std::string& gen = entry->generator;
        if (gen == "laser_text" || gen == "vbit_text") {
            if (!entry->workArea) throw Error("SKU " + sku + " has no work_area for its text");
            const LaidOutText text = layOut(*entry, params, itemPath);
            out.textHeight = text.capHeight;
            const MaterialProfile& material = materialOf(catalog, *entry);
            if (gen == "laser_text") {
                if (!material.laser) throw Error("material '" + material.name + "' has no laser settings");
                out.artifact = LaserTextGenerator(machine).generate(text.strokes, *material.laser);
            } else {
                // Only the lettering: cutting the sign out (width_mm x height_mm) is a separate profile_cut
                // job on the route, so a failed cut-out does not waste the engraving's program.
                if (!material.vbit) throw Error("material '" + material.name + "' has no V-bit settings");
                out.artifact = VBitTextGenerator(machine).generate(text.strokes, *material.vbit);
            }
        } else if (gen == "profile_cut") {
            const MaterialProfile& material = materialOf(catalog, *entry);
            if (!material.profile) throw Error("material '" + material.name + "' has no profile cut settings");
            const double width = numberParam(params, "width_mm");
            const double height = numberParam(params, "height_mm");
            auto radius = params.number.find("corner_radius_mm");
            Point2 center{10 + width / 2, 10 + height / 2};
            if (entry->workArea)
                center = {entry->workArea->x + entry->workArea->width / 2, entry->workArea->y + entry->workArea->height / 2};
            ProfileCut cut;
            cut.shape = ProfileShape::roundedRectangle(center, width, height,
                                                       radius == params.number.end() ? 0 : radius->second);
            cut.thickness = material.profile->thickness;
            cut.tabs = material.profile->tabs;
            out.artifact = ProfileCutGenerator(material.profile->tool).generate(cut);
        } else if (gen == "print_scad") {
            PrintRequest request;
            request.templatePath = entry->templatePath;
            request.profilePath = entry->printerProfile;
            for (const auto& [name, value] : params.text)
                if (entry->params.at(name).type == ParamSpec::Type::String) request.parameters[name] = value;
            request.expect = entry->expect;
            request.requiredFonts = entry->fonts;
            out.artifact = print_->compile(request).artifact;
        } else if (gen == "print_file") {
            out.artifact = print_->compilePreSliced(entry->gcodePath);
        } else {
            throw Error("SKU " + sku + " has generator '" + gen + "', which this agent cannot run");
        }

        auto parsed = GcodeProgram::parse(out.artifact.program);
        if (const auto* error = std::get_if<GcodeParseError>(&parsed))
            return ItemFailure{"compile_failed", skuPath,
                               "the generated program does not parse at line " + std::to_string(error->line) + ": " +
                                   error->message};
        const GcodeProgram& program = std::get<GcodeProgram>(parsed);
        const std::vector<Violation> violations = GcodeChecker(machine).check(program);
        if (!violations.empty()) {
            const Violation& v = violations.front();
            std::string message = "machine " + machine.name + ": " + v.message;
            if (v.line > 0) message += " (line " + std::to_string(v.line) + ")";
            if (violations.size() > 1) message += "; " + std::to_string(violations.size() - 1) + " more";
            return ItemFailure{v.reason, skuPath, message};
        }
        // The slicer models its firmware's planner better than our estimator does: keep its figure.
        const double slicerSeconds = out.artifact.capability == "fdm" ? out.artifact.estimatedSeconds : 0;
        GcodeEstimator::annotate(out.artifact, machine);
        if (slicerSeconds > 0) out.artifact.estimatedSeconds = slicerSeconds;

        CompiledItem item;
        item.proofPng = ProofRenderer(machine).render(program, entry->workArea.value_or(WorkArea{}), sku);
        item.artifact = std::move(out.artifact);
        item.textHeight = out.textHeight;
        return item;
    } catch (const Refusal& r) {
        return r.failure;
    } catch (const Error& e) {
        return ItemFailure{"compile_failed", skuPath, e.what()};
    } catch (const std::exception& e) {
        // Bad input must not take the agent down: a library's own exception (bad_alloc, JSON, stod) is
        // reported like a tool failure.
        return ItemFailure{"compile_failed", skuPath, std::string("unexpected error: ") + e.what()};
    }
}

} // namespace mto
