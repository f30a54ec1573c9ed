// SPDX-License-Identifier: Apache-2.0
// The scheduler's queue: which unit of which job a machine should run next, decided from the store alone.
#include "scheduler/job_queue.hpp"

#include <algorithm>
#include <tuple>


namespace mto {

namespace {

// Candidates are read in queue order a page at a time; most decisions end on the first row.
constexpr std::int64_t kPage = 16;
constexpr std::int64_t kMaxQueuePage = 1024;

// Orders whose jobs may run. Held, cancelled, rejected and shipped orders are skipped.
constexpr const char* kRunnableOrderStates = "('accepted', 'scheduled', 'in_production')";

} // namespace

std::optional<QueuedUnit> JobQueue::nextFor(const MachineSlot& machine, const RefusedJobs& refused) {
    // Profile and material are matched in SQL, so the walk of the queue index reads only rows this machine
    // could run; the first of them is usually ready.
    const std::string sql =
        std::string("SELECT j.order_id, j.item_id, j.operation, j.step, j.started_units, j.qty, j.rush, "
                    "j.artifact_sha, j.estimated_s, j.requeued_units "
                    "FROM jobs j JOIN orders o ON o.order_id = j.order_id "
                    "WHERE j.state = 'queued' AND j.capability = ?1 AND (j.profile = ?2 OR j.profile = '') "
                    "AND (?3 = '' OR j.material = '' OR instr(?3, ',' || j.material || ',') > 0) "
                    "AND (j.started_units < j.qty OR j.requeued_units > 0) AND o.state IN ") +
        kRunnableOrderStates +
        " ORDER BY j.rush DESC, j.due_key, j.arrival, j.order_id, j.item_id, j.step LIMIT ?4 OFFSET ?5";
    std::string materials;
    for (const auto& m : machine.materials) materials += "," + m;
    if (!materials.empty()) materials += ",";
    // A job the machine refused is recognised from the row's text, before any of it is copied.
    struct RowKey {
        std::string_view orderId, itemId, operation;
    };
    auto passedOver = [&refused](const Statement& st) {
        if (refused.empty()) return false;
        auto it = refused.find(RowKey{st.columnView(0), st.columnView(1), st.columnView(2)});
        return it != refused.end() && it->second == st.columnView(7);
    };
    // Pages grow while the walk goes on (jobs the machine refuses, units not ready), so a long stretch of them
    // is read in a few statements rather than one per 16 rows.
    std::int64_t page = kPage;
    for (std::int64_t offset = 0;; offset += page, page = std::min<std::int64_t>(page * 2, kMaxQueuePage)) {
        std::vector<QueuedUnit> rows;
        std::int64_t read = 0;
        {
            auto& st = db_.prepare(sql);
            st.bind(1, machine.capability).bind(2, machine.profile).bind(3, materials);
            st.bind(4, page).bind(5, offset);
            while (st.step()) {
                ++read;
                if (passedOver(st)) continue;
                QueuedUnit u;
                u.orderId = st.columnText(0);
                u.itemId = st.columnText(1);
                u.operation = st.columnText(2);
                u.step = static_cast<int>(st.columnInt(3));
                u.unit = st.columnInt(4) + 1;
                u.qty = st.columnInt(5);
                u.rush = st.columnInt(6) != 0;
                u.artifactSha = st.columnText(7);
                u.estimatedSeconds = st.columnReal(8);
                u.requeued = st.columnInt(9) > 0;
                rows.push_back(std::move(u));
            }
            st.reset();
        }
        for (auto& u : rows) {
            if (u.requeued) u.unit = firstRequeued(u);
            if (unitReady(u)) return std::move(u);
        }
        if (read < page) return std::nullopt;
    }
}

std::string JobQueue::skuOf(const QueuedUnit& u) {
    auto& st = db_.prepare("SELECT sku FROM items WHERE order_id = ?1 AND item_id = ?2");
    st.bind(1, u.orderId).bind(2, u.itemId);
    std::string sku = st.step() ? st.columnText(0) : "";
    st.reset();
    return sku;
}

std::vector<QueuedUnit> JobQueue::batchFor(const MachineSlot& machine, const QueuedUnit& lead, std::size_t max) {
    std::vector<QueuedUnit> out{lead};
    std::string material, sku;
    {
        auto& st = db_.prepare("SELECT j.material, i.sku FROM jobs j JOIN items i ON i.order_id = j.order_id AND "
                               "i.item_id = j.item_id WHERE j.order_id = ?1 AND j.item_id = ?2 AND j.operation = ?3");
        st.bind(1, lead.orderId).bind(2, lead.itemId).bind(3, lead.operation);
        const bool found = st.step();
        if (found) {
            material = st.columnText(0);
            sku = st.columnText(1);
        }
        st.reset();
        if (!found) return out;
    }
    // The same walk as nextFor's, narrowed to the lead's kind of work.
    const std::string sql =
        std::string("SELECT j.order_id, j.item_id, j.operation, j.step, j.started_units, j.qty, j.rush, "
                    "j.artifact_sha, j.estimated_s, j.requeued_units "
                    "FROM jobs j JOIN orders o ON o.order_id = j.order_id "
                    "JOIN items i ON i.order_id = j.order_id AND i.item_id = j.item_id "
                    "WHERE j.state = 'queued' AND j.capability = ?1 AND (j.profile = ?2 OR j.profile = '') "
                    "AND j.material = ?3 AND j.operation = ?4 AND j.rush = ?5 AND i.sku = ?6 "
                    "AND (j.started_units < j.qty OR j.requeued_units > 0) AND o.state IN ") +
        kRunnableOrderStates +
        " ORDER BY j.rush DESC, j.due_key, j.arrival, j.order_id, j.item_id, j.step LIMIT ?7 OFFSET ?8";
    constexpr int kBatchPage = 64;
    for (int offset = 0; out.size() < max; offset += kBatchPage) {
        std::vector<std::pair<QueuedUnit, std::int64_t>> jobs;   // with its requeued-unit count
        {
            auto& st = db_.prepare(sql);
            st.bind(1, machine.capability).bind(2, machine.profile).bind(3, material).bind(4, lead.operation);
            st.bind(5, std::int64_t{lead.rush ? 1 : 0}).bind(6, sku);
            st.bind(7, std::int64_t{kBatchPage}).bind(8, std::int64_t{offset});
            while (st.step()) {
                QueuedUnit u;
                u.orderId = st.columnText(0);
                u.itemId = st.columnText(1);
                u.operation = st.columnText(2);
                u.step = static_cast<int>(st.columnInt(3));
                u.unit = st.columnInt(4) + 1;
                u.qty = st.columnInt(5);
                u.rush = st.columnInt(6) != 0;
                u.artifactSha = st.columnText(7);
                u.estimatedSeconds = st.columnReal(8);
                jobs.emplace_back(std::move(u), st.columnInt(9));
            }
            st.reset();
        }
        for (auto& [job, requeuedCount] : jobs) {
            // The job's units in the order they start: scrapped ones again first, then the new ones.
            std::vector<QueuedUnit> units;
            if (requeuedCount > 0) {
                auto& st = db_.prepare("SELECT unit FROM units WHERE order_id = ?1 AND item_id = ?2 AND operation = ?3 "
                                       "AND state = 'requeued' ORDER BY unit");
                st.bind(1, job.orderId).bind(2, job.itemId).bind(3, job.operation);
                while (st.step()) {
                    QueuedUnit u = job;
                    u.unit = st.columnInt(0);
                    u.requeued = true;
                    units.push_back(std::move(u));
                }
                st.reset();
            }
            for (auto n = job.unit; n <= job.qty; ++n) {
                QueuedUnit u = job;
                u.unit = n;
                units.push_back(std::move(u));
            }
            for (auto& u : units) {
                if (out.size() >= max) break;
                if (u.orderId == lead.orderId && u.itemId == lead.itemId && u.operation == lead.operation &&
                    u.unit == lead.unit)
                    continue;
                if (!unitReady(u)) break;   // a job's units start in order
                out.push_back(std::move(u));
            }
            if (out.size() >= max) break;
        }
        if (jobs.size() < static_cast<std::size_t>(kBatchPage)) break;
    }
    return out;
}

void JobQueue::markPlaced(const QueuedUnit& u, const std::string& jig, std::int64_t slot, std::optional<Point2> at) {
    auto& st = forUnit("UPDATE units SET jig = ?5, slot = ?6, plate_x = ?7, plate_y = ?8 "
                       "WHERE order_id = ?1 AND item_id = ?2 AND operation = ?3 AND unit = ?4", u);
    st.bind(5, jig).bind(6, slot);
    if (at) st.bindReal(7, at->x).bindReal(8, at->y);
    else st.bindNull(7).bindNull(8);
    st.run();
}

std::optional<Point2> JobQueue::plateSpotOf(const QueuedUnit& u) {
    auto& st = forUnit("SELECT plate_x, plate_y FROM units WHERE order_id = ?1 AND item_id = ?2 AND operation = ?3 "
                       "AND unit = ?4", u);
    std::optional<Point2> at;
    if (st.step() && !st.columnIsNull(0) && !st.columnIsNull(1)) at = Point2{st.columnReal(0), st.columnReal(1)};
    st.reset();
    return at;
}

std::vector<std::pair<QueuedUnit, std::int64_t>> JobQueue::jigRunOf(const std::string& machineId, const QueuedUnit& lead) {
    std::vector<std::tuple<std::string, std::string, std::string, std::int64_t, std::int64_t>> rows;
    {
        auto& st = db_.prepare(
            "SELECT n.order_id, n.item_id, n.operation, n.unit, n.slot FROM units n, units l "
            "WHERE l.order_id = ?1 AND l.item_id = ?2 AND l.operation = ?3 AND l.unit = ?4 AND l.jig IS NOT NULL "
            "AND n.machine_id = ?5 AND n.started_at = l.started_at AND n.jig = l.jig AND n.slot IS NOT NULL "
            "ORDER BY n.slot");
        st.bind(1, lead.orderId).bind(2, lead.itemId).bind(3, lead.operation).bind(4, lead.unit).bind(5, machineId);
        while (st.step())
            rows.emplace_back(st.columnText(0), st.columnText(1), st.columnText(2), st.columnInt(3), st.columnInt(4));
        st.reset();
    }
    std::vector<std::pair<QueuedUnit, std::int64_t>> out;
    for (const auto& [orderId, itemId, operation, unit, slot] : rows)
        if (auto u = unitOf(orderId, itemId, operation, unit)) out.emplace_back(std::move(*u), slot);
    return out;
}

std::string JobQueue::jigOf(const QueuedUnit& u) {
    auto& st = forUnit("SELECT COALESCE(jig, '') FROM units WHERE order_id = ?1 AND item_id = ?2 AND operation = ?3 "
                       "AND unit = ?4", u);
    std::string jig = st.step() ? st.columnText(0) : "";
    st.reset();
    return jig;
}

Statement& JobQueue::forJob(const std::string& sql, const QueuedUnit& u) {
    return db_.prepare(sql).bind(1, u.orderId).bind(2, u.itemId).bind(3, u.operation);
}

Statement& JobQueue::forUnit(const std::string& sql, const QueuedUnit& u) {
    return forJob(sql, u).bind(4, u.unit);
}

bool JobQueue::unitReady(const QueuedUnit& u) {
    if (u.step == 0) return true;
    auto& st = db_.prepare("SELECT state FROM units WHERE order_id = ?1 AND item_id = ?2 AND step = ?3 AND unit = ?4");
    st.bind(1, u.orderId).bind(2, u.itemId).bind(3, std::int64_t{u.step - 1}).bind(4, u.unit);
    const bool done = st.step() && st.columnText(0) == "done";
    st.reset();
    if (!done || !partOnBed_) return done;
    QueuedUnit before = u;
    before.step = u.step - 1;
    return !partOnBed_(before);
}

std::int64_t JobQueue::firstRequeued(const QueuedUnit& u) {
    auto& st = db_.prepare("SELECT MIN(unit) FROM units WHERE order_id = ?1 AND item_id = ?2 AND operation = ?3 "
                           "AND state = 'requeued'");
    st.bind(1, u.orderId).bind(2, u.itemId).bind(3, u.operation);
    const std::int64_t unit = st.step() && !st.columnIsNull(0) ? st.columnInt(0) : u.unit;
    st.reset();
    return unit;
}

void JobQueue::markStarted(const QueuedUnit& u, const std::string& machineId, std::int64_t now) {
    if (u.requeued) {
        // A scrapped unit runs again under its own index: its row is reused, its job counts it as taken.
        forUnit("UPDATE units SET state = 'running', machine_id = ?5, started_at = ?6, ended_at = NULL, "
                "last_line = 0, reason = NULL, attempt = attempt + 1, jig = NULL, slot = NULL, "
                "plate_x = NULL, plate_y = NULL "
                "WHERE order_id = ?1 AND item_id = ?2 AND operation = ?3 AND unit = ?4 AND state = 'requeued'", u)
            .bind(5, machineId)
            .bind(6, now)
            .run();
        forJob("UPDATE jobs SET requeued_units = requeued_units - 1, "
               "state = CASE WHEN started_units >= qty AND requeued_units - 1 <= 0 THEN 'started' ELSE state END "
               "WHERE order_id = ?1 AND item_id = ?2 AND operation = ?3", u)
            .run();
        return;
    }
    forUnit("INSERT INTO units (order_id, item_id, operation, unit, step, machine_id, state, started_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7)", u)
        .bind(5, std::int64_t{u.step})
        .bind(6, machineId)
        .bind(7, now)
        .run();
    // The job leaves the queue once its last unit has started.
    forJob("UPDATE jobs SET started_units = started_units + 1, "
           "state = CASE WHEN started_units + 1 >= qty THEN 'started' ELSE state END "
           "WHERE order_id = ?1 AND item_id = ?2 AND operation = ?3", u)
        .run();
}

void JobQueue::endUnit(const QueuedUnit& u, const char* state, std::int64_t now, std::uint64_t lastLine,
                       const std::string& reason) {
    forUnit("UPDATE units SET state = ?5, ended_at = ?6, last_line = ?7, reason = ?8 "
            "WHERE order_id = ?1 AND item_id = ?2 AND operation = ?3 AND unit = ?4", u)
        .bind(5, state)
        .bind(6, now)
        .bind(7, static_cast<std::int64_t>(lastLine))
        .bindOptional(8, reason)
        .run();
}

void JobQueue::markDone(const QueuedUnit& u, std::int64_t now) {
    endUnit(u, "done", now, 0, "");
    // The job is done once every unit has started and none is left unfinished.
    forJob("UPDATE jobs SET state = 'done' WHERE order_id = ?1 AND item_id = ?2 AND operation = ?3 "
           "AND started_units >= qty AND NOT EXISTS (SELECT 1 FROM units n WHERE n.order_id = ?1 AND "
           "n.item_id = ?2 AND n.operation = ?3 AND n.state <> 'done')", u)
        .run();
}

void JobQueue::markInterrupted(const QueuedUnit& u, std::int64_t now, std::uint64_t lastLine,
                               const std::string& reason) {
    endUnit(u, "interrupted", now, lastLine, reason);
}

void JobQueue::markRestarted(const QueuedUnit& u, std::int64_t now) {
    forUnit("UPDATE units SET state = 'running', started_at = ?5, ended_at = NULL, last_line = 0, reason = NULL "
            "WHERE order_id = ?1 AND item_id = ?2 AND operation = ?3 AND unit = ?4", u)
        .bind(5, now)
        .run();
}

void JobQueue::markScrapped(const QueuedUnit& u, std::int64_t now, const std::string& reason) {
    endUnit(u, "requeued", now, 0, reason);
    forJob("UPDATE jobs SET requeued_units = requeued_units + 1, state = 'queued' "
           "WHERE order_id = ?1 AND item_id = ?2 AND operation = ?3", u)
        .run();
}

std::optional<JobQueue::UnitRun> JobQueue::runOf(const QueuedUnit& u) {
    auto& st = forUnit("SELECT state, machine_id, COALESCE(reason, '') FROM units WHERE order_id = ?1 AND item_id = ?2 "
                       "AND operation = ?3 AND unit = ?4", u);
    std::optional<UnitRun> run;
    if (st.step()) run = UnitRun{st.columnText(0), st.columnText(1), st.columnText(2)};
    st.reset();
    return run;
}

void JobQueue::markCancelled(const QueuedUnit& u, std::int64_t now, std::uint64_t lastLine) {
    endUnit(u, "cancelled", now, lastLine, "order_cancelled");
}

std::uint64_t JobQueue::lastLineOf(const QueuedUnit& u) {
    auto& st = db_.prepare("SELECT last_line FROM units WHERE order_id = ?1 AND item_id = ?2 AND operation = ?3 "
                           "AND unit = ?4");
    st.bind(1, u.orderId).bind(2, u.itemId).bind(3, u.operation).bind(4, u.unit);
    const std::uint64_t line = st.step() ? static_cast<std::uint64_t>(st.columnInt(0)) : 0;
    st.reset();
    return line;
}

bool JobQueue::laterStepStarted(const QueuedUnit& u) {
    auto& st = db_.prepare("SELECT 1 FROM units WHERE order_id = ?1 AND item_id = ?2 AND step > ?3 AND unit = ?4 "
                           "AND state <> 'requeued' LIMIT 1");
    st.bind(1, u.orderId).bind(2, u.itemId).bind(3, std::int64_t{u.step}).bind(4, u.unit);
    const bool started = st.step();
    st.reset();
    return started;
}

std::optional<QueuedUnit> JobQueue::unitOf(const std::string& orderId, const std::string& itemId,
                                           const std::string& operation, std::int64_t unit) {
    auto& st = db_.prepare("SELECT step, qty, rush, artifact_sha, estimated_s FROM jobs "
                           "WHERE order_id = ?1 AND item_id = ?2 AND operation = ?3");
    st.bind(1, orderId).bind(2, itemId).bind(3, operation);
    std::optional<QueuedUnit> u;
    if (st.step()) {
        u = QueuedUnit{orderId, itemId, operation, static_cast<int>(st.columnInt(0)), unit, st.columnInt(1),
                       st.columnInt(2) != 0, st.columnText(3), st.columnReal(4)};
    }
    st.reset();
    return u;
}

std::vector<PendingJob> JobQueue::pendingJobs(std::size_t limit) {
    std::vector<PendingJob> out;
    forEachPending([&out](const PendingJob& j) { out.push_back(j); }, limit);
    return out;
}

namespace {

// Every queued job of a runnable order with units left to start, in queue order. The index jobs_in_queue_order
// gives the rows in this order: no sort of the whole queue before the first row.
std::string pendingSql() {
    return std::string("SELECT j.order_id, j.item_id, j.operation, j.step, j.capability, j.profile, j.material, "
                       "j.started_units, j.qty, j.requeued_units, j.estimated_s, j.scheduled_machine IS NOT NULL, "
                       "COALESCE((SELECT i.sku FROM items i WHERE i.order_id = j.order_id AND "
                       "i.item_id = j.item_id), ''), "
                       "j.rush, COALESCE(o.due_by, ''), j.due_key, o.forecast_late, j.artifact_sha "
                       "FROM jobs j JOIN orders o ON o.order_id = j.order_id "
                       "WHERE j.state = 'queued' AND (j.started_units < j.qty OR j.requeued_units > 0) AND "
                       "o.state IN ") +
           kRunnableOrderStates + " ORDER BY j.rush DESC, j.due_key, j.arrival, j.order_id, j.item_id, j.step LIMIT ?1";
}

} // namespace

std::vector<std::string> JobQueue::pendingPlan() {
    std::vector<std::string> out;
    auto& st = db_.prepare("EXPLAIN QUERY PLAN " + pendingSql());
    while (st.step()) out.push_back(st.columnText(3));
    st.reset();
    return out;
}

void JobQueue::forEachPending(const std::function<void(const PendingJob&)>& each, std::size_t limit) {
    auto& st = db_.prepare(pendingSql());
    // The read ends (and releases its snapshot) however `each` leaves.
    struct Reset {
        Statement& st;
        ~Reset() { st.reset(); }
    } reset{st};
    st.bind(1, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
    PendingJob j;
    while (st.step()) {
        j.orderId = st.columnText(0);
        j.itemId = st.columnText(1);
        j.operation = st.columnText(2);
        j.step = static_cast<int>(st.columnInt(3));
        j.capability = st.columnText(4);
        j.profile = st.columnText(5);
        j.material = st.columnText(6);
        const std::int64_t started = st.columnInt(7), qty = st.columnInt(8);
        j.units.clear();
        if (st.columnInt(9) > 0) {
            // Requeued units start first, lowest index first (as nextFor hands them out).
            auto& requeued = db_.prepare("SELECT unit FROM units WHERE order_id = ?1 AND item_id = ?2 AND "
                                         "operation = ?3 AND state = 'requeued' ORDER BY unit");
            requeued.bind(1, j.orderId).bind(2, j.itemId).bind(3, j.operation);
            while (requeued.step()) j.units.push_back(requeued.columnInt(0));
            requeued.reset();
        }
        for (auto u = started + 1; u <= qty; ++u) j.units.push_back(u);
        j.estimatedSeconds = st.columnReal(10);
        j.announced = st.columnInt(11) != 0;
        j.sku = st.columnText(12);
        j.qty = qty;
        j.rush = st.columnInt(13) != 0;
        j.dueBy = st.columnText(14);
        j.dueKey = st.columnInt(15);
        j.forecastLate = st.columnInt(16) != 0;
        j.artifactSha = st.columnText(17);
        each(j);
    }
}

std::map<std::string, double> JobQueue::queuedSeconds() {
    // The units nextFor and the forecast still have to hand out: those of jobs in the queue (state 'queued')
    // of orders that may run, whether or not their route step is ready yet.
    const std::string sql =
        std::string("SELECT j.capability, SUM(j.estimated_s * (j.qty - j.started_units + j.requeued_units)) "
                    "FROM jobs j JOIN orders o ON o.order_id = j.order_id "
                    "WHERE j.state = 'queued' AND (j.started_units < j.qty OR j.requeued_units > 0) AND o.state IN ") +
        kRunnableOrderStates + " GROUP BY j.capability";
    std::map<std::string, double> out;
    auto& st = db_.prepare(sql);
    while (st.step()) out[st.columnText(0)] = st.columnReal(1);
    st.reset();
    return out;
}

std::vector<QueueEntry> JobQueue::head(std::size_t limit) {
    std::vector<QueueEntry> out;
    if (limit == 0) return out;
    for (auto& j : pendingJobs(limit)) {
        if (j.units.empty()) continue;
        out.push_back({std::move(j.orderId), std::move(j.itemId), std::move(j.operation), std::move(j.capability),
                       j.units.front(), j.qty, j.rush, std::move(j.dueBy), j.estimatedSeconds});
    }
    return out;
}

} // namespace mto
