// SPDX-License-Identifier: Apache-2.0
// One scheduler across all machines: hands each free machine its best next unit, records what the machines
// report as milestones, and holds a machine after a job until its bed is cleared.
#include "scheduler/scheduler.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

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
    std::string stateDetail;                // with the driver's last state change
    std::optional<JobProgress> progress;    // the driver's last report on the unit
    std::int64_t unitStartedMs = 0;
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
    }

private:
    Scheduler& s_;
    Machine& m_;
};

Scheduler::Scheduler(boost::asio::io_context& io, CommitQueue& commits, OrderStore& store, JobQueue& queue,
                     ArtifactLoader loader, const Clock& clock)
    : io_(io), commits_(commits), store_(store), queue_(queue), loader_(std::move(loader)), clock_(clock) {}

Scheduler::~Scheduler() = default;

void Scheduler::addMachine(const MachineSlot& slot, const DriverFactory& makeDriver) {
    auto m = std::make_unique<Machine>();
    m->slot = slot;
    m->listener = std::make_unique<Listener>(*this, *m);
    m->driver = makeDriver(*m->listener);
    machines_.push_back(std::move(m));
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
        if (m.bay == Bay::Running && m.unit) {
            // The agent stopped or crashed while this unit ran: what the machine did since is unknown.
            Machine* mm = &m;
            commits_.submit(
                [this, mm, now] {
                    queue_.markInterrupted(*mm->unit, now, 0, "agent_restarted");
                    auto data = unitData(*mm);
                    data["reason"] = "agent_restarted";
                    data["message"] = "the agent restarted while this unit ran; the operator decides what happens";
                    store_.recordProduction(mm->unit->orderId, mm->unit->itemId, "interrupted", std::move(data));
                    setBay(*mm, Bay::NeedsAttention, "agent_restarted");
                },
                nullptr);
            m.bay = Bay::NeedsAttention;
            spdlog::warn("machine {}: unit {} was running when the agent stopped; it needs an operator",
                         m.slot.machineId, jobIdOf(*m.unit));
        }
    }
    for (auto& m : machines_) m->driver->start();
}

void Scheduler::stop(std::function<void()> done) {
    stopping_ = true;
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
    // Once per loop round, however many reasons there were.
    boost::asio::post(io_, [this] {
        pokeScheduled_ = false;
        for (auto& m : machines_) dispatch(*m);
    });
}

void Scheduler::dispatch(Machine& m) {
    if (stopping_ || m.bay != Bay::Ready || m.driver->state() != MachineState::Idle) return;
    std::optional<QueuedUnit> next;
    try {
        next = queue_.nextFor(m.slot);
    } catch (const std::exception& e) {
        spdlog::error("scheduler: cannot read the queue for {}: {}", m.slot.machineId, e.what());
        return;
    }
    if (!next) return;
    auto artifact = loader_(next->artifactSha);
    if (!artifact) {
        spdlog::error("scheduler: program {} of {} cannot be read; {} waits", next->artifactSha, jobIdOf(*next),
                      m.slot.machineId);
        return;
    }
    if (auto why = m.driver->check(*artifact)) {
        // This machine cannot run it as it is set up now; the unit stays queued for another machine or a fix.
        spdlog::warn("scheduler: {} refuses {}: {} ({})", m.slot.machineId, jobIdOf(*next), why->reason, why->message);
        return;
    }
    m.unit = next;
    startUnit(m, std::move(*artifact), false);
}

void Scheduler::startUnit(Machine& m, JobArtifact artifact, bool restart) {
    m.bay = Bay::Running;
    m.lastProgressStep = 0;
    m.progress.reset();
    m.unitStartedMs = clock_.nowMs();
    Machine* mm = &m;
    const std::int64_t now = clock_.nowMs();
    commits_.submit(
        [this, mm, now, restart] {
            if (restart)
                queue_.markRestarted(*mm->unit, now);
            else
                queue_.markStarted(*mm->unit, mm->slot.machineId, now);
            auto data = unitData(*mm);
            data["estimated_s"] = mm->unit->estimatedSeconds;
            if (restart) data["restart"] = true;
            store_.recordProduction(mm->unit->orderId, mm->unit->itemId, "production_started", std::move(data));
            setBay(*mm, Bay::Running, restart ? "restarted by the operator" : "");
        },
        [this, mm, restart, artifact = std::move(artifact)](bool committed) {
            if (!committed) {
                // Nothing was sent: a new unit stays queued and the machine free; a restart is asked again.
                mm->bay = restart ? Bay::NeedsAttention : Bay::Ready;
                if (!restart) mm->unit.reset();
                return;
            }
            spdlog::info("machine {}: {} {}", mm->slot.machineId, restart ? "restarts" : "starts", jobIdOf(*mm->unit));
            mm->driver->submit(jobIdOf(*mm->unit), artifact);
        });
}

void Scheduler::onState(Machine&, MachineState s) {
    if (s == MachineState::Idle) poke();
}

void Scheduler::onProgress(Machine& m, const JobProgress& p) {
    if (!m.unit || m.bay != Bay::Running) return;
    const int percent = static_cast<int>(p.fraction * 100.0);
    const int step = percent / progressStep_;
    if (step <= m.lastProgressStep || percent >= 100) return;
    m.lastProgressStep = step;
    Machine* mm = &m;
    auto data = unitData(m);
    data["percent"] = step * progressStep_;
    if (p.secondsLeft >= 0) data["seconds_left"] = static_cast<std::int64_t>(p.secondsLeft + 0.5);
    commits_.submit([this, mm, data = std::move(data)]() mutable {
        store_.recordProduction(mm->unit->orderId, mm->unit->itemId, "progress", std::move(data));
    }, nullptr);
}

void Scheduler::onFinished(Machine& m) {
    if (!m.unit) return;
    Machine* mm = &m;
    const std::int64_t now = clock_.nowMs();
    commits_.submit(
        [this, mm, now] {
            queue_.markDone(*mm->unit, now);
            store_.recordProduction(mm->unit->orderId, mm->unit->itemId, "job_done", unitData(*mm));
            setBay(*mm, Bay::AwaitingClear, "");
        },
        [mm](bool committed) {
            // Either way the part is on the bed: the machine waits for the operator.
            mm->bay = Bay::AwaitingClear;
            if (!committed) spdlog::error("machine {}: job_done could not be stored", mm->slot.machineId);
        });
}

void Scheduler::onInterrupted(Machine& m, const MachineFault& why, std::uint64_t lastLine) {
    if (!m.unit || m.bay != Bay::Running) return;
    Machine* mm = &m;
    const std::int64_t now = clock_.nowMs();
    m.bay = Bay::NeedsAttention;
    commits_.submit(
        [this, mm, now, why, lastLine] {
            queue_.markInterrupted(*mm->unit, now, lastLine, why.reason);
            auto data = unitData(*mm);
            data["reason"] = why.reason;
            if (!why.code.empty()) data["code"] = why.code;
            data["message"] = why.message;
            data["last_line"] = static_cast<std::int64_t>(lastLine);
            store_.recordProduction(mm->unit->orderId, mm->unit->itemId, "interrupted", std::move(data));
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
    auto unit = queue_.unitOf(m->unit->orderId, m->unit->itemId, m->unit->operation, m->unit->unit);
    if (!unit) return "the interrupted unit is no longer in the store";
    auto artifact = loader_(unit->artifactSha);
    if (!artifact) return "the program " + unit->artifactSha + " cannot be read";
    if (auto why = m->driver->check(*artifact)) return "the machine refuses the program: " + why->message;
    m->unit = *unit;
    startUnit(*m, std::move(*artifact), true);
    return std::nullopt;
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

json::object Scheduler::unitData(const Machine& m) const {
    json::object data;
    data["machine"] = m.slot.machineId;
    data["operation"] = m.unit->operation;
    data["unit"] = m.unit->unit;
    if (m.unit->qty > 0) data["qty"] = m.unit->qty;
    return data;
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
    const std::int64_t now = clock_.nowMs();
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
        if (m.bay != Bay::Ready) v.unit = m.unit;
        if (m.bay == Bay::NeedsAttention) v.reason = reasons[m.slot.machineId];
        if (v.unit && m.bay == Bay::AwaitingClear) {
            v.fraction = 1;
            v.secondsLeft = 0;
        } else if (v.unit) {
            if (m.progress) v.fraction = m.progress->fraction < 0 ? 0 : m.progress->fraction > 1 ? 1 : m.progress->fraction;
            if (m.bay == Bay::Running && m.progress && m.progress->secondsLeft >= 0)
                v.secondsLeft = m.progress->secondsLeft;
            else if (m.bay == Bay::Running && m.unit->estimatedSeconds > 0)
            {
                const double left = m.unit->estimatedSeconds - static_cast<double>(now - m.unitStartedMs) / 1000.0;
                v.secondsLeft = left > 0 ? left : 0;
            }
        }
        out.push_back(std::move(v));
    }
    return out;
}

void Scheduler::machineChanged() {
    if (!onMachineChange_ || changePosted_) return;
    changePosted_ = true;
    // After the round that changed it, so a bay set in a commit is seen with the memory that follows it.
    boost::asio::post(io_, [this] {
        changePosted_ = false;
        if (onMachineChange_) onMachineChange_();
    });
}

} // namespace mto
