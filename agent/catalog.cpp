// SPDX-License-Identifier: Apache-2.0
// Loads config/catalog.toml: machines, materials and one [sku.<SKU>] table per product with its route and parameter schema.
#include "catalog.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <toml++/toml.h>

#include "mto/error.hpp"

namespace mto {

namespace {

class EntryReader {
public:
    EntryReader(const std::string& file, const std::string& prefix, const toml::table& t)
        : file_(file), prefix_(prefix), t_(t) {}

    [[noreturn]] void fail(const std::string& key, const std::string& what) const {
        throw Error(file_ + ": key '" + prefix_ + (key.empty() ? "" : "." + key) + "': " + what);
    }

    std::string string(const std::string& key, bool required) const {
        const toml::node* n = t_.get(key);
        if (!n) {
            if (required) fail(key, "missing (required)");
            return {};
        }
        if (!n->is_string()) fail(key, "must be a string");
        return *n->value<std::string>();
    }

    std::optional<double> number(const std::string& key) const {
        const toml::node* n = t_.get(key);
        if (!n) return std::nullopt;
        if (!n->is_number()) fail(key, "must be a number");
        return *n->value<double>();
    }

    // A number above 0 (or at least 0 when zeroAllowed); missing → nullopt unless required.
    std::optional<double> positive(const std::string& key, bool required, bool zeroAllowed = false) const {
        std::optional<double> v = number(key);
        if (!v) {
            if (required) fail(key, "missing (required)");
            return v;
        }
        if (!std::isfinite(*v) || *v < 0 || (!zeroAllowed && *v == 0))
            fail(key, zeroAllowed ? "must be 0 or more" : "must be greater than 0");
        return v;
    }

    int count(const std::string& key, int fallback, int min, int max) const {
        const toml::node* n = t_.get(key);
        if (!n) return fallback;
        if (!n->is_integer()) fail(key, "must be a whole number");
        std::int64_t v = *n->value<std::int64_t>();
        if (v < min || v > max) fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
        return static_cast<int>(v);
    }

    bool has(const std::string& key) const { return t_.get(key) != nullptr; }

    std::vector<std::string> strings(const std::string& key) const {
        std::vector<std::string> out;
        const toml::node* n = t_.get(key);
        if (!n) return out;
        const toml::array* arr = n->as_array();
        if (!arr) fail(key, "must be an array of strings");
        for (const auto& v : *arr) {
            if (!v.is_string()) fail(key, "must be an array of strings");
            out.push_back(*v.value<std::string>());
        }
        return out;
    }

    void onlyKnown(const std::set<std::string>& known) const {
        for (const auto& [k, v] : t_)
            if (!known.count(std::string(k.str()))) fail(std::string(k.str()), "unknown key");
    }

private:
    std::string file_, prefix_;
    const toml::table& t_;
};

ParamSpec readParam(const std::string& file, const std::string& prefix, const std::string& name,
                    const toml::table& t) {
    EntryReader r(file, prefix, t);
    r.onlyKnown({"type", "required", "min", "max", "max_length", "charset", "values", "default"});
    ParamSpec p;
    p.name = name;
    std::string type = r.string("type", true);
    if (type == "string")
        p.type = ParamSpec::Type::String;
    else if (type == "integer")
        p.type = ParamSpec::Type::Integer;
    else if (type == "number")
        p.type = ParamSpec::Type::Number;
    else if (type == "boolean")
        p.type = ParamSpec::Type::Boolean;
    else if (type == "enum")
        p.type = ParamSpec::Type::Enum;
    else
        r.fail("type", "must be one of string, integer, number, boolean, enum");
    if (const toml::node* req = t.get("required")) {
        if (!req->is_boolean()) r.fail("required", "must be true or false");
        p.required = *req->value<bool>();
    }
    p.min = r.number("min");
    p.max = r.number("max");
    if (p.min && p.max && *p.min > *p.max) r.fail("min", "is greater than max");
    if (auto len = r.number("max_length")) {
        if (*len < 1 || *len > 1024) r.fail("max_length", "must be between 1 and 1024");
        p.maxLength = static_cast<std::size_t>(*len);
    }
    if (t.get("charset")) {
        p.charset = r.string("charset", true);
        static const std::set<std::string> charsets{"any", "ascii_printable", "latin", "digits"};
        if (!charsets.count(p.charset)) r.fail("charset", "must be one of any, ascii_printable, latin, digits");
    }
    p.values = r.strings("values");
    if (p.type == ParamSpec::Type::Enum && p.values.empty()) r.fail("values", "an enum needs its list of values");
    if (const toml::node* d = t.get("default")) {
        if (p.required) r.fail("default", "a required parameter has no default");
        if (d->is_string())
            p.defaultValue = *d->value<std::string>();
        else if (d->is_integer())
            p.defaultValue = std::to_string(*d->value<std::int64_t>());
        else if (d->is_floating_point())
            p.defaultValue = std::to_string(*d->value<double>());
        else if (d->is_boolean())
            p.defaultValue = *d->value<bool>() ? "true" : "false";
        else
            r.fail("default", "must be a string, number or boolean");
        if (p.type == ParamSpec::Type::Enum &&
            std::find(p.values.begin(), p.values.end(), *p.defaultValue) == p.values.end())
            r.fail("default", "is not one of the values");
    }
    return p;
}

MachineProfile readMachine(const std::string& file, const std::string& name, const toml::table& t) {
    EntryReader r(file, "machine." + name, t);
    r.onlyKnown({"capability", "size_x", "size_y", "min_z", "max_z", "max_feed", "acceleration", "max_power", "allowed",
                 "materials"});
    MachineProfile m;
    m.name = name;
    m.capability = r.string("capability", true);
    if (m.capability != "laser" && m.capability != "cnc" && m.capability != "fdm")
        r.fail("capability", "must be one of laser, cnc, fdm");
    m.sizeX = *r.positive("size_x", true);
    m.sizeY = *r.positive("size_y", true);
    m.minZ = r.number("min_z").value_or(0);
    m.maxZ = r.number("max_z").value_or(0);
    if (m.minZ > m.maxZ) r.fail("min_z", "is greater than max_z");
    m.maxFeed = *r.positive("max_feed", true);
    m.acceleration = *r.positive("acceleration", true);
    m.maxPower = r.positive("max_power", false).value_or(1000);
    std::vector<std::string> words = r.strings("allowed");
    if (words.empty()) r.fail("allowed", "list the G-code words this machine accepts, e.g. [\"G0\", \"G1\", \"F\"]");
    m.allowedWords.insert(words.begin(), words.end());
    return m;
}

MaterialProfile readMaterial(const std::string& file, const std::string& name, const toml::table& t) {
    EntryReader r(file, "material." + name, t);
    r.onlyKnown({"power", "passes", "feed", "vbit_angle", "depth", "step_down", "safe_z", "plunge_feed", "rpm",
                 "spin_up", "tool_diameter", "thickness", "tabs", "tab_width", "tab_height"});
    MaterialProfile m;
    m.name = name;
    if (r.has("power")) {
        LaserMaterial laser;
        laser.name = name;
        laser.power = *r.positive("power", true);
        laser.feed = *r.positive("feed", true);
        laser.passes = r.count("passes", 1, 1, 100);
        m.laser = laser;
    }
    if (r.has("vbit_angle")) {
        VBitTool v;
        v.angleDeg = *r.positive("vbit_angle", true);
        if (v.angleDeg >= 180) r.fail("vbit_angle", "must be below 180 degrees");
        v.depth = *r.positive("depth", true);
        v.stepDown = *r.positive("step_down", true);
        v.safeZ = *r.positive("safe_z", true);
        v.plungeFeed = *r.positive("plunge_feed", true);
        v.feed = *r.positive("feed", true);
        v.rpm = *r.positive("rpm", true);
        v.spinUpSeconds = r.positive("spin_up", false, true).value_or(v.spinUpSeconds);
        m.vbit = v;
    }
    if (r.has("tool_diameter")) {
        ProfileMaterial p;
        p.tool.diameter = *r.positive("tool_diameter", true);
        p.tool.stepDown = *r.positive("step_down", true);
        p.tool.safeZ = *r.positive("safe_z", true);
        p.tool.plungeFeed = *r.positive("plunge_feed", true);
        p.tool.feed = *r.positive("feed", true);
        p.tool.rpm = *r.positive("rpm", true);
        p.tool.spinUpSeconds = r.positive("spin_up", false, true).value_or(p.tool.spinUpSeconds);
        p.thickness = *r.positive("thickness", true);
        p.tabs.count = r.count("tabs", 0, 0, 64);
        p.tabs.width = r.positive("tab_width", p.tabs.count > 0, true).value_or(0);
        p.tabs.height = r.positive("tab_height", p.tabs.count > 0, true).value_or(0);
        if (p.tabs.height >= p.thickness) r.fail("tab_height", "must be below the thickness");
        m.profile = p;
    }
    return m;
}

// [a, b] → Range{a, b}.
Range readRange(const EntryReader& r, const toml::table& t, const std::string& key) {
    const toml::node* n = t.get(key);
    if (!n) return {};
    const toml::array* a = n->as_array();
    if (!a || a->size() != 2 || !(*a)[0].is_number() || !(*a)[1].is_number()) r.fail(key, "must be [min, max] in mm");
    Range range{*(*a)[0].value<double>(), *(*a)[1].value<double>()};
    if (range.min > range.max) r.fail(key, "min is greater than max");
    return range;
}

// Checks one operation against the machines and materials of this file, so a typo is refused at load
// rather than when the first order arrives. `r` reads the table the operation came from.
void checkOperation(const EntryReader& r, const Catalog& catalog, const Operation& op, const CatalogEntry& e) {
    const bool textGenerator = op.generator == "laser_text" || op.generator == "vbit_text";
    if (textGenerator && (e.font.empty() || !e.workArea)) r.fail("generator", "text generators need font and work_area");
    if (op.generator == "profile_cut" && !e.workArea) r.fail("generator", "profile_cut needs work_area (the cut is centred on it)");
    if (op.generator == "print_scad" && (e.templatePath.empty() || e.printerProfile.empty()))
        r.fail("generator", "print_scad needs template and printer_profile");
    if (op.generator == "print_file" && e.gcodePath.empty()) r.fail("generator", "print_file needs gcode");
    // The files a generator reads are part of the catalog: a missing one is a catalog error, not an order's.
    auto mustExist = [&](const char* key, const std::string& file) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(file, ec)) r.fail(key, "file " + file + " does not exist or is not a file");
    };
    if (op.generator == "print_scad") {
        mustExist("template", e.templatePath);
        mustExist("printer_profile", e.printerProfile);
    }
    if (op.generator == "print_file") mustExist("gcode", e.gcodePath);
    if (op.machine.empty()) r.fail("machine", "missing (required with a generator)");
    const MachineProfile* m = catalog.machine(op.machine);
    if (!m) r.fail("machine", "no [machine." + op.machine + "] table in this file");
    if (m->capability != op.capability)
        r.fail("machine", "machine '" + op.machine + "' is " + m->capability + ", the operation needs " + op.capability);
    if (e.workArea && (e.workArea->x < 0 || e.workArea->y < 0 || e.workArea->x + e.workArea->width > m->sizeX ||
                       e.workArea->y + e.workArea->height > m->sizeY))
        r.fail("work_area", "does not fit machine '" + op.machine + "' (" + std::to_string(m->sizeX) + " x " +
                                std::to_string(m->sizeY) + " mm)");
    // The outline's size comes from the item: the SKU must ask for it.
    if (op.generator == "profile_cut") {
        const std::vector<std::string> needed = op.shape == "circle" ? std::vector<std::string>{"diameter_mm"}
                                                                     : std::vector<std::string>{"width_mm", "height_mm"};
        for (const std::string& param : needed) {
            auto it = e.params.find(param);
            if (it == e.params.end() ||
                (it->second.type != ParamSpec::Type::Number && it->second.type != ParamSpec::Type::Integer) ||
                (!it->second.required && !it->second.defaultValue))
                r.fail("generator", "a " + op.shape + " profile cut needs the number parameter " + param +
                                        " (required or with a default) in [sku." + e.sku + ".params." + param + "]");
        }
    }
    const bool needsMaterial = textGenerator || op.generator == "profile_cut";
    if (needsMaterial && op.material.empty()) r.fail("material", "missing (required with generator " + op.generator + ")");
    if (op.material.empty()) return;
    const MaterialProfile* mat = catalog.material(op.material);
    if (!mat) r.fail("material", "no [material." + op.material + "] table in this file");
    const auto& allowed = catalog.materialsAllowedOn(op.machine);
    if (!allowed.empty() && !allowed.count(op.material))
        r.fail("material", "material '" + op.material + "' is not in the materials of machine '" + op.machine + "'");
    if (op.generator == "laser_text" && !mat->laser)
        r.fail("material", "material '" + op.material + "' has no laser settings (power, feed)");
    if (op.generator == "vbit_text" && !mat->vbit)
        r.fail("material", "material '" + op.material + "' has no V-bit settings (vbit_angle, depth, ...)");
    if (op.generator == "profile_cut" && !mat->profile)
        r.fail("material", "material '" + op.material + "' has no profile settings (tool_diameter, thickness, ...)");
}

const std::set<std::string>& knownGenerators() {
    static const std::set<std::string> generators{"laser_text", "vbit_text", "profile_cut", "print_scad", "print_file"};
    return generators;
}

} // namespace

Catalog Catalog::load(const std::filesystem::path& path) {
    toml::table root;
    try {
        root = toml::parse_file(path.string());
    } catch (const toml::parse_error& e) {
        throw Error(path.string() + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
    }
    const std::string file = path.string();
    Catalog catalog;
    for (const char* kind : {"machine", "material"}) {
        const toml::node* section = root.get(kind);
        if (!section) continue;
        const toml::table* tables = section->as_table();
        if (!tables) throw Error(file + ": key '" + kind + "': must hold one [" + kind + ".<name>] table each");
        for (const auto& [key, node] : *tables) {
            const std::string name(key.str());
            const toml::table* t = node.as_table();
            if (!t) throw Error(file + ": key '" + kind + "." + name + "': must be a table");
            if (std::string(kind) == "machine") {
                catalog.addMachine(readMachine(file, name, *t));
                std::vector<std::string> materials = EntryReader(file, "machine." + name, *t).strings("materials");
                catalog.allowMaterials(name, {materials.begin(), materials.end()});
            }
            else
                catalog.addMaterial(readMaterial(file, name, *t));
        }
    }
    const toml::table* skus = root["sku"].as_table();
    if (!skus) throw Error(file + ": key 'sku': missing; add one [sku.<SKU>] table per product");
    for (const auto& [key, node] : *skus) {
        std::string sku(key.str());
        const std::string prefix = "sku." + sku;
        const toml::table* t = node.as_table();
        if (!t) throw Error(file + ": key '" + prefix + "': must be a table");
        if (sku.empty() || sku.size() > 64) throw Error(file + ": key '" + prefix + "': SKU must be 1..64 characters");
        EntryReader r(file, prefix, *t);
        CatalogEntry e;
        e.sku = sku;
        e.name = r.string("name", true);
        if (e.name.empty()) r.fail("name", "must not be empty");
        r.onlyKnown({"name", "generator", "capability", "route", "material", "machine", "work_area", "font",
                     "min_text_height", "max_text_height", "template", "gcode", "printer_profile", "expect", "fonts", "params", "operations"});
        e.generator = r.string("generator", false);
        if (!e.generator.empty() && !knownGenerators().count(e.generator))
            r.fail("generator", "must be one of laser_text, vbit_text, profile_cut, print_scad, print_file");
        e.capability = r.string("capability", !e.generator.empty());
        static const std::set<std::string> capabilities{"", "laser", "cnc", "fdm"};
        if (!capabilities.count(e.capability)) r.fail("capability", "must be one of laser, cnc, fdm");
        e.route = r.strings("route");
        e.material = r.string("material", false);
        e.machine = r.string("machine", false);
        if (const toml::node* wa = t->get("work_area")) {
            const toml::table* w = wa->as_table();
            if (!w) r.fail("work_area", "must be a table {x, y, width, height}");
            EntryReader wr(file, prefix + ".work_area", *w);
            wr.onlyKnown({"x", "y", "width", "height"});
            WorkArea area;
            area.x = wr.number("x").value_or(0);
            area.y = wr.number("y").value_or(0);
            area.width = wr.number("width").value_or(0);
            area.height = wr.number("height").value_or(0);
            if (area.width <= 0 || area.height <= 0) wr.fail("", "width and height must be greater than 0");
            e.workArea = area;
        }
        e.font = r.string("font", false);
        e.minTextHeight = r.number("min_text_height").value_or(0);
        e.maxTextHeight = r.number("max_text_height").value_or(0);
        if (e.maxTextHeight && e.minTextHeight > e.maxTextHeight)
            r.fail("min_text_height", "is greater than max_text_height");
        auto relative = [&](const std::string& p) {
            if (p.empty() || std::filesystem::path(p).is_absolute()) return p;
            return (path.parent_path() / p).lexically_normal().string();
        };
        e.templatePath = relative(r.string("template", false));
        e.gcodePath = relative(r.string("gcode", false));
        e.printerProfile = relative(r.string("printer_profile", false));
        if (const toml::node* ex = t->get("expect")) {
            const toml::table* et = ex->as_table();
            if (!et) r.fail("expect", "must be a table {width, depth, height, min_shells, contour_z, min_contours}");
            EntryReader er(file, prefix + ".expect", *et);
            er.onlyKnown({"width", "depth", "height", "min_shells", "contour_z", "min_contours"});
            e.expect.width = readRange(er, *et, "width");
            e.expect.depth = readRange(er, *et, "depth");
            e.expect.height = readRange(er, *et, "height");
            e.expect.minShells = static_cast<std::size_t>(er.count("min_shells", 1, 0, 1000));
            e.expect.contourZ = er.number("contour_z").value_or(0);
            e.expect.minContours = static_cast<std::size_t>(er.count("min_contours", 0, 0, 100000));
        }
        e.fonts = r.strings("fonts");
        if (const toml::node* params = t->get("params")) {
            const toml::table* pt = params->as_table();
            if (!pt) r.fail("params", "must be a table of parameter tables");
            for (const auto& [pname, pnode] : *pt) {
                std::string name(pname.str());
                const toml::table* spec = pnode.as_table();
                if (!spec) r.fail("params." + name, "must be a table");
                e.params[name] = readParam(file, prefix + ".params." + name, name, *spec);
            }
        }
        if (!e.generator.empty()) {
            Operation first{e.route.empty() ? e.generator : e.route.front(), e.generator, e.capability, e.machine, e.material};
            checkOperation(r, catalog, first, e);
            e.operations.push_back(first);
        }
        if (const toml::node* ops = t->get("operations")) {
            const toml::table* ot = ops->as_table();
            if (!ot) r.fail("operations", "must hold one [" + prefix + ".operations.<route step>] table each");
            if (e.generator.empty()) r.fail("operations", "further operations need the SKU's own generator for the first one");
            for (const auto& [okey, onode] : *ot) {
                const std::string name(okey.str());
                const toml::table* o = onode.as_table();
                if (!o) r.fail("operations." + name, "must be a table");
                EntryReader orr(file, prefix + ".operations." + name, *o);
                orr.onlyKnown({"generator", "machine", "material", "margin", "shape"});
                auto step = std::find(e.route.begin(), e.route.end(), name);
                if (step == e.route.end()) orr.fail("", "is not a step of the route");
                if (step == e.route.begin()) orr.fail("", "is the first step: its job comes from the SKU's own generator");
                Operation op;
                op.name = name;
                op.generator = orr.string("generator", true);
                if (!knownGenerators().count(op.generator))
                    orr.fail("generator", "must be one of laser_text, vbit_text, profile_cut, print_scad, print_file");
                op.machine = o->get("machine") ? orr.string("machine", true) : e.machine;
                op.material = o->get("material") ? orr.string("material", true) : e.material;
                const MachineProfile* m = catalog.machine(op.machine);
                if (!m) orr.fail("machine", "no [machine." + op.machine + "] table in this file");
                op.capability = m->capability;
                op.margin = orr.positive("margin", false, true).value_or(0);
                if (o->get("shape")) {
                    op.shape = orr.string("shape", true);
                    if (op.generator != "profile_cut") orr.fail("shape", "only a profile_cut has a shape");
                    if (op.shape != "rounded_rectangle" && op.shape != "circle")
                        orr.fail("shape", "must be rounded_rectangle or circle");
                }

                checkOperation(orr, catalog, op, e);
                e.operations.push_back(op);
            }
            // Route order, whatever order the tables were written in.
            auto position = [&](const Operation& op) { return std::find(e.route.begin(), e.route.end(), op.name) - e.route.begin(); };
            std::stable_sort(e.operations.begin(), e.operations.end(),
                             [&](const Operation& a, const Operation& b) { return position(a) < position(b); });
        }
        catalog.add(std::move(e));
    }
    if (catalog.size() == 0) throw Error(file + ": key 'sku': the catalog lists no products");
    return catalog;
}

} // namespace mto
