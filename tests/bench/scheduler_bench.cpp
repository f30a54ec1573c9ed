// SPDX-License-Identifier: Apache-2.0
// Scheduler: time per dispatch decision over a deep queue and many machines, and memory that stays flat.
#include <unistd.h>

#include <algorithm>
#include <random>

#include "bench_support.hpp"
#include "benchmarks.hpp"
#include "scheduler/forecast.hpp"
#include "scheduler/job_queue.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "test_env.hpp"

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

// `jobs` accepted orders of one item each, mixed as a floor's queue is: a tenth rush, most with a due time,
// every capability and material, some two-step routes (engrave, then cut).
void fillQueue(Database& db, int jobs, std::mt19937& rng) {
    Transaction txn(db);
    auto& order = db.prepare(
        "INSERT INTO orders (order_id, revision, priority, due_by, state, content_hash, body, received_at, updated_at) "
        "VALUES (?1, 1, ?2, ?3, 'accepted', 'h', '{}', ?4, ?4)");
    auto& item = db.prepare(
        "INSERT INTO items (order_id, item_id, sku, qty, personalization) VALUES (?1, '1', 'SKU', ?2, '{}')");
    auto& job = db.prepare(
        "INSERT INTO jobs (order_id, item_id, operation, step, revision, capability, artifact_sha, proof_sha, "
        "estimated_s, rush, due_key, arrival, qty, profile, material) "
        "VALUES (?1, '1', ?2, ?3, 1, ?4, 'a', 'p', 60, ?5, ?6, ?7, ?8, ?9, ?10)");
    static const char* laserProfiles[] = {"laser-400", "laser-1000"};
    for (int i = 0; i < jobs; ++i) {
        const std::string id = "ORD-" + std::to_string(i);
        const bool rush = rng() % 10 == 0;
        const std::int64_t due = rng() % 5 ? 1'780'000'000 + static_cast<std::int64_t>(rng() % 1'000'000)
                                           : std::numeric_limits<std::int64_t>::max();
        const std::int64_t qty = 1 + static_cast<std::int64_t>(rng() % 3);
        order.bind(1, id).bind(2, rush ? "rush" : "standard").bindNull(3).bind(4, std::int64_t{i});
        order.run();
        item.bind(1, id).bind(2, qty);
        item.run();
        auto addJob = [&](const std::string& op, int step, const std::string& cap, const std::string& profile,
                          const std::string& material) {
            job.bind(1, id).bind(2, op).bind(3, std::int64_t{step}).bind(4, cap).bind(5, std::int64_t{rush});
            job.bind(6, due).bind(7, std::int64_t{i}).bind(8, qty).bind(9, profile).bind(10, material);
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

// Round-robin over the machines: ask for the next unit, start it, and finish the one before on that machine,
// as the scheduler does when machines free up. `refused`: the jobs each machine passes over (none: empty).
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

struct ForecastCost {
    double readMs = 0;   // the pending jobs read from the store (the baseline: the rows the plan needs)
    double planMs = 0;   // planning them over the machines
    std::size_t units = 0;
    std::size_t planned = 0;
};

// The forecast the scheduler runs after changes: read every pending job, plan every unit. Best of 3.
ForecastCost forecast(JobQueue& queue, const std::vector<MachineSlot>& machines) {
    ForecastCost best{1e18, 1e18, 0, 0};
    for (int i = 0; i < 3; ++i) {
        const auto t0 = Clock::now();
        const auto jobs = queue.pendingJobs();
        const auto t1 = Clock::now();
        std::vector<ForecastMachine> floor;
        for (const auto& m : machines) floor.push_back({m, 0, {}});
        const auto plan = forecastQueue(std::move(floor), jobs, {});
        const auto t2 = Clock::now();
        best.readMs = std::min(best.readMs, millisBetween(t0, t1));
        best.planMs = std::min(best.planMs, millisBetween(t1, t2));
        best.units = plan.size();
        best.planned = static_cast<std::size_t>(
            std::count_if(plan.begin(), plan.end(), [](const PlannedUnit& p) { return !p.machineId.empty(); }));
    }
    return best;
}

} // namespace

void runSchedulerBench(const BenchOptions& o, BenchReport& report) {
    const int deep = o.quick ? 2000 : 10000;
    const int shallow = deep / 10;
    const int rounds = o.quick ? 25 : 100;
    const auto machines = floorMachines();
    std::mt19937 rng(7);

    // Each machine refuses this many jobs at the head of what it could run (the scheduler passes them over): a
    // few programs beyond its settings, then a controller set up wrong for much of its work.
    constexpr int kRefusedFew = 10, kRefusedMany = 100;
    ForecastCost deepForecast;
    Decisions refusingFewD, refusingManyD;
    auto measure = [&](int jobs, Decisions& d, std::vector<double>& bare, std::int64_t& rssGrowthKiB) {
        test::TempDir dir;
        Database db(dir.path() / "agent.db", Database::Mode::ReadWrite);
        migrate(db);
        fillQueue(db, jobs, rng);
        JobQueue queue(db);
        const auto before = residentKiB(::getpid());
        d = decide(db, queue, machines, rounds);
        rssGrowthKiB = residentKiB(::getpid()) - before;
        bare = bareFirstRow(db, machines, static_cast<int>(d.micros.size()));
        if (jobs != deep) return;
        deepForecast = forecast(queue, machines);
        // Then the rounds again on what is left, each machine passing over the head of its work.
        refusingFewD = decide(db, queue, machines, rounds, refusedAtTheHead(queue, machines, kRefusedFew));
        refusingManyD = decide(db, queue, machines, rounds, refusedAtTheHead(queue, machines, kRefusedMany));
    };
    Decisions deepD, shallowD;
    std::vector<double> deepBare, shallowBare;
    std::int64_t deepRss = 0, shallowRss = 0;
    measure(shallow, shallowD, shallowBare, shallowRss);
    measure(deep, deepD, deepBare, deepRss);

    report.figure(kSchedulerBench, "workload",
                  formatCount(deep) + " accepted one-item orders (qty 1-3, a tenth rush, a quarter two-step routes) over " +
                      std::to_string(kMachines) + " machines of 4 profiles; " + std::to_string(rounds) +
                      " rounds of: finish the unit before, pick the next, start it");
    const double p50 = percentile(deepD.micros, 50), p99 = percentile(deepD.micros, 99);
    report.figure(kSchedulerBench, "decision, " + formatCount(deep) + " jobs queued",
                  "p50 " + fixed(p50, 1) + " us, p99 " + fixed(p99, 1) + " us, max " +
                      fixed(percentile(deepD.micros, 100), 1) + " us over " + formatCount(static_cast<std::int64_t>(deepD.micros.size())) +
                      " decisions (" + formatCount(deepD.found) + " found work)");
    report.goal(kSchedulerBench, "decision p99", p99 / 1000.0, "ms", 1.0, Better::Lower);
    for (const auto& [each, r] : {std::pair{kRefusedFew, &refusingFewD}, std::pair{kRefusedMany, &refusingManyD}})
        report.figure(kSchedulerBench,
                      "decision, " + formatCount(deep) + " jobs queued, each machine passing over the " +
                          std::to_string(each) + " jobs it refused at the head of its work",
                      "p50 " + fixed(percentile(r->micros, 50), 1) + " us, p99 " + fixed(percentile(r->micros, 99), 1) +
                          " us (" + formatCount(r->found) + " found work)");
    report.goal(kSchedulerBench, "decision p99, " + std::to_string(kRefusedFew) + " refused jobs passed over",
                percentile(refusingFewD.micros, 99) / 1000.0, "ms", 1.0, Better::Lower);
    // A passed-over job costs a row of the index walk (about as much as a row read), nothing else.
    report.info(kSchedulerBench,
                "ratio p50 " + std::to_string(kRefusedMany) + " refused / none", fixed(percentile(refusingManyD.micros, 50) / p50, 2));
    report.figure(kSchedulerBench, "baseline, first row of the same index walk (no matching)",
                  "p50 " + fixed(percentile(deepBare, 50), 1) + " us, p99 " + fixed(percentile(deepBare, 99), 1) + " us");
    report.info(kSchedulerBench, "ratio decision p50 / baseline p50", fixed(p50 / percentile(deepBare, 50), 2));
    report.figure(kSchedulerBench, "decision, " + formatCount(shallow) + " jobs queued",
                  "p50 " + fixed(percentile(shallowD.micros, 50), 1) + " us, p99 " +
                      fixed(percentile(shallowD.micros, 99), 1) + " us");
    report.info(kSchedulerBench, "ratio p99 deep / shallow queue (10x the jobs)",
                fixed(p99 / percentile(shallowD.micros, 99), 2));
    report.figure(kSchedulerBench, "resident memory growth while deciding",
                  formatCount(shallowRss) + " KiB with " + formatCount(shallow) + " jobs, " + formatCount(deepRss) +
                      " KiB with " + formatCount(deep) + " jobs");
    report.figure(kSchedulerBench, "forecast of the whole queue (" + formatCount(static_cast<std::int64_t>(deepForecast.units)) +
                              " units, " + formatCount(static_cast<std::int64_t>(deepForecast.planned)) + " planned)",
                  "read " + fixed(deepForecast.readMs, 1) + " ms + plan " + fixed(deepForecast.planMs, 1) + " ms");
    report.info(kSchedulerBench, "ratio forecast (read + plan) / reading its rows alone",
                fixed((deepForecast.readMs + deepForecast.planMs) / deepForecast.readMs, 2));
    report.check(kSchedulerBench, "memory flat: the deep queue grows RSS by at most 1 MiB more than the shallow one",
                 deepRss - shallowRss <= 1024, formatCount(deepRss - shallowRss) + " KiB more");
}

} // namespace mto::bench
