// SPDX-License-Identifier: Apache-2.0
// The product catalog: which SKUs this factory makes, how, and what personalization each accepts (config/catalog.toml).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

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

// A rectangle on the machine bed, mm, origin front-left.
struct WorkArea {
    double x = 0, y = 0, width = 0, height = 0;
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
    std::map<std::string, ParamSpec> params{};

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
    void add(CatalogEntry e) { entries_[e.sku] = std::move(e); }

private:
    std::map<std::string, CatalogEntry> entries_;
};

} // namespace mto
