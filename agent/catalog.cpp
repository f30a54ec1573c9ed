// SPDX-License-Identifier: Apache-2.0
// Loads config/catalog.toml: one [sku.<SKU>] table per product.
#include "catalog.hpp"

#include <toml++/toml.h>

#include "mto/error.hpp"

namespace mto {

Catalog Catalog::load(const std::filesystem::path& path) {
    toml::table root;
    try {
        root = toml::parse_file(path.string());
    } catch (const toml::parse_error& e) {
        throw Error(path.string() + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
    }
    const toml::table* skus = root["sku"].as_table();
    if (!skus) throw Error(path.string() + ": key 'sku': missing; add one [sku.<SKU>] table per product");
    Catalog catalog;
    for (const auto& [key, node] : *skus) {
        std::string sku(key.str());
        const toml::table* t = node.as_table();
        if (!t) throw Error(path.string() + ": key 'sku." + sku + "': must be a table");
        if (sku.empty() || sku.size() > 64) throw Error(path.string() + ": key 'sku." + sku + "': SKU must be 1..64 characters");
        auto name = (*t)["name"].value<std::string>();
        if (!name || name->empty())
            throw Error(path.string() + ": key 'sku." + sku + ".name': missing or not a non-empty string");
        catalog.add({sku, *name});
    }
    if (catalog.size() == 0) throw Error(path.string() + ": key 'sku': the catalog lists no products");
    return catalog;
}

} // namespace mto
