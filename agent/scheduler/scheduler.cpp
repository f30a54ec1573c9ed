// SPDX-License-Identifier: Apache-2.0
// One scheduler across all machines: hands each free machine its best next unit, records what the machines
// report as milestones, and holds a machine after a job until its bed is cleared.
#include "scheduler/scheduler.hpp"

#include "media/media_store.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <cassert>
#include <cmath>
#include <limits>
#include <set>
#include <tuple>
#include <spdlog/spdlog.h>

#include "util/sha256.hpp"

namespace mto {

namespace json = boost::json;

const char* toString(Bay b) {
    switch (b) {
    case Bay::Ready: return "ready";
    case Bay::Running: return "running";
    case Bay::AwaitingClear: return "awaiting_clear";
    case Bay::NeedsAttention: return "needs_attention";
    }
    return "unknown";
}

namespace {

std::optional<Bay> bayFromString(const std::string& s) {
    for (Bay b : {Bay::Ready, Bay::Running, Bay::AwaitingClear, Bay::NeedsAttention})
        if (s == toString(b)) return b;
    return std::nullopt;
}

// A forecast that falls back under an order's due time by less than this does not re-arm `delayed`.
constexpr std::int64_t kOnTimeMarginMs = 5 * 60 * 1000;

// Programs a machine may refuse in one dispatch round before the rest waits for the next round: each costs a
// program read and a check, and the loop has other machines to serve.
constexpr int kRefusalsPerRound = 8;

std::int64_t toMs(double seconds) { return static_cast<std::int64_t>(seconds * 1000.0 + 0.5); }

// The centre of each part where the slicer put it, by slot (the placements' order), to 0.1 mm.
std::map<std::int64_t, Point2> spotsOf(const std::vector<WorkArea>& placed) {
    std::map<std::int64_t, Point2> out;
    for (std::size_t i = 0; i < placed.size(); ++i) {
        const WorkArea& b = placed[i];
        out[static_cast<std::int64_t>(i)] = {std::round((b.x + b.width / 2) * 10) / 10,
                                             std::round((b.y + b.height / 2) * 10) / 10};
    }
    return out;
}

std::string jobIdOf(const QueuedUnit& u) {
    return u.orderId + "/" + u.itemId + "/" + u.operation + "/" + std::to_string(u.unit);
}

} // namespace

struct Scheduler::Machine {
    MachineSlot slot;
    std::unique_ptr<Listener> listener;
    std::unique_ptr<MachineDriver> driver;
    Bay bay = Bay::Ready;
    std::optional<QueuedUnit> unit;   // the unit on the machine (running, finished on the bed, or interrupted)
    int lastProgressStep = 0;
    MachinePolicy policy;
    bool pausedForHold = false;       // feed hold asked because the unit's order is on hold
    bool stoppingForCancel = false;   // the job was stopped because the unit's order was cancelled
    std::string lastFault;            // reason/code of the machine_fault last told, until the machine is idle
    std::string stateDetail;                // with the driver's last state change
    std::optional<JobProgress> progress;    // the driver's last report on the unit
    std::int64_t unitStartedMs = 0;
    std::vector<Jig> jigs;                  // on its bed, with the profile they are checked against
    MachineProfile profile;
    std::vector<Placed> jigRun;             // the units of the jig run on the machine, lead first; empty: none
    std::string jigId;                      // of that run
    std::string jigProofSha;                // of that run's proof; empty when none was drawn
    std::int64_t jigProofBytes = 0;
    RefusedJobs refused;                    // jobs its driver refused since it last connected: passed over
    std::optional<Refusal> lastRefusal;     // the last refusal told, for the status
    MachineState lastState = MachineState::Disconnected;   // the driver's, as last reported
    std::string jigRefusalTold;             // "<jig>\n<why>" of the last jig run refusal logged; empty: none since
    double runSeconds = 0;                  // estimate of the program on the machine
    bool preparing = false;                 // a plate for the units on its bed is being sliced; nothing sent yet
    std::map<std::int64_t, Point2> plateSpots;   // by slot: the centre of each part of the plate on the machine, mm
    // The lead (job id and program) no plate could be built for and that could not run alone either: while it
    // stays the best next unit it is not sliced again every round, it waits like any unit the machine refuses.
    std::string plateDeclined;
    PlateFits plateFits;                    // how many parts fitted on its last plates, by SKU (for the forecast)
};

struct Scheduler::PlateOutcome {
    std::variant<JigProgram, JigRefusal> built;
    std::size_t parts = 0;   // of the run's units, the first this many are on the plate
};

// Routes one driver's reports to its machine.
class Scheduler::Listener final : public DriverListener {
public:
    Listener(Scheduler& s, Machine& m) : s_(s), m_(m) {}
    void machineState(MachineState state, const std::string& detail) override {
        m_.stateDetail = detail;
        s_.onState(m_, state);
        s_.machineChanged();
    }
    void jobProgress(const std::string&, const JobProgress& p) override {
        m_.progress = p;
        s_.onProgress(m_, p);
    }
    void jobFinished(const std::string&) override { s_.onFinished(m_); }
    void jobInterrupted(const std::string&, const MachineFault& why, std::uint64_t lastLine) override {
        s_.onInterrupted(m_, why, lastLine);
    }
    void machineFault(const MachineFault& f) override {
        spdlog::warn("machine {}: {}{}: {}", m_.slot.machineId, f.reason, f.code.empty() ? "" : " " + f.code,
                     f.message);
        s_.onFault(m_, f);
    }

private:
    Scheduler& s_;
    Machine& m_;
};

Scheduler::Scheduler(boost::asio::io_context& io, CommitQueue& commits, OrderStore& store, JobQueue& queue,
                     ArtifactLoader loader, const Clock& clock)
    : io_(io), commits_(commits), store_(store), queue_(queue), loader_(std::move(loader)), clock_(clock),
      forecastTimer_(io) {
    store_.setRunningWorkPolicy(
        [this](const std::string& machineId, CommandKind kind) { return runningWorkAction(machineId, kind); });
    queue_.setPartOnBed([this](const QueuedUnit& u) { return onABed(u); });
}

Scheduler::~Scheduler() {
    *alive_ = false;
    if (plateWorkers_) plateWorkers_->join();
    queue_.setPartOnBed({});
    store_.setRunningWorkPolicy({});
}

void Scheduler::addMachine(const MachineSlot& slot, const DriverFactory& makeDriver, MachinePolicy policy) {
    auto m = std::make_unique<Machine>();
    m->slot = slot;
    m->policy = policy;
    m->listener = std::make_unique<Listener>(*this, *m);
    m->driver = makeDriver(*m->listener);
    machines_.push_back(std::move(m));
}

void Scheduler::addJig(const std::string& machineId, Jig jig, const MachineProfile& profile) {
    Machine* m = find(machineId);
    assert(m && "addJig after addMachine");
    m->profile = profile;
    m->jigs.push_back(std::move(jig));
}

std::vector<Scheduler::Placed> Scheduler::onBed(const Machine& m) {
    if (!m.jigRun.empty()) return m.jigRun;
    if (m.unit) return {{*m.unit, -1}};
    return {};
}

const Jig* Scheduler::jigFor(const Machine& m, const QueuedUnit& u) {
    if (m.jigs.empty()) return nullptr;
    const std::string sku = queue_.skuOf(u);
    for (const Jig& j : m.jigs)
        if (j.holds(sku)) {
            // A print goes on a plate only when its model is kept; else it runs alone.
            if (j.isPlate() && (!plateTools_.build || !plateTools_.hasModel || !plateTools_.hasModel(u.artifactSha)))
                return nullptr;
            return &j;
        }
    return nullptr;
}

std::variant<JigProgram, std::string> Scheduler::jigProgram(Machine& m, const Jig& jig, const std::vector<Placed>& units,
                                                            bool withProof) {
    std::vector<JobArtifact> artifacts;
    artifacts.reserve(units.size());   // placements point into it
    std::vector<JigPlacement> placements;
    for (const Placed& p : units) {
        auto artifact = loader_(p.unit.artifactSha);
        if (!artifact) return "the program " + p.unit.artifactSha + " of " + jobIdOf(p.unit) + " cannot be read";
        artifacts.push_back(std::move(*artifact));
        placements.push_back({&artifacts.back(), queue_.skuOf(p.unit), static_cast<std::size_t>(p.slot),
                              p.unit.orderId + "/" + p.unit.itemId + "#" + std::to_string(p.unit.unit)});
    }
    if (jig.isPlate() && !plateTools_.build) return "plates cannot be built on this agent";
    auto built = jig.isPlate() ? plateTools_.build(jig, placements, m.profile, withProof)
                               : buildJigProgram(jig, placements, m.profile, withProof);
    if (auto* r = std::get_if<JigRefusal>(&built)) return r->reason + ": " + r->message;
    auto& program = std::get<JigProgram>(built);
    if (auto why = m.driver->check(program.artifact)) return "the machine refuses the jig program: " + why->message;
    return std::move(program);
}

std::variant<JigProgram, std::string> Scheduler::rebuildJigRun(Machine& m) {
    for (const Jig& j : m.jigs)
        if (j.id == m.jigId) return jigProgram(m, j, m.jigRun, false);
    return "jig " + m.jigId + " is no longer configured on machine " + m.slot.machineId +
           "; scrap the units on it (scrap) and clear the bed";
}

bool Scheduler::dispatchJig(Machine& m, const Jig& jig, const QueuedUnit& lead) {
    std::vector<Placed> run;
    try {
        std::int64_t slot = 0;
        for (auto& u : queue_.batchFor(m.slot, lead, jig.slots.size())) {
            // A unit whose own program the machine refused would get the jig program refused as well.
            if (slot > 0 && refusedHere(m, u)) continue;
            run.push_back({std::move(u), slot++});
        }
    } catch (const std::exception& e) {
        spdlog::error("scheduler: cannot read the queue for {}: {}", m.slot.machineId, e.what());
        return false;
    }
    auto built = jigProgram(m, jig, run, static_cast<bool>(proofWriter_));
    if (auto* why = std::get_if<std::string>(&built)) {
        // The units stay queued; the operator sees why in the log (a program that cannot move, a machine rule),
        // once for each jig and cause: every dispatch round meets it again until the work or the setup changes.
        std::string told = jig.id + "\n" + *why;
        if (told != m.jigRefusalTold) {
            spdlog::warn("scheduler: {} cannot run {} on jig {}: {} (the units wait; said again only when this changes)",
                         m.slot.machineId, jobIdOf(lead), jig.id, *why);
            m.jigRefusalTold = std::move(told);
        }
        return false;
    }
    if (!m.jigRefusalTold.empty()) {
        spdlog::info("machine {}: jig {} builds again", m.slot.machineId, jig.id);
        m.jigRefusalTold.clear();
    }
    auto& program = std::get<JigProgram>(built);
    keepProof(m, jig, program);
    m.unit = run.front().unit;
    m.jigRun = std::move(run);
    m.jigId = jig.id;
    spdlog::info("machine {}: jig {} with {} of {} slots, {:.0f} s estimated", m.slot.machineId, jig.id, m.jigRun.size(),
                 jig.slots.size(), program.artifact.estimatedSeconds);
    startUnit(m, std::move(program.artifact), Start::New);
    return true;
}

void Scheduler::keepProof(Machine& m, const Jig& jig, const JigProgram& program) {
    m.jigProofSha.clear();
    if (program.proofPng.empty() || !proofWriter_) return;
    try {
        const std::string sha = sha256Hex(program.proofPng);
        proofWriter_(sha, program.proofPng);
        m.jigProofSha = sha;
        m.jigProofBytes = static_cast<std::int64_t>(program.proofPng.size());
    } catch (const std::exception& e) {
        // The proof shows the run; it does not hold the floor up.
        spdlog::warn("machine {}: the proof of jig {} cannot be stored: {}", m.slot.machineId, jig.id, e.what());
    }
}

bool Scheduler::onABed(const QueuedUnit& u, const Machine* except) const {
    for (const auto& mp : machines_) {
        if (mp.get() == except || mp->bay == Bay::Ready) continue;   // a ready machine's bed is clear
        for (const Placed& p : onBed(*mp))
            if (p.unit.orderId == u.orderId && p.unit.itemId == u.itemId && p.unit.step == u.step &&
                p.unit.unit == u.unit)
                return true;
    }
    return false;
}

void Scheduler::dispatchPlate(Machine& m, const Jig& plate, const QueuedUnit& lead) {
    std::vector<Placed> run;
    try {
        for (auto& u : queue_.batchFor(m.slot, lead, plate.capacity())) {
            // Units another machine holds, and prints whose model is gone (they run alone later), stay out.
            // So do units whose own program the machine refused (it passes them over).
            if (!run.empty() && (onABed(u, &m) || !plateTools_.hasModel(u.artifactSha) || refusedHere(m, u))) continue;
            run.push_back({std::move(u), static_cast<std::int64_t>(run.size())});
        }
    } catch (const std::exception& e) {
        spdlog::error("scheduler: cannot read the queue for {}: {}", m.slot.machineId, e.what());
        return;
    }
    if (run.size() < 2) {
        dispatchOne(m, lead);
        return;
    }
    auto artifacts = std::make_shared<std::vector<JobArtifact>>();
    std::vector<JigPlacement> placements;
    artifacts->reserve(run.size());
    for (const Placed& p : run) {
        auto artifact = loader_(p.unit.artifactSha);
        if (!artifact) {
            spdlog::error("scheduler: program {} of {} cannot be read; {} waits", p.unit.artifactSha, jobIdOf(p.unit),
                          m.slot.machineId);
            return;
        }
        artifacts->push_back(std::move(*artifact));
        placements.push_back({&artifacts->back(), queue_.skuOf(p.unit), static_cast<std::size_t>(p.slot),
                              p.unit.orderId + "/" + p.unit.itemId + "#" + std::to_string(p.unit.unit)});
    }
    // The units are on this bed from now on, so no other machine takes them while the slicer works.
    m.bay = Bay::Running;
    m.preparing = true;
    m.unit = run.front().unit;
    m.jigRun = std::move(run);
    m.jigId = plate.id;
    m.plateSpots.clear();
    m.progress.reset();
    m.runSeconds = 0;   // not known until sliced
    m.unitStartedMs = clock_.nowMs();
    machineChanged();
    if (!plateWorkers_) plateWorkers_ = std::make_unique<boost::asio::thread_pool>(1);
    boost::asio::post(*plateWorkers_, [this, mm = &m, plate, placements = std::move(placements), artifacts,
                                       build = plateTools_.build, profile = m.profile, withProof = static_cast<bool>(proofWriter_),
                                       alive = alive_, machineId = m.slot.machineId]() mutable {
        PlateOutcome outcome{JigRefusal{"no_units", "no parts"}, placements.size()};
        // A plate that does not fit is tried again with one part fewer: the last in queue order waits.
        for (; outcome.parts >= 2; --outcome.parts) {
            try {
                const std::vector<JigPlacement> parts(placements.begin(),
                                                     placements.begin() + static_cast<std::ptrdiff_t>(outcome.parts));
                outcome.built = build(plate, parts, profile, withProof);
            } catch (const std::exception& e) {
                outcome.built = JigRefusal{"slice_failed", e.what()};
            }
            auto* r = std::get_if<JigRefusal>(&outcome.built);
            if (!r || r->reason != "does_not_fit") break;
            spdlog::warn("machine {}: plate with {} parts: {}; trying {} parts", machineId, outcome.parts, r->message,
                         outcome.parts - 1);
        }
        boost::asio::post(io_, [this, mm, alive, plate, outcome = std::move(outcome)]() mutable {
            if (!*alive) return;
            finishPlate(*mm, plate, std::move(outcome));
        });
    });
}

void Scheduler::finishPlate(Machine& m, const Jig& plate, PlateOutcome outcome) {
    m.preparing = false;
    const QueuedUnit lead = m.jigRun.front().unit;
    auto release = [&] {
        m.bay = Bay::Ready;
        m.unit.reset();
        m.jigRun.clear();
        m.jigId.clear();
        m.plateSpots.clear();
        machineChanged();
    };
    if (stopping_) {
        release();
        return;
    }
    auto* refusal = std::get_if<JigRefusal>(&outcome.built);
    if (!refusal || refusal->reason == "does_not_fit") {
        // What fitted is what plates of this SKU hold from now on, in the forecast as on the machine.
        const std::size_t tried = m.jigRun.size();
        m.plateFits.record(queue_.skuOf(lead), tried, refusal ? 1 : outcome.parts);
    }
    if (m.driver->state() != MachineState::Idle) {
        // The printer went away while the slicer worked; the units stay queued (the slice is cached).
        spdlog::warn("machine {}: is {} after its plate was sliced; the plate waits", m.slot.machineId,
                     toString(m.driver->state()));
        release();
        return;
    }
    std::string why;
    if (refusal) why = refusal->reason + ": " + refusal->message;
    else if (auto refused = m.driver->check(std::get<JigProgram>(outcome.built).artifact))
        why = "the machine refuses the plate program: " + refused->message;
    if (outcome.parts < 2 || !why.empty()) {
        // The lead has a checked program of its own: it runs alone rather than waiting for a plate.
        spdlog::warn("machine {}: no plate for {} ({}); it runs alone", m.slot.machineId, jobIdOf(lead),
                     why.empty() ? "not even two parts fit on the bed" : why);
        release();
        if (m.driver->state() != MachineState::Idle || dispatchOne(m, lead) != Dispatched::Started)
            m.plateDeclined = jobIdOf(lead) + "\n" + lead.artifactSha;
        poke();
        return;
    }
    auto& program = std::get<JigProgram>(outcome.built);
    m.jigRun.resize(outcome.parts);
    m.plateSpots = spotsOf(program.placed);
    keepProof(m, plate, program);
    spdlog::info("machine {}: plate {} with {} parts, {:.0f} s estimated by the slicer", m.slot.machineId, plate.id,
                 m.jigRun.size(), program.artifact.estimatedSeconds);
    startUnit(m, std::move(program.artifact), Start::New);
    poke();   // units left off the plate may go to another machine
}

Scheduler::Dispatched Scheduler::dispatchOne(Machine& m, const QueuedUnit& next) {
    auto artifact = loader_(next.artifactSha);
    if (!artifact) {
        spdlog::error("scheduler: program {} of {} cannot be read; {} waits", next.artifactSha, jobIdOf(next),
                      m.slot.machineId);
        return Dispatched::Waits;
    }
    if (auto why = m.driver->check(*artifact)) {
        refuse(m, next, *why);
        return Dispatched::Refused;
    }
    m.unit = next;
    m.jigRun.clear();
    m.jigId.clear();
    m.plateSpots.clear();
    startUnit(m, std::move(*artifact), Start::New);
    return Dispatched::Started;
}

void Scheduler::refuse(Machine& m, const QueuedUnit& u, const MachineFault& why) {
    // This machine cannot run the job as it is set up now: it passes the job over and takes other work; the unit
    // stays queued for another machine, or for this one once its settings change (forgetRefusals).
    m.refused[JobKey{u.orderId, u.itemId, u.operation}] = u.artifactSha;
    m.lastRefusal = Refusal{u, why.reason, why.message};
    machineChanged();
    auto data = unitData(m, u, -1);
    data["reason"] = why.reason;
    data["message"] = why.message;
    // HQ hears of it once per job, machine and cause, across reconnects, reloads and restarts: the events
    // table says what it was told (checked in the commit, after every refusal committed before it).
    commits_.submit(
        [this, machineId = m.slot.machineId, u, why, data = std::move(data)]() mutable {
            auto& told = store_.database().prepare(
                "SELECT 1 FROM events WHERE order_id = ?1 AND item_id = ?2 AND milestone = 'refused_by_machine' AND "
                "json_extract(payload, '$.data.machine') = ?3 AND json_extract(payload, '$.data.operation') = ?4 AND "
                "json_extract(payload, '$.data.reason') = ?5 AND json_extract(payload, '$.data.message') = ?6 LIMIT 1");
            told.bind(1, u.orderId).bind(2, u.itemId).bind(3, machineId).bind(4, u.operation).bind(5, why.reason);
            told.bind(6, why.message);
            const bool before = told.step();
            told.reset();
            if (before) {
                spdlog::info("scheduler: {} refuses {} again: {} ({}); HQ was told", machineId, jobIdOf(u), why.reason,
                             why.message);
                return;
            }
            spdlog::warn("scheduler: {} refuses {}: {} ({}); it takes other work, the unit waits for a machine that "
                         "can run it; said again only if this changes",
                         machineId, jobIdOf(u), why.reason, why.message);
            store_.recordProduction(u.orderId, u.itemId, "refused_by_machine", std::move(data));
        },
        nullptr);
}

bool Scheduler::refusedHere(const Machine& m, const QueuedUnit& u) {
    auto it = m.refused.find(JobKey{u.orderId, u.itemId, u.operation});
    return it != m.refused.end() && it->second == u.artifactSha;
}

void Scheduler::forgetRefusals(Machine& m, const std::string& why) {
    if (m.refused.empty()) return;
    spdlog::info("machine {}: {}: the {} job(s) it refused are offered to it again", m.slot.machineId, why,
                 m.refused.size());
    m.refused.clear();
    m.lastRefusal.reset();
    machineChanged();
    poke();
}

void Scheduler::forgetRefusals(const std::string& why) {
    for (auto& m : machines_) forgetRefusals(*m, why);
}

void Scheduler::start() {
    Database& db = store_.database();
    const std::int64_t now = clock_.nowMs();
    for (auto& mp : machines_) {
        Machine& m = *mp;
        auto& st = db.prepare("SELECT bay, order_id, item_id, operation, unit FROM machines WHERE machine_id = ?1");
        st.bind(1, m.slot.machineId);
        if (st.step()) {
            m.bay = bayFromString(st.columnText(0)).value_or(Bay::NeedsAttention);
            if (!st.columnIsNull(1)) {
                QueuedUnit u;
                u.orderId = st.columnText(1);
                u.itemId = st.columnText(2);
                u.operation = st.columnText(3);
                u.unit = st.columnInt(4);
                m.unit = u;
            }
        }
        st.reset();
        if (m.unit && m.bay != Bay::Ready) {
            // A jig run's other units are found by its lead.
            for (auto& [u, slot] : queue_.jigRunOf(m.slot.machineId, *m.unit)) m.jigRun.push_back({std::move(u), slot});
            if (!m.jigRun.empty()) {
                m.jigId = queue_.jigOf(*m.unit);
                m.unit = m.jigRun.front().unit;
                for (const Placed& p : m.jigRun)
                    if (auto at = queue_.plateSpotOf(p.unit)) m.plateSpots[p.slot] = *at;
            }
        }
        if (m.bay == Bay::Running && m.unit) {
            // The agent stopped or crashed while this unit ran: what the machine did since is unknown.
            Machine* mm = &m;
            commits_.submit(
                [this, mm, now] {
                    for (const Placed& p : onBed(*mm)) {
                        queue_.markInterrupted(p.unit, now, 0, "agent_restarted");
                        auto data = unitData(*mm, p.unit, p.slot);
                        data["reason"] = "agent_restarted";
                        data["message"] = "the agent restarted while this unit ran; the operator decides what happens";
                        store_.recordProduction(p.unit.orderId, p.unit.itemId, "interrupted", std::move(data));
                    }
                    setBay(*mm, Bay::NeedsAttention, "agent_restarted");
                },
                nullptr);
            m.bay = Bay::NeedsAttention;
            spdlog::warn("machine {}: unit {} was running when the agent stopped; it needs an operator",
                         m.slot.machineId, jobIdOf(*m.unit));
        }
    }
    for (auto& m : machines_) m->driver->start();
    armForecast(forecastDebounce_);
}

void Scheduler::stop(std::function<void()> done) {
    stopping_ = true;
    forecastTimer_.cancel();
    auto left = std::make_shared<std::size_t>(machines_.size());
    auto finish = std::make_shared<std::function<void()>>(std::move(done));
    if (machines_.empty()) {
        if (*finish) (*finish)();
        return;
    }
    for (auto& m : machines_)
        m->driver->stop([left, finish] {
            if (--*left == 0 && *finish) (*finish)();
        });
}

void Scheduler::poke() {
    if (stopping_ || pokeScheduled_) return;
    pokeScheduled_ = true;
    armForecast(forecastDebounce_);
    // Once per loop round, however many reasons there were.
    boost::asio::post(io_, [this] {
        pokeScheduled_ = false;
        for (auto& m : machines_) {
            followOrders(*m);
            dispatch(*m);
        }
    });
}

void Scheduler::dispatch(Machine& m) {
    // A job the machine refuses is passed over for its next best work, a few per round (see kRefusalsPerRound).
    for (int refusals = 0;; ++refusals) {
        if (stopping_ || m.bay != Bay::Ready || m.driver->state() != MachineState::Idle) return;
        if (refusals == kRefusalsPerRound) {
            poke();
            return;
        }
        std::optional<QueuedUnit> next;
        try {
            next = queue_.nextFor(m.slot, m.refused);
        } catch (const std::exception& e) {
            spdlog::error("scheduler: cannot read the queue for {}: {}", m.slot.machineId, e.what());
            return;
        }
        if (!next) return;
        // Taken by a machine whose start is not committed yet, or on a plate being sliced: the next round sees.
        if (onABed(*next, &m)) return;
        if (const Jig* jig = jigFor(m, *next)) {
            if (jig->isPlate()) {
                if (m.plateDeclined != jobIdOf(*next) + "\n" + next->artifactSha) {
                    dispatchPlate(m, *jig, *next);
                    return;
                }
            } else {
                // With a jig on the bed the part goes in a slot, even alone; a run that cannot be built waits.
                dispatchJig(m, *jig, *next);
                return;
            }
        }
        if (dispatchOne(m, *next) != Dispatched::Refused) return;
    }
}

void Scheduler::startUnit(Machine& m, JobArtifact artifact, Start how, std::uint64_t fromLine) {
    m.bay = Bay::Running;
    m.plateDeclined.clear();
    m.lastProgressStep = 0;
    m.pausedForHold = false;
    m.stoppingForCancel = false;
    m.progress.reset();
    m.unitStartedMs = clock_.nowMs();
    m.runSeconds = m.jigRun.empty() ? m.unit->estimatedSeconds : artifact.estimatedSeconds;
    Machine* mm = &m;
    const std::int64_t now = clock_.nowMs();
    commits_.submit(
        [this, mm, now, how, fromLine] {
            for (const Placed& p : onBed(*mm)) {
                const QueuedUnit& u = p.unit;
                if (how == Start::New) {
                    // Started before any forecast named a machine for it: HQ still sees scheduled first.
                    const double est = u.estimatedSeconds * static_cast<double>(u.qty - u.unit + 1);
                    recordScheduled(u.orderId, u.itemId, u.operation, mm->slot.machineId, now, now + toMs(est));
                    queue_.markStarted(u, mm->slot.machineId, now);
                } else
                    queue_.markRestarted(u, now);
                if (p.slot >= 0) {
                    // A plate sliced again for a restart may place a part elsewhere: the store keeps where it is now.
                    auto at = mm->plateSpots.find(p.slot);
                    queue_.markPlaced(u, mm->jigId, p.slot,
                                      at == mm->plateSpots.end() ? std::nullopt : std::optional<Point2>(at->second));
                }
                auto data = unitData(*mm, u, p.slot);
                data["estimated_s"] = u.estimatedSeconds;
                if (p.slot >= 0) {
                    data["jig_units"] = static_cast<std::int64_t>(mm->jigRun.size());
                    data["jig_estimated_s"] = std::round(mm->runSeconds * 10) / 10;
                    // The proof of the whole jig goes to HQ once, with the first slot's start.
                    if (!mm->jigProofSha.empty()) {
                        data[p.slot == 0 ? "media_sha256" : "jig_proof_sha256"] = mm->jigProofSha;
                        // Its bytes follow on the media connection (queued once, whatever slot names it).
                        if (p.slot == 0)
                            MediaStore::enqueue(store_.database(), {0, mm->jigProofSha, "proof", "image/png",
                                                                    mm->jigProofBytes, now, u.orderId, u.itemId, "queued"});
                    }
                }
                if (how == Start::Restart) data["restart"] = true;
                if (how == Start::Resume) {
                    data["resume"] = true;
                    data["from_line"] = static_cast<std::int64_t>(fromLine);
                }
                if (how == Start::New && u.requeued) data["requeued"] = true;
                store_.recordProduction(u.orderId, u.itemId, "production_started", std::move(data));
            }
            setBay(*mm, Bay::Running,
                   how == Start::Restart ? "restarted by the operator"
                   : how == Start::Resume ? "resumed by the operator" : "");
        },
        [this, mm, how, fromLine, artifact = std::move(artifact)](bool committed) {
            if (!committed) {
                // Nothing was sent: a new unit stays queued and the machine free; an operator's decision is
                // asked again.
                mm->bay = how == Start::New ? Bay::Ready : Bay::NeedsAttention;
                if (how == Start::New) {
                    mm->unit.reset();
                    mm->jigRun.clear();
                    mm->jigId.clear();
                    mm->plateSpots.clear();
                }
                return;
            }
            const std::string jobId = mm->jigRun.empty() ? jobIdOf(*mm->unit) : "jig/" + mm->jigId + "/" + jobIdOf(*mm->unit);
            spdlog::info("machine {}: {} {}{}", mm->slot.machineId,
                         how == Start::New ? "starts" : how == Start::Restart ? "restarts" : "resumes", jobId,
                         mm->jigRun.empty() ? "" : " (" + std::to_string(mm->jigRun.size()) + " units)");
            mm->driver->submit(jobId, artifact, fromLine);
        });
}

void Scheduler::followOrders(Machine& m) {
    if (m.bay != Bay::Running || !m.unit || m.stoppingForCancel || m.preparing) return;
    for (const Placed& p : m.jigRun)
        if (p.unit.orderId != m.unit->orderId) return;   // a run mixing orders finishes (see the invariants)
    const auto found = store_.orderState(m.unit->orderId);
    if (!found) return;
    const std::string& state = *found;
    if (state == "cancelled" && m.policy.stopOnCancel) {
        m.stoppingForCancel = true;
        spdlog::info("machine {}: order {} was cancelled; stopping {} (policy on_cancel = stop)", m.slot.machineId,
                     m.unit->orderId, jobIdOf(*m.unit));
        m.driver->cancel();
        return;
    }
    const bool held = state == "on_hold";
    if (held && m.policy.pauseOnHold && !m.pausedForHold) {
        m.pausedForHold = true;
        spdlog::info("machine {}: order {} is on hold; pausing {} (policy on_hold = pause)", m.slot.machineId,
                     m.unit->orderId, jobIdOf(*m.unit));
        m.driver->pause();
    } else if (!held && m.pausedForHold) {
        // Resumed, or cancelled on a machine whose policy lets running work finish.
        m.pausedForHold = false;
        spdlog::info("machine {}: order {} is {}; {} continues", m.slot.machineId, m.unit->orderId, state,
                     jobIdOf(*m.unit));
        m.driver->resume();
    }
}

std::string Scheduler::runningWorkAction(const std::string& machineId, CommandKind kind) const {
    const Machine* m = find(machineId);
    if (!m) return "finish";
    switch (kind) {
    case CommandKind::Hold: return m->policy.pauseOnHold ? "pause" : "finish";
    case CommandKind::Cancel: return m->policy.stopOnCancel ? "stop" : "finish";
    case CommandKind::Resume: return m->policy.pauseOnHold ? "resume" : "continue";
    default: return "continue";
    }
}

void Scheduler::onState(Machine& m, MachineState s) {
    const MachineState was = m.lastState;
    m.lastState = s;
    const auto linkUp = [](MachineState x) { return x != MachineState::Disconnected && x != MachineState::Connecting; };
    // The driver connected again and read the machine's settings: the operator may have fixed what it refused.
    if (linkUp(s) && !linkUp(was)) forgetRefusals(m, "connected, settings read again");
    if (s == MachineState::Idle) {
        m.lastFault.clear();   // the episode is over: the next fault is news again
        poke();
    }
}

void Scheduler::onFault(Machine& m, const MachineFault& f) {
    // Once per episode: a machine that keeps failing the same way (a cable out, a reconnect every few
    // seconds) tells HQ once, until it is idle again.
    const std::string key = f.reason + "/" + f.code;
    if (key == m.lastFault || stopping_) return;
    m.lastFault = key;
    json::object data;
    data["machine"] = m.slot.machineId;
    data["reason"] = f.reason;
    if (!f.code.empty()) data["code"] = f.code;
    data["message"] = f.message;
    data["state"] = toString(m.driver->state());
    commits_.submit([this, data = std::move(data)]() mutable { store_.recordFloorEvent("machine_fault", std::move(data)); },
                    nullptr);
}

void Scheduler::onProgress(Machine& m, const JobProgress& p) {
    if (!m.unit || m.bay != Bay::Running) return;
    const int percent = static_cast<int>(p.fraction * 100.0);
    const int step = percent / progressStep_;
    if (step <= m.lastProgressStep || percent >= 100) return;
    m.lastProgressStep = step;
    Machine* mm = &m;
    const int reached = step * progressStep_;
    const std::int64_t secondsLeft = p.secondsLeft >= 0 ? static_cast<std::int64_t>(p.secondsLeft + 0.5) : -1;
    commits_.submit(
        [this, mm, reached, secondsLeft] {
            for (const Placed& q : onBed(*mm)) {
                auto data = unitData(*mm, q.unit, q.slot);
                data["percent"] = reached;
                if (secondsLeft >= 0) data["seconds_left"] = secondsLeft;
                store_.recordProduction(q.unit.orderId, q.unit.itemId, "progress", std::move(data));
            }
        },
        [this, mm, units = onBed(m), reached](bool committed) {
            if (!committed) return;
            for (const Placed& q : units) tellUnitMilestone(*mm, q.unit, "progress", reached);
        });
}

void Scheduler::onFinished(Machine& m) {
    if (!m.unit) return;
    Machine* mm = &m;
    const std::int64_t now = clock_.nowMs();
    commits_.submit(
        [this, mm, now] {
            for (const Placed& p : onBed(*mm)) {
                queue_.markDone(p.unit, now);
                store_.recordProduction(p.unit.orderId, p.unit.itemId, "job_done", unitData(*mm, p.unit, p.slot));
            }
            setBay(*mm, Bay::AwaitingClear, "");
        },
        [this, mm, units = onBed(m)](bool committed) {
            // Either way the parts are on the bed: the machine waits for the operator.
            mm->bay = Bay::AwaitingClear;
            if (!committed) {
                spdlog::error("machine {}: job_done could not be stored", mm->slot.machineId);
                return;
            }
            for (const Placed& p : units) tellUnitMilestone(*mm, p.unit, "job_done", 100);
        });
}

void Scheduler::tellUnitMilestone(const Machine& m, const QueuedUnit& unit, const char* milestone, int percent) {
    if (!onUnitMilestone_) return;
    try {
        onUnitMilestone_({m.slot.machineId, unit, milestone, percent});
    } catch (const std::exception& e) {
        // What listens (the QC camera) never stops the floor.
        spdlog::error("machine {}: after {} of {}/{}: {}", m.slot.machineId, milestone, unit.orderId, unit.itemId,
                      e.what());
    }
}

void Scheduler::onInterrupted(Machine& m, const MachineFault& why, std::uint64_t lastLine) {
    if (!m.unit || m.bay != Bay::Running) return;
    Machine* mm = &m;
    const std::int64_t now = clock_.nowMs();
    if (m.stoppingForCancel) {
        // Stopped on purpose: the unit will not run again and there is nothing to decide, only a bed to clear.
        m.stoppingForCancel = false;
        m.bay = Bay::AwaitingClear;
        commits_.submit(
            [this, mm, now, why, lastLine] {
                for (const Placed& p : onBed(*mm)) {
                    queue_.markCancelled(p.unit, now, lastLine);
                    auto data = unitData(*mm, p.unit, p.slot);
                    data["reason"] = "order_cancelled";
                    data["message"] = "the order was cancelled and this machine stops running work (on_cancel = stop)";
                    data["last_line"] = static_cast<std::int64_t>(lastLine);
                    store_.recordProduction(p.unit.orderId, p.unit.itemId, "interrupted", std::move(data));
                }
                setBay(*mm, Bay::AwaitingClear, "order_cancelled");
            },
            nullptr);
        return;
    }
    m.bay = Bay::NeedsAttention;
    commits_.submit(
        [this, mm, now, why, lastLine] {
            for (const Placed& p : onBed(*mm)) {
                queue_.markInterrupted(p.unit, now, lastLine, why.reason);
                auto data = unitData(*mm, p.unit, p.slot);
                data["reason"] = why.reason;
                if (!why.code.empty()) data["code"] = why.code;
                data["message"] = why.message;
                data["last_line"] = static_cast<std::int64_t>(lastLine);
                store_.recordProduction(p.unit.orderId, p.unit.itemId, "interrupted", std::move(data));
            }
            setBay(*mm, Bay::NeedsAttention, why.reason);
        },
        nullptr);
}

std::optional<std::string> Scheduler::clear(const std::string& machineId) {
    Machine* m = find(machineId);
    if (!m) return "no machine " + machineId;
    if (m->bay != Bay::AwaitingClear)
        return "machine " + machineId + " is " + toString(m->bay) + ", not awaiting a bed clear";
    m->bay = Bay::Ready;
    m->unit.reset();
    m->jigRun.clear();
    m->jigId.clear();
    m->plateSpots.clear();
    commits_.submit([this, m] { setBay(*m, Bay::Ready, "cleared"); }, [this](bool) { poke(); });
    spdlog::info("machine {}: bed cleared", machineId);
    return std::nullopt;
}

Scheduler::Machine* Scheduler::find(const std::string& machineId) const {
    for (auto& m : machines_)
        if (m->slot.machineId == machineId) return m.get();
    return nullptr;
}

std::optional<std::string> Scheduler::restart(const std::string& machineId) {
    Machine* m = find(machineId);
    if (!m) return "no machine " + machineId;
    if (m->bay != Bay::NeedsAttention || !m->unit)
        return "machine " + machineId + " is " + toString(m->bay) + "; only an interrupted unit can be restarted";
    if (m->driver->state() != MachineState::Idle)
        return "machine " + machineId + " is " + toString(m->driver->state()) +
               (m->driver->state() == MachineState::Alarm ? ": unlock it first (mtoctl unlock)" : ": it must be idle");
    if (!m->jigRun.empty()) {
        for (const Jig& j : m->jigs)
            if (j.id == m->jigId && j.isPlate()) return restartPlate(*m, j);
        auto program = rebuildJigRun(*m);
        if (auto* why = std::get_if<std::string>(&program)) return *why;
        m->plateSpots = spotsOf(std::get<JigProgram>(program).placed);
        startUnit(*m, std::move(std::get<JigProgram>(program).artifact), Start::Restart);
        return std::nullopt;
    }
    auto unit = queue_.unitOf(m->unit->orderId, m->unit->itemId, m->unit->operation, m->unit->unit);
    if (!unit) return "the interrupted unit is no longer in the store";
    auto artifact = loader_(unit->artifactSha);
    if (!artifact) return "the program " + unit->artifactSha + " cannot be read";
    if (auto why = m->driver->check(*artifact)) return "the machine refuses the program: " + why->message;
    m->unit = *unit;
    startUnit(*m, std::move(*artifact), Start::Restart);
    return std::nullopt;
}

std::optional<std::string> Scheduler::restartPlate(Machine& m, const Jig& plate) {
    if (!plateTools_.build) return "plates cannot be built on this agent; scrap the units on it (scrap) and clear the bed";
    auto artifacts = std::make_shared<std::vector<JobArtifact>>();
    artifacts->reserve(m.jigRun.size());   // placements point into it
    std::vector<JigPlacement> placements;
    for (const Placed& p : m.jigRun) {
        auto artifact = loader_(p.unit.artifactSha);
        if (!artifact) return "the program " + p.unit.artifactSha + " of " + jobIdOf(p.unit) + " cannot be read";
        artifacts->push_back(std::move(*artifact));
        placements.push_back({&artifacts->back(), queue_.skuOf(p.unit), static_cast<std::size_t>(p.slot),
                              p.unit.orderId + "/" + p.unit.itemId + "#" + std::to_string(p.unit.unit)});
    }
    // The same parts give the same program from the slice cache; when the cache lost it, the slicer runs again,
    // once, and like any slicing off the loop. Meanwhile the printer counts as running: no second restart, no
    // other work.
    m.bay = Bay::Running;
    m.preparing = true;
    machineChanged();
    spdlog::info("machine {}: restarting plate {} of {} parts", m.slot.machineId, plate.id, m.jigRun.size());
    if (!plateWorkers_) plateWorkers_ = std::make_unique<boost::asio::thread_pool>(1);
    boost::asio::post(*plateWorkers_, [this, mm = &m, plate, placements = std::move(placements), artifacts,
                                       build = plateTools_.build, profile = m.profile, alive = alive_]() mutable {
        std::variant<JigProgram, JigRefusal> built = JigRefusal{"slice_failed", "not sliced"};
        try {
            built = build(plate, placements, profile, false);
        } catch (const std::exception& e) {
            built = JigRefusal{"slice_failed", e.what()};
        }
        boost::asio::post(io_, [this, mm, alive, built = std::move(built)]() mutable {
            if (!*alive) return;
            finishPlateRestart(*mm, std::move(built));
        });
    });
    return std::nullopt;
}

void Scheduler::finishPlateRestart(Machine& m, std::variant<JigProgram, JigRefusal> built) {
    m.preparing = false;
    m.bay = Bay::NeedsAttention;   // until the restart commits
    std::string why;
    if (auto* r = std::get_if<JigRefusal>(&built)) why = r->reason + ": " + r->message;
    else if (m.driver->state() != MachineState::Idle)
        why = "machine " + m.slot.machineId + " is " + toString(m.driver->state()) + ": it must be idle";
    else if (auto refused = m.driver->check(std::get<JigProgram>(built).artifact))
        why = "the machine refuses the plate program: " + refused->message;
    if (stopping_) return;
    if (!why.empty()) {
        // The units stay interrupted: the operator tries again or scraps the plate; the station shows why.
        spdlog::warn("machine {}: plate {} cannot be restarted: {}; restart again, or scrap it (scrap)", m.slot.machineId,
                     m.jigId, why);
        Machine* mm = &m;
        commits_.submit([this, mm, why] { setBay(*mm, Bay::NeedsAttention, "restart failed: " + why); }, nullptr);
        machineChanged();
        return;
    }
    auto& program = std::get<JigProgram>(built);
    m.plateSpots = spotsOf(program.placed);
    startUnit(m, std::move(program.artifact), Start::Restart);
}

std::optional<std::string> Scheduler::resume(const std::string& machineId) {
    Machine* m = find(machineId);
    if (!m) return "no machine " + machineId;
    if (m->bay != Bay::NeedsAttention || !m->unit)
        return "machine " + machineId + " is " + toString(m->bay) + "; only an interrupted unit can be resumed";
    if (!m->driver->capabilities().resumeFromLine)
        return "machine " + machineId + " (" + m->driver->identity().firmware +
               ") cannot continue a program from a line: after an interruption its position and modal state are "
               "not known; restart the unit from its first line (restart) or scrap it (scrap)";
    if (m->driver->state() != MachineState::Idle)
        return "machine " + machineId + " is " + toString(m->driver->state()) + ": it must be idle";
    auto unit = queue_.unitOf(m->unit->orderId, m->unit->itemId, m->unit->operation, m->unit->unit);
    if (!unit) return "the interrupted unit is no longer in the store";
    const std::uint64_t lastLine = queue_.lastLineOf(*unit);
    if (lastLine == 0) return "the machine acknowledged no line of this unit; restart it instead";
    if (!m->jigRun.empty()) {
        // The same units in the same slots give the same program, so the line numbers still hold.
        auto program = rebuildJigRun(*m);
        if (auto* why = std::get_if<std::string>(&program)) return *why;
        m->plateSpots = spotsOf(std::get<JigProgram>(program).placed);
        startUnit(*m, std::move(std::get<JigProgram>(program).artifact), Start::Resume, lastLine);
        return std::nullopt;
    }
    auto artifact = loader_(unit->artifactSha);
    if (!artifact) return "the program " + unit->artifactSha + " cannot be read";
    m->unit = *unit;
    startUnit(*m, std::move(*artifact), Start::Resume, lastLine);
    return std::nullopt;
}

std::optional<std::string> Scheduler::scrap(const std::string& machineId) {
    Machine* m = find(machineId);
    if (!m) return "no machine " + machineId;
    if ((m->bay != Bay::NeedsAttention && m->bay != Bay::AwaitingClear) || !m->unit)
        return "machine " + machineId + " is " + toString(m->bay) +
               "; only the part of an interrupted or finished unit can be scrapped";
    if (m->bay == Bay::AwaitingClear && queue_.laterStepStarted(*m->unit))
        return "the next operation of this unit has already started on another machine";
    // A part already sent back to be made again (its item failed QC, or it was scrapped before) is not
    // queued a second time: with nothing left to scrap the answer says so and nothing changes.
    const std::string ran = m->bay == Bay::NeedsAttention ? "interrupted" : "done";
    std::string requeuedWhy;
    bool anyLeft = false;
    for (const Placed& p : onBed(*m)) {
        const auto run = queue_.runOf(p.unit);
        if (stillOnBed(*m, run, ran)) anyLeft = true;
        else if (requeuedWhy.empty()) requeuedWhy = run ? run->reason : "";
    }
    if (!anyLeft)
        return "the unit " + jobIdOf(*m->unit) + " on " + machineId + " is already queued again" +
               (requeuedWhy.empty() ? "" : " (" + requeuedWhy + ")") + ": nothing to scrap; clear the bed (clear " +
               machineId + ")";
    Machine* mm = m;
    const std::int64_t now = clock_.nowMs();
    const Bay was = m->bay;
    m->bay = Bay::AwaitingClear;
    commits_.submit(
        [this, mm, now, was, ran] {
            // A jig run is scrapped whole: its parts share one bed and one program. Each part is checked again
            // here, in the transaction: a QC failure committed since the answer has queued it already.
            for (const Placed& p : onBed(*mm)) {
                if (!stillOnBed(*mm, queue_.runOf(p.unit), ran)) {
                    spdlog::info("machine {}: {} was queued again already; not scrapped twice", mm->slot.machineId,
                                 jobIdOf(p.unit));
                    continue;
                }
                queue_.markScrapped(p.unit, now, "scrapped");
                auto data = unitData(*mm, p.unit, p.slot);
                data["after"] = was == Bay::NeedsAttention ? "interrupted" : "job_done";
                data["requeued"] = true;
                store_.recordProduction(p.unit.orderId, p.unit.itemId, "scrapped", std::move(data));
            }
            setBay(*mm, Bay::AwaitingClear, "scrapped");
        },
        [this, mm, was](bool committed) {
            if (!committed) {
                mm->bay = was;
                return;
            }
            spdlog::info("machine {}: unit {} scrapped and queued again; clear the bed", mm->slot.machineId,
                         jobIdOf(*mm->unit));
            poke();
        });
    return std::nullopt;
}

bool Scheduler::stillOnBed(const Machine& m, const std::optional<JobQueue::UnitRun>& run, const std::string& ran) {
    return run && run->state == ran && run->machineId == m.slot.machineId;
}

std::optional<std::string> Scheduler::unlock(const std::string& machineId) {
    Machine* m = find(machineId);
    if (!m) return "no machine " + machineId;
    if (m->driver->state() != MachineState::Alarm) return "machine " + machineId + " is not in alarm";
    m->driver->unlock();
    spdlog::info("machine {}: unlock asked by the operator", machineId);
    return std::nullopt;
}

std::optional<Bay> Scheduler::bay(const std::string& machineId) const {
    const Machine* m = find(machineId);
    return m ? std::optional<Bay>(m->bay) : std::nullopt;
}

void Scheduler::setBay(Machine& m, Bay bay, const std::string& reason) {
    const bool withUnit = bay != Bay::Ready && m.unit;
    store_.database()
        .prepare("INSERT OR REPLACE INTO machines (machine_id, bay, order_id, item_id, operation, unit, reason, "
                 "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
        .bind(1, m.slot.machineId)
        .bind(2, toString(bay))
        .bindOptional(3, withUnit ? m.unit->orderId : "")
        .bindOptional(4, withUnit ? m.unit->itemId : "")
        .bindOptional(5, withUnit ? m.unit->operation : "")
        .bind(6, withUnit ? m.unit->unit : std::int64_t{0})
        .bindOptional(7, reason)
        .bind(8, clock_.nowMs())
        .run();
    machineChanged();
}

json::object Scheduler::unitData(const Machine& m) const { return unitData(m, *m.unit, -1); }

json::object Scheduler::unitData(const Machine& m, const QueuedUnit& u, std::int64_t slot) const {
    json::object data;
    data["machine"] = m.slot.machineId;
    data["operation"] = u.operation;
    data["unit"] = u.unit;
    if (u.qty > 0) data["qty"] = u.qty;
    if (slot >= 0) {
        data["jig"] = m.jigId;
        data["slot"] = slot;
        // A plate's part: the centre of where the slicer put it on the bed (known since the plate was sliced, and
        // kept with the unit's slot in the store).
        if (auto at = m.plateSpots.find(slot); at != m.plateSpots.end()) {
            data["plate_x"] = at->second.x;
            data["plate_y"] = at->second.y;
        }
    }
    return data;
}

void Scheduler::armForecast(std::chrono::milliseconds after) {
    if (stopping_) return;
    // A deep queue makes a forecast cost tens of ms: it then runs at most 5 % of the time.
    const auto due = std::chrono::steady_clock::now() + std::max(after, forecastCost_ * 20);
    if (forecastArmed_ && forecastDue_ <= due) return;
    forecastArmed_ = true;
    forecastDue_ = due;
    forecastTimer_.expires_at(due);   // an earlier, later-due wait ends with operation_aborted
    forecastTimer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        forecastArmed_ = false;
        if (stopping_) return;
        const auto started = std::chrono::steady_clock::now();
        const bool more = runForecast();
        forecastCost_ = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
        armForecast(more ? forecastDebounce_ : forecastPeriod_);
    });
}

double Scheduler::secondsLeft(const Machine& m) const {
    if (m.progress && m.progress->secondsLeft >= 0) return m.progress->secondsLeft;
    if (!m.unit) return 0;
    const double elapsed = static_cast<double>(clock_.nowMs() - m.unitStartedMs) / 1000.0;
    return std::max(0.0, m.runSeconds - elapsed);
}

bool Scheduler::runForecast() {
    bool more = false;
    try {
        std::vector<ForecastMachine> floor;
        std::map<UnitKey, double> running;
        std::map<std::string, double> runningByOrder;
        for (const auto& mp : machines_) {
            const Machine& m = *mp;
            std::map<std::string, std::size_t> jigSlots;
            for (const Jig& j : m.jigs)
                for (const auto& [sku, origin] : j.partOrigins)
                    jigSlots.emplace(sku, j.isPlate() ? m.plateFits.partsFor(sku, j.capacity()) : j.capacity());
            switch (m.bay) {
            case Bay::Ready:
                if (m.driver->state() == MachineState::Idle) floor.push_back({m.slot, 0, jigSlots, &m.refused});
                break;
            case Bay::Running: {
                const double left = secondsLeft(m);
                for (const Placed& p : onBed(m)) {
                    running[{p.unit.orderId, p.unit.itemId, p.unit.step, p.unit.unit}] = left;
                    double& order = runningByOrder[p.unit.orderId];
                    order = std::max(order, left);
                }
                floor.push_back({m.slot, left + forecastOptions_.bedClearS, jigSlots, &m.refused});
                break;
            }
            case Bay::AwaitingClear:
                if (m.driver->state() == MachineState::Idle)
                    floor.push_back({m.slot, forecastOptions_.bedClearS, jigSlots, &m.refused});
                break;
            case Bay::NeedsAttention:
                break;   // takes no work until an operator decides; when is not known
            }
        }
        const std::int64_t now = clock_.nowMs();

        // Jobs and orders whose units are not all settled yet (the one being read, and those with units in an open
        // jig run): a handful, whatever the depth of the queue. Once settled, what HQ must hear is kept (at most
        // writesPerForecast changes) and the rest is forgotten.
        struct JobPlan {
            std::string machineId;   // of its first planned unit in queue order
            std::size_t firstSeq = SIZE_MAX;
            double start = std::numeric_limits<double>::infinity(), finish = 0;
            std::size_t unsettled = 0;
            bool announced = false;
        };
        struct OrderPlan {
            std::string dueBy;
            std::int64_t dueKey = 0;
            bool toldLate = false;
            std::optional<double> finish;   // over planned and running units
            std::size_t unsettled = 0;
            bool read = false;   // every job of it has been read
        };
        std::map<JobKey, JobPlan, JobKeyLess> jobs;
        std::map<std::string, OrderPlan> orders;
        struct Scheduled {
            std::string orderId, itemId, operation, machineId;
            double start = 0, finish = 0;
        };
        std::vector<Scheduled> scheduled;
        std::vector<LatenessChange> lateness;
        auto room = [&] {
            if (scheduled.size() + lateness.size() < writesPerForecast) return true;
            more = true;
            return false;
        };
        auto orderDone = [&](std::map<std::string, OrderPlan>::iterator it) {
            OrderPlan& o = it->second;
            if (!o.read || o.unsettled > 0) return;
            if (auto r = runningByOrder.find(it->first); r != runningByOrder.end())
                o.finish = std::max(o.finish.value_or(0), r->second);
            if (auto change = latenessChange(it->first, o.dueBy, o.dueKey, o.toldLate, o.finish, now); change && room())
                lateness.push_back(std::move(*change));
            orders.erase(it);
        };
        Forecaster forecaster(std::move(floor), std::move(running), forecastOptions_, [&](const PlannedUnit& p) {
            auto job = jobs.find(p);
            auto order = orders.find(p.orderId);
            if (job == jobs.end() || order == orders.end()) return;   // not read through the forecast: none
            JobPlan& j = job->second;
            if (!p.machineId.empty()) {
                if (p.seq < j.firstSeq) {
                    j.firstSeq = p.seq;
                    j.machineId = p.machineId;
                }
                j.start = std::min(j.start, p.startInS);
                j.finish = std::max(j.finish, p.finishInS);
                order->second.finish = std::max(order->second.finish.value_or(0), p.finishInS);
            }
            if (--j.unsettled == 0) {
                if (!j.machineId.empty() && !j.announced && room())
                    scheduled.push_back({p.orderId, p.itemId, p.operation, j.machineId, j.start, j.finish});
                jobs.erase(job);
            }
            --order->second.unsettled;
            orderDone(order);
        });
        std::string reading;   // the order being read
        auto orderRead = [&] {
            if (auto it = orders.find(reading); it != orders.end()) {
                it->second.read = true;
                orderDone(it);
            }
        };
        queue_.forEachPending([&](const PendingJob& pj) {
            if (pj.orderId != reading) {
                orderRead();
                reading = pj.orderId;
            }
            auto [order, fresh] = orders.try_emplace(pj.orderId);
            if (fresh) {
                order->second.dueBy = pj.dueBy;
                order->second.dueKey = pj.dueKey;
                order->second.toldLate = pj.forecastLate;
            }
            if (pj.units.empty()) return;
            order->second.unsettled += pj.units.size();
            JobPlan& j = jobs[JobKey{pj.orderId, pj.itemId, pj.operation}];
            j.unsettled += pj.units.size();
            j.announced = pj.announced;
            forecaster.add(pj);
        });
        orderRead();
        forecaster.finish();

        commits_.submit(
            [this, scheduled = std::move(scheduled), lateness = std::move(lateness),
             runningByOrder = std::move(runningByOrder), now] {
                for (const auto& j : scheduled)
                    recordScheduled(j.orderId, j.itemId, j.operation, j.machineId, now + toMs(j.start),
                                    now + toMs(j.finish));
                for (const auto& change : lateness) recordLateness(change);
                recordLatenessOfOrdersNotQueued(runningByOrder, now);
            },
            nullptr);
    } catch (const std::exception& e) {
        // The forecast informs; it never stops the floor.
        spdlog::error("scheduler: forecast failed: {}", e.what());
    }
    return more;
}

void Scheduler::recordScheduled(const std::string& orderId, const std::string& itemId, const std::string& operation,
                                const std::string& machineId, std::int64_t startMs, std::int64_t finishMs) {
    Database& db = store_.database();
    db.prepare("UPDATE jobs SET scheduled_machine = ?4 WHERE order_id = ?1 AND item_id = ?2 AND operation = ?3 "
               "AND scheduled_machine IS NULL")
        .bind(1, orderId)
        .bind(2, itemId)
        .bind(3, operation)
        .bind(4, machineId)
        .run();
    if (db.changes() != 1) return;   // told before (or the job is gone)
    json::object data;
    data["machine"] = machineId;
    data["operation"] = operation;
    data["estimated_start"] = formatRfc3339Ms(startMs);
    data["estimated_finish"] = formatRfc3339Ms(finishMs);
    store_.recordProduction(orderId, itemId, "scheduled", std::move(data));
}

std::optional<Scheduler::LatenessChange> Scheduler::latenessChange(const std::string& orderId, const std::string& dueBy,
                                                                std::int64_t dueKey, bool toldLate,
                                                                std::optional<double> finishInS, std::int64_t now) {
    // No due time, or one that could not be read.
    if (dueBy.empty() || dueKey >= std::numeric_limits<std::int64_t>::max() / 1000) return std::nullopt;
    const std::int64_t dueMs = dueKey * 1000;
    // Work with no forecast (no machine can take it now) is late only once its due time has passed.
    const std::int64_t finishMs = finishInS ? now + toMs(*finishInS) : now;
    const bool late = finishMs > dueMs;
    // Back on time only with a margin, so a forecast hovering at the due time does not repeat `delayed`.
    if ((late && !toldLate) || (!late && toldLate && finishMs <= dueMs - kOnTimeMarginMs))
        return LatenessChange{orderId, dueBy, dueMs, finishMs, finishInS.has_value(), late};
    return std::nullopt;
}

void Scheduler::recordLateness(const LatenessChange& c) {
    // What HQ was told may have changed since the forecast read it, and the order may have left the queue: the
    // update says whether this change still holds.
    Database& db = store_.database();
    db.prepare("UPDATE orders SET forecast_late = ?2 WHERE order_id = ?1 AND forecast_late = ?3 AND state IN "
               "('accepted', 'scheduled', 'in_production')")
        .bind(1, c.orderId)
        .bind(2, std::int64_t{c.late ? 1 : 0})
        .bind(3, std::int64_t{c.late ? 0 : 1})
        .run();
    if (db.changes() != 1 || !c.late) return;
    json::object data;
    data["due_by"] = c.dueBy;
    if (c.known)
        data["estimated_finish"] = formatRfc3339Ms(c.finishMs);
    else
        data["estimated_finish"] = nullptr;
    data["late_by_s"] = (c.finishMs - c.dueMs + 999) / 1000;
    store_.recordProduction(c.orderId, "", "delayed", std::move(data));
}

void Scheduler::recordLatenessOfOrdersNotQueued(const std::map<std::string, double>& runningByOrder, std::int64_t now) {
    // Orders with a due time and work not finished, none of it queued (the forecast judged the others as it read
    // them), with what HQ was last told.
    std::vector<LatenessChange> changes;
    {
        auto& st = store_.database().prepare(
            "SELECT o.order_id, o.due_by, MIN(j.due_key), o.forecast_late FROM orders o JOIN jobs j ON j.order_id = "
            "o.order_id WHERE o.due_by IS NOT NULL AND o.state IN ('accepted', 'scheduled', 'in_production') AND "
            "j.state <> 'done' AND NOT EXISTS (SELECT 1 FROM jobs q WHERE q.order_id = o.order_id AND q.state = "
            "'queued' AND (q.started_units < q.qty OR q.requeued_units > 0)) GROUP BY o.order_id");
        while (st.step()) {
            const std::string orderId = st.columnText(0);
            auto running = runningByOrder.find(orderId);
            auto change = latenessChange(orderId, st.columnText(1), st.columnInt(2), st.columnInt(3) != 0,
                                         running == runningByOrder.end() ? std::nullopt
                                                                         : std::optional<double>(running->second),
                                         now);
            if (change) changes.push_back(std::move(*change));
        }
        st.reset();
    }
    for (const auto& c : changes) recordLateness(c);
}

std::vector<Scheduler::MachineView> Scheduler::machines() const {
    // The reason an operator is needed is kept with the bay in the store only.
    std::map<std::string, std::string> reasons;
    try {
        auto& st = store_.database().prepare("SELECT machine_id, COALESCE(reason, '') FROM machines");
        while (st.step()) reasons[st.columnText(0)] = st.columnText(1);
        st.reset();
    } catch (const std::exception& e) {
        spdlog::warn("scheduler: machine reasons cannot be read: {}", e.what());
    }
    std::vector<MachineView> out;
    out.reserve(machines_.size());
    for (const auto& mp : machines_) {
        const Machine& m = *mp;
        MachineView v;
        v.machineId = m.slot.machineId;
        v.profile = m.slot.profile;
        v.capability = m.slot.capability;
        v.bay = m.bay;
        v.state = m.driver->state();
        v.stateDetail = m.stateDetail;
        if (m.bay != Bay::Ready) {
            v.unit = m.unit;
            v.jig = m.jigId;
            v.units = onBed(m).size();
        }
        if (m.bay == Bay::NeedsAttention) v.reason = reasons[m.slot.machineId];
        v.refusedJobs = m.refused.size();
        v.lastRefusal = m.lastRefusal;
        if (v.unit && m.bay == Bay::AwaitingClear) {
            v.fraction = 1;
            v.secondsLeft = 0;
        } else if (v.unit) {
            if (m.progress) v.fraction = m.progress->fraction < 0 ? 0 : m.progress->fraction > 1 ? 1 : m.progress->fraction;
            if (m.bay == Bay::Running &&
                ((m.progress && m.progress->secondsLeft >= 0) || m.runSeconds > 0))
                v.secondsLeft = secondsLeft(m);
        }
        out.push_back(std::move(v));
    }
    return out;
}

void Scheduler::machineChanged() {
    if (onMachineChange_.empty() || changePosted_) return;
    changePosted_ = true;
    // After the round that changed it, so a bay set in a commit is seen with the memory that follows it.
    boost::asio::post(io_, [this] {
        changePosted_ = false;
        for (const auto& f : onMachineChange_) f();
    });
}

} // namespace mto
