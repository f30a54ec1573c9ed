// SPDX-License-Identifier: Apache-2.0
// PrintJobCompiler against the real openscad and prusa-slicer: the name keychain from template to G-code.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>

#include "compiler/print_job_compiler.hpp"
#include "compiler/stl_mesh.hpp"
#include "mto/error.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

bool onPath(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "");
    std::string dir;
    while (std::getline(dirs, dir, ':'))
        if (!dir.empty() && ::access((fs::path(dir) / program).c_str(), X_OK) == 0) return true;
    return false;
}

#define REQUIRE_PRINT_TOOLS()                                                                                  \
    do {                                                                                                       \
        for (const char* tool : {"openscad", "prusa-slicer", "fc-list"})                                       \
            if (!onPath(tool))                                                                                 \
                GTEST_SKIP() << tool << " is not installed (apt install openscad prusa-slicer fontconfig)";   \
    } while (0)

fs::path keychainTemplate() { return fs::path(test::sourceDir()) / "config/scad/keychain.scad"; }
fs::path printerProfile() { return fs::path(test::sourceDir()) / "config/printers/prusa-mk3s-pla.ini"; }

// The keychain as the catalog would order it: plate 3 mm + letters 1.5 mm, the letters cut at mid-height.
PrintRequest keychain(const std::string& name) {
    PrintRequest r;
    r.templatePath = keychainTemplate();
    r.profilePath = printerProfile();
    r.parameters["name"] = name;
    r.expect.width = {15, 100};
    r.expect.depth = {10, 30};
    r.expect.height = {4.4, 4.6};
    r.expect.minShells = 1;
    r.expect.contourZ = 3.75;
    r.expect.minContours = 1;
    r.requiredFonts = {"DejaVu Sans:style=Bold"};
    return r;
}

std::string compileError(PrintJobCompiler& compiler, const PrintRequest& request) {
    try {
        compiler.compile(request);
    } catch (const Error& e) {
        return e.what();
    }
    return "(compiled)";
}

// A fontconfig that knows no fonts at all: what a fresh host without fonts-dejavu-core looks like to openscad.
std::string writeEmptyFontConfig(const fs::path& dir) {
    const fs::path conf = dir / "no-fonts.conf";
    test::writeFile(conf,
                    "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n<fontconfig><cachedir>" +
                        (dir / "fc-cache").string() + "</cachedir></fontconfig>\n");
    return conf.string();
}

TEST(PrintJobCompiler, KeychainCompilesToMarlinGcodeWithRaisedLetters) {
    REQUIRE_PRINT_TOOLS();
    test::TempDir dir;
    PrintJobCompiler compiler({.cacheDir = dir.path() / "cache"});
    const PrintCompileResult r = compiler.compile(keychain("Lin"));
    std::cout << "[ timing   ] openscad " << r.renderTime.count() << " ms, prusa-slicer " << r.sliceTime.count()
              << " ms, total (miss) " << r.totalTime.count() << " ms\n";

    EXPECT_FALSE(r.cacheHit);
    EXPECT_EQ(r.cacheKey.size(), 64u);
    // OpenSCAD fuses the letters into the plate: one body, whose cut at mid-letter height shows the
    // strokes L, i, the dot of the i and n.
    EXPECT_EQ(r.mesh.shells, 1u);
    EXPECT_EQ(r.mesh.contours, 4u);
    EXPECT_NEAR(r.mesh.bbox.maxZ - r.mesh.bbox.minZ, 4.5, 1e-3);
    EXPECT_GT(r.mesh.volume, 500);
    EXPECT_GT(r.mesh.triangles, 100u);

    const JobArtifact& a = r.artifact;
    EXPECT_EQ(a.capability, "fdm");
    EXPECT_EQ(a.format, "gcode-marlin");
    EXPECT_NE(a.program.find("\nG1 X"), std::string::npos);
    EXPECT_NE(a.program.find(" E"), std::string::npos) << "no extrusion";
    EXPECT_NE(a.program.find("M109 S215"), std::string::npos) << "PLA nozzle temperature from the profile";
    EXPECT_NE(a.program.find("M190 S60"), std::string::npos);
    EXPECT_NE(a.program.find(";Z:4.4"), std::string::npos) << "layers up to the top of the letters";
    EXPECT_EQ(a.program.find(";Z:4.8"), std::string::npos);
    EXPECT_GT(a.workMm, 1000);
    EXPECT_GT(a.travelMm, 0);
    EXPECT_GT(a.estimatedSeconds, 60);
    EXPECT_GT(a.lines, 1000u);
    EXPECT_GE(a.bbox.minX, 0);
    EXPECT_LE(a.bbox.maxX, 250);
    EXPECT_GE(a.bbox.minY, 0);
    EXPECT_LE(a.bbox.maxY, 210);
    EXPECT_EQ(a.sha256.size(), 64u);
    EXPECT_TRUE(fs::exists(dir.path() / "cache" / (r.cacheKey + ".gcode")));
}

TEST(PrintJobCompiler, SecondCompileIsACacheHitWithoutRunningTools) {
    REQUIRE_PRINT_TOOLS();
    test::TempDir dir;
    PrintJobCompiler compiler({.cacheDir = dir.path() / "cache"});
    const PrintCompileResult miss = compiler.compile(keychain("Lin"));
    const PrintCompileResult hit = compiler.compile(keychain("Lin"));
    std::cout << "[ timing   ] miss " << miss.totalTime.count() << " ms, hit " << hit.totalTime.count() << " ms\n";
    EXPECT_FALSE(miss.cacheHit);
    EXPECT_TRUE(hit.cacheHit);
    EXPECT_EQ(hit.cacheKey, miss.cacheKey);
    EXPECT_EQ(hit.artifact.sha256, miss.artifact.sha256);
    EXPECT_EQ(hit.artifact.program, miss.artifact.program);
    EXPECT_EQ(hit.mesh.contours, miss.mesh.contours);
    EXPECT_DOUBLE_EQ(hit.artifact.workMm, miss.artifact.workMm);
    EXPECT_EQ(hit.renderTime.count(), 0);
    EXPECT_EQ(hit.sliceTime.count(), 0);
    EXPECT_LT(hit.totalTime * 5, miss.totalTime);

    // A different name, a changed profile or a stricter check is a different job.
    EXPECT_FALSE(compiler.compile(keychain("Lina")).cacheHit);
    PrintRequest stricter = keychain("Lin");
    stricter.expect.minContours = 2;
    EXPECT_FALSE(compiler.compile(stricter).cacheHit);
    // Nothing is left behind in the work area.
    EXPECT_TRUE(fs::is_empty(dir.path() / "cache" / "work"));

    // The cache is on disk: a new compiler (a restarted agent) finds it too.
    PrintJobCompiler restarted({.cacheDir = dir.path() / "cache"});
    EXPECT_TRUE(restarted.compile(keychain("Lin")).cacheHit);
}

// A template that takes its size from an included file, as shops share dimensions between products.
TEST(PrintJobCompiler, AChangedIncludeFileIsANewJobNotACacheHit) {
    REQUIRE_PRINT_TOOLS();
    test::TempDir dir;
    test::writeFile(dir.path() / "parts/size.scad", "side = 20;\n");
    test::writeFile(dir.path() / "cube.scad", "include <parts/size.scad>\ncube([side, side, 2]);\n");
    PrintRequest cube;
    cube.templatePath = dir.path() / "cube.scad";
    cube.profilePath = printerProfile();
    cube.expect.height = {1.9, 2.1};
    PrintJobCompiler compiler({.cacheDir = dir.path() / "cache"});
    const PrintCompileResult first = compiler.compile(cube);
    EXPECT_FALSE(first.cacheHit);
    EXPECT_NEAR(first.mesh.bbox.maxX - first.mesh.bbox.minX, 20, 0.01);
    EXPECT_TRUE(compiler.compile(cube).cacheHit);

    test::writeFile(dir.path() / "parts/size.scad", "side = 30;\n");
    const PrintCompileResult second = compiler.compile(cube);
    EXPECT_FALSE(second.cacheHit) << "the template text is the same, but what it includes changed";
    EXPECT_NE(second.cacheKey, first.cacheKey);
    EXPECT_NEAR(second.mesh.bbox.maxX - second.mesh.bbox.minX, 30, 0.01);
}

TEST(PrintJobCompiler, TheCacheKeepsToItsSizeDroppingTheLeastRecentlyUsed) {
    REQUIRE_PRINT_TOOLS();
    test::TempDir dir;
    PrintJobCompiler unlimited({.cacheDir = dir.path() / "probe", .cacheMaxBytes = 0});
    const PrintCompileResult probe = unlimited.compile(keychain("Ada"));
    std::uintmax_t entryBytes = 0;
    for (const auto& f : fs::directory_iterator(dir.path() / "probe"))
        if (f.is_regular_file()) entryBytes += f.file_size();
    // Room for two keychains, not three.
    PrintJobCompiler compiler({.cacheDir = dir.path() / "cache", .cacheMaxBytes = entryBytes * 5 / 2});
    const PrintCompileResult ada = compiler.compile(keychain("Ada"));
    EXPECT_EQ(ada.cacheKey, probe.cacheKey) << "the key depends on the inputs, not on the cache";
    compiler.compile(keychain("Bo"));
    EXPECT_TRUE(compiler.compile(keychain("Ada")).cacheHit) << "a hit makes Ada the most recently used";
    compiler.compile(keychain("Cy"));   // over the limit: Bo, the least recently used, goes
    std::uintmax_t total = 0;
    for (const auto& f : fs::directory_iterator(dir.path() / "cache"))
        if (f.is_regular_file()) total += f.file_size();
    EXPECT_LE(total, entryBytes * 5 / 2);
    EXPECT_TRUE(compiler.compile(keychain("Ada")).cacheHit);
    EXPECT_TRUE(compiler.compile(keychain("Cy")).cacheHit);
    EXPECT_FALSE(compiler.compile(keychain("Bo")).cacheHit);
}

TEST(PrintJobCompiler, MissingFontIsRefusedBeforeRendering) {
    REQUIRE_PRINT_TOOLS();
    test::TempDir dir;
    PrintJobCompiler compiler({.cacheDir = dir.path() / "cache",
                               .environment = {{"FONTCONFIG_FILE", writeEmptyFontConfig(dir.path())}}});
    const std::string message = compileError(compiler, keychain("Lin"));
    EXPECT_NE(message.find("font \"DejaVu Sans:style=Bold\" is not installed"), std::string::npos) << message;
}

TEST(PrintJobCompiler, TextDroppedByOpenscadIsCaughtByTheModelCheck) {
    REQUIRE_PRINT_TOOLS();
    // Without the font pre-check, openscad renders the plate alone and exits 0; the height gives it away.
    test::TempDir dir;
    PrintJobCompiler compiler({.cacheDir = dir.path() / "cache",
                               .environment = {{"FONTCONFIG_FILE", writeEmptyFontConfig(dir.path())}}});
    PrintRequest request = keychain("Lin");
    request.requiredFonts.clear();
    const std::string message = compileError(compiler, request);
    EXPECT_NE(message.find("model is 3.00 mm tall (Z), expected 4.40 to 4.60 mm"), std::string::npos) << message;
    EXPECT_NE(message.find("font not installed"), std::string::npos) << message;
    EXPECT_FALSE(fs::exists(dir.path() / "cache" / "work") && !fs::is_empty(dir.path() / "cache" / "work"));

    // And with only the cross-section check, the missing letters show as no outlines at letter height.
    request.expect.height = {};
    const std::string second = compileError(compiler, request);
    EXPECT_NE(second.find("shows 0 outlines"), std::string::npos) << second;
}

TEST(PrintJobCompiler, NameThatRendersNothingIsRefused) {
    REQUIRE_PRINT_TOOLS();
    test::TempDir dir;
    PrintJobCompiler compiler({.cacheDir = dir.path() / "cache"});
    for (const std::string name : {"   ", "", "\u200b"}) {
        const std::string message = compileError(compiler, keychain(name));
        EXPECT_NE(message.find("mm tall (Z)"), std::string::npos) << "name \"" << name << "\": " << message;
    }
    // Nothing refused ever reaches the cache.
    for (const auto& entry : fs::directory_iterator(dir.path() / "cache"))
        EXPECT_NE(entry.path().extension(), ".gcode");
}

TEST(PrintJobCompiler, QuotesAndBackslashesArePassedAsText) {
    REQUIRE_PRINT_TOOLS();
    EXPECT_EQ(PrintJobCompiler::defineArgument("name", std::string("a\"b\\c")), "name=\"a\\\"b\\\\c\"");
    EXPECT_EQ(PrintJobCompiler::defineArgument("text_size", 8.5), "text_size=8.5");
    EXPECT_EQ(PrintJobCompiler::defineArgument("$fn", 64.0), "$fn=64");

    test::TempDir dir;
    PrintJobCompiler compiler({.cacheDir = dir.path() / "cache"});
    // Were the quote not escaped, this would end the string and add a 1 m cube to the model.
    PrintRequest injection = keychain("\"; cube(1000); x=\"");
    injection.expect.width = {15, 250};
    const PrintCompileResult r = compiler.compile(injection);
    EXPECT_LT(r.mesh.bbox.maxX - r.mesh.bbox.minX, 250);
    EXPECT_LT(r.mesh.bbox.maxZ, 5);
    EXPECT_GT(r.mesh.contours, 10u);

    const PrintCompileResult backslash = compiler.compile(keychain("O'Neil\\"));
    EXPECT_NEAR(backslash.mesh.bbox.maxZ, 4.5, 1e-3);
    EXPECT_NE(backslash.cacheKey, r.cacheKey);
}

TEST(PrintJobCompiler, BadParametersAreRefusedBeforeAnythingRuns) {
    test::TempDir dir;
    PrintJobCompiler compiler({.cacheDir = dir.path() / "cache", .openscad = "/nonexistent/openscad"});
    auto refused = [&](const std::string& name, const ScadValue& value, const std::string& expect) {
        PrintRequest r = keychain("x");
        r.parameters = {{name, value}};
        const std::string message = compileError(compiler, r);
        EXPECT_NE(message.find(expect), std::string::npos) << message;
    };
    refused("name", std::string("two\nlines"), "control character");
    refused("name", std::string("tab\there"), "control character");
    refused("name", std::string("\xff\xfe"), "not valid UTF-8");
    refused("name; cube(9)", std::string("x"), "not an OpenSCAD identifier");
    refused("9lives", std::string("x"), "not an OpenSCAD identifier");
    refused("size", std::nan(""), "not a finite number");

    PrintRequest missing = keychain("x");
    missing.templatePath = dir.path() / "nope.scad";
    EXPECT_NE(compileError(compiler, missing).find("nope.scad"), std::string::npos);
}

TEST(PrintJobCompiler, RenderTimeoutIsReportedAndTheToolKilled) {
    REQUIRE_PRINT_TOOLS();
    test::TempDir dir;
    // Ten billion empty iterations: no memory to speak of, minutes of work.
    test::writeFile(dir.path() / "spin.scad", "x = [for (i = [0:99999], j = [0:99999]) if (i < 0) i];\ncube(1);\n");
    PrintJobCompiler compiler({.cacheDir = dir.path() / "cache", .renderTimeout = 1500ms});
    PrintRequest r = keychain("x");
    r.templatePath = dir.path() / "spin.scad";
    r.parameters.clear();
    r.requiredFonts.clear();
    const auto start = std::chrono::steady_clock::now();
    const std::string message = compileError(compiler, r);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_NE(message.find("openscad timed out"), std::string::npos) << message;
    EXPECT_NE(message.find("spin.scad"), std::string::npos) << message;
    EXPECT_LT(took, 10s);
    // No openscad is left running on the template.
    for (const auto& proc : fs::directory_iterator("/proc")) {
        const std::string cmdline = test::readFile(proc.path() / "cmdline");
        EXPECT_EQ(cmdline.find((dir.path() / "spin.scad").string()), std::string::npos) << proc.path();
    }
}

TEST(PrintJobCompiler, TemplateErrorsCarryOpenscadsMessage) {
    REQUIRE_PRINT_TOOLS();
    test::TempDir dir;
    test::writeFile(dir.path() / "broken.scad", "cube([1, 2, 3];\n");
    PrintJobCompiler compiler({.cacheDir = dir.path() / "cache"});
    PrintRequest r = keychain("x");
    r.templatePath = dir.path() / "broken.scad";
    r.requiredFonts.clear();
    const std::string message = compileError(compiler, r);
    EXPECT_NE(message.find("openscad failed"), std::string::npos) << message;
    EXPECT_NE(message.find("syntax error"), std::string::npos) << message;
}

TEST(PrintJobCompiler, PreSlicedGcodeIsMeasuredAndChecked) {
    test::TempDir dir;
    PrintJobCompiler compiler({.cacheDir = dir.path() / "cache"});
    test::writeFile(
        dir.path() / "part.gcode",
        "; sliced elsewhere\nG28\nG90\nM83\nG1 Z0.2 F600\nG1 X10 Y10 F3000\nG1 X20 Y10 E0.5 F1200\n"
        "G1 X20 Y20 E0.5\nG1 E-0.8 F2100 ; retract\nG0 X50 Y50\n; estimated printing time (normal mode) = 1h 2m 3s\n");
    const JobArtifact a = compiler.compilePreSliced(dir.path() / "part.gcode");
    EXPECT_EQ(a.capability, "fdm");
    EXPECT_EQ(a.format, "gcode-marlin");
    EXPECT_NEAR(a.workMm, 20, 1e-9);
    EXPECT_NEAR(a.travelMm, 0.2 + std::hypot(10, 10) + std::hypot(30, 30), 1e-9);
    EXPECT_DOUBLE_EQ(a.bbox.maxX, 50);
    EXPECT_DOUBLE_EQ(a.bbox.maxZ, 0.2);
    EXPECT_DOUBLE_EQ(a.estimatedSeconds, 3723);
    EXPECT_EQ(a.lines, 11u);

    test::writeFile(dir.path() / "empty.gcode", "G28\nG1 X10 Y10\n");
    EXPECT_THROW(compiler.compilePreSliced(dir.path() / "empty.gcode"), Error);
    EXPECT_THROW(compiler.compilePreSliced(dir.path() / "missing.gcode"), Error);
}

} // namespace
} // namespace mto
