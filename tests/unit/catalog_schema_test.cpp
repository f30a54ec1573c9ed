// SPDX-License-Identifier: Apache-2.0
// Per-SKU parameter schemas: the shipped catalog loads, and orders are checked against their SKU's schema.
#include <gtest/gtest.h>

#include <set>

#include "catalog.hpp"
#include "mto/error.hpp"
#include "order_parser.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

Catalog shipped() { return Catalog::load(test::sourceDir() + "/config/catalog.toml"); }

std::vector<Rejection> problems(const std::string& personalization, const std::string& sku = "COASTER-OAK-ENGRAVED") {
    OrderParser parser(ParseLimits{});
    auto result = parser.parseOrder(R"({"order_id":"S-1","items":[{"item_id":"1","sku":")" + sku +
                                        R"(","qty":1,"personalization":)" + personalization + "}]}",
                                    shipped());
    if (std::holds_alternative<Order>(result)) return {};
    return std::get<Rejections>(result).list;
}

TEST(CatalogSchema, ShippedCatalogDescribesEveryGenerator) {
    auto catalog = shipped();
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
    for (const auto& c : cases) {
        test::writeFile(dir.path() / "catalog.toml", c.toml);
        try {
            Catalog::load(dir.path() / "catalog.toml");
            ADD_FAILURE() << "accepted: " << c.toml;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(c.expect), std::string::npos) << e.what();
        }
    }
}

} // namespace
} // namespace mto
