// SPDX-License-Identifier: Apache-2.0
// One scheduler across all machines: hands each free machine its best next unit, records what the machines
// report as milestones, and holds a machine after a job until its bed is cleared.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mto/driver.hpp"
#include "scheduler/forecast.hpp"
#include "scheduler/jig.hpp"
#include "scheduler/job_queue.hpp"
#include "store/commit_queue.hpp"
#include "store/order_store.hpp"
#include "util/clock.hpp"

namespace mto {

// Where a machine is in the scheduler's eyes. Only Ready takes work.
enum class Bay {
    Ready,            // free, takes the next unit once its driver is idle
    Running,          // a unit was handed to the driver
    AwaitingClear,    // a job finished; the part is still on the bed
    NeedsAttention,   // a job was interrupted; the operator decides (resume, restart, scrap)
};
const char* toString(Bay b);

// What a machine does with the unit it is running when HQ holds or cancels the unit's order. Queued work of
// a held or cancelled order never starts, whatever the policy.
struct MachinePolicy {
    bool pauseOnHold = false;    // false: the unit finishes; true: feed hold until the order is resumed
    bool stopOnCancel = false;   // false: the unit finishes; true: the job is stopped at once
};

// Thread-bound to the loop.
//
// Invariants:
// - The store is the truth: a machine's bay and its unit are written in the same transaction as the unit's
//   state and the milestone that moved them; memory (`Machine::bay`) follows the commit, except that a
//   machine is marked Running before its start commits, so one round never gives it two units.
// - A unit is handed to a driver only after its start is committed, and only to a machine in Ready whose
//   driver reports Idle. Nothing restarts physical work by itself: an interrupted unit stays interrupted
//   and its machine stays in NeedsAttention until the operator decides.
// - Jigs: on a machine with a jig holding the SKU of its best next unit, that unit leads a jig run: it and
//   the ready units batched with it (JobQueue::batchFor: same SKU, operation, material and priority; never
//   waiting for more) go in slots 0, 1, … in queue order, as one program (buildJigProgram) checked by the
//   checker and the driver. The run is one unit of machine work: every milestone of it (started, progress,
//   done, interrupted, scrapped, cancelled) is recorded for each of its units in one transaction, each with
//   its `jig` and `slot`; the machine's bay and its stored unit are the lead's (slot 0), and the run's other
//   units are found again from the store by machine and start (JobQueue::jigRunOf). A restart or resume
//   rebuilds the same program from the same units in the same slots. One bed clear ends the whole run.
// - Plates are jig runs whose slots the slicer chooses. While a plate is sliced (off the loop) its machine is
//   Running with `preparing` set and its units on its bed, so no other machine takes them; nothing is committed
//   until the plate starts. An operator's restart of an interrupted plate builds it again the same way (Running,
//   preparing; the units stay interrupted in the store until it starts). A plate that does not fit is sliced again with one part fewer; a lead that cannot
//   go on a plate of two runs alone with its own program.
// - Hold and cancel policies act on a jig run only when all its units belong to one order; a run mixing
//   orders finishes (stopping it would spoil the other orders' parts).
// - Refusals: a job whose program a machine's driver refuses (check(): settings, work area) is passed over by
//   that machine only, which takes its next best work; other machines still may run it. The machine keeps the
//   jobs it refused in memory (`Machine::refused`) until its driver connects again and reads its settings, or
//   the configuration is reloaded: then they are offered to it again. Nothing about it is stored beyond the
//   `refused_by_machine` event: after a restart the drivers connect afresh and check() finds the same refusals
//   again. HQ gets that event once per job, machine and cause, across reconnects and restarts (the events
//   table is what was told), and the forecast plans a refused job on the machines that will run it.
class Scheduler {
public:
    // The program and metadata of a compiled job, by its sha256; nullopt when it cannot be read.
    using ArtifactLoader = std::function<std::optional<JobArtifact>(const std::string& sha)>;
    using DriverFactory = std::function<std::unique_ptr<MachineDriver>(DriverListener&)>;

    Scheduler(boost::asio::io_context& io, CommitQueue& commits, OrderStore& store, JobQueue& queue,
              ArtifactLoader loader, const Clock& clock);
    ~Scheduler();

    void addMachine(const MachineSlot& slot, const DriverFactory& makeDriver, MachinePolicy policy = {});
    // A jig on an added machine, with the machine's profile (to check, estimate and draw jig programs). A SKU is
    // held by one jig of a machine at most (the first added wins).
    void addJig(const std::string& machineId, Jig jig, const MachineProfile& profile);
    // Where the proof of a jig run goes (the media store), by its sha256; none: jig runs have no proof.
    using ProofWriter = std::function<void(const std::string& sha, const std::string& png)>;
    void setProofWriter(ProofWriter w) { proofWriter_ = std::move(w); }
    // Plates (a Jig with plateParts > 0 on a printer): whether a unit's model is kept for a plate (by its
    // program's sha256), and the plate's program from the parts (the slicer arranges them; blocking, thread-safe:
    // called on a worker thread for a new plate and for a restart, on the loop only to resume one, which no
    // printer driver offers).
    // Without them plates are not built and every print runs alone.
    struct PlateTools {
        std::function<bool(const std::string& sha)> hasModel;
        std::function<std::variant<JigProgram, JigRefusal>(const Jig&, const std::vector<JigPlacement>&,
                                                           const MachineProfile&, bool withProof)>
            build;
    };
    void setPlateTools(PlateTools t) { plateTools_ = std::move(t); }
    // Reads the bays from the store (a unit a crash left running becomes interrupted, its machine needs
    // attention), then starts the drivers.
    void start();
    void stop(std::function<void()> done);
    // New work may be ready (an order compiled, resumed).
    void poke();
    // Every machine takes again the jobs it refused (the configuration or catalog was reloaded: a setting or a
    // profile may have been fixed); `why` goes to the log.
    void forgetRefusals(const std::string& why);

    // The operator's bed-clear: nullopt when done, else why not.
    std::optional<std::string> clear(const std::string& machineId);
    // The operator's decision after an interruption: run the same unit again from its first line, on the
    // same machine, once the part is off the bed and the machine idle (unlocked after an alarm).
    std::optional<std::string> restart(const std::string& machineId);
    // The operator's decision to continue an interrupted unit after the last line the machine acknowledged;
    // only where the driver can (DriverCapabilities::resumeFromLine), else the reason why not.
    std::optional<std::string> resume(const std::string& machineId);
    // The operator's decision to throw away the part of the unit on the machine (interrupted, or finished
    // and found bad): the unit goes back to the queue for any machine that can run it; this machine then
    // waits for its bed to be cleared.
    std::optional<std::string> scrap(const std::string& machineId);
    // The operator's decision to clear a machine's alarm (GRBL $X); never taken by the agent itself.
    std::optional<std::string> unlock(const std::string& machineId);
    // What a hold, cancel or resume of an order does to its unit running on this machine (see OrderStore).
    std::string runningWorkAction(const std::string& machineId, CommandKind kind) const;

    std::optional<Bay> bay(const std::string& machineId) const;
    // Progress milestones go out every this many percent (default 25).
    void setProgressStep(int percent) { progressStep_ = percent > 0 ? percent : 100; }
    // The forecast runs at most once per `debounce` after new work or a change on the floor, and every
    // `period` anyway (time passing can make an order late). Defaults: 1 s and 30 s.
    void setForecastTiming(std::chrono::milliseconds debounce, std::chrono::milliseconds period) {
        forecastDebounce_ = debounce;
        forecastPeriod_ = period;
    }
    void setForecastOptions(const ForecastOptions& o) { forecastOptions_ = o; }
    // Plans the queue now and commits what HQ has not been told yet: `scheduled` for jobs that got a machine,
    // `delayed` for orders whose forecast finish crossed their due time. The queue is read and planned a job at
    // a time (memory does not grow with it), and one forecast writes at most `writesPerForecast` of those changes,
    // so a deep queue is announced over a few forecasts rather than in one long commit. Returns whether changes
    // were left for the next forecast (it then runs after the debounce, not the period).
    bool runForecast();
    static constexpr std::size_t writesPerForecast = 500;

    // A unit whose program a machine's driver refused, with the driver's reason.
    struct Refusal {
        QueuedUnit unit;
        std::string reason;    // machine-readable, the driver's (MachineFault::reason)
        std::string message;   // for people
    };

    // What one machine is doing, as the operator's watch and HQ's status show it.
    struct MachineView {
        std::string machineId;
        std::string profile;
        std::string capability;
        Bay bay = Bay::Ready;
        MachineState state = MachineState::Disconnected;   // the driver's
        std::string stateDetail;                           // the driver's words with its last state change
        std::optional<QueuedUnit> unit;                    // the unit on the machine, if any (a jig run's lead)
        std::string jig;                                   // the jig of the run on the machine; empty: none
        std::size_t units = 0;                             // units on the machine (a jig run's count)
        double fraction = 0;                               // of the unit's program, 0..1
        double secondsLeft = -1;                           // < 0 when unknown
        std::string reason;                                // why it needs attention; empty in other bays
        std::size_t refusedJobs = 0;                       // jobs its driver refused since it last connected
        std::optional<Refusal> lastRefusal{};              // the last of them
    };
    // Every machine in the order they were added. Progress comes from the driver's last report; before the
    // first one, the time left is the unit's estimate minus the time since it started.
    std::vector<MachineView> machines() const;
    // Adds a listener (the uplink's status, the station display): each runs on the loop, once per loop round
    // at most, after a machine's bay or driver state changed.
    void onMachineChange(std::function<void()> f) { onMachineChange_.push_back(std::move(f)); }

    // A unit's progress point or end, told once its milestone is committed (for the QC camera: progress
    // photos and the QC shot). `percent` is the progress step reached (100 for job_done).
    struct UnitMilestone {
        std::string machineId;
        QueuedUnit unit;
        std::string milestone;   // "progress" or "job_done"
        int percent = 0;
    };
    void onUnitMilestone(std::function<void(const UnitMilestone&)> f) { onUnitMilestone_ = std::move(f); }

private:
    struct Machine;
    class Listener;
    struct Placed {
        QueuedUnit unit;
        std::int64_t slot = -1;   // -1: not on a jig
    };
    // The units on the machine, lead first: the jig run's, or the one unit.
    static std::vector<Placed> onBed(const Machine& m);
    // Whether this unit (order, item, route step, index) is on the bed of a machine other than `except` that is
    // not ready: running, being sliced onto a plate, interrupted, or finished and waiting for its bed to be
    // cleared. A unit on a bed is not dispatched again, and its later route step waits until it is taken off.
    bool onABed(const QueuedUnit& u, const Machine* except = nullptr) const;
    // Whether a unit on m's bed is still the part its last run there left (`ran`: done or interrupted), not
    // queued again since (a failed QC, an earlier scrap) nor started elsewhere.
    static bool stillOnBed(const Machine& m, const std::optional<JobQueue::UnitRun>& run, const std::string& ran);
    const Jig* jigFor(const Machine& m, const QueuedUnit& u);
    // Starts a jig run led by `lead`; false when the run cannot be built (the reason is logged).
    bool dispatchJig(Machine& m, const Jig& jig, const QueuedUnit& lead);
    // Starts the slicing of a plate led by `lead` on a worker thread; the machine is Running (preparing) until
    // finishPlate starts it, or runs the lead alone when no plate of two or more parts can be built.
    void dispatchPlate(Machine& m, const Jig& plate, const QueuedUnit& lead);
    struct PlateOutcome;
    void finishPlate(Machine& m, const Jig& plate, PlateOutcome outcome);
    // Runs one unit with its own program. Refused: the driver refused the program, the machine passes the job
    // over (refuse); Waits: the program cannot be read (logged), the unit stays queued.
    enum class Dispatched { Started, Refused, Waits };
    Dispatched dispatchOne(Machine& m, const QueuedUnit& unit);
    // Remembers that m's driver refused this unit's job and tells HQ and the log, once per job and cause.
    void refuse(Machine& m, const QueuedUnit& unit, const MachineFault& why);
    void forgetRefusals(Machine& m, const std::string& why);
    // Whether m passes this unit's job over (its driver refused the job's program).
    static bool refusedHere(const Machine& m, const QueuedUnit& u);
    // Stores a jig or plate run's proof and remembers its sha256 on the machine.
    void keepProof(Machine& m, const Jig& jig, const JigProgram& program);
    // The program of these units in these slots of the machine's jig, or why not.
    std::variant<JigProgram, std::string> jigProgram(Machine& m, const Jig& jig, const std::vector<Placed>& units,
                                                     bool withProof);
    // The program of the jig run on the machine again (for a restart or resume), or why not.
    std::variant<JigProgram, std::string> rebuildJigRun(Machine& m);
    // The operator's restart of an interrupted plate: its program is built again on a worker thread (the slicer
    // runs when the slice cache no longer holds it) while the machine is Running (preparing); finishPlateRestart
    // then starts it, or puts the machine back in NeedsAttention with the reason.
    std::optional<std::string> restartPlate(Machine& m, const Jig& plate);
    void finishPlateRestart(Machine& m, std::variant<JigProgram, JigRefusal> built);

    void dispatch(Machine& m);
    void onState(Machine& m, MachineState s);
    void onFault(Machine& m, const MachineFault& f);
    void onProgress(Machine& m, const JobProgress& p);
    void onFinished(Machine& m);
    void onInterrupted(Machine& m, const MachineFault& why, std::uint64_t lastLine);
    void setBay(Machine& m, Bay bay, const std::string& reason);
    Machine* find(const std::string& machineId) const;
    enum class Start { New, Restart, Resume };
    void startUnit(Machine& m, JobArtifact artifact, Start how, std::uint64_t fromLine = 0);
    // Applies the machines' hold and cancel policies to their running units after a command committed.
    void followOrders(Machine& m);
    void armForecast(std::chrono::milliseconds after);
    // Seconds until the machine's running unit ends, from the driver's progress or the estimate.
    double secondsLeft(const Machine& m) const;
    // Inside a transaction: `scheduled` for a job not yet told; `delayed` for an order crossing its due time.
    void recordScheduled(const std::string& orderId, const std::string& itemId, const std::string& operation,
                         const std::string& machineId, std::int64_t startMs, std::int64_t finishMs);
    // An order's forecast crossed its due time (late) or came back before it with a margin.
    struct LatenessChange {
        std::string orderId, dueBy;
        std::int64_t dueMs = 0;
        std::int64_t finishMs = 0;   // the forecast finish; `known` false: none (no machine can take its work now)
        bool known = false;
        bool late = false;
    };
    // Whether HQ must hear of an order's lateness: from what it was last told (`late`) and the new forecast.
    static std::optional<LatenessChange> latenessChange(const std::string& orderId, const std::string& dueBy,
                                                        std::int64_t dueKey, bool toldLate,
                                                        std::optional<double> finishInS, std::int64_t now);
    void recordLateness(const LatenessChange& change);
    // Lateness of orders with a due time and unfinished work of which none is queued (running, or waiting for
    // an operator): from the running units' finishes, by order.
    void recordLatenessOfOrdersNotQueued(const std::map<std::string, double>& runningFinishInS, std::int64_t now);
    boost::json::object unitData(const Machine& m) const;
    boost::json::object unitData(const Machine& m, const QueuedUnit& u, std::int64_t slot) const;
    ProofWriter proofWriter_;
    PlateTools plateTools_;
    // Plates are sliced here, one at a time, off the loop; handlers posted back check alive_.
    std::unique_ptr<boost::asio::thread_pool> plateWorkers_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

    boost::asio::io_context& io_;
    CommitQueue& commits_;
    OrderStore& store_;
    JobQueue& queue_;
    ArtifactLoader loader_;
    const Clock& clock_;
    std::vector<std::unique_ptr<Machine>> machines_;
    int progressStep_ = 25;
    boost::asio::steady_timer forecastTimer_;
    bool forecastArmed_ = false;
    std::chrono::steady_clock::time_point forecastDue_;
    std::chrono::milliseconds forecastCost_{0};   // how long the last forecast took
    std::chrono::milliseconds forecastDebounce_{1000};
    std::chrono::milliseconds forecastPeriod_{30000};
    ForecastOptions forecastOptions_;
    bool stopping_ = false;
    bool pokeScheduled_ = false;
    void machineChanged();
    std::vector<std::function<void()>> onMachineChange_;
    std::function<void(const UnitMilestone&)> onUnitMilestone_;
    void tellUnitMilestone(const Machine& m, const QueuedUnit& unit, const char* milestone, int percent);
    bool changePosted_ = false;
};

} // namespace mto
