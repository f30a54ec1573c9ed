// SPDX-License-Identifier: Apache-2.0
// What an OpenSCAD template reads besides itself (the print cache's key), and trimming the cache by size.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "compiler/print_job_compiler.hpp"
#include "mto/error.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> references(const std::vector<TemplateDependency>& deps) {
    std::vector<std::string> out;
    for (const auto& d : deps) out.push_back(d.reference + (d.resolved.empty() ? " (missing)" : ""));
    return out;
}

TEST(TemplateDependencies, IncludesUsesAndDataFilesAreFollowedAndCommentsAndStringsAreNot) {
    test::TempDir dir;
    test::writeFile(dir.path() / "main.scad",
                    "include <lib/shapes.scad>  // the plate\n"
                    "use<lib/text.scad>\n"
                    "// include <commented.scad>\n"
                    "/* use <also-commented.scad>\n   include <nor-this.scad> */\n"
                    "label = \"include <in-a-string.scad>\";\n"
                    "import(\"logo.svg\");\n"
                    "surface(file = \"height.dat\", center = true);\n"
                    "include <not-there.scad>\n"
                    "my_include = 3; notuse = 4;\n");
    test::writeFile(dir.path() / "lib/shapes.scad", "include <common.scad>\nmodule plate() {}\n");
    test::writeFile(dir.path() / "lib/text.scad", "use <common.scad>\nmodule name() {}\n");
    test::writeFile(dir.path() / "lib/common.scad", "margin = 3;\n");
    test::writeFile(dir.path() / "logo.svg", "<svg/>");
    test::writeFile(dir.path() / "height.dat", "1 2\n3 4\n");
    const auto deps = PrintJobCompiler::templateDependencies(dir.path() / "main.scad", {});
    std::vector<std::string> got = references(deps);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<std::string>{"common.scad", "height.dat", "lib/shapes.scad", "lib/text.scad", "logo.svg",
                                             "not-there.scad (missing)"}))
        << "common.scad is read by two files but listed once, resolved beside the file that names it";
    for (const auto& d : deps)
        if (d.reference == "common.scad") {
            EXPECT_EQ(d.resolved, dir.path() / "lib/common.scad");
        }
}

TEST(TemplateDependencies, LibraryDirectoriesAreSearchedAfterTheTemplatesOwnAndCyclesEnd) {
    test::TempDir dir;
    test::writeFile(dir.path() / "t/main.scad", "use <BOSL/shapes.scad>\ninclude <loop.scad>\n");
    test::writeFile(dir.path() / "t/loop.scad", "include <main.scad>\n");
    test::writeFile(dir.path() / "libs/BOSL/shapes.scad", "module s() {}\n");
    const auto deps = PrintJobCompiler::templateDependencies(dir.path() / "t/main.scad", {dir.path() / "libs"});
    ASSERT_EQ(deps.size(), 2u) << "main.scad including itself through loop.scad is not listed or followed again";
    EXPECT_EQ(deps[0].resolved, dir.path() / "libs/BOSL/shapes.scad");
    EXPECT_EQ(deps[1].resolved, dir.path() / "t/loop.scad");
}

TEST(TemplateDependencies, AnUnreadableTemplateIsAnError) {
    test::TempDir dir;
    EXPECT_THROW(PrintJobCompiler::templateDependencies(dir.path() / "none.scad", {}), Error);
}

// An entry as the compiler writes it: <key>.gcode, then <key>.json; the record's time is its last use.
void entry(const fs::path& dir, const std::string& key, std::size_t bytes, int minutesAgo) {
    test::writeFile(dir / (key + ".gcode"), std::string(bytes, 'G'));
    test::writeFile(dir / (key + ".json"), "{}");
    fs::last_write_time(dir / (key + ".json"), fs::file_time_type::clock::now() - std::chrono::minutes(minutesAgo));
}

TEST(PrintCache, TrimmingRemovesTheLeastRecentlyUsedUntilTheCacheFits) {
    test::TempDir dir;
    entry(dir.path(), "old", 1000, 30);
    entry(dir.path(), "mid", 1000, 20);
    entry(dir.path(), "new", 1000, 10);
    test::writeFile(dir.path() / "work/partial.stl", std::string(5000, 'x'));   // work in progress is not an entry
    EXPECT_EQ(PrintJobCompiler::trimCache(dir.path(), 10'000), 0u) << "under the limit: nothing goes";
    EXPECT_EQ(PrintJobCompiler::trimCache(dir.path(), 2100), 1u);
    EXPECT_FALSE(fs::exists(dir.path() / "old.json"));
    EXPECT_FALSE(fs::exists(dir.path() / "old.gcode"));
    EXPECT_TRUE(fs::exists(dir.path() / "mid.gcode"));
    EXPECT_EQ(PrintJobCompiler::trimCache(dir.path(), 1), 2u);
    EXPECT_FALSE(fs::exists(dir.path() / "new.json"));
    EXPECT_TRUE(fs::exists(dir.path() / "work/partial.stl"));
}

} // namespace
} // namespace mto
