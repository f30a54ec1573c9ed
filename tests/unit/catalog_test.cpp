// SPDX-License-Identifier: Apache-2.0
// Catalog::load: the SKUs a factory makes, and errors that point at the broken line or key.
#include <gtest/gtest.h>

#include <string>

#include "catalog.hpp"
#include "mto/error.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

// The message of the mto::Error that loading `text` gives, or a failure when it loads.
std::string loadError(const test::TempDir& dir, const std::string& text) {
    const auto path = dir.path() / "catalog.toml";
    test::writeFile(path, text);
    try {
        Catalog::load(path);
    } catch (const Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "loaded without error:\n" << text;
    return {};
}

TEST(Catalog, ValidFileListsEverySku) {
    test::TempDir dir;
    test::writeFile(dir.path() / "catalog.toml", "# products\n[sku.COASTER-OAK-ENGRAVED]\nname = \"Oak coaster\"\n\n"
                                                 "[sku.\"SIGN.PINE:CNC_2\"]\nname = \"Pine sign\"\n");
    Catalog c = Catalog::load(dir.path() / "catalog.toml");
    EXPECT_EQ(c.size(), 2u);
    EXPECT_TRUE(c.contains("COASTER-OAK-ENGRAVED"));
    EXPECT_TRUE(c.contains("SIGN.PINE:CNC_2"));
    EXPECT_FALSE(c.contains("coaster-oak-engraved"));
    EXPECT_FALSE(c.contains(""));
}

TEST(Catalog, RepositoryCatalogLoads) {
    Catalog c = Catalog::load(std::filesystem::path(test::sourceDir()) / "config" / "catalog.toml");
    EXPECT_GE(c.size(), 1u);
    EXPECT_TRUE(c.contains("COASTER-OAK-ENGRAVED"));
}

TEST(Catalog, ProductWithoutNameIsAnErrorNamingItsKey) {
    test::TempDir dir;
    const std::string msg = loadError(dir, "[sku.A]\nname = \"a\"\n[sku.B]\nprice = 3\n");
    EXPECT_NE(msg.find((dir.path() / "catalog.toml").string() + ": key 'sku.B.name'"), std::string::npos) << msg;
}

TEST(Catalog, EmptyNameIsAnError) {
    test::TempDir dir;
    EXPECT_NE(loadError(dir, "[sku.A]\nname = \"\"\n").find("key 'sku.A.name'"), std::string::npos);
}

TEST(Catalog, FileWithoutProductsIsAnError) {
    test::TempDir dir;
    EXPECT_NE(loadError(dir, "# nothing yet\n").find("key 'sku'"), std::string::npos);
    const std::string msg = loadError(dir, "[sku]\n");
    EXPECT_NE(msg.find("key 'sku'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("no products"), std::string::npos) << msg;
}

TEST(Catalog, SkuThatIsNotATableIsAnError) {
    test::TempDir dir;
    EXPECT_NE(loadError(dir, "[sku]\nA = \"Oak coaster\"\n").find("key 'sku.A'"), std::string::npos);
}

TEST(Catalog, TomlSyntaxErrorNamesFileAndLine) {
    test::TempDir dir;
    const std::string msg = loadError(dir, "[sku.A]\nname = \"a\"\n\n[sku.B\nname = \"b\"\n");
    EXPECT_EQ(msg.rfind((dir.path() / "catalog.toml").string() + ":4:", 0), 0u) << msg;
}

TEST(Catalog, MissingFileIsAnErrorNamingIt) {
    test::TempDir dir;
    const auto path = dir.path() / "absent.toml";
    try {
        Catalog::load(path);
        FAIL() << "a missing catalog loaded";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
}

}   // namespace
}   // namespace mto
