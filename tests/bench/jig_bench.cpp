// SPDX-License-Identifier: Apache-2.0
// Jigs: machine time of a 200-tag bulk order marked on a 20-slot jig against one job per tag.
#include <cmath>
#include <string>
#include <variant>
#include <vector>

#include "bench_support.hpp"
#include "benchmarks.hpp"
#include "catalog.hpp"
#include "compiler/gcode_estimator.hpp"
#include "compiler/item_compiler.hpp"
#include "scheduler/jig.hpp"
#include "test_env.hpp"

namespace mto::bench {

namespace {

const std::string kJigBench = "jig";
constexpr int kTags = 200;
constexpr int kColumns = 4, kRows = 5;   // 20 slots
// The agent's default [scheduler] bed_clear_s: the operator's time at the machine after each job.
constexpr double kBedClearS = 60;

} // namespace

void runJigBench(const BenchOptions&, BenchReport& report) {
    test::TempDir dir;
    const auto catalog = Catalog::load(test::sourceDir() + "/config/catalog.toml");
    const CatalogEntry* tag = catalog.find("TAG-STEEL-ENGRAVED");
    if (!tag || !tag->workArea) throw BenchError("the example catalog has no TAG-STEEL-ENGRAVED with a work area");
    const MachineProfile* profile = catalog.machine(tag->machine);
    if (!profile) throw BenchError("the example catalog has no machine profile " + tag->machine);

    // The order's own programs, each with its own name, as the compile room makes them.
    ItemCompiler compiler(dir.path() / "slice-cache");
    std::vector<JobArtifact> tags;
    for (int i = 0; i < kTags; ++i) {
        throwIfInterrupted();
        auto result = compiler.compile(catalog, tag->sku, R"({"name":"Tag )" + std::to_string(1000 + i) + "\"}",
                                       static_cast<std::size_t>(i));
        if (auto* f = std::get_if<ItemFailure>(&result)) throw BenchError("tag " + std::to_string(i) + ": " + f->message);
        tags.push_back(std::get<CompiledItem>(result).operations.front().artifact);
    }

    // One job per tag: each program as compiled (travel from and back to the origin included), then a bed clear.
    double singleMachine = 0;
    for (const auto& a : tags) singleMachine += a.estimatedSeconds;
    const double singleTotal = singleMachine + kTags * kBedClearS;

    // The jig: slots one work area wide and high, 10 mm apart, from the work area's own corner.
    Jig jig;
    jig.id = "tags-20";
    const WorkArea& wa = *tag->workArea;
    for (int r = 0; r < kRows; ++r)
        for (int c = 0; c < kColumns; ++c)
            jig.slots.push_back({wa.x + c * (wa.width + 10), wa.y + r * (wa.height + 10), wa.width, wa.height});
    if (slotOutsideEnvelope(jig.slots, *profile)) throw BenchError("the bench's jig does not fit " + profile->name);
    jig.partOrigins[tag->sku] = {wa.x, wa.y};
    const std::size_t slots = jig.slots.size();
    double jigMachine = 0;
    int runs = 0;
    for (std::size_t first = 0; first < tags.size(); first += slots) {
        std::vector<JigPlacement> placements;
        for (std::size_t i = first; i < std::min(tags.size(), first + slots); ++i)
            placements.push_back({&tags[i], tag->sku, i - first, "tag " + std::to_string(i)});
        auto built = buildJigProgram(jig, placements, *profile, false);
        if (auto* r = std::get_if<JigRefusal>(&built)) throw BenchError("jig run refused: " + r->reason + ": " + r->message);
        jigMachine += std::get<JigProgram>(built).artifact.estimatedSeconds;
        ++runs;
    }
    const double jigTotal = jigMachine + runs * kBedClearS;

    report.figure(kJigBench, "workload",
                  std::to_string(kTags) + " steel tags (" + tag->sku + ", each its own name) on " + profile->name +
                      ", bed clear " + fixed(kBedClearS, 0) + " s per job ([scheduler] bed_clear_s default), times "
                      "from the G-code estimator");
    report.figure(kJigBench, "one job per tag",
                  std::to_string(kTags) + " programs: " + fixed(singleMachine, 0) + " s running + " +
                      fixed(kTags * kBedClearS, 0) + " s bed clears = " + fixed(singleTotal / 3600, 2) + " h");
    report.figure(kJigBench, "20-slot jig",
                  std::to_string(runs) + " programs: " + fixed(jigMachine, 0) + " s running + " +
                      fixed(runs * kBedClearS, 0) + " s bed clears = " + fixed(jigTotal / 3600, 2) + " h");
    report.info(kJigBench, "running time alone, one job per tag / jig", fixed(singleMachine / jigMachine, 2) + "x");
    // The burning itself is the same on a jig; what a jig saves is the per-job overhead. This is the ratio a jig
    // would reach with no bed clear at all, the ceiling for this workload whatever the jig.
    report.info(kJigBench, "ceiling (one job per tag / jig running time alone)", fixed(singleTotal / jigMachine, 2) + "x");

    report.goal(kJigBench, "machine time, one job per tag / jig", singleTotal / jigTotal, "x", 3.0, Better::Higher);
}

} // namespace mto::bench
