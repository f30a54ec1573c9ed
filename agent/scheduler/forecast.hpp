// SPDX-License-Identifier: Apache-2.0
// The queue's forecast: when and on which machine each queued unit is expected to run, from the jobs'
// estimates, in the order the scheduler will hand them out. Pure: it reads nothing and writes nothing.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "scheduler/job_queue.hpp"

namespace mto {

// A machine as the forecast sees it: what it can run, and in how many seconds from now it can start new
// work (the rest of its running unit plus the bed clear). A machine that cannot take work until an operator
// acts (interrupted unit, alarm, refused, disconnected) is left out.
struct ForecastMachine {
    MachineSlot slot;
    double freeInS = 0;
    std::map<std::string, std::size_t> jigSlots;   // SKU → slots of the machine's jig that holds it (a plate: the
                                                   // parts a plate of it takes, PlateFits::partsFor)
};

// One unit of a step of an item: (order, item, step, unit).
using UnitKey = std::tuple<std::string, std::string, int, std::int64_t>;

struct PlannedUnit {
    std::string orderId;
    std::string itemId;
    std::string operation;
    int step = 0;
    std::int64_t unit = 1;
    std::string machineId;   // empty: no machine listed can run it
    double startInS = 0;
    double finishInS = 0;
};

// What the slicer's fall-back taught about a printer's plates (thread-bound to the scheduler's loop): a plate of a
// SKU that did not fit was sliced again with fewer parts, so the scheduler runs plates of that SKU with that many
// parts, not the configured plate_max_parts; not even two: each unit prints alone. The forecast plans plates of
// the size the scheduler last ran, until a larger plate of the SKU fits again.
class PlateFits {
public:
    // A plate of `tried` parts of this SKU was sliced and the first `fitted` of them went on it (1: not even two
    // fit together).
    void record(const std::string& sku, std::size_t tried, std::size_t fitted);
    // The parts a plate of this SKU takes in the forecast: `capacity` (plate_max_parts) until a plate did not fit.
    std::size_t partsFor(const std::string& sku, std::size_t capacity) const;

private:
    std::map<std::string, std::size_t> fitted_;   // by SKU; absent: no plate of it has failed to fit
};

struct ForecastOptions {
    // Seconds an operator takes to clear a bed between two units on a machine.
    double bedClearS = 60;
};

// Plans `jobs` (in queue order, as JobQueue::pendingJobs returns them) one unit at a time on the machine that
// can start it first, as the scheduler will. On a machine with a jig for the job's SKU, units of the same SKU,
// operation and material join the machine's last planned jig run while it has free slots (they run in one
// program: the run ends later by their time, and one bed clear follows the whole run). A later route step starts no earlier than the same unit of the
// step before it finishes: planned here, or running now (`runningFinishInS`, by unit key).
std::vector<PlannedUnit> forecastQueue(std::vector<ForecastMachine> machines, const std::vector<PendingJob>& jobs,
                                       const std::map<UnitKey, double>& runningFinishInS,
                                       const ForecastOptions& options = {});

} // namespace mto
