// SPDX-License-Identifier: Apache-2.0
// Turns one order item (SKU + personalization) into a checked, estimated machine job and its proof image.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "catalog.hpp"
#include "compiler/print_job_compiler.hpp"
#include "mto/job.hpp"

namespace mto {

// The job of one machine operation of the item's route.
struct CompiledOperation {
    std::string operation;    // route step, e.g. cnc_engrave
    std::string machine;
    JobArtifact artifact;
    std::string proofPng;     // the tool paths of all the item's operations on this machine, over the work area
    double textHeight = 0;    // cap height the layout chose, mm; 0 for jobs without laid-out text
};

// Every machine operation of the item, in route order (at least one).
struct CompiledItem {
    std::vector<CompiledOperation> operations;
};

// Why an item cannot be made, in the intake's rejection shape.
//   reason: missing_glyph | text_too_large | empty_text | invalid_utf8 (path items[i].personalization.<param>),
//           unknown_sku | compile_failed | a GcodeChecker violation reason (path items[i].sku)
struct ItemFailure {
    std::string reason;
    std::string path;
    std::string message;
};

// Thread-safe: compile() is const and shares only the print compiler, which is itself thread-safe.
class ItemCompiler {
public:
    // cacheDir holds sliced prints (see PrintJobCompiler); options other than the cache keep their defaults.
    explicit ItemCompiler(const std::filesystem::path& printCacheDir);
    explicit ItemCompiler(PrintToolOptions printOptions);

    // Never throws for bad input or a failing tool: every problem comes back as an ItemFailure.
    // personalizationJson is the item's personalization object (already validated by the intake);
    // schema defaults fill what it leaves out.
    std::variant<CompiledItem, ItemFailure> compile(const Catalog& catalog, const std::string& sku,
                                                    const std::string& personalizationJson,
                                                    std::size_t itemIndex) const;

private:
    struct GenerateContext;
    JobArtifact generate(const Catalog& catalog, const CatalogEntry& entry, const Operation& op,
                         const GenerateContext& ctx, double& textHeight) const;

    std::unique_ptr<PrintJobCompiler> print_;
};

} // namespace mto
