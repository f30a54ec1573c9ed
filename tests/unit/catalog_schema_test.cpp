// SPDX-License-Identifier: Apache-2.0
// Per-SKU parameter schemas: the shipped catalog loads, and orders are checked against their SKU's schema.
#include <gtest/gtest.h>

#include <set>

#include "catalog.hpp"
#include "mto/error.hpp"
#include "intake/order_parser.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

Catalog shippedCatalog() { return Catalog::load(test::sourceDir() + "/config/catalog.toml"); }

std::vector<Rejection> problems(const std::string& personalization, const std::string& sku = "COASTER-OAK-ENGRAVED") {
    OrderParser parser(ParseLimits{});
    auto result = parser.parseOrder(R"({"order_id":"S-1","items":[{"item_id":"1","sku":")" + sku +
                                        R"(","qty":1,"personalization":)" + personalization + "}]}",
                                    shippedCatalog());
    if (std::holds_alternative<Order>(result)) return {};
    return std::get<Rejections>(result).list;
}

TEST(CatalogSchema, ShippedCatalogDescribesEveryGenerator) {
    auto catalog = shippedCatalog();
    std::set<std::string> generators;
    for (const char* sku : {"COASTER-OAK-ENGRAVED", "SIGN-PINE-CNC", "KEYCHAIN-PLA-PRINT", "TAG-STEEL-ENGRAVED"}) {
        const CatalogEntry* e = catalog.find(sku);
        ASSERT_NE(e, nullptr) << sku;
        EXPECT_FALSE(e->route.empty()) << sku;
        EXPECT_FALSE(e->capability.empty()) << sku;
        EXPECT_TRUE(e->hasSchema()) << sku;
        generators.insert(e->generator);
    }
    EXPECT_EQ(generators, (std::set<std::string>{"laser_text", "vbit_text", "print_scad"}));
    const CatalogEntry* coaster = catalog.find("COASTER-OAK-ENGRAVED");
    ASSERT_TRUE(coaster->workArea);
    EXPECT_DOUBLE_EQ(coaster->workArea->width, 80);
    EXPECT_EQ(coaster->params.at("align").defaultValue, "center");
    EXPECT_TRUE(coaster->params.at("text").required);
}

TEST(CatalogSchema, ValidPersonalizationPasses) {
    EXPECT_TRUE(problems(R"({"text":"Ada 2026","align":"left"})").empty());
    EXPECT_TRUE(problems(R"({"text":"The Millers","width_mm":300})", "SIGN-PINE-CNC").empty());
    EXPECT_TRUE(problems(R"({"text":"Zoë Ångström"})", "SIGN-PINE-CNC").empty()) << "latin allows accents";
}

TEST(CatalogSchema, EachRuleHasItsReasonAndPath) {
    struct Case {
        std::string personalization, sku, reason, path;
    };
    std::vector<Case> cases{
        {"{}", "COASTER-OAK-ENGRAVED", "missing_parameter", "items[0].personalization.text"},
        {R"({"text":""})", "COASTER-OAK-ENGRAVED", "missing_parameter", "items[0].personalization.text"},
        {R"({"text":")" + std::string(61, 'x') + "\"}", "COASTER-OAK-ENGRAVED", "too_long",
         "items[0].personalization.text"},
        {R"({"text":"Ada","font":"comic"})", "COASTER-OAK-ENGRAVED", "unknown_parameter",
         "items[0].personalization.font"},
        {R"({"text":"Ada","align":"middle"})", "COASTER-OAK-ENGRAVED", "not_allowed",
         "items[0].personalization.align"},
        {R"({"text":42})", "COASTER-OAK-ENGRAVED", "invalid_parameter", "items[0].personalization.text"},
        {R"({"text":"Sign","width_mm":1000})", "SIGN-PINE-CNC", "out_of_range", "items[0].personalization.width_mm"},
        {R"({"text":"Sign","width_mm":"wide"})", "SIGN-PINE-CNC", "invalid_parameter",
         "items[0].personalization.width_mm"},
        {R"({"text":"Ada ♥"})", "SIGN-PINE-CNC", "invalid_characters", "items[0].personalization.text"},
        {R"({"name":"Lin","color":"green"})", "KEYCHAIN-PLA-PRINT", "not_allowed", "items[0].personalization.color"},
    };
    for (const auto& c : cases) {
        auto list = problems(c.personalization, c.sku);
        ASSERT_FALSE(list.empty()) << c.personalization;
        EXPECT_EQ(list.front().reason, c.reason) << c.personalization;
        EXPECT_EQ(list.front().path, c.path) << c.personalization;
    }
}

// The catalog text is refused at load with an error containing `expect`.
void expectRefused(const test::TempDir& dir, const std::string& toml, const std::string& expect) {
    test::writeFile(dir.path() / "catalog.toml", toml);
    try {
        Catalog::load(dir.path() / "catalog.toml");
        ADD_FAILURE() << "accepted: " << toml;
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
    }
}

TEST(CatalogSchema, BadSchemaIsRefusedNamingTheKey) {
    test::TempDir dir;
    struct Case {
        std::string toml, expect;
    };
    std::vector<Case> cases{
        {"[sku.A]\nname='a'\n[sku.A.params.t]\ntype='text'\n", "key 'sku.A.params.t.type'"},
        {"[sku.A]\nname='a'\n[sku.A.params.t]\ntype='enum'\n", "key 'sku.A.params.t.values'"},
        {"[sku.A]\nname='a'\n[sku.A.params.t]\ntype='integer'\nmin=5\nmax=1\n", "key 'sku.A.params.t.min'"},
        {"[sku.A]\nname='a'\ngenerator='laser_text'\ncapability='laser'\n", "key 'sku.A.generator'"},
        {"[sku.A]\nname='a'\ngenerator='weld'\n", "key 'sku.A.generator'"},
        {"[sku.A]\nname='a'\ncolour='red'\n", "key 'sku.A.colour': unknown key"},
        {"[sku.A]\nname='a'\nwork_area={x=0,y=0,width=0,height=5}\n", "key 'sku.A.work_area'"},
    };
    for (const auto& c : cases) expectRefused(dir, c.toml, c.expect);
}

TEST(CatalogSchema, OperationsAreCheckedAgainstTheRouteMachinesAndMaterials) {
    test::TempDir dir;
    const std::string base =
        "[machine.cnc]\ncapability='cnc'\nsize_x=600\nsize_y=400\nmin_z=-20\nmax_z=30\nmax_feed=3000\n"
        "acceleration=200\nallowed=['G0','G1','G4','G21','G90','M3','M5','S','F']\nmaterials=['pine']\n"
        "[machine.laser]\ncapability='laser'\nsize_x=400\nsize_y=400\nmax_feed=6000\nacceleration=1000\n"
        "allowed=['G0','G1','M4','M5','S','F']\n"
        "[material.pine]\nvbit_angle=60\ndepth=1.5\nstep_down=0.75\nsafe_z=5\nplunge_feed=300\nfeed=1200\n"
        "rpm=18000\ntool_diameter=3.175\nthickness=18\n"
        "[material.oak]\ntool_diameter=3.175\nthickness=10\nstep_down=2\nsafe_z=5\nplunge_feed=300\nfeed=1200\n"
        "rpm=18000\n"
        "[sku.S]\nname='sign'\ngenerator='vbit_text'\ncapability='cnc'\nmachine='cnc'\nmaterial='pine'\n"
        "font='rowmans'\nwork_area={x=10,y=10,width=380,height=200}\nroute=['engrave','cut','qc']\n"
        "[sku.S.params.width_mm]\ntype='number'\ndefault=300\n[sku.S.params.height_mm]\ntype='number'\ndefault=100\n";
    struct Case {
        std::string toml, expect;
    };
    std::vector<Case> cases{
        {"[sku.S.operations.paint]\ngenerator='profile_cut'\n", "key 'sku.S.operations.paint': is not a step of the route"},
        {"[sku.S.operations.engrave]\ngenerator='profile_cut'\n", "key 'sku.S.operations.engrave': is the first step"},
        {"[sku.S.operations.cut]\ngenerator='weld'\n", "key 'sku.S.operations.cut.generator'"},
        {"[sku.S.operations.cut]\ngenerator='profile_cut'\nmachine='mill'\n", "key 'sku.S.operations.cut.machine'"},
        {"[sku.S.operations.cut]\ngenerator='profile_cut'\nmaterial='oak'\n",
         "key 'sku.S.operations.cut.material': material 'oak' is not in the materials of machine 'cnc'"},
        {"[sku.S.operations.cut]\ngenerator='laser_text'\nmachine='laser'\n",
         "key 'sku.S.operations.cut.material': material 'pine' has no laser settings"},
        {"[sku.S.operations.cut]\ngenerator='profile_cut'\nmargin=-1\n", "key 'sku.S.operations.cut.margin'"},
        {"[sku.S.operations.cut]\ngenerator='profile_cut'\nspeed=3\n", "key 'sku.S.operations.cut.speed': unknown key"},
        {"[sku.S.operations.cut]\ngenerator='profile_cut'\nshape='star'\n", "key 'sku.S.operations.cut.shape'"},
        {"[sku.S.operations.cut]\ngenerator='profile_cut'\nshape='circle'\n",
         "key 'sku.S.operations.cut.generator': a circle profile cut needs the number parameter diameter_mm"},
        {"[sku.S.operations.cut]\ngenerator='vbit_text'\nshape='circle'\n", "only a profile_cut has a shape"},
    };
    for (const auto& c : cases) expectRefused(dir, base + c.toml, c.expect);
    // And a good one: the second operation inherits machine and material and is kept in route order.
    test::writeFile(dir.path() / "catalog.toml", base + "[sku.S.operations.cut]\ngenerator='profile_cut'\nmargin=12\n");
    const Catalog catalog = Catalog::load(dir.path() / "catalog.toml");
    const auto& ops = catalog.find("S")->operations;
    ASSERT_EQ(ops.size(), 2u);
    EXPECT_EQ(ops[0].name, "engrave");
    EXPECT_EQ(ops[0].generator, "vbit_text");
    EXPECT_EQ(ops[1].name, "cut");
    EXPECT_EQ(ops[1].machine, "cnc");
    EXPECT_EQ(ops[1].material, "pine");
    EXPECT_EQ(ops[1].capability, "cnc");
    EXPECT_DOUBLE_EQ(ops[1].margin, 12);
}

TEST(CatalogSchema, FilesAGeneratorReadsMustExistWhenTheCatalogLoads) {
    test::TempDir dir;
    const std::string printer =
        "[machine.p]\ncapability='fdm'\nsize_x=250\nsize_y=210\nmax_z=210\nmax_feed=12000\nacceleration=1250\n"
        "allowed=['G1']\n";
    expectRefused(dir,
                  printer + "[sku.CLIP]\nname='clip'\ngenerator='print_file'\ncapability='fdm'\nmachine='p'\n"
                            "gcode='gcode/missing.gcode'\n",
                  "key 'sku.CLIP.gcode': file " + (dir.path() / "gcode/missing.gcode").string() + " does not exist");
    expectRefused(dir,
                  printer + "[sku.KEY]\nname='key'\ngenerator='print_scad'\ncapability='fdm'\nmachine='p'\n"
                            "template='scad/missing.scad'\nprinter_profile='p.ini'\n",
                  "key 'sku.KEY.template'");
    // Present files load; paths are relative to the catalog.
    test::writeFile(dir.path() / "gcode/clip.gcode", "G1 X1 Y1 E1\n");
    test::writeFile(dir.path() / "catalog.toml",
                    printer + "[sku.CLIP]\nname='clip'\ngenerator='print_file'\ncapability='fdm'\nmachine='p'\n"
                              "gcode='gcode/clip.gcode'\n");
    EXPECT_EQ(Catalog::load(dir.path() / "catalog.toml").find("CLIP")->gcodePath, (dir.path() / "gcode/clip.gcode").string());
}

} // namespace
} // namespace mto
