// SPDX-License-Identifier: Apache-2.0
// Scheduler: time per dispatch decision over a deep queue and many machines, and memory that stays flat.
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <utility>

#include "bench_support.hpp"
#include "benchmarks.hpp"
#include "compiler/compile_queue.hpp"
#include "scheduler/forecast.hpp"
#include "scheduler/job_queue.hpp"
#include "scheduler/scheduler.hpp"
#include "scripted_driver.hpp"
#include "store/commit_queue.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "store/order_store.hpp"
#include "test_env.hpp"
#include "util/clock.hpp"
#include "util/sha256.hpp"

namespace mto::bench {

namespace {

const std::string kSchedulerBench = "scheduler";
constexpr int kMachines = 20;

// The floor: 8 lasers of two profiles, 8 routers, 4 printers, each with its materials.
std::vector<MachineSlot> floorMachines() {
    std::vector<MachineSlot> m;
    for (int i = 0; i < 8; ++i)
        m.push_back({"laser-" + std::to_string(i), i % 2 ? "laser-1000" : "laser-400", "laser", {"oak", "steel"}});
    for (int i = 0; i < 8; ++i) m.push_back({"cnc-" + std::to_string(i), "cnc-600", "cnc", {"pine", "oak"}});
    for (int i = 0; i < 4; ++i) m.push_back({"mk3s-" + std::to_string(i), "mk3s", "fdm", {"pla"}});
    return m;
}

// The programs the queue's jobs run, one per machine profile, stored as the compile room stores them
// (<state>/artifacts/<sha256>.gcode and its .json), so a decision loads and checks them as production does.
// Returns the sha256 of each by profile.
constexpr int kSchedulerBenchProgramLines = 2000;

std::map<std::string, std::string> writeSchedulerBenchPrograms(const std::filesystem::path& stateDir) {
    std::filesystem::create_directories(stateDir / "artifacts");
    std::map<std::string, std::string> shaByProfile;
    const std::pair<const char*, const char*> profiles[] = {
        {"laser-400", "laser"}, {"laser-1000", "laser"}, {"cnc-600", "cnc"}, {"mk3s", "fdm"}};
    for (const auto& [profile, capability] : profiles) {
        std::string program = std::string("; ") + profile + "\nG21 G90 G17 G94\nM4 S0\n";
        for (int i = 0; i < kSchedulerBenchProgramLines; ++i) {
            char line[64];
            std::snprintf(line, sizeof line, "G1 X%d.%d Y%d.%d S500 F6000\n", 5 + i % 90, i % 10, 5 + (i * 7) % 90, i % 7);
            program += line;
        }
        program += "M5 S0\nG0 X0 Y0\nM2\n";
        const std::string sha = sha256Hex(program);
        const auto path = CompileQueue::artifactPath(stateDir, sha);
        std::ofstream(path, std::ios::binary) << program;
        boost::json::object meta{{"capability", capability},
                                 {"format", "gcode-grbl"},
                                 {"lines", kSchedulerBenchProgramLines + 6},
                                 {"estimated_s", 60},
                                 {"bbox_mm", {{"min_x", 0}, {"min_y", 0}, {"min_z", 0}, {"max_x", 100}, {"max_y", 100},
                                              {"max_z", 0}}}};
        std::ofstream(std::filesystem::path(path).replace_extension(".json"), std::ios::binary)
            << boost::json::serialize(meta);
        shaByProfile[profile] = sha;
    }
    return shaByProfile;
}

// `jobs` accepted orders of one item each, mixed as a floor's queue is: a tenth rush, most with a due time
// within the next days (some of them too soon for the queue ahead), every capability and material, some
// two-step routes (engrave, then cut). A job runs the program of its profile (none given: a name only).
void fillQueue(Database& db, int jobs, std::mt19937& rng, const std::map<std::string, std::string>& shaByProfile = {}) {
    const std::int64_t nowS = SystemClock().nowMs() / 1000;
    Transaction txn(db);
    auto& order = db.prepare(
        "INSERT INTO orders (order_id, revision, priority, due_by, state, content_hash, body, received_at, updated_at) "
        "VALUES (?1, 1, ?2, ?3, 'accepted', 'h', '{}', ?4, ?4)");
    auto& item = db.prepare(
        "INSERT INTO items (order_id, item_id, sku, qty, personalization) VALUES (?1, '1', 'SKU', ?2, '{}')");
    auto& job = db.prepare(
        "INSERT INTO jobs (order_id, item_id, operation, step, revision, capability, artifact_sha, proof_sha, "
        "estimated_s, rush, due_key, arrival, qty, profile, material) "
        "VALUES (?1, '1', ?2, ?3, 1, ?4, ?11, 'p', 60, ?5, ?6, ?7, ?8, ?9, ?10)");
    static const char* laserProfiles[] = {"laser-400", "laser-1000"};
    for (int i = 0; i < jobs; ++i) {
        const std::string id = "ORD-" + std::to_string(i);
        const bool rush = rng() % 10 == 0;
        const bool hasDue = rng() % 5 != 0;
        const std::int64_t dueS = nowS + 3600 + static_cast<std::int64_t>(rng() % 1'000'000);
        const std::int64_t due = hasDue ? dueS : std::numeric_limits<std::int64_t>::max();
        const std::int64_t qty = 1 + static_cast<std::int64_t>(rng() % 3);
        order.bind(1, id).bind(2, rush ? "rush" : "standard").bind(4, std::int64_t{i});
        if (hasDue)
            order.bind(3, formatRfc3339Ms(dueS * 1000));
        else
            order.bindNull(3);
        order.run();
        item.bind(1, id).bind(2, qty);
        item.run();
        auto addJob = [&](const std::string& op, int step, const std::string& cap, const std::string& profile,
                          const std::string& material) {
            job.bind(1, id).bind(2, op).bind(3, std::int64_t{step}).bind(4, cap).bind(5, std::int64_t{rush});
            job.bind(6, due).bind(7, std::int64_t{i}).bind(8, qty).bind(9, profile).bind(10, material);
            auto sha = shaByProfile.find(profile);
            job.bind(11, sha == shaByProfile.end() ? std::string("a") : sha->second);
            job.run();
        };
        switch (rng() % 4) {
        case 0:
        case 1: addJob("laser_engrave", 0, "laser", laserProfiles[rng() % 2], rng() % 2 ? "oak" : "steel"); break;
        case 2:
            addJob("cnc_engrave", 0, "cnc", "cnc-600", "pine");
            addJob("cnc_profile", 1, "cnc", "cnc-600", "pine");
            break;
        default: addJob("print", 0, "fdm", "mk3s", "pla"); break;
        }
    }
    txn.commit();
}

struct Decisions {
    std::vector<double> micros;
    int found = 0;
};

// The jobs each machine passes over when it refuses the first `each` it would be given (a controller set up
// wrong for them, say $30 too low), found as the scheduler finds them: one nextFor after another.
std::vector<RefusedJobs> refusedAtTheHead(JobQueue& queue, const std::vector<MachineSlot>& machines, int each) {
    std::vector<RefusedJobs> out(machines.size());
    for (std::size_t m = 0; m < machines.size(); ++m)
        for (int k = 0; k < each; ++k) {
            auto u = queue.nextFor(machines[m], out[m]);
            if (!u) break;
            out[m][JobKey{u->orderId, u->itemId, u->operation}] = u->artifactSha;
        }
    return out;
}

// The queue walk alone, as the bench measured it first: round-robin over the machines, ask JobQueue::nextFor
// for the next unit, start it, and finish the one before on that machine. `refused`: the jobs each machine
// passes over (none: empty).
Decisions decide(Database& db, JobQueue& queue, const std::vector<MachineSlot>& machines, int rounds,
                 const std::vector<RefusedJobs>& refused = {}) {
    static const RefusedJobs none;
    Decisions d;
    std::vector<std::optional<QueuedUnit>> running(machines.size());
    for (int r = 0; r < rounds; ++r) {
        for (std::size_t m = 0; m < machines.size(); ++m) {
            if (running[m]) {
                Transaction txn(db);
                queue.markDone(*running[m], r);
                txn.commit();
                running[m].reset();
            }
            const auto started = Clock::now();
            auto unit = queue.nextFor(machines[m], refused.empty() ? none : refused[m]);
            d.micros.push_back(millisBetween(started, Clock::now()) * 1000.0);
            if (!unit) continue;
            ++d.found;
            Transaction txn(db);
            queue.markStarted(*unit, machines[m].machineId, r);
            txn.commit();
            running[m] = std::move(unit);
        }
    }
    return d;
}

// The floor under any decision: the first row of the same index walk, without matching or readiness checks.
std::vector<double> bareFirstRow(Database& db, const std::vector<MachineSlot>& machines, int samples) {
    std::vector<double> micros;
    for (int i = 0; i < samples; ++i) {
        const auto& m = machines[static_cast<std::size_t>(i) % machines.size()];
        const auto started = Clock::now();
        auto& st = db.prepare("SELECT order_id, item_id, operation FROM jobs WHERE state = 'queued' AND capability = ?1 "
                              "ORDER BY rush DESC, due_key, arrival, order_id, item_id, step LIMIT 1");
        st.bind(1, m.capability);
        st.step();
        st.reset();
        micros.push_back(millisBetween(started, Clock::now()) * 1000.0);
    }
    return micros;
}

// The production scheduler over a filled store, its 20 machines on scripted drivers (they take every job and
// finish when told), on a loop this thread turns by hand. Programs load through CompileQueue::loadArtifact, as
// the agent's loader does.
class SchedulerBenchFloor {
public:
    SchedulerBenchFloor(const std::filesystem::path& stateDir, Database& db, const std::vector<MachineSlot>& machines)
        : store_(db, "f1", clock_), commits_(io_, db), queue_(db),
          scheduler_(io_, commits_, store_, queue_, [this, stateDir](const std::string& sha) {
              const auto t0 = Clock::now();
              auto a = CompileQueue::loadArtifact(stateDir, sha);
              loadMicros_ += millisBetween(t0, Clock::now()) * 1000.0;
              return a;
          }, clock_) {
        // The forecast runs only when the bench asks (runForecast), not on its timer in the middle of a decision.
        scheduler_.setForecastTiming(std::chrono::hours(24), std::chrono::hours(24));
        for (const auto& m : machines)
            scheduler_.addMachine(m, [this](DriverListener& l) {
                auto d = std::make_unique<test::ScriptedDriver>(l);
                drivers_.push_back(d.get());
                return d;
            });
        scheduler_.start();
        drain();
    }
    ~SchedulerBenchFloor() {
        scheduler_.stop([] {});
        drain();
    }

    // Runs every ready handler, and those they make ready, until none is left.
    void drain() {
        while (io_.poll() > 0) {
        }
        io_.restart();
    }
    Scheduler& scheduler() { return scheduler_; }
    test::ScriptedDriver& driver(std::size_t i) { return *drivers_.at(i); }
    boost::asio::io_context& io() { return io_; }
    // Microseconds spent loading programs since the last call.
    double takeLoadMicros() { return std::exchange(loadMicros_, 0.0); }

private:
    boost::asio::io_context io_;
    SystemClock clock_;
    OrderStore store_;
    CommitQueue commits_;
    JobQueue queue_;
    std::vector<test::ScriptedDriver*> drivers_;   // owned by the scheduler's machines
    double loadMicros_ = 0;
    Scheduler scheduler_;
};

struct FloorDecisions {
    std::vector<double> decisionMicros;   // the dispatch round that gives the freed machine its unit
    std::vector<double> loadMicros;       // of which the program load (read and sha256 check)
    std::vector<double> commitMicros;     // the start's group commit, up to the driver's submit
    int found = 0;
};

// Machines free up one at a time, round-robin: the driver finishes its unit (job_done is committed), the
// operator clears the bed, and the dispatch round that the clear's commit asks for is timed, then the start's
// commit. A machine with nothing on it gets its round from a poke, as new work would give it.
FloorDecisions decideOnFloor(SchedulerBenchFloor& floor, std::size_t machines, int rounds) {
    FloorDecisions d;
    auto& io = floor.io();
    floor.scheduler().poke();   // the first round gives every machine its first unit
    floor.drain();
    auto submittedSoFar = [&] {
        std::size_t n = 0;
        for (std::size_t m = 0; m < machines; ++m) n += floor.driver(m).submitted().size();
        return n;
    };
    std::size_t submitted = submittedSoFar();
    const auto machineIds = floor.scheduler().machines();
    for (int r = 0; r < rounds; ++r) {
        throwIfInterrupted();
        for (std::size_t m = 0; m < machines; ++m) {
            auto& driver = floor.driver(m);
            if (driver.state() == MachineState::Running) {
                driver.finish();
                floor.drain();
                if (auto why = floor.scheduler().clear(machineIds[m].machineId))
                    throw BenchError("bed clear refused: " + *why);
                if (io.poll_one() != 1) throw BenchError("the bed clear was not committed");
            } else {
                floor.scheduler().poke();
            }
            floor.takeLoadMicros();
            const auto t0 = Clock::now();
            if (io.poll_one() != 1) throw BenchError("no dispatch round followed the bed clear");
            const auto t1 = Clock::now();
            const bool started = io.poll_one() == 1;   // the start's commit, then the driver's submit
            const auto t2 = Clock::now();
            d.decisionMicros.push_back(millisBetween(t0, t1) * 1000.0);
            d.loadMicros.push_back(floor.takeLoadMicros());
            if (started) d.commitMicros.push_back(millisBetween(t1, t2) * 1000.0);
            floor.drain();
            // A round may start more than the freed machine (an idle one whose next route step just got ready).
            const std::size_t now = submittedSoFar();
            d.found += static_cast<int>(now - submitted);
            submitted = now;
        }
    }
    return d;
}

struct ForecastCost {
    double readMs = 0;   // the pending jobs read from the store alone (the baseline: the rows the plan needs)
    double planMs = 0;   // the same read feeding the forecaster, less the read alone
    std::size_t units = 0;
    std::size_t planned = 0;
};

// The forecast's two halves timed apart, on the queue the floor left: the pending jobs read (every row handed over
// and dropped), then the same read planning every unit as Scheduler::runForecast does. Best of 3.
ForecastCost forecast(JobQueue& queue, const std::vector<MachineSlot>& machines) {
    ForecastCost best{1e18, 1e18, 0, 0};
    for (int i = 0; i < 3; ++i) {
        std::size_t rows = 0;
        const auto t0 = Clock::now();
        queue.forEachPending([&rows](const PendingJob& j) { rows += j.units.size(); });
        const auto t1 = Clock::now();
        std::vector<ForecastMachine> floor;
        for (const auto& m : machines) floor.push_back({m, 0, {}});
        std::size_t units = 0, planned = 0;
        Forecaster f(std::move(floor), {}, {}, [&](const PlannedUnit& p) {
            ++units;
            if (!p.machineId.empty()) ++planned;
        });
        queue.forEachPending([&f](const PendingJob& j) { f.add(j); });
        f.finish();
        const auto t2 = Clock::now();
        if (units != rows) throw BenchError("the forecast settled " + std::to_string(units) + " units of " +
                                            std::to_string(rows) + " read");
        best.readMs = std::min(best.readMs, millisBetween(t0, t1));
        best.planMs = std::min(best.planMs, std::max(0.0, millisBetween(t1, t2) - millisBetween(t0, t1)));
        best.units = units;
        best.planned = planned;
    }
    return best;
}

// One queue depth measured through: the queue walk alone on a store of its own, then the scheduler's forecasts
// and decisions on another filled the same way.
struct DepthFigures {
    Decisions walk;
    std::vector<double> bare;
    FloorDecisions floor;
    std::int64_t decideRssKiB = 0;     // RSS growth over the scheduler's decision rounds
    double runForecastMs = 0;          // Scheduler::runForecast, best of the runs (its commit apart)
    double forecastCommitMs = 0;       // the first forecast's commit (`scheduled` for every job, `delayed`)
    std::int64_t forecastRssKiB = 0;   // RSS growth over the forecasts
    std::int64_t forecastRepeatRssKiB = 0;   // of which after the first forecast
    std::int64_t forecastPeakKiB = -1;       // peak RSS over the forecasts above RSS before them; -1: unknown
    ForecastCost split;
};

constexpr int kSchedulerBenchForecasts = 3;

// Sets VmHWM back to the current RSS (Linux: "5" to clear_refs), so the peak of what follows can be read.
bool resetPeakResidentOfThisProcess() {
    std::ofstream refs("/proc/self/clear_refs");
    refs << "5";
    refs.flush();
    return static_cast<bool>(refs);
}

DepthFigures measureDepth(int jobs, int rounds, const std::vector<MachineSlot>& machines, std::mt19937& rng) {
    DepthFigures f;
    {
        test::TempDir dir;
        Database db(dir.path() / "agent.db", Database::Mode::ReadWrite);
        migrate(db);
        auto walkRng = rng;
        fillQueue(db, jobs, walkRng);
        JobQueue queue(db);
        f.walk = decide(db, queue, machines, rounds);
        f.bare = bareFirstRow(db, machines, static_cast<int>(f.walk.micros.size()));
    }
    test::TempDir dir;
    Database db(dir.path() / "agent.db", Database::Mode::ReadWrite);
    migrate(db);
    fillQueue(db, jobs, rng, writeSchedulerBenchPrograms(dir.path()));
    SchedulerBenchFloor floor(dir.path(), db, machines);
    // The forecasts first, on the whole queue (the decisions below would drain a shallow one), as the agent runs
    // them within a second of new work: the jobs are then announced before they start.
    const auto beforeForecasts = residentKiB(::getpid());
    const bool peakReset = resetPeakResidentOfThisProcess();
    f.runForecastMs = 1e18;
    std::int64_t afterFirst = beforeForecasts;
    for (int i = 0; i < kSchedulerBenchForecasts; ++i) {
        const auto t0 = Clock::now();
        floor.scheduler().runForecast();
        const auto t1 = Clock::now();
        floor.drain();   // its commit
        const auto t2 = Clock::now();
        f.runForecastMs = std::min(f.runForecastMs, millisBetween(t0, t1));
        if (i == 0) {
            f.forecastCommitMs = millisBetween(t1, t2);
            afterFirst = residentKiB(::getpid());
        }
    }
    const auto afterForecasts = residentKiB(::getpid());
    f.forecastRssKiB = afterForecasts - beforeForecasts;
    f.forecastRepeatRssKiB = afterForecasts - afterFirst;
    if (peakReset) f.forecastPeakKiB = peakResidentKiB(::getpid()) - beforeForecasts;

    const auto beforeDecisions = residentKiB(::getpid());
    f.floor = decideOnFloor(floor, machines.size(), rounds);
    f.decideRssKiB = residentKiB(::getpid()) - beforeDecisions;
    JobQueue queue(db);
    f.split = forecast(queue, machines);
    return f;
}

std::string microSpread(const std::vector<double>& us) {
    if (us.empty()) return "none";
    return "p50 " + fixed(percentile(us, 50), 1) + " us, p99 " + fixed(percentile(us, 99), 1) + " us, max " +
           fixed(percentile(us, 100), 1) + " us";
}

} // namespace

void runSchedulerBench(const BenchOptions& o, BenchReport& report) {
    const int deep = o.quick ? 2000 : 10000;
    const int shallow = deep / 10;
    const int rounds = o.quick ? 25 : 100;
    const auto machines = floorMachines();
    std::mt19937 rng(7);

    const DepthFigures sh = measureDepth(shallow, rounds, machines, rng);
    const DepthFigures dp = measureDepth(deep, rounds, machines, rng);
    // Each machine refuses this many jobs at the head of what it could run (the scheduler passes them over): a
    // few programs beyond its settings, then a controller set up wrong for much of its work. Timed on the queue
    // walk, where a passed-over job costs its time.
    constexpr int kRefusedFew = 10, kRefusedMany = 100;
    Decisions refusingFewD, refusingManyD;
    {
        test::TempDir dir;
        Database db(dir.path() / "agent.db", Database::Mode::ReadWrite);
        migrate(db);
        fillQueue(db, deep, rng);
        JobQueue queue(db);
        refusingFewD = decide(db, queue, machines, rounds, refusedAtTheHead(queue, machines, kRefusedFew));
        refusingManyD = decide(db, queue, machines, rounds, refusedAtTheHead(queue, machines, kRefusedMany));
    }

    report.figure(kSchedulerBench, "workload",
                  formatCount(deep) + " accepted one-item orders (qty 1-3, a tenth rush, a quarter two-step routes) over " +
                      std::to_string(kMachines) + " machines of 4 profiles on scripted drivers; " + std::to_string(rounds) +
                      " rounds of: the machine finishes its unit, its bed is cleared, the scheduler's dispatch round "
                      "gives it the next; programs of " + formatCount(kSchedulerBenchProgramLines) +
                      " lines loaded from disk as the agent does");
    const auto& dd = dp.floor.decisionMicros;
    const double p50 = percentile(dd, 50), p99 = percentile(dd, 99);
    report.figure(kSchedulerBench, "decision (Scheduler dispatch round up to the start's submit), " + formatCount(deep) + " jobs",
                  microSpread(dd) + " over " + formatCount(static_cast<std::int64_t>(dd.size())) + " decisions (" +
                      formatCount(dp.floor.found) + " started work)");
    report.goal(kSchedulerBench, "decision p99", p99 / 1000.0, "ms", 1.0, Better::Lower);
    report.figure(kSchedulerBench, "of which the program load (read + sha256 check)", microSpread(dp.floor.loadMicros));
    report.figure(kSchedulerBench, "the start's group commit (scheduled + production_started, fsync) up to the driver",
                  microSpread(dp.floor.commitMicros));
    report.figure(kSchedulerBench, "queue walk alone (JobQueue::nextFor), " + formatCount(deep) + " jobs",
                  microSpread(dp.walk.micros));
    report.figure(kSchedulerBench, "baseline, first row of the same index walk (no matching)", microSpread(dp.bare));
    report.info(kSchedulerBench, "ratio decision p50 / baseline p50", fixed(p50 / percentile(dp.bare, 50), 2));
    report.info(kSchedulerBench, "ratio decision p50 / queue walk p50", fixed(p50 / percentile(dp.walk.micros, 50), 2));
    report.figure(kSchedulerBench, "decision, " + formatCount(shallow) + " jobs queued", microSpread(sh.floor.decisionMicros));
    report.info(kSchedulerBench, "ratio decision p99 deep / shallow queue (10x the jobs)",
                fixed(p99 / percentile(sh.floor.decisionMicros, 99), 2));
    report.figure(kSchedulerBench, "resident memory growth over the decision rounds",
                  formatCount(sh.decideRssKiB) + " KiB with " + formatCount(shallow) + " jobs, " +
                      formatCount(dp.decideRssKiB) + " KiB with " + formatCount(deep) + " jobs");
    report.check(kSchedulerBench, "decisions' memory flat: the deep queue grows RSS by at most 1 MiB more than the shallow one",
                 dp.decideRssKiB - sh.decideRssKiB <= 1024, formatCount(dp.decideRssKiB - sh.decideRssKiB) + " KiB more");
    report.figure(kSchedulerBench, "Scheduler::runForecast (reads every pending job, plans every unit), best of " +
                                       std::to_string(kSchedulerBenchForecasts),
                  fixed(dp.runForecastMs, 1) + " ms with " + formatCount(deep) + " jobs, " + fixed(sh.runForecastMs, 1) +
                      " ms with " + formatCount(shallow) + "; the first one's commit (at most " +
                      std::to_string(Scheduler::writesPerForecast) + " `scheduled`/`delayed`) " +
                      fixed(dp.forecastCommitMs, 1) + " ms");
    report.figure(kSchedulerBench, "forecast split (" + formatCount(static_cast<std::int64_t>(dp.split.units)) + " units, " +
                                       formatCount(static_cast<std::int64_t>(dp.split.planned)) + " planned)",
                  "read " + fixed(dp.split.readMs, 1) + " ms + plan " + fixed(dp.split.planMs, 1) + " ms");
    for (const auto& [each, r] : {std::pair{kRefusedFew, &refusingFewD}, std::pair{kRefusedMany, &refusingManyD}})
        report.figure(kSchedulerBench,
                      "queue walk, " + formatCount(deep) + " jobs queued, each machine passing over the " +
                          std::to_string(each) + " jobs it refused at the head of its work",
                      microSpread(r->micros) + " (" + formatCount(r->found) + " found work)");
    report.goal(kSchedulerBench, "queue walk p99, " + std::to_string(kRefusedFew) + " refused jobs passed over",
                percentile(refusingFewD.micros, 99) / 1000.0, "ms", 1.0, Better::Lower);
    // A passed-over job costs a row of the index walk (about as much as a row read), nothing else.
    report.info(kSchedulerBench, "ratio queue walk p50, " + std::to_string(kRefusedMany) + " refused / none",
                fixed(percentile(refusingManyD.micros, 50) / percentile(dp.walk.micros, 50), 2));
    report.info(kSchedulerBench, "ratio forecast (read + plan) / reading its rows alone",
                fixed((dp.split.readMs + dp.split.planMs) / dp.split.readMs, 2));
    report.figure(kSchedulerBench, "resident memory growth over " + std::to_string(kSchedulerBenchForecasts) + " forecasts",
                  formatCount(sh.forecastRssKiB) + " KiB with " + formatCount(shallow) + " jobs, " +
                      formatCount(dp.forecastRssKiB) + " KiB with " + formatCount(deep) + " jobs (" +
                      formatCount(dp.forecastRepeatRssKiB) + " KiB after the first)");
    if (dp.forecastPeakKiB >= 0 && sh.forecastPeakKiB >= 0)
        report.figure(kSchedulerBench, "peak resident memory during the forecasts, above RSS before them",
                      formatCount(sh.forecastPeakKiB) + " KiB with " + formatCount(shallow) + " jobs, " +
                          formatCount(dp.forecastPeakKiB) + " KiB with " + formatCount(deep) + " jobs");
    report.check(kSchedulerBench, "forecast's memory flat: the deep queue grows RSS by at most 1 MiB more than the shallow one",
                 dp.forecastRssKiB - sh.forecastRssKiB <= 1024,
                 formatCount(dp.forecastRssKiB - sh.forecastRssKiB) + " KiB more");
}

} // namespace mto::bench
