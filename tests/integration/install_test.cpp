// SPDX-License-Identifier: Apache-2.0
// `cmake --install` puts everything the catalog names beside it, so the installed service can load it.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "catalog.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

namespace fs = std::filesystem;

TEST(Install, TheInstalledCatalogLoadsWithEveryFileItNames) {
    TempDir dir;
    const fs::path buildDir = fs::path(agentBinary()).parent_path();
    std::string out;
    // The cmake that configured this build, installing it under a scratch DESTDIR.
    ASSERT_EQ(runCommand({MTO_CMAKE_COMMAND, "-E", "env", "DESTDIR=" + (dir.path() / "root").string(), MTO_CMAKE_COMMAND,
                          "--install", buildDir.string()},
                         out),
              0)
        << out;
    const fs::path etc = dir.path() / "root/etc/mto-agent";
    ASSERT_TRUE(fs::exists(etc / "agent.toml")) << out;
    const Catalog installed = Catalog::load(etc / "catalog.toml");   // refuses a missing template, profile or G-code
    const Catalog shipped = Catalog::load(sourceDir() + "/config/catalog.toml");
    EXPECT_EQ(installed.size(), shipped.size());
    for (const char* sku : {"KEYCHAIN-PLA-PRINT", "CLIP-PLA-PRINT"}) {
        const CatalogEntry* e = installed.find(sku);
        ASSERT_NE(e, nullptr) << sku;
        for (const std::string& file : {e->templatePath, e->printerProfile, e->gcodePath})
            if (!file.empty()) {
                EXPECT_EQ(fs::path(file).parent_path().parent_path(), etc) << file;
            }
    }
}

} // namespace
} // namespace mto::test
