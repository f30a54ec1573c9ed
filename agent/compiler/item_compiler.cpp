// SPDX-License-Identifier: Apache-2.0
// Picks an item's generator from the catalog, runs it, and checks, estimates and draws what it produced.
#include "compiler/item_compiler.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
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

// The personalization with the schema's defaults filled in: strings as text, numbers as doubles. Outside the
// anonymous namespace because ItemCompiler::GenerateContext holds one.
struct PersonalizationParams {
    std::map<std::string, std::string> text;
    std::map<std::string, double> number;
};

namespace {

namespace json = boost::json;

// A failure raised inside a generator branch; caught in compile() and returned as a value.
struct CompileRefusal {
    ItemFailure failure;
};

PersonalizationParams readParams(const CatalogEntry& entry, const std::string& personalizationJson, const std::string& itemPath) {
    PersonalizationParams out;
    json::object given;
    if (!personalizationJson.empty()) {
        boost::system::error_code ec;
        json::value v = json::parse(personalizationJson, ec);
        if (ec || !v.is_object())
            throw CompileRefusal{{"compile_failed", itemPath + ".personalization", "personalization is not a JSON object"}};
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

HorizontalAlign alignOf(const PersonalizationParams& p) {
    auto it = p.text.find("align");
    if (it == p.text.end()) return HorizontalAlign::Center;
    if (it->second == "left") return HorizontalAlign::Left;
    if (it->second == "right") return HorizontalAlign::Right;
    return HorizontalAlign::Center;
}

// Laid-out text in machine coordinates, or a Refusal naming the parameter.
LaidOutText layOut(const CatalogEntry& entry, const WorkArea& area, const PersonalizationParams& params, const std::string& itemPath) {
    const std::string param = textParam(entry);
    const std::string path = itemPath + ".personalization." + param;
    auto it = params.text.find(param);
    if (it == params.text.end()) throw CompileRefusal{{TextLayout::kReasonEmptyText, path, "no text to engrave"}};
    TextLayoutOptions options;
    options.areaWidth = area.width;
    options.areaHeight = area.height;
    if (entry.minTextHeight > 0) options.minCapHeight = entry.minTextHeight;
    options.maxCapHeight = entry.maxTextHeight > 0 ? entry.maxTextHeight : std::max(options.maxCapHeight, options.minCapHeight);
    options.align = alignOf(params);
    LayoutResult result = TextLayout(HersheyFont::named(entry.font)).layout(it->second, options);
    if (!result) {
        const LayoutError& e = *result.error;
        throw CompileRefusal{{e.reason, path, e.message + " (character " + std::to_string(e.charIndex) + ")"}};
    }
    LaidOutText text = std::move(*result.text);
    for (Polyline& stroke : text.strokes)
        for (Point2& p : stroke.points) {
            p.x += area.x;
            p.y += area.y;
        }
    return text;
}

const MachineProfile& machineOf(const Catalog& catalog, const Operation& op) {
    const MachineProfile* m = catalog.machine(op.machine);
    if (!m) throw Error("operation " + op.name + " names machine '" + op.machine + "', which the catalog does not define");
    return *m;
}

const MaterialProfile& materialOf(const Catalog& catalog, const Operation& op) {
    const MaterialProfile* m = catalog.material(op.material);
    if (!m) throw Error("operation " + op.name + " names material '" + op.material + "', which the catalog does not define");
    return *m;
}

double numberParam(const PersonalizationParams& p, const std::string& name) {
    auto it = p.number.find(name);
    if (it == p.number.end()) throw Error("the profile cut needs the number parameter '" + name + "'");
    return it->second;
}

// The outline a profile_cut operation cuts, centred on the work area: width_mm x height_mm with
// corner_radius_mm, or a circle of diameter_mm.
ProfileShape cutOutline(const CatalogEntry& entry, const Operation& op, const PersonalizationParams& params) {
    const WorkArea& a = *entry.workArea;
    const Point2 center{a.x + a.width / 2, a.y + a.height / 2};
    if (op.shape == "circle") return ProfileShape::circle(center, numberParam(params, "diameter_mm"));
    auto radius = params.number.find("corner_radius_mm");
    return ProfileShape::roundedRectangle(center, numberParam(params, "width_mm"), numberParam(params, "height_mm"),
                                          radius == params.number.end() ? 0 : radius->second);
}

// Where text goes: the work area, or, when the item is also cut out, inside the cut less its margin
// (clipped to the work area) so the lettering stays on the part. In a circle that is a 3:1 box (room
// for a line of text) inscribed in the circle less the margin.
WorkArea textArea(const CatalogEntry& entry, const PersonalizationParams& params, const std::string& itemPath) {
    WorkArea area = *entry.workArea;
    for (const Operation& op : entry.operations) {
        if (op.generator != "profile_cut") continue;
        const ProfileShape cut = cutOutline(entry, op, params);
        double halfW = cut.width / 2 - op.margin, halfH = cut.height / 2 - op.margin;
        if (op.shape == "circle") {
            // A box of aspect 3:1 (a line of text) inscribed in the circle shrunk by the margin.
            const double r = cut.width / 2 - op.margin;
            halfH = r / std::sqrt(10.0);
            halfW = 3 * halfH;
        }
        const double x0 = std::max(area.x, cut.center.x - halfW), y0 = std::max(area.y, cut.center.y - halfH);
        const double x1 = std::min(area.x + area.width, cut.center.x + halfW);
        const double y1 = std::min(area.y + area.height, cut.center.y + halfH);
        if (x1 - x0 <= 0 || y1 - y0 <= 0)
            throw CompileRefusal{{TextLayout::kReasonTextTooLarge, itemPath + ".personalization",
                           "the part leaves no room for text inside its " + std::to_string(op.margin) + " mm margin"}};
        area = {x0, y0, x1 - x0, y1 - y0};
    }
    return area;
}

} // namespace

struct ItemCompiler::GenerateContext {
    const PersonalizationParams* params;
    std::string itemPath;
};

ItemCompiler::ItemCompiler(const std::filesystem::path& printCacheDir)
    : ItemCompiler(PrintToolOptions{.cacheDir = printCacheDir}) {}

ItemCompiler::ItemCompiler(PrintToolOptions printOptions)
    : print_(std::make_unique<PrintJobCompiler>(std::move(printOptions))) {}

JobArtifact ItemCompiler::generate(const Catalog& catalog, const CatalogEntry& entry, const Operation& op,
                                   const GenerateContext& ctx, double& textHeight) const {
    const MachineProfile& machine = machineOf(catalog, op);
    const std::string& gen = op.generator;
    if (gen == "laser_text" || gen == "vbit_text") {
        const LaidOutText text = layOut(entry, textArea(entry, *ctx.params, ctx.itemPath), *ctx.params, ctx.itemPath);
        textHeight = text.capHeight;
        const MaterialProfile& material = materialOf(catalog, op);
        if (gen == "laser_text") {
            if (!material.laser) throw Error("material '" + material.name + "' has no laser settings");
            return LaserTextGenerator(machine).generate(text.strokes, *material.laser);
        }
        if (!material.vbit) throw Error("material '" + material.name + "' has no V-bit settings");
        return VBitTextGenerator(machine).generate(text.strokes, *material.vbit);
    }
    if (gen == "profile_cut") {
        const MaterialProfile& material = materialOf(catalog, op);
        if (!material.profile) throw Error("material '" + material.name + "' has no profile cut settings");
        ProfileCut cut;
        cut.shape = cutOutline(entry, op, *ctx.params);
        cut.thickness = material.profile->thickness;
        cut.tabs = material.profile->tabs;
        return ProfileCutGenerator(material.profile->tool).generate(cut);
    }
    if (gen == "print_scad") {
        PrintRequest request;
        request.templatePath = entry.templatePath;
        request.profilePath = entry.printerProfile;
        for (const auto& [name, value] : ctx.params->text)
            if (entry.params.at(name).type == ParamSpec::Type::String) request.parameters[name] = value;
        request.expect = entry.expect;
        request.requiredFonts = entry.fonts;
        return print_->compile(request).artifact;
    }
    if (gen == "print_file") return print_->compilePreSliced(entry.gcodePath);
    throw Error("SKU " + entry.sku + " has generator '" + gen + "', which this agent cannot run");
}

std::variant<CompiledItem, ItemFailure> ItemCompiler::compile(const Catalog& catalog, const std::string& sku,
                                                              const std::string& personalizationJson,
                                                              std::size_t itemIndex) const {
    const std::string itemPath = "items[" + std::to_string(itemIndex) + "]";
    const std::string skuPath = itemPath + ".sku";
    const CatalogEntry* entry = catalog.find(sku);
    if (!entry) return ItemFailure{"unknown_sku", skuPath, "this factory's catalog has no SKU " + sku};
    try {
        if (entry->operations.empty())
            return ItemFailure{"compile_failed", skuPath, "SKU " + sku + " has no generator: its jobs are not made here yet"};
        const PersonalizationParams params = readParams(*entry, personalizationJson, itemPath);
        const GenerateContext ctx{&params, itemPath};
        CompiledItem item;
        std::vector<GcodeProgram> programs;
        programs.reserve(entry->operations.size());
        for (const Operation& op : entry->operations) {
            const MachineProfile& machine = machineOf(catalog, op);
            CompiledOperation compiled;
            compiled.operation = op.name;
            compiled.machine = op.machine;
            compiled.artifact = generate(catalog, *entry, op, ctx, compiled.textHeight);
            const std::string where = entry->operations.size() > 1 ? "operation " + op.name + ": " : "";

            auto parsed = GcodeProgram::parse(compiled.artifact.program);
            if (const auto* error = std::get_if<GcodeParseError>(&parsed))
                return ItemFailure{"compile_failed", skuPath,
                                   where + "the generated program does not parse at line " + std::to_string(error->line) +
                                       ": " + error->message};
            const std::vector<Violation> violations = GcodeChecker(machine).check(std::get<GcodeProgram>(parsed));
            if (!violations.empty()) {
                const Violation& v = violations.front();
                std::string message = where + "machine " + machine.name + ": " + v.message;
                if (v.line > 0) message += " (line " + std::to_string(v.line) + ")";
                if (violations.size() > 1) message += "; " + std::to_string(violations.size() - 1) + " more";
                return ItemFailure{v.reason, skuPath, message};
            }
            // The slicer models its firmware's planner better than our estimator does: keep its figure.
            const double slicerSeconds = compiled.artifact.capability == "fdm" ? compiled.artifact.estimatedSeconds : 0;
            GcodeEstimator::annotate(compiled.artifact, std::get<GcodeProgram>(parsed), machine);
            if (slicerSeconds > 0) compiled.artifact.estimatedSeconds = slicerSeconds;
            programs.push_back(std::move(std::get<GcodeProgram>(parsed)));
            item.operations.push_back(std::move(compiled));
        }
        // One proof per machine: the operations that run on it drawn over each other, in route order.
        for (std::size_t i = 0; i < item.operations.size(); ++i) {
            if (!item.operations[i].proofPng.empty()) continue;
            std::vector<const GcodeProgram*> layers;
            std::vector<std::size_t> members;
            for (std::size_t j = i; j < item.operations.size(); ++j)
                if (item.operations[j].machine == item.operations[i].machine) {
                    layers.push_back(&programs[j]);
                    members.push_back(j);
                }
            std::string title = sku;
            if (item.operations.size() > 1)
                for (std::size_t j : members) title += (j == members.front() ? "  " : " + ") + item.operations[j].operation;
            const Proof proof = ProofRenderer(machineOf(catalog, entry->operations[i]))
                                    .renderProof(layers, entry->workArea.value_or(WorkArea{}), title);
            if (!proof.complete)
                spdlog::warn("{} item {}: the proof shows {} of {} moves (drawing time limit); the job itself is complete",
                             sku, itemIndex, proof.movesDrawn, proof.moves);
            for (std::size_t j : members) item.operations[j].proofPng = proof.png;
        }
        return item;
    } catch (const CompileRefusal& r) {
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
