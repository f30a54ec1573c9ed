// SPDX-License-Identifier: Apache-2.0
// Job compiler benchmark: laser items per second on one core, bulk cost per item, slice-cache hit vs miss.
#include <chrono>
#include <cstdio>

#include "benchmarks.hpp"
#include "catalog.hpp"
#include "item_compiler.hpp"
#include "test_env.hpp"

namespace mto::bench {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Compiles `n` steel tags, each with its own name, as one bulk order would; returns seconds.
double compileTags(const ItemCompiler& compiler, const Catalog& catalog, int n, int& failures) {
    auto started = Clock::now();
    for (int i = 0; i < n; ++i) {
        std::string name = "Tag " + std::to_string(100000 + i);
        auto result = compiler.compile(catalog, "TAG-STEEL-ENGRAVED", R"({"name":")" + name + "\"}",
                                       static_cast<std::size_t>(i));
        if (std::holds_alternative<ItemFailure>(result)) ++failures;
    }
    return secondsSince(started);
}

} // namespace

void runCompileBench(const BenchOptions& options, BenchReport& report) {
    test::TempDir dir;
    auto catalog = Catalog::load(test::sourceDir() + "/config/catalog.toml");
    ItemCompiler compiler(dir.path() / "slice-cache");
    int failures = 0;

    // Items per second on one core: the compile path a laser item takes (layout, G-code, check,
    // estimate, proof PNG), on this thread only.
    const int items = options.quick ? 200 : 2000;
    compileTags(compiler, catalog, 20, failures);   // warm the font cache
    double t = compileTags(compiler, catalog, items, failures);
    report.figure("compile", "laser items on one core",
                  std::to_string(items) + " steel-tag items in " + std::to_string(t).substr(0, 5) + " s = " +
                      std::to_string(static_cast<int>(items / t)) + " items/s");

    // Bulk orders: cost per item should not grow with the order's size.
    const int big = options.quick ? 1000 : 10000;
    double per1 = 0, per100 = 0, perBig = 0;
    for (int round = 0; round < 5; ++round) per1 += compileTags(compiler, catalog, 1, failures) / 5;
    per100 = compileTags(compiler, catalog, 100, failures) / 100;
    perBig = compileTags(compiler, catalog, big, failures) / big;
    char line[256];
    std::snprintf(line, sizeof line, "per item: 1 item %.3f ms, 100 items %.3f ms, %d items %.3f ms", per1 * 1e3,
                  per100 * 1e3, big, perBig * 1e3);
    report.figure("compile", "bulk cost per item", line);
    report.goal("compile", "per-item cost, " + std::to_string(big) + " vs 100 items", perBig / per100, "x", 1.15,
                Better::Lower);
    report.check("compile", "every item compiled", failures == 0, std::to_string(failures) + " failure(s)");

    // Slice cache: the same keychain twice; the second must not run openscad or prusa-slicer.
    auto miss = Clock::now();
    auto first = compiler.compile(catalog, "KEYCHAIN-PLA-PRINT", R"({"name":"Lin"})", 0);
    double missS = secondsSince(miss);
    auto hit = Clock::now();
    auto second = compiler.compile(catalog, "KEYCHAIN-PLA-PRINT", R"({"name":"Lin"})", 0);
    double hitS = secondsSince(hit);
    bool ok = std::holds_alternative<CompiledItem>(first) && std::holds_alternative<CompiledItem>(second);
    std::snprintf(line, sizeof line, "miss %.3f s (openscad + prusa-slicer), hit %.4f s, hit/miss %.4f", missS,
                  hitS, hitS / missS);
    report.figure("compile", "slice cache", line);
    report.check("compile", "keychain compiled twice", ok, ok ? "both compiled" : "a compile failed");
}

} // namespace mto::bench
