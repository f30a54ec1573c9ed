// SPDX-License-Identifier: Apache-2.0
// The queue's forecast: when and on which machine each queued unit is expected to run, from the jobs'
// estimates, in the order the scheduler will hand them out. Pure: it reads nothing and writes nothing. It plans
// one job at a time as the queue is read, so its memory does not grow with the queue.
#pragma once

#include <cstdint>
#include <functional>
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
    const RefusedJobs* refused = nullptr;          // jobs its driver refused: it passes them over (none: null)
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
    std::size_t seq = 0;     // its place in queue order: 0 for the first unit given to the forecast
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

// Plans jobs given in queue order (as JobQueue::forEachPending reads them) one unit at a time on the machine that
// can start it first, as the scheduler will. On a machine with a jig for the job's SKU, units of the same SKU,
// operation and material join the machine's last planned jig run while it has free slots (they run in one
// program: the run ends later by their time, and one bed clear follows the whole run). A later route step starts
// no earlier than the same unit of the step before it finishes: planned just before it (an item's steps follow
// each other in queue order), or running now (`runningFinishInS`, by unit key). A machine passes over the jobs
// its driver refused.
//
// Each unit is handed to `settled` once its plan can no longer change: at once, or for a unit in a jig run when
// the run closes (the machine's next unit is not of it, or finish()). Units therefore settle in queue order except
// that a jig run's units settle together, late; `seq` gives the order back. The forecaster keeps the machines, the
// open jig runs and the current item's finishes: nothing that grows with the queue.
class Forecaster {
public:
    using Settled = std::function<void(const PlannedUnit&)>;

    Forecaster(std::vector<ForecastMachine> machines, std::map<UnitKey, double> runningFinishInS,
               const ForecastOptions& options, Settled settled);

    // The next job in queue order.
    void add(const PendingJob& job);
    // No more jobs: every open jig run closes and its units settle.
    void finish();

    std::size_t units() const { return seq_; }

private:
    // The last jig run planned on a machine, open while it has free slots.
    struct JigRun {
        std::string sku, operation, material;
        std::size_t slotsLeft = 0;
        double start = 0, finish = 0;
        std::vector<PlannedUnit> planned;   // every unit of the run ends with the run
    };
    JigRun* joins(std::size_t machine, const PendingJob& job, double ready);
    void close(std::size_t machine);
    double finishOfStepBefore(const PendingJob& job, std::int64_t unit) const;

    std::vector<ForecastMachine> machines_;
    std::map<UnitKey, double> running_;
    ForecastOptions options_;
    Settled settled_;
    std::vector<std::optional<JigRun>> runs_;   // by machine
    // The current item's planned finishes by (step, unit): a later step of it waits for them.
    std::string itemOrder_, item_;
    std::map<std::pair<int, std::int64_t>, double> itemFinishes_;
    std::vector<std::size_t> able_;
    std::size_t seq_ = 0;
};

// The whole plan of `jobs` at once (tests and benchmarks), in queue order.
std::vector<PlannedUnit> forecastQueue(std::vector<ForecastMachine> machines, const std::vector<PendingJob>& jobs,
                                       const std::map<UnitKey, double>& runningFinishInS,
                                       const ForecastOptions& options = {});

} // namespace mto
