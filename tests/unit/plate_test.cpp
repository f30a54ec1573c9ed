// SPDX-License-Identifier: Apache-2.0
// Printer plates against the real prusa-slicer: several distinct parts arranged on one bed and sliced as one
// checked, estimated program with a proof, and a plate that does not fit refused as such.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "catalog.hpp"
#include "compiler/print_job_compiler.hpp"
#include "scheduler/jig.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

namespace fs = std::filesystem;

bool haveTool(const char* tool) {
    return std::system((std::string("command -v ") + tool + " >/dev/null 2>&1").c_str()) == 0;
}

#define REQUIRE_SLICER()                                                                                     \
    do {                                                                                                     \
        if (!haveTool("prusa-slicer")) GTEST_SKIP() << "prusa-slicer is not installed (apt install prusa-slicer)"; \
    } while (0)

fs::path printerProfile() { return fs::path(test::sourceDir()) / "config/printers/prusa-mk3s-pla.ini"; }

// An ASCII STL of a w x d x h mm box with its corner at the origin: the smallest part the slicer prints.
void writeBox(const fs::path& file, double w, double d, double h) {
    const double v[8][3] = {{0, 0, 0}, {w, 0, 0}, {w, d, 0}, {0, d, 0}, {0, 0, h}, {w, 0, h}, {w, d, h}, {0, d, h}};
    // Two outward-facing triangles per face.
    const int f[12][3] = {{0, 2, 1}, {0, 3, 2}, {4, 5, 6}, {4, 6, 7}, {0, 1, 5}, {0, 5, 4},
                          {1, 2, 6}, {1, 6, 5}, {2, 3, 7}, {2, 7, 6}, {3, 0, 4}, {3, 4, 7}};
    std::ofstream out(file);
    out << "solid box\n";
    for (const auto& t : f) {
        out << " facet normal 0 0 0\n  outer loop\n";
        for (int k : t) out << "   vertex " << v[k][0] << ' ' << v[k][1] << ' ' << v[k][2] << '\n';
        out << "  endloop\n endfacet\n";
    }
    out << "endsolid box\n";
}

bool overlap(const PlacedPart& a, const PlacedPart& b) {
    return a.minX < b.maxX && b.minX < a.maxX && a.minY < b.maxY && b.minY < a.maxY;
}

TEST(Plate, DistinctPartsAreArrangedOnOneBedAndSlicedAsOneEstimatedProgram) {
    REQUIRE_SLICER();
    test::TempDir dir;
    // Three different parts, as three personalised units would be.
    const std::vector<std::pair<double, double>> sizes = {{12, 8}, {20, 10}, {8, 16}};
    PlateRequest request;
    request.profilePath = printerProfile();
    request.bedX = 250;
    request.bedY = 210;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        const fs::path stl = dir.path() / ("unit-" + std::to_string(i) + ".stl");
        writeBox(stl, sizes[i].first, sizes[i].second, 1);
        request.parts.push_back({stl});
    }
    PrintJobCompiler compiler({.cacheDir = dir.path() / "cache"});
    const PlateResult plate = compiler.compilePlate(request);
    EXPECT_FALSE(plate.cacheHit);
    EXPECT_EQ(plate.artifact.format, "gcode-marlin");
    EXPECT_GT(plate.artifact.estimatedSeconds, 0) << "the slicer's estimate of the whole plate";
    EXPECT_GT(plate.artifact.workMm, 0);
    ASSERT_EQ(plate.placed.size(), 3u) << "every part is in the program, found by its label";
    for (std::size_t i = 0; i < 3; ++i) {
        const PlacedPart& p = plate.placed[i];
        EXPECT_GE(p.minX, 0);
        EXPECT_GE(p.minY, 0);
        EXPECT_LE(p.maxX, 250);
        EXPECT_LE(p.maxY, 210);
        // Each part where its own size says (the outline's extrusion width adds a little, the skirt is not a part).
        EXPECT_NEAR(p.maxX - p.minX, sizes[i].first, 1.5) << "part " << i;
        EXPECT_NEAR(p.maxY - p.minY, sizes[i].second, 1.5) << "part " << i;
        for (std::size_t j = 0; j < i; ++j) EXPECT_FALSE(overlap(p, plate.placed[j])) << i << " and " << j;
    }
    for (int i = 0; i < 3; ++i)
        EXPECT_NE(plate.artifact.program.find("; printing object part-" + std::to_string(i) + ".stl"), std::string::npos);

    // The same parts again: the same program from the cache (a restarted plate runs the same lines).
    const PlateResult again = compiler.compilePlate(request);
    EXPECT_TRUE(again.cacheHit);
    EXPECT_EQ(again.artifact.sha256, plate.artifact.sha256);

    // As a jig run on the catalog's MK3S: checked, the slicer's estimate kept, one proof naming each unit.
    const Catalog catalog = Catalog::load(fs::path(test::sourceDir()) / "config/catalog.toml");
    const MachineProfile* mk3s = catalog.machine("mk3s");
    ASSERT_NE(mk3s, nullptr);
    Jig jig{"plate", {}, {{"KEYCHAIN-PLA-PRINT", {0, 0}}}, 4};
    std::vector<JobArtifact> units(3, plate.artifact);   // only their kind matters to the plate
    std::vector<JigPlacement> placements;
    for (std::size_t i = 0; i < 3; ++i)
        placements.push_back({&units[i], "KEYCHAIN-PLA-PRINT", i, "O-1/" + std::to_string(i + 1) + "#1"});
    PlateSlice slice{plate.artifact, {}};
    for (const PlacedPart& p : plate.placed) slice.parts.push_back({p.minX, p.minY, p.maxX - p.minX, p.maxY - p.minY});
    auto built = buildPlateProgram(jig, placements, slice, *mk3s, true);
    ASSERT_TRUE(std::holds_alternative<JigProgram>(built)) << std::get<JigRefusal>(built).message;
    const JigProgram& program = std::get<JigProgram>(built);
    EXPECT_DOUBLE_EQ(program.artifact.estimatedSeconds, plate.artifact.estimatedSeconds);
    EXPECT_EQ(program.placed.size(), 3u);
    ASSERT_GT(program.proofPng.size(), 8u);
    EXPECT_EQ(program.proofPng.substr(1, 3), "PNG");
}

TEST(Plate, PartsThatDoNotFitTogetherAreRefusedAsNotFitting) {
    REQUIRE_SLICER();
    test::TempDir dir;
    PlateRequest request;
    request.profilePath = printerProfile();
    request.bedX = 60;
    request.bedY = 60;
    for (int i = 0; i < 3; ++i) {
        const fs::path stl = dir.path() / ("big-" + std::to_string(i) + ".stl");
        writeBox(stl, 40, 40, 1);
        request.parts.push_back({stl});
    }
    PrintJobCompiler compiler({.cacheDir = dir.path() / "cache"});
    try {
        compiler.compilePlate(request);
        FAIL() << "three 40 mm parts were placed on a 60 mm bed";
    } catch (const PlateDoesNotFit& e) {
        EXPECT_NE(std::string(e.what()).find("does not fit on the 60 x 60 mm bed"), std::string::npos) << e.what();
    }
}

TEST(Plate, APlateOfPartsThatAreNotPrintsIsRefused) {
    Jig jig{"plate", {}, {{"TAG", {0, 0}}}, 4};
    JobArtifact laser;
    laser.capability = "laser";
    laser.format = "gcode-grbl";
    MachineProfile profile;
    auto built = buildPlateProgram(jig, {{&laser, "TAG", 0, "O/1#1"}}, PlateSlice{{}, {WorkArea{}}}, profile, false);
    ASSERT_TRUE(std::holds_alternative<JigRefusal>(built));
    EXPECT_EQ(std::get<JigRefusal>(built).reason, "not_gcode");
}

TEST(Plate, TheModelOfACompiledPrintIsFoundByItsProgram) {
    if (!haveTool("openscad") || !haveTool("prusa-slicer")) GTEST_SKIP() << "openscad or prusa-slicer is not installed";
    test::TempDir dir;
    test::writeFile(dir.path() / "box.scad", "cube([10, 6, 1]);\n");
    PrintRequest request;
    request.templatePath = dir.path() / "box.scad";
    request.profilePath = printerProfile();
    request.expect.height = {0.9, 1.1};
    PrintJobCompiler compiler({.cacheDir = dir.path() / "cache"});
    const PrintCompileResult r = compiler.compile(request);
    auto model = compiler.modelOf(r.artifact.sha256);
    ASSERT_TRUE(model);
    EXPECT_GT(fs::file_size(*model), 0u);
    EXPECT_FALSE(compiler.modelOf(std::string(64, '0')));
    // Trimming the entry away takes its model with it: the part then runs alone.
    PrintJobCompiler::trimCache(dir.path() / "cache", 1);
    EXPECT_FALSE(compiler.modelOf(r.artifact.sha256));
}

} // namespace
} // namespace mto
