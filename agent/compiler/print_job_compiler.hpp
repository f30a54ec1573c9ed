// SPDX-License-Identifier: Apache-2.0
// 3D print jobs: an SKU's OpenSCAD template and the order's parameters, rendered, checked and sliced to G-code.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "compiler/subprocess.hpp"
#include "mto/error.hpp"
#include "mto/job.hpp"

namespace mto {

// A template parameter: text becomes an OpenSCAD string literal, a number an OpenSCAD number.
using ScadValue = std::variant<std::string, double>;

struct Range {
    double min = -std::numeric_limits<double>::infinity();
    double max = std::numeric_limits<double>::infinity();
    bool contains(double v) const { return v >= min && v <= max; }
};

// What the rendered model must look like. OpenSCAD renders nothing for a text when no font matches
// and still exits 0, so a name keychain states the height its raised letters give it.
struct ModelExpectation {
    Range width{};                // X extent, mm
    Range depth{};                // Y extent
    Range height{};               // Z extent
    std::size_t minShells = 1;    // separate bodies (parts that share no vertex)
    // Raised features: the mesh cut at Z = contourZ must show at least minContours outlines
    // (one per letter stroke for raised text). 0 = not checked.
    double contourZ = 0;
    std::size_t minContours = 0;
};

struct PrintRequest {
    std::filesystem::path templatePath{};        // .scad
    std::map<std::string, ScadValue> parameters{}; // passed as -D name=value
    std::filesystem::path profilePath{};         // prusa-slicer .ini
    ModelExpectation expect{};
    // Fontconfig patterns the template uses, e.g. "DejaVu Sans:style=Bold". Checked before rendering
    // because a missing font is silently replaced by another (or by nothing).
    std::vector<std::string> requiredFonts{};
};

struct PrintToolOptions {
    std::filesystem::path cacheDir{};            // created if missing; holds <key>.gcode and <key>.json
    std::string openscad = "openscad";
    std::string prusaSlicer = "prusa-slicer";
    std::string fcList = "fc-list";
    // Put in front of the slicer command, e.g. {"xvfb-run", "-a"} for a build that insists on a display.
    std::vector<std::string> slicerWrapper{};
    // Added to every tool's environment, e.g. FONTCONFIG_FILE for fonts shipped with the agent.
    std::map<std::string, std::string> environment{};
    std::chrono::milliseconds renderTimeout{std::chrono::minutes(2)};
    std::chrono::milliseconds sliceTimeout{std::chrono::minutes(5)};
    // The cache is trimmed to this size after each new entry, least recently used first; 0 = no limit.
    std::uint64_t cacheMaxBytes = 2ull << 30;
    // Runs each tool call (openscad, prusa-slicer, fc-list); empty: Subprocess::run(). Tests put a
    // stand-in here that does what the tool would (writes the files named in argv, returns an exit
    // code and output) to reach every failure path without the tools, and to count the calls.
    std::function<SubprocessResult(const Subprocess&)> runner{};
};

// A file an OpenSCAD template reads besides itself: include <…>, use <…>, import("…"), surface("…").
struct TemplateDependency {
    std::string reference;              // as written in the template
    std::filesystem::path resolved;     // empty when no such file exists
};

// What the checks saw in the rendered model (stored with the cached G-code).
struct MeshReport {
    std::size_t triangles = 0;
    std::size_t shells = 0;
    std::size_t contours = 0;     // at expect.contourZ; 0 when not checked
    BoundingBox bbox{};
    double volume = 0;            // mm³
};

struct PrintCompileResult {
    JobArtifact artifact{};
    bool cacheHit = false;
    std::string cacheKey{};       // sha256 of template, parameters, profile and tool versions
    MeshReport mesh{};
    std::chrono::milliseconds renderTime{0};   // 0 on a cache hit
    std::chrono::milliseconds sliceTime{0};
    std::chrono::milliseconds totalTime{0};
};

// One part of a plate: the model of a unit, found by its sliced program's sha256 (modelOf).
struct PlatePart {
    std::filesystem::path model;   // binary or ASCII STL
};

// Several parts printed together: the slicer arranges them on the bed and slices them as one program.
struct PlateRequest {
    std::vector<PlatePart> parts{};
    std::filesystem::path profilePath{};   // prusa-slicer .ini
    double bedX = 0, bedY = 0;             // the bed the slicer arranges on, mm (0: the profile's bed_shape)
};

// Where the slicer put one part: the extent of its extruding moves on the bed, mm.
struct PlacedPart {
    double minX = 0, minY = 0, maxX = 0, maxY = 0;
};

struct PlateResult {
    JobArtifact artifact{};              // the plate's program; estimatedSeconds is the slicer's figure
    std::vector<PlacedPart> placed{};    // one per request part, same order
    bool cacheHit = false;
};

// compilePlate's refusal when the parts do not fit on the bed together (the slicer cannot arrange them).
class PlateDoesNotFit : public Error {
public:
    using Error::Error;
};

// Thread-safe: compiles may run in parallel; two compiles of the same inputs both do the work and the
// cache keeps one result (files are published by rename).
class PrintJobCompiler {
public:
    explicit PrintJobCompiler(PrintToolOptions options);

    // Renders, checks and slices, or returns the cached G-code for the same inputs without running
    // anything. Throws mto::Error with what to fix: a bad parameter, a missing font or tool, a model
    // that fails the expectation, a tool that failed or timed out (with the end of its stderr).
    PrintCompileResult compile(const PrintRequest& request);

    // The parts arranged by the slicer on one bed (prusa-slicer --merge, its auto-arrange, object labels) and
    // sliced as one program, cached by the models, profile, bed and tools like single parts, so the same
    // parts give the same program again (a restarted plate). Throws PlateDoesNotFit when the slicer cannot
    // place them all, mto::Error for any other failure (a model missing, the slicer failing, a part absent
    // from the program).
    PlateResult compilePlate(const PlateRequest& request);

    // The model compile() rendered for the program with this sha256, while the cache keeps it; nullopt
    // otherwise (a pre-sliced SKU has none).
    std::optional<std::filesystem::path> modelOf(const std::string& programSha) const;

    // Where each labelled object (prusa-slicer's "; printing object <name> ..." comments) extruded, by name.
    static std::map<std::string, PlacedPart> objectExtents(const std::string& program);

    // A ready-sliced G-code file shipped with the SKU. Throws mto::Error when it is unreadable or has
    // no extruding moves.
    JobArtifact compilePreSliced(const std::filesystem::path& gcodePath) const;

    // The -D argument for one parameter: `name="text"` with \ and " escaped, or `name=number`.
    // Throws mto::Error for a name that is not an identifier, control characters or invalid UTF-8,
    // or a number that is not finite.
    static std::string defineArgument(const std::string& name, const ScadValue& value);

    // Measures Marlin G-code: bbox over every move, extruding vs travel length, the slicer's time estimate.
    static JobArtifact artifactFromGcode(std::string program);

    // "OpenSCAD version 2021.01 | PrusaSlicer-2.5.0+..." queried once; part of every cache key.
    std::string toolVersions();

    // Every file the template reads, transitively (include and use files are followed), in the order
    // first met. A reference resolves like OpenSCAD does it: beside the file that names it, then in
    // each libraryDirs entry. Comments and string contents are skipped; at most 256 files.
    static std::vector<TemplateDependency> templateDependencies(const std::filesystem::path& templatePath,
                                                                const std::vector<std::filesystem::path>& libraryDirs);

    // Deletes least recently used entries (a hit counts as a use) until the cache holds at most maxBytes.
    // Returns the number of entries removed.
    static std::size_t trimCache(const std::filesystem::path& cacheDir, std::uint64_t maxBytes);

private:
    void checkFonts(const std::vector<std::string>& fonts) const;
    SubprocessResult run(const Subprocess& call) const { return options_.runner ? options_.runner(call) : call.run(); }

    PrintToolOptions options_;
    std::mutex versionMutex_;
    std::string toolVersions_;
};

} // namespace mto
