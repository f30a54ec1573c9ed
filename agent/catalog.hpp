// SPDX-License-Identifier: Apache-2.0
// The product catalog: which SKUs this factory makes, how, and what personalization each accepts (config/catalog.toml).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "compiler/laser_text_generator.hpp"
#include "compiler/print_job_compiler.hpp"
#include "compiler/profile_cut_generator.hpp"
#include "compiler/proof_renderer.hpp"
#include "compiler/vbit_text_generator.hpp"
#include "mto/job.hpp"

namespace mto {

// One personalization parameter of a SKU and the values it accepts.
struct ParamSpec {
    enum class Type { String, Integer, Number, Boolean, Enum };
    std::string name;
    Type type = Type::String;
    bool required = false;
    std::optional<double> min;             // Integer / Number
    std::optional<double> max;
    std::size_t maxLength = 0;             // String: code points, 0 = no limit beyond the intake's
    std::string charset = "any";           // String: any | ascii_printable | latin | digits
    std::vector<std::string> values;       // Enum
    std::optional<std::string> defaultValue;   // as text; applied by the compiler
};

// WorkArea (a rectangle on the machine bed, mm, origin front-left) comes from compiler/proof_renderer.hpp:
// one definition, so the catalog's area can be drawn on a proof and both headers can meet in one file.

// A profile cut's tool and stock, from a [material.<name>] table.
struct ProfileMaterial {
    CncTool tool{};
    double thickness = 0;   // mm, of the stock
    Tabs tabs{};
};

// How one material is worked on each kind of machine; a group is set when its keys are present.
struct MaterialProfile {
    std::string name{};
    std::optional<LaserMaterial> laser{};       // power, feed, passes
    std::optional<VBitTool> vbit{};             // vbit_angle, depth, step_down, safe_z, plunge_feed, feed, rpm
    std::optional<ProfileMaterial> profile{};   // tool_diameter, thickness, tabs, ... (shares the CNC feeds)
};

// One machine operation of a SKU's route: which generator makes its job, on which machine, from which stock.
// The SKU's own generator/capability/machine/material keys describe the first operation; further ones come
// from [sku.<SKU>.operations.<step>] tables (e.g. the sign's cnc_profile cut-out after its cnc_engrave).
struct Operation {
    std::string name{};          // the route step, e.g. cnc_engrave
    std::string generator{};     // laser_text | vbit_text | profile_cut | print_scad | print_file
    std::string capability{};    // laser | cnc | fdm
    std::string machine{};
    std::string material{};
    double margin = 0;           // profile_cut: text of the item's other operations stays this far inside the cut, mm
    // profile_cut: the outline, from the item's parameters: rounded_rectangle (width_mm, height_mm,
    // corner_radius_mm; 0 = sharp corners) or circle (diameter_mm).
    std::string shape = "rounded_rectangle";
};

struct CatalogEntry {
    std::string sku{};
    std::string name{};
    std::string generator{};                 // laser_text | vbit_text | profile_cut | print_scad | print_file | (empty: none yet)
    std::string capability{};                // laser | cnc | fdm
    std::vector<std::string> route{};        // operations in order, e.g. laser_engrave → qc → pack
    std::string material{};
    std::string machine{};                   // machine profile name
    std::optional<WorkArea> workArea{};
    std::string font{};                      // Hershey font for text generators
    double minTextHeight = 0;
    double maxTextHeight = 0;
    std::string templatePath{};              // print_scad: OpenSCAD template
    std::string gcodePath{};                 // print_file: pre-sliced program
    std::string printerProfile{};            // print_scad: slicer profile
    ModelExpectation expect{};               // print_scad: what the rendered model must look like
    std::vector<std::string> fonts{};        // print_scad: fontconfig patterns the template needs
    std::map<std::string, ParamSpec> params{};
    std::vector<Operation> operations{};     // machine operations in route order; empty without a generator

    bool hasSchema() const { return !params.empty(); }
};

// Immutable once loaded; shared read-only between threads.
class Catalog {
public:
    // Throws mto::Error naming the file, the key and the problem.
    static Catalog load(const std::filesystem::path& path);

    bool contains(const std::string& sku) const { return entries_.count(sku) != 0; }
    const CatalogEntry* find(const std::string& sku) const {
        auto it = entries_.find(sku);
        return it == entries_.end() ? nullptr : &it->second;
    }
    std::size_t size() const { return entries_.size(); }
    const std::map<std::string, CatalogEntry>& entries() const { return entries_; }
    void add(CatalogEntry e) { entries_[e.sku] = std::move(e); }

    // [machine.<name>] and [material.<name>]; nullptr when the catalog has none by that name.
    const MachineProfile* machine(const std::string& name) const {
        auto it = machines_.find(name);
        return it == machines_.end() ? nullptr : &it->second;
    }
    const MaterialProfile* material(const std::string& name) const {
        auto it = materials_.find(name);
        return it == materials_.end() ? nullptr : &it->second;
    }
    void addMachine(MachineProfile m) { machines_[m.name] = std::move(m); }
    // Materials a machine may work; empty: the machine names none, any material with settings for it will do.
    const std::set<std::string>& materialsAllowedOn(const std::string& machine) const {
        static const std::set<std::string> none;
        auto it = machineMaterials_.find(machine);
        return it == machineMaterials_.end() ? none : it->second;
    }
    void allowMaterials(const std::string& machine, std::set<std::string> materials) {
        machineMaterials_[machine] = std::move(materials);
    }
    void addMaterial(MaterialProfile m) { materials_[m.name] = std::move(m); }

private:
    std::map<std::string, CatalogEntry> entries_;
    std::map<std::string, MachineProfile> machines_;
    std::map<std::string, MaterialProfile> materials_;
    std::map<std::string, std::set<std::string>> machineMaterials_;
};

} // namespace mto
