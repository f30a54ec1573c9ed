// SPDX-License-Identifier: Apache-2.0
// The product catalog: which SKUs this factory makes (config/catalog.toml).
#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace mto {

struct CatalogEntry {
    std::string sku;
    std::string name;
};

// Immutable once loaded; shared read-only between threads.
class Catalog {
public:
    // Throws mto::Error naming the file, the key and the problem.
    static Catalog load(const std::filesystem::path& path);

    bool contains(const std::string& sku) const { return entries_.count(sku) != 0; }
    std::size_t size() const { return entries_.size(); }
    void add(CatalogEntry e) { entries_[e.sku] = std::move(e); }

private:
    std::map<std::string, CatalogEntry> entries_;
};

} // namespace mto
