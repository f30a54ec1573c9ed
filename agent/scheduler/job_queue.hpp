// SPDX-License-Identifier: Apache-2.0
// The scheduler's queue: which unit of which job a machine should run next, decided from the store alone.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "mto/job.hpp"
#include "store/database.hpp"

namespace mto {

// What a machine can take: jobs compiled for its profile (or, for jobs stored before profiles were recorded,
// its capability) in one of its materials (none listed: any).
struct MachineSlot {
    std::string machineId;
    std::string profile;
    std::string capability;
    std::set<std::string> materials;
};

// One unit (of an item's qty) of one job, ready to run.
struct QueuedUnit {
    std::string orderId;
    std::string itemId;
    std::string operation;
    int step = 0;
    std::int64_t unit = 1;        // 1..qty
    std::int64_t qty = 1;
    bool rush = false;
    std::string artifactSha;
    double estimatedSeconds = 0;
    bool requeued = false;        // the unit ran before and was scrapped: it runs again under its index
};

// One job (an item's machine operation), as the scheduler tells jobs apart.
struct JobKey {
    std::string orderId;
    std::string itemId;
    std::string operation;
    auto operator<=>(const JobKey&) const = default;
};

// Orders JobKeys, and finds them by any key with the same three fields (a row's text, not copied).
struct JobKeyLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
        return std::tuple<std::string_view, std::string_view, std::string_view>(a.orderId, a.itemId, a.operation) <
               std::tuple<std::string_view, std::string_view, std::string_view>(b.orderId, b.itemId, b.operation);
    }
};

// Jobs one machine passes over: by job, the sha256 of the program its driver refused. The same job with
// another program (compiled again) is not passed over.
using RefusedJobs = std::map<JobKey, std::string, JobKeyLess>;

// A job with units still to start, as the forecast needs it.
struct PendingJob {
    std::string orderId;
    std::string itemId;
    std::string operation;
    int step = 0;
    std::string capability;
    std::string profile;
    std::string material;
    std::vector<std::int64_t> units;   // the unit indexes still to start, in the order they will start
    double estimatedSeconds = 0;       // per unit
    bool announced = false;            // HQ has had its `scheduled` milestone
    std::string sku;                   // of the job's item (for jigs)
    std::int64_t qty = 1;
    bool rush = false;
    std::string dueBy;                 // as the order gave it; empty when none
    std::int64_t dueKey = 0;           // the due time in epoch seconds (INT64_MAX: none or unreadable)
    bool forecastLate = false;         // HQ was last told the order will be late (`delayed`)
    std::string artifactSha;           // of the job's program
};

// One job waiting in the queue with the units of it not yet started, as operators and HQ see it.
struct QueueEntry {
    std::string orderId;
    std::string itemId;
    std::string operation;
    std::string capability;
    std::int64_t nextUnit = 1;    // the unit that starts next (a scrapped one waiting to run again first)
    std::int64_t qty = 1;
    bool rush = false;
    std::string dueBy;            // as the order gave it; empty when none
    double estimatedSeconds = 0;  // per unit
};

// Thread-bound to the loop, like the store it reads. Order of the queue: rush before standard, then the
// earlier due time (orders without one last), then arrival, then order id, item, route step. Within a job the
// units start in index order, a scrapped unit (requeued) before the job's next new one. A unit is ready
// when its order is accepted and in production (not held, cancelled or rejected), its job's earlier units
// have all started, and, for a later route step, the same unit of the step before it is done and its part is
// off that step's machine (the bed was cleared: until then the part is not where the next machine works).
// Nothing is kept in memory: a restart sees the same queue (the scheduler's beds come back from the store).
class JobQueue {
public:
    explicit JobQueue(Database& db) : db_(db) {}

    // Whether the part of a unit (matched by order, item, route step and unit index) still lies on a machine
    // that waits for its bed to be cleared. Set by the scheduler, which knows the beds; unset: never.
    void setPartOnBed(std::function<bool(const QueuedUnit&)> partOnBed) { partOnBed_ = std::move(partOnBed); }

    // The best ready unit for this machine, or nullopt; jobs in `refused` are passed over (the machine takes
    // the work behind them). Each passed-over job costs a row of the index walk, nothing more.
    std::optional<QueuedUnit> nextFor(const MachineSlot& machine, const RefusedJobs& refused = {});
    // The SKU of a unit's item; empty when unknown.
    std::string skuOf(const QueuedUnit& u);
    // What runs with `lead` (nextFor's answer) in one jig program: `lead` first, then ready units of the same
    // SKU, operation and material and the same priority (a rush lead takes only rush units, so filling a jig
    // never delays rush work behind standard work), in queue order, at most `max` in all. Never waits for more:
    // what is ready now is the batch.
    std::vector<QueuedUnit> batchFor(const MachineSlot& machine, const QueuedUnit& lead, std::size_t max);

    // Write methods run inside the caller's transaction, with the events they cause.
    void markStarted(const QueuedUnit& u, const std::string& machineId, std::int64_t now);
    void markDone(const QueuedUnit& u, std::int64_t now);
    void markInterrupted(const QueuedUnit& u, std::int64_t now, std::uint64_t lastLine, const std::string& reason);

    // Inside the transaction of markStarted (or of a restart): the unit runs in this slot of this jig; on a plate,
    // `at` is the centre of its part on the bed (mm), where the slicer put it.
    void markPlaced(const QueuedUnit& u, const std::string& jig, std::int64_t slot,
                    std::optional<Point2> at = std::nullopt);
    // Where the unit's part was on its plate (markPlaced's `at`); nullopt when not on a plate or not known.
    std::optional<Point2> plateSpotOf(const QueuedUnit& u);
    // The units of the jig run `lead` belongs to on this machine (same machine, same start), with their slots,
    // in slot order; empty when `lead` did not run on a jig.
    std::vector<std::pair<QueuedUnit, std::int64_t>> jigRunOf(const std::string& machineId, const QueuedUnit& lead);
    // The jig the unit last ran on; empty when none.
    std::string jigOf(const QueuedUnit& u);

    // The same unit runs again from its first line (the operator restarted it after an interruption).
    void markRestarted(const QueuedUnit& u, std::int64_t now);
    // The operator threw the unit's part away: the unit goes back to the queue under its index, for any
    // machine that can run it, ahead of the job's units not yet started.
    void markScrapped(const QueuedUnit& u, std::int64_t now, const std::string& reason);
    // How the unit's last run stands in the store: its state (running, done, interrupted, requeued,
    // cancelled), the machine it ran on and the reason stored with it; nullopt when it never started.
    struct UnitRun {
        std::string state;
        std::string machineId;
        std::string reason;
    };
    std::optional<UnitRun> runOf(const QueuedUnit& u);
    // The unit was stopped because its order was cancelled: it will not run again.
    void markCancelled(const QueuedUnit& u, std::int64_t now, std::uint64_t lastLine);
    // The last program line the machine acknowledged before the unit was interrupted (0 = none or unknown).
    std::uint64_t lastLineOf(const QueuedUnit& u);
    // Whether a later route step of the same unit has started (its part then left this step's machine).
    bool laterStepStarted(const QueuedUnit& u);
    // A unit as the queue knows it (with its program), whatever its state; nullopt when unknown.
    std::optional<QueuedUnit> unitOf(const std::string& orderId, const std::string& itemId,
                                     const std::string& operation, std::int64_t unit);

    // Every job of a runnable order with units still to start, in queue order (what nextFor would walk), at
    // most `limit` jobs.
    std::vector<PendingJob> pendingJobs(std::size_t limit = 100000);
    // The same jobs, each handed to `each` as it is read, so a queue of any depth costs one job's memory. An
    // order's jobs come one after another (the queue's sort keys come from the order), and an item's steps in
    // route order. `each` must not use this queue's connection for writes.
    void forEachPending(const std::function<void(const PendingJob&)>& each, std::size_t limit = SIZE_MAX);
    // SQLite's plan for the read above, one line per step (EXPLAIN QUERY PLAN's detail column).
    std::vector<std::string> pendingPlan();

    // Queued work per capability, in estimated seconds: every unit of a runnable order not yet started (a
    // scrapped unit waiting to run again included) times its job's per-unit estimate. Units running, finished or
    // interrupted count no more; held, cancelled and rejected orders count nothing (a held order's units come
    // back when it is resumed). Capabilities with nothing queued are absent. The one figure the retained status,
    // `mtoctl watch` and the station display show.
    std::map<std::string, double> queuedSeconds();

    // The first `limit` queued jobs of runnable orders with units left to start, in queue order (across all
    // capabilities; a later route step is listed even while it waits for the step before): pendingJobs() as
    // operators and HQ see it, a job whose only unit left is a scrapped one included.
    std::vector<QueueEntry> head(std::size_t limit);

private:
    bool unitReady(const QueuedUnit& u);
    // A statement whose ?1..?3 name the unit's job (order, item, operation), and ?4 the unit for forUnit.
    Statement& forJob(const std::string& sql, const QueuedUnit& u);
    Statement& forUnit(const std::string& sql, const QueuedUnit& u);
    std::int64_t firstRequeued(const QueuedUnit& u);
    void endUnit(const QueuedUnit& u, const char* state, std::int64_t now, std::uint64_t lastLine,
                 const std::string& reason);
    Database& db_;
    std::function<bool(const QueuedUnit&)> partOnBed_;
};

} // namespace mto
