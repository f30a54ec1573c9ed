// SPDX-License-Identifier: Apache-2.0
// ItemCompiler over the shipped catalog: each generator to a checked job and proof, and each failure to its reason and path.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "catalog.hpp"
#include "compiler/gcode_checker.hpp"
#include "compiler/gcode_program.hpp"
#include "compiler/hershey_font.hpp"
#include "compiler/proof_renderer.hpp"
#include "compiler/item_compiler.hpp"
#include "mto/error.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

namespace fs = std::filesystem;

Catalog catalogAsShipped() { return Catalog::load(test::sourceDir() + "/config/catalog.toml"); }

bool onPath(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "");
    std::string dir;
    while (std::getline(dirs, dir, ':'))
        if (!dir.empty() && ::access((fs::path(dir) / program).c_str(), X_OK) == 0) return true;
    return false;
}

bool hersheyFontsInstalled() { return fs::exists(HersheyFont::fontPath("futural")); }

#define REQUIRE_HERSHEY_FONTS()                                                                     \
    do {                                                                                            \
        if (!hersheyFontsInstalled())                                                               \
            GTEST_SKIP() << "Hershey fonts are not installed (apt install hershey-fonts-data)";     \
    } while (0)

CompiledItem compiled(const std::variant<CompiledItem, ItemFailure>& r) {
    if (const auto* f = std::get_if<ItemFailure>(&r)) {
        ADD_FAILURE() << "failed: " << f->reason << " at " << f->path << ": " << f->message;
        return {};
    }
    return std::get<CompiledItem>(r);
}

// The job of an item whose route has a single machine operation.
CompiledOperation only(const CompiledItem& item) {
    if (item.operations.size() != 1) {
        ADD_FAILURE() << "expected one machine operation, got " << item.operations.size();
        return {};
    }
    return item.operations.front();
}

ItemFailure itemFailure(const std::variant<CompiledItem, ItemFailure>& r) {
    if (const auto* f = std::get_if<ItemFailure>(&r)) return *f;
    ADD_FAILURE() << "compiled, expected a failure";
    return {};
}

// The artifact as the machine's checker sees it.
std::string violations(const Catalog& catalog, const std::string& machine, const JobArtifact& a) {
    auto parsed = GcodeProgram::parse(a.program);
    if (!std::holds_alternative<GcodeProgram>(parsed)) return "unparsable";
    std::string out;
    for (const Violation& v : GcodeChecker(*catalog.machine(machine)).check(std::get<GcodeProgram>(parsed)))
        out += v.reason + " line " + std::to_string(v.line) + ": " + v.message + "\n";
    return out;
}

bool decodesAsImage(const std::string& png) {
    std::vector<unsigned char> bytes(png.begin(), png.end());
    return !bytes.empty() && !cv::imdecode(bytes, cv::IMREAD_COLOR).empty();
}

TEST(ItemCompiler, CoasterTextCompilesToACheckedLaserJobWithProof) {
    REQUIRE_HERSHEY_FONTS();
    test::TempDir dir;
    const Catalog catalog = catalogAsShipped();
    ItemCompiler compiler(dir.path() / "cache");
    const auto r = compiler.compile(catalog, "COASTER-OAK-ENGRAVED", R"({"text":"Ada 2026"})", 0);
    const CompiledOperation item = only(compiled(r));
    EXPECT_EQ(item.operation, "laser_engrave");
    EXPECT_EQ(item.artifact.capability, "laser");
    EXPECT_EQ(item.artifact.format, "gcode-grbl");
    EXPECT_EQ("", violations(catalog, "laser-400", item.artifact));
    EXPECT_GT(item.artifact.estimatedSeconds, 0);
    EXPECT_GT(item.artifact.workMm, 0);
    EXPECT_LE(item.artifact.bbox.maxX, 100) << "inside the coaster's work area (the head starts and ends at X0 Y0)";
    EXPECT_LE(item.artifact.bbox.maxY, 100);
    EXPECT_GT(item.textHeight, 3.0);
    EXPECT_LE(item.textHeight, 18.0);
    EXPECT_TRUE(decodesAsImage(item.proofPng));
}

TEST(ItemCompiler, CharacterOutsideTheFontIsMissingGlyphAtTheTextParameter) {
    REQUIRE_HERSHEY_FONTS();
    test::TempDir dir;
    ItemCompiler compiler(dir.path() / "cache");
    // ♥ comes from the symbol font; a snowman is in no Hershey set.
    EXPECT_TRUE(std::holds_alternative<CompiledItem>(
        compiler.compile(catalogAsShipped(), "COASTER-OAK-ENGRAVED", R"({"text":"Ada ♥ 2026"})", 0)));
    const ItemFailure f = itemFailure(compiler.compile(catalogAsShipped(), "COASTER-OAK-ENGRAVED", R"({"text":"Ada ☃ 2026"})", 0));
    EXPECT_EQ(f.reason, "missing_glyph");
    EXPECT_EQ(f.path, "items[0].personalization.text");
}

TEST(ItemCompiler, LongTextOnTheSmallTagIsTooLarge) {
    REQUIRE_HERSHEY_FONTS();
    test::TempDir dir;
    ItemCompiler compiler(dir.path() / "cache");
    const std::string name(60, 'W');
    const ItemFailure f = itemFailure(compiler.compile(catalogAsShipped(), "TAG-STEEL-ENGRAVED", R"({"name":")" + name + "\"}", 3));
    EXPECT_EQ(f.reason, "text_too_large");
    EXPECT_EQ(f.path, "items[3].personalization.name");
}

// Work moves (below Z 0) of a CNC program: their XY bounding box and deepest Z.
struct CutExtent {
    double minX = 1e9, minY = 1e9, maxX = -1e9, maxY = -1e9, minZ = 0;
};

CutExtent cutExtent(const JobArtifact& a) {
    CutExtent e;
    const auto parsed = GcodeProgram::parse(a.program);
    for (const Move& m : std::get<GcodeProgram>(parsed).moves()) {
        if (m.to.z >= 0 || m.from.z >= 0) continue;
        e.minX = std::min({e.minX, m.from.x, m.to.x});
        e.maxX = std::max({e.maxX, m.from.x, m.to.x});
        e.minY = std::min({e.minY, m.from.y, m.to.y});
        e.maxY = std::max({e.maxY, m.from.y, m.to.y});
        e.minZ = std::min(e.minZ, m.to.z);
    }
    return e;
}

TEST(ItemCompiler, SignIsEngravedThenCutOutAsTwoCheckedJobsOnOneProof) {
    REQUIRE_HERSHEY_FONTS();
    test::TempDir dir;
    const Catalog catalog = catalogAsShipped();
    ItemCompiler compiler(dir.path() / "cache");
    const CompiledItem item =
        compiled(compiler.compile(catalog, "SIGN-PINE-CNC", R"({"text":"The Millers","width_mm":300,"height_mm":120})", 1));
    ASSERT_EQ(item.operations.size(), 2u);
    const CompiledOperation& engrave = item.operations[0];
    const CompiledOperation& cut = item.operations[1];
    EXPECT_EQ(engrave.operation, "cnc_engrave");
    EXPECT_EQ(cut.operation, "cnc_profile");
    for (const CompiledOperation* op : {&engrave, &cut}) {
        EXPECT_EQ(op->artifact.capability, "cnc");
        EXPECT_EQ("", violations(catalog, "cnc-600", op->artifact)) << op->operation;
        EXPECT_GT(op->artifact.estimatedSeconds, 0) << op->operation;
    }
    EXPECT_NE(engrave.artifact.sha256, cut.artifact.sha256);
    EXPECT_GE(engrave.textHeight, 10.0);

    // The shipped catalog: work area x 10..430, y 10..230, so the 300 x 120 sign spans x 70..370, y 60..180;
    // pine is 18 mm thick, the tool 3.175 mm, the text margin 15 mm.
    const CatalogEntry& sku = *catalog.find("SIGN-PINE-CNC");
    const WorkArea area = *sku.workArea;
    const double cx = area.x + area.width / 2, cy = area.y + area.height / 2;
    const double tool = catalog.material("pine")->profile->tool.diameter;
    const CutExtent outline = cutExtent(cut.artifact);
    EXPECT_NEAR(outline.minX, cx - 150 - tool / 2, 0.01);
    EXPECT_NEAR(outline.maxX, cx + 150 + tool / 2, 0.01);
    EXPECT_NEAR(outline.minY, cy - 60 - tool / 2, 0.01);
    EXPECT_NEAR(outline.maxY, cy + 60 + tool / 2, 0.01);
    EXPECT_LE(outline.minZ, -catalog.material("pine")->profile->thickness) << "the cut goes through the board";

    const CutExtent letters = cutExtent(engrave.artifact);
    EXPECT_GE(letters.minX, cx - 150 + 15 - 1e-6) << "the lettering stays inside the sign, 15 mm from its edge";
    EXPECT_LE(letters.maxX, cx + 150 - 15 + 1e-6);
    EXPECT_GE(letters.minY, cy - 60 + 15 - 1e-6);
    EXPECT_LE(letters.maxY, cy + 60 - 15 + 1e-6);
    EXPECT_GE(letters.minZ, -catalog.material("pine")->vbit->depth - 1e-9) << "the V-bit stops at its depth";

    // Both jobs run on the same router: one proof, the cut drawn in the second layer's colour.
    EXPECT_EQ(engrave.proofPng, cut.proofPng);
    const std::vector<unsigned char> bytes(cut.proofPng.begin(), cut.proofPng.end());
    const cv::Mat img = cv::imdecode(bytes, cv::IMREAD_COLOR);
    ASSERT_FALSE(img.empty());
    const auto red = ProofRenderer::layerColour(1);
    std::size_t redPixels = 0;
    for (int y = 0; y < img.rows; ++y)
        for (int x = 0; x < img.cols; ++x) {
            const auto px = img.at<cv::Vec3b>(y, x);
            redPixels += px[0] == red[0] && px[1] == red[1] && px[2] == red[2];
        }
    EXPECT_GT(redPixels, 500u) << "the cut-out outline is on the proof";
}

TEST(ItemCompiler, RoundCoasterIsCarvedInsideItsCircleThenCutOutAsADisc) {
    REQUIRE_HERSHEY_FONTS();
    test::TempDir dir;
    const Catalog catalog = catalogAsShipped();
    ItemCompiler compiler(dir.path() / "cache");
    const CompiledItem item =
        compiled(compiler.compile(catalog, "COASTER-PINE-CNC", R"({"text":"A & M","diameter_mm":110})", 0));
    ASSERT_EQ(item.operations.size(), 2u);
    const CatalogEntry& sku = *catalog.find("COASTER-PINE-CNC");
    const double cx = sku.workArea->x + sku.workArea->width / 2, cy = sku.workArea->y + sku.workArea->height / 2;
    const auto& profile = *catalog.material("pine-10")->profile;
    // Every cutting point of the disc is one tool radius outside the 110 mm circle.
    const auto parsed = GcodeProgram::parse(item.operations[1].artifact.program);
    std::size_t below = 0;
    for (const Move& m : std::get<GcodeProgram>(parsed).moves())
        if (m.to.z < 0 && m.from.z < 0) {
            ++below;
            EXPECT_NEAR(std::hypot(m.to.x - cx, m.to.y - cy), 55 + profile.tool.diameter / 2, 0.02);
        }
    EXPECT_GT(below, 100u);
    EXPECT_LE(cutExtent(item.operations[1].artifact).minZ, -profile.thickness);
    // The letters stay 8 mm (the margin) inside the disc.
    const auto letters = GcodeProgram::parse(item.operations[0].artifact.program);
    for (const Move& m : std::get<GcodeProgram>(letters).moves())
        if (m.to.z < 0) {
            EXPECT_LE(std::hypot(m.to.x - cx, m.to.y - cy), 55 - 8 + 1e-6);
        }
    EXPECT_EQ(item.operations[0].proofPng, item.operations[1].proofPng);
}

TEST(ItemCompiler, SmallSignLeavesTooLittleRoomForLongTextInsideItsMargin) {
    REQUIRE_HERSHEY_FONTS();
    test::TempDir dir;
    ItemCompiler compiler(dir.path() / "cache");
    // Fits the 420 mm work area at 10 mm, but not the 120 mm inside of a 150 mm sign.
    const std::string text(24, 'W');
    const auto big = compiler.compile(catalogAsShipped(), "SIGN-PINE-CNC", R"({"text":")" + text + R"(","width_mm":400})", 0);
    EXPECT_TRUE(std::holds_alternative<CompiledItem>(big));
    const ItemFailure f =
        itemFailure(compiler.compile(catalogAsShipped(), "SIGN-PINE-CNC", R"({"text":")" + text + R"(","width_mm":150})", 0));
    EXPECT_EQ(f.reason, "text_too_large");
    EXPECT_EQ(f.path, "items[0].personalization.text");
}

TEST(ItemCompiler, KeychainPrintsWithTheRealToolsAndIsCachedTheSecondTime) {
    for (const char* tool : {"openscad", "prusa-slicer", "fc-list"})
        if (!onPath(tool)) GTEST_SKIP() << tool << " is not installed (apt install openscad prusa-slicer fontconfig)";
    test::TempDir dir;
    const Catalog catalog = catalogAsShipped();
    ItemCompiler compiler(dir.path() / "cache");
    const CompiledOperation first = only(compiled(compiler.compile(catalog, "KEYCHAIN-PLA-PRINT", R"({"name":"Lin"})", 0)));
    EXPECT_EQ(first.artifact.capability, "fdm");
    EXPECT_EQ(first.artifact.format, "gcode-marlin");
    EXPECT_EQ("", violations(catalog, "mk3s", first.artifact));
    EXPECT_GT(first.artifact.estimatedSeconds, 60);
    EXPECT_TRUE(decodesAsImage(first.proofPng));

    std::size_t cached = 0;
    for (const auto& f : fs::directory_iterator(dir.path() / "cache")) cached += f.path().extension() == ".gcode";
    EXPECT_EQ(cached, 1u);
    const auto before = fs::last_write_time(fs::directory_iterator(dir.path() / "cache")->path());
    const CompiledOperation second = only(compiled(compiler.compile(catalog, "KEYCHAIN-PLA-PRINT", R"({"name":"Lin"})", 0)));
    EXPECT_EQ(second.artifact.sha256, first.artifact.sha256);
    cached = 0;
    for (const auto& f : fs::directory_iterator(dir.path() / "cache")) cached += f.path().extension() == ".gcode";
    EXPECT_EQ(cached, 1u) << "the second compile is served from the cache";
    EXPECT_EQ(fs::last_write_time(fs::directory_iterator(dir.path() / "cache")->path()), before);
}

TEST(ItemCompiler, StockClipIsItsPreSlicedProgramCheckedAgainstThePrinter) {
    test::TempDir dir;
    const Catalog catalog = catalogAsShipped();
    ItemCompiler compiler(dir.path() / "cache");
    const CompiledOperation clip = only(compiled(compiler.compile(catalog, "CLIP-PLA-PRINT", "", 0)));
    EXPECT_EQ(clip.operation, "print");
    EXPECT_EQ(clip.artifact.capability, "fdm");
    EXPECT_EQ(clip.artifact.format, "gcode-marlin");
    EXPECT_EQ("", violations(catalog, "mk3s", clip.artifact));
    EXPECT_EQ(clip.artifact.program, test::readFile(test::sourceDir() + "/config/gcode/cable-clip.gcode"));
    // The slicer wrote "estimated printing time (normal mode) = 5m 48s" into the file.
    EXPECT_NEAR(clip.artifact.estimatedSeconds, 348, 1);
    EXPECT_GT(clip.artifact.workMm, 100);
    EXPECT_TRUE(decodesAsImage(clip.proofPng));
    EXPECT_TRUE(fs::is_empty(dir.path() / "cache") || !fs::exists(dir.path() / "cache")) << "nothing is sliced";
}

TEST(ItemCompiler, PreSlicedProgramOutsideThePrinterIsRefusedWithTheCheckersReason) {
    test::TempDir dir;
    Catalog catalog = catalogAsShipped();
    // The same clip moved 300 mm to the right: past the MK3S's 250 mm bed.
    std::string program = test::readFile(test::sourceDir() + "/config/gcode/cable-clip.gcode");
    std::string moved;
    std::istringstream lines(program);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("G1 X", 0) == 0) {
            const std::size_t end = line.find(' ', 4);
            line = "G1 X" + std::to_string(std::stod(line.substr(4, end - 4)) + 300) + (end == std::string::npos ? "" : line.substr(end));
        }
        moved += line + "\n";
    }
    test::writeFile(dir.path() / "far.gcode", moved);
    CatalogEntry far = *catalog.find("CLIP-PLA-PRINT");
    far.sku = "CLIP-FAR";
    far.gcodePath = (dir.path() / "far.gcode").string();
    catalog.add(far);
    ItemCompiler compiler(dir.path() / "cache");
    const ItemFailure f = itemFailure(compiler.compile(catalog, "CLIP-FAR", "", 4));
    EXPECT_EQ(f.reason, "outside_envelope");
    EXPECT_EQ(f.path, "items[4].sku");
    EXPECT_NE(f.message.find("mk3s"), std::string::npos) << f.message;
}

// Every GRBL job sets the whole modal state first and ends with a program end, whichever generator wrote it;
// the printer's pre-sliced program is passed on as the slicer wrote it (checked above).
TEST(ItemCompiler, EveryGrblJobOpensWithTheModalPreambleAndEndsWithM2) {
    REQUIRE_HERSHEY_FONTS();
    test::TempDir dir;
    const Catalog catalog = catalogAsShipped();
    ItemCompiler compiler(dir.path() / "cache");
    const std::vector<std::pair<std::string, std::string>> orders{
        {"COASTER-OAK-ENGRAVED", R"({"text":"Ada"})"},
        {"TAG-STEEL-ENGRAVED", R"({"name":"Bo"})"},
        {"SIGN-PINE-CNC", R"({"text":"Cy","width_mm":200,"height_mm":100})"},
        {"COASTER-PINE-CNC", R"({"text":"Di","diameter_mm":100})"}};
    std::size_t jobs = 0;
    for (const auto& [sku, personalization] : orders) {
        const CompiledItem item = compiled(compiler.compile(catalog, sku, personalization, 0));
        for (const CompiledOperation& op : item.operations) {
            const std::string& program = op.artifact.program;
            EXPECT_EQ(op.artifact.format, "gcode-grbl") << sku;
            EXPECT_EQ(program.rfind("G21 G90 G17 G94\n", 0), 0u) << sku << " " << op.operation;
            ASSERT_GE(program.size(), 4u);
            EXPECT_EQ(program.substr(program.size() - 4), "\nM2\n") << sku << " " << op.operation;
            ++jobs;
        }
    }
    EXPECT_EQ(jobs, 6u);
}

TEST(ItemCompiler, GrblMachineWhoseAllowedWordsLackTheProgramEndIsCompileFailedNamingIt) {
    REQUIRE_HERSHEY_FONTS();
    test::TempDir dir;
    Catalog catalog = catalogAsShipped();
    MachineProfile old = *catalog.machine("laser-400");
    old.allowedWords.erase("M2");
    catalog.addMachine(old);
    ItemCompiler compiler(dir.path() / "cache");
    const ItemFailure f = itemFailure(compiler.compile(catalog, "COASTER-OAK-ENGRAVED", R"({"text":"Ada"})", 0));
    EXPECT_EQ(f.reason, "compile_failed");
    EXPECT_NE(f.message.find("does not allow M2"), std::string::npos) << f.message;
}

TEST(ItemCompiler, SkuWithoutGeneratorIsCompileFailedAtTheSku) {
    test::TempDir dir;
    Catalog catalog;
    catalog.add(CatalogEntry{.sku = "MUG-PLAIN", .name = "Plain mug"});
    ItemCompiler compiler(dir.path() / "cache");
    ItemFailure f = itemFailure(compiler.compile(catalog, "MUG-PLAIN", "{}", 2));
    EXPECT_EQ(f.reason, "compile_failed");
    EXPECT_EQ(f.path, "items[2].sku");
    f = itemFailure(compiler.compile(catalog, "NOT-SOLD-HERE", "{}", 0));
    EXPECT_EQ(f.reason, "unknown_sku");
}

TEST(ItemCompiler, ToolErrorsComeBackAsCompileFailedNotExceptions) {
    test::TempDir dir;
    Catalog catalog = catalogAsShipped();
    CatalogEntry broken = *catalog.find("COASTER-OAK-ENGRAVED");
    broken.sku = "COASTER-NO-FONT";
    broken.font = "../etc/passwd";   // fontPath refuses it
    catalog.add(broken);
    ItemCompiler compiler(dir.path() / "cache");
    const ItemFailure f = itemFailure(compiler.compile(catalog, "COASTER-NO-FONT", R"({"text":"Ada"})", 0));
    EXPECT_EQ(f.reason, "compile_failed");
    EXPECT_EQ(f.path, "items[0].sku");
    EXPECT_FALSE(f.message.empty());
}

// Random personalizations, well-formed or not, against every SKU of the shipped catalog that compiles
// without external tools: each item compiles into checked jobs or fails with a known reason at a path
// inside the item; nothing throws.
TEST(ItemCompiler, RandomPersonalizationsCompileOrFailWithAReasonNeverAnException) {
    REQUIRE_HERSHEY_FONTS();
    test::TempDir dir;
    const Catalog catalog = catalogAsShipped();
    ItemCompiler compiler(dir.path() / "cache");
    const std::vector<std::string> skus{"COASTER-OAK-ENGRAVED", "TAG-STEEL-ENGRAVED", "SIGN-PINE-CNC", "COASTER-PINE-CNC",
                                        "CLIP-PLA-PRINT", "NO-SUCH-SKU"};
    // Samples from every Unicode general category, plus the symbols the fallback font draws.
    const std::vector<char32_t> exotic{0xc9,   0x3b1,  0x416,   0x5d0,   0x4e2d,  0xac00, 0x301,  0x903,  0x20dd, 0x660,
                                       0x2160, 0xb2,   0x203f,  0x2014,  0x300c,  0xab,   0xbf,   0x221e, 0x20ac, 0xb4,
                                       0xa9,   0x2665, 0x2603,  0x1f389, 0x1f600, 0xa0,   0x3000, 0x2028, 0x2029, 0x85,
                                       0x200b, 0xfeff, 0x202e,  0xe000,  0x10fffd, 0x378, 0xfffe, 0x2660, 0x2605, 0xa7};
    const std::set<std::string> reasons{"missing_glyph", "text_too_large", "empty_text", "invalid_utf8", "unknown_sku",
                                        "compile_failed", "outside_envelope", "laser_on_travel", "command_not_allowed",
                                        "feed_too_high", "feed_missing", "no_moves"};
    std::mt19937 rng(4242);
    auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
    auto randomText = [&] {
        std::string text;
        const std::size_t length = pick(24);
        for (std::size_t i = 0; i < length; ++i) {
            const char32_t c = pick(4) == 0 ? exotic[pick(exotic.size())] : static_cast<char32_t>(0x20 + pick(0x5f));
            // UTF-8 by hand: the test must not depend on the code under test to encode.
            if (c < 0x80) text += static_cast<char>(c);
            else if (c < 0x800) text += {static_cast<char>(0xc0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3f))};
            else if (c < 0x10000)
                text += {static_cast<char>(0xe0 | (c >> 12)), static_cast<char>(0x80 | ((c >> 6) & 0x3f)),
                         static_cast<char>(0x80 | (c & 0x3f))};
            else
                text += {static_cast<char>(0xf0 | (c >> 18)), static_cast<char>(0x80 | ((c >> 12) & 0x3f)),
                         static_cast<char>(0x80 | ((c >> 6) & 0x3f)), static_cast<char>(0x80 | (c & 0x3f))};
        }
        return text;
    };
    std::map<std::string, int> compiledBySku, reasonsSeen;
    for (int iteration = 0; iteration < 300; ++iteration) {
        const std::string sku = skus[pick(skus.size())];
        boost::json::object p;
        const std::string textKey = sku == "TAG-STEEL-ENGRAVED" ? "name" : "text";
        switch (pick(6)) {
        case 0: break;                                                  // nothing at all
        case 1: p[textKey] = static_cast<std::int64_t>(pick(1000)); break;   // a number where text belongs
        default: p[textKey] = randomText();
        }
        if (pick(2)) p["width_mm"] = static_cast<double>(pick(600)) - 50;   // in and far out of range
        if (pick(2)) p["height_mm"] = static_cast<double>(pick(300)) - 20;
        if (pick(2)) p["diameter_mm"] = static_cast<double>(pick(200)) - 10;
        if (pick(3) == 0) p["corner_radius_mm"] = static_cast<double>(pick(100));
        if (pick(4) == 0) p["align"] = pick(2) ? "left" : "diagonal";
        const std::string json = pick(20) == 0 ? "[not json" : boost::json::serialize(p);
        const std::size_t index = pick(500);
        SCOPED_TRACE(sku + " " + json);
        std::variant<CompiledItem, ItemFailure> result;
        ASSERT_NO_THROW(result = compiler.compile(catalog, sku, json, index));
        if (const auto* f = std::get_if<ItemFailure>(&result)) {
            EXPECT_TRUE(reasons.count(f->reason)) << f->reason << ": " << f->message;
            EXPECT_EQ(f->path.rfind("items[" + std::to_string(index) + "]", 0), 0u) << f->path;
            EXPECT_FALSE(f->message.empty());
            ++reasonsSeen[f->reason];
            continue;
        }
        const auto& item = std::get<CompiledItem>(result);
        ASSERT_FALSE(item.operations.empty());
        for (const CompiledOperation& op : item.operations)
            EXPECT_EQ("", violations(catalog, op.machine, op.artifact)) << op.operation;
        ++compiledBySku[sku];
    }
    for (const char* sku : {"COASTER-OAK-ENGRAVED", "TAG-STEEL-ENGRAVED", "SIGN-PINE-CNC", "COASTER-PINE-CNC", "CLIP-PLA-PRINT"})
        EXPECT_GT(compiledBySku[sku], 0) << sku << " never compiled: the random inputs are too hostile to prove anything";
    for (const char* reason : {"missing_glyph", "text_too_large", "empty_text", "unknown_sku", "compile_failed"})
        EXPECT_GT(reasonsSeen[reason], 0) << reason;
}

TEST(CatalogMachines, ShippedCatalogDefinesTheMachinesAndMaterialsItsSkusUse) {
    const Catalog catalog = catalogAsShipped();
    const MachineProfile* laser = catalog.machine("laser-400");
    ASSERT_NE(laser, nullptr);
    EXPECT_EQ(laser->capability, "laser");
    EXPECT_DOUBLE_EQ(laser->sizeX, 400);
    EXPECT_TRUE(laser->allowedWords.count("M4"));
    ASSERT_NE(catalog.machine("cnc-600"), nullptr);
    EXPECT_DOUBLE_EQ(catalog.machine("cnc-600")->minZ, -20);
    ASSERT_NE(catalog.machine("mk3s"), nullptr);
    ASSERT_NE(catalog.material("oak"), nullptr);
    EXPECT_TRUE(catalog.material("oak")->laser);
    ASSERT_NE(catalog.material("pine"), nullptr);
    EXPECT_TRUE(catalog.material("pine")->vbit);
    EXPECT_TRUE(catalog.material("pine")->profile);
    EXPECT_NE(catalog.material("pla"), nullptr);
    EXPECT_EQ(catalog.machine("laser-900"), nullptr);
}

TEST(CatalogMachines, UnknownMachineOrMaterialIsRefusedNamingFileAndKey) {
    test::TempDir dir;
    const std::string machine =
        "[machine.l]\ncapability='laser'\nsize_x=100\nsize_y=100\nmax_feed=3000\nacceleration=500\n"
        "allowed=['G0','G1','M4','M5','S','F']\n[material.oak]\npower=500\nfeed=1000\n";
    const std::string sku = "[sku.A]\nname='a'\ngenerator='laser_text'\ncapability='laser'\nfont='futural'\n"
                            "work_area={x=0,y=0,width=50,height=50}\n";
    struct Case {
        std::string toml, expect;
    };
    std::vector<Case> cases{
        {machine + sku + "machine='nope'\nmaterial='oak'\n", "key 'sku.A.machine'"},
        {machine + sku + "material='oak'\n", "key 'sku.A.machine'"},
        {machine + sku + "machine='l'\nmaterial='teak'\n", "key 'sku.A.material'"},
        {machine + "[material.pine]\nvbit_angle=60\n" + sku + "machine='l'\nmaterial='oak'\n",
         "key 'material.pine.depth'"},
        {"[machine.l]\ncapability='laser'\nsize_x=0\n" + sku, "key 'machine.l.size_x'"},
        {machine + "[sku.A]\nname='a'\ngenerator='laser_text'\ncapability='laser'\nfont='futural'\n"
                   "work_area={x=80,y=0,width=50,height=50}\nmachine='l'\nmaterial='oak'\n",
         "key 'sku.A.work_area'"},
    };
    for (const auto& c : cases) {
        const fs::path path = dir.path() / "catalog.toml";
        test::writeFile(path, c.toml);
        try {
            Catalog::load(path);
            ADD_FAILURE() << "accepted: " << c.toml;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(c.expect), std::string::npos) << e.what();
        }
    }
    // Without a generator a SKU needs no machine: catalogs that only describe products still load.
    test::writeFile(dir.path() / "catalog.toml", "[sku.A]\nname='a'\nmachine='anything'\n");
    EXPECT_NO_THROW(Catalog::load(dir.path() / "catalog.toml"));
}

} // namespace
} // namespace mto
