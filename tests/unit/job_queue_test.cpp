// SPDX-License-Identifier: Apache-2.0
// The scheduler's queue on a real SQLite file: order of work, machine matching, units and route steps.
#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <variant>

#include "intake/order_parser.hpp"
#include "scheduler/job_queue.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "store/order_store.hpp"
#include "test_env.hpp"
#include "util/clock.hpp"

namespace mto {
namespace {

class SteppingClock final : public Clock {
public:
    std::int64_t nowMs() const override { return now; }
    std::int64_t now = 1'780'000'000'000;
};

class JobQueueTest : public ::testing::Test {
protected:
    JobQueueTest() : db_(dir_.path() / "agent.db", Database::Mode::ReadWrite), store_(db_, "f1", clock_), queue_(db_) {
        migrate(db_);
        catalog_.add({"COASTER", "Coaster"});
        catalog_.add({"SIGN", "Sign"});
        laser_ = {"laser-1", "laser-400", "laser", {"oak", "steel"}};
    }

    // Stores an order of one item and records its compiled jobs, as intake and the compile room do.
    void addOrder(const std::string& id, const std::string& priority, const std::string& dueBy, std::int64_t qty,
                  std::vector<CompiledJob> jobs, const std::string& sku = "COASTER") {
        std::string p = R"({"order_id":")" + id + R"(","priority":")" + priority + "\"";
        if (!dueBy.empty()) p += R"(,"due_by":")" + dueBy + "\"";
        p += R"(,"items":[{"item_id":"1","sku":")" + sku + R"(","qty":)" + std::to_string(qty) + "}]}";
        auto parsed = parser_.parseOrder(p, catalog_);
        ASSERT_TRUE(std::holds_alternative<Order>(parsed)) << std::get<Rejections>(parsed).first().message;
        clock_.now += 1000;   // arrival order
        Transaction txn(db_);
        Rejection r;
        ASSERT_EQ(store_.storeOrder(std::get<Order>(parsed), "", r), OrderOutcome::Stored);
        auto input = store_.compileInput(id);
        ASSERT_TRUE(input);
        store_.recordCompiled(*input, jobs);
        txn.commit();
    }
    static CompiledJob laserJob(const std::string& material = "oak", const std::string& profile = "laser-400") {
        return {"1", "laser_engrave", 0, "laser", "sha-" + material, "proof", 60, 5, profile, material};
    }
    std::string nextOrder(const MachineSlot& m) {
        auto u = queue_.nextFor(m);
        return u ? u->orderId : "<none>";
    }
    void start(const QueuedUnit& u) {
        Transaction txn(db_);
        queue_.markStarted(u, "m", clock_.now);
        txn.commit();
    }
    void finish(const QueuedUnit& u) {
        Transaction txn(db_);
        queue_.markDone(u, clock_.now);
        txn.commit();
    }

    test::TempDir dir_;
    Database db_;
    SteppingClock clock_;
    OrderStore store_;
    JobQueue queue_;
    Catalog catalog_;
    OrderParser parser_{ParseLimits{}};
    MachineSlot laser_;
};

TEST_F(JobQueueTest, RushComesFirstThenTheEarlierDueTimeThenArrival) {
    addOrder("std-late", "standard", "2026-12-20T10:00:00Z", 1, {laserJob()});
    addOrder("std-none", "standard", "", 1, {laserJob()});
    addOrder("std-soon", "standard", "2026-12-03T10:00:00+02:00", 1, {laserJob()});
    addOrder("std-soon-utc", "standard", "2026-12-03T09:00:00Z", 1, {laserJob()});   // 1 h after std-soon
    addOrder("rush-b", "rush", "", 1, {laserJob()});
    addOrder("rush-a", "rush", "2026-12-25T00:00:00Z", 1, {laserJob()});
    std::vector<std::string> order;
    while (auto u = queue_.nextFor(laser_)) {
        order.push_back(u->orderId);
        start(*u);
    }
    EXPECT_EQ(order, (std::vector<std::string>{"rush-a", "rush-b", "std-soon", "std-soon-utc", "std-late", "std-none"}))
        << "due times compare as instants, whatever their offset; no due time sorts last";
}

TEST_F(JobQueueTest, AMachineGetsOnlyJobsOfItsProfileCapabilityAndMaterials) {
    addOrder("pine", "rush", "", 1, {laserJob("pine")});
    addOrder("other-profile", "rush", "", 1, {laserJob("oak", "laser-1000")});
    addOrder("cnc", "rush", "", 1, {{"1", "cnc_engrave", 0, "cnc", "c", "p", 60, 5, "cnc-600", "oak"}});
    addOrder("oak", "standard", "", 1, {laserJob("oak")});
    EXPECT_EQ(nextOrder(laser_), "oak");
    MachineSlot anyMaterial = laser_;
    anyMaterial.materials.clear();
    EXPECT_EQ(nextOrder(anyMaterial), "pine") << "a machine that names no materials takes any";
    MachineSlot cnc{"cnc-1", "cnc-600", "cnc", {}};
    EXPECT_EQ(nextOrder(cnc), "cnc");
}

TEST_F(JobQueueTest, HeldCancelledAndNotYetAcceptedOrdersWait) {
    addOrder("held", "rush", "", 1, {laserJob()});
    addOrder("cancelled", "rush", "", 1, {laserJob()});
    addOrder("ok", "standard", "", 1, {laserJob()});
    db_.exec("UPDATE orders SET state = 'on_hold' WHERE order_id = 'held'");
    db_.exec("UPDATE orders SET state = 'cancelled' WHERE order_id = 'cancelled'");
    EXPECT_EQ(nextOrder(laser_), "ok");
    db_.exec("UPDATE orders SET state = 'accepted' WHERE order_id = 'held'");
    EXPECT_EQ(nextOrder(laser_), "held") << "resumed: back in its place";
}

TEST_F(JobQueueTest, EachUnitOfAQuantityIsItsOwnRunAndTheJobLeavesTheQueueAfterTheLast) {
    addOrder("three", "standard", "", 3, {laserJob()});
    std::vector<std::int64_t> units;
    while (auto u = queue_.nextFor(laser_)) {
        EXPECT_EQ(u->qty, 3);
        units.push_back(u->unit);
        start(*u);
        finish(*u);
    }
    EXPECT_EQ(units, (std::vector<std::int64_t>{1, 2, 3}));
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM jobs WHERE order_id = 'three' AND state = 'done'"), 1);
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM units WHERE order_id = 'three' AND state = 'done'"), 3);
}

TEST_F(JobQueueTest, ALaterRouteStepWaitsForTheSameUnitOfTheStepBefore) {
    MachineSlot cnc{"cnc-1", "cnc-600", "cnc", {}};
    addOrder("sign", "standard", "", 2,
             {{"1", "cnc_engrave", 0, "cnc", "e", "p", 60, 5, "cnc-600", "pine"},
              {"1", "cnc_profile", 1, "cnc", "c", "p", 60, 0, "cnc-600", "pine"}},
             "SIGN");
    auto first = queue_.nextFor(cnc);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->operation, "cnc_engrave");
    EXPECT_EQ(first->unit, 1);
    start(*first);
    auto second = queue_.nextFor(cnc);
    ASSERT_TRUE(second);
    EXPECT_EQ(second->operation, "cnc_engrave") << "the cut of unit 1 waits while its engraving runs";
    EXPECT_EQ(second->unit, 2);
    start(*second);
    EXPECT_FALSE(queue_.nextFor(cnc)) << "nothing is ready: both engravings run, no cut may start";
    finish(*second);
    auto cut = queue_.nextFor(cnc);
    EXPECT_FALSE(cut) << "unit 2 is engraved but the queue cuts in unit order: unit 1 comes first";
    finish(*first);
    cut = queue_.nextFor(cnc);
    ASSERT_TRUE(cut);
    EXPECT_EQ(cut->operation, "cnc_profile");
    EXPECT_EQ(cut->unit, 1);
}

TEST_F(JobQueueTest, AnInterruptedUnitIsRecordedWithItsLastLineAndNotRunAgainByItself) {
    addOrder("one", "standard", "", 1, {laserJob()});
    auto u = queue_.nextFor(laser_);
    ASSERT_TRUE(u);
    start(*u);
    {
        Transaction txn(db_);
        queue_.markInterrupted(*u, clock_.now, 42, "disconnected");
        txn.commit();
    }
    EXPECT_FALSE(queue_.nextFor(laser_));
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM units WHERE state = 'interrupted' AND last_line = 42 AND "
                                "reason = 'disconnected'"),
              1);
}

TEST_F(JobQueueTest, QueuedSecondsCountTheUnitsNotYetStarted) {
    addOrder("three", "standard", "", 3, {laserJob()});
    EXPECT_DOUBLE_EQ(queue_.queuedSeconds().at("laser"), 180);
    start(*queue_.nextFor(laser_));
    EXPECT_DOUBLE_EQ(queue_.queuedSeconds().at("laser"), 120);
    EXPECT_EQ(queue_.queuedSeconds().count("cnc"), 0u) << "nothing queued: absent";
}

TEST_F(JobQueueTest, AScrappedUnitRunsAgainUnderItsIndexBeforeTheJobsNextUnits) {
    addOrder("three", "standard", "", 3, {laserJob()});
    auto u1 = queue_.nextFor(laser_);
    ASSERT_TRUE(u1);
    start(*u1);
    auto u2 = queue_.nextFor(laser_);
    ASSERT_TRUE(u2);
    start(*u2);
    {
        Transaction txn(db_);
        queue_.markInterrupted(*u1, clock_.now, 10, "alarm");
        queue_.markScrapped(*u1, clock_.now, "scrapped");
        txn.commit();
    }
    EXPECT_DOUBLE_EQ(queue_.queuedSeconds().at("laser"), 120) << "unit 3 and the scrapped unit 1";
    auto again = queue_.nextFor(laser_);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->unit, 1) << "the scrapped unit before unit 3";
    EXPECT_TRUE(again->requeued);
    start(*again);
    auto third = queue_.nextFor(laser_);
    ASSERT_TRUE(third);
    EXPECT_EQ(third->unit, 3);
    EXPECT_FALSE(third->requeued);
    start(*third);
    EXPECT_FALSE(queue_.nextFor(laser_));
    for (const auto& u : {*again, *u2, *third}) finish(u);
    EXPECT_EQ(test::scalar(db_, "SELECT attempt FROM units WHERE order_id = 'three' AND unit = 1"), 2);
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM jobs WHERE order_id = 'three' AND state = 'done'"), 1);
}

TEST_F(JobQueueTest, AFinishedJobWhoseUnitIsScrappedComesBackToTheQueue) {
    addOrder("one", "standard", "", 1, {laserJob()});
    auto u = queue_.nextFor(laser_);
    ASSERT_TRUE(u);
    start(*u);
    finish(*u);
    ASSERT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM jobs WHERE state = 'done'"), 1);
    {
        Transaction txn(db_);
        queue_.markScrapped(*u, clock_.now, "qc_failed");
        txn.commit();
    }
    // Operators and HQ see it queued again, with the scrapped unit as the next to run.
    auto head = queue_.head(10);
    ASSERT_EQ(head.size(), 1u);
    EXPECT_EQ(head[0].orderId, "one");
    EXPECT_EQ(head[0].nextUnit, 1);
    EXPECT_EQ(head[0].qty, 1);
    auto again = queue_.nextFor(laser_);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->unit, 1);
    start(*again);
    finish(*again);
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM jobs WHERE state = 'done'"), 1);
    EXPECT_FALSE(queue_.nextFor(laser_));
}

TEST_F(JobQueueTest, PendingJobsListTheUnitsLeftInQueueOrder) {
    addOrder("std", "standard", "", 3, {laserJob()});
    addOrder("rush", "rush", "", 1, {laserJob()});
    addOrder("held", "rush", "", 1, {laserJob()});
    db_.exec("UPDATE orders SET state = 'on_hold' WHERE order_id = 'held'");
    auto r = queue_.nextFor(laser_);
    ASSERT_TRUE(r);
    start(*r);   // rush: all its units started, it leaves the pending list
    auto s1 = queue_.nextFor(laser_);
    ASSERT_TRUE(s1);
    start(*s1);
    {
        Transaction txn(db_);
        queue_.markScrapped(*s1, clock_.now, "scrapped");
        txn.commit();
    }
    auto jobs = queue_.pendingJobs();
    ASSERT_EQ(jobs.size(), 1u) << "the held order's job waits, the rush job has started";
    EXPECT_EQ(jobs[0].orderId, "std");
    EXPECT_EQ(jobs[0].units, (std::vector<std::int64_t>{1, 2, 3})) << "scrapped unit 1 first, then 2 and 3";
    EXPECT_EQ(jobs[0].material, "oak");
    EXPECT_DOUBLE_EQ(jobs[0].estimatedSeconds, 60);
}

TEST_F(JobQueueTest, ThePendingReadWalksTheQueueOrderIndexWithoutSortingTheWholeQueue) {
    // A sort of every queued job before the first row is what made a deep queue's forecast cost memory and time
    // that grew faster than the queue.
    addOrder("a", "standard", "", 1, {laserJob()});
    db_.exec("ANALYZE");
    const auto plan = queue_.pendingPlan();
    std::string all;
    for (const auto& line : plan) all += line + "\n";
    EXPECT_NE(all.find("jobs_in_queue_order"), std::string::npos) << all;
    EXPECT_EQ(all.find("TEMP B-TREE"), std::string::npos) << all;
}

TEST_F(JobQueueTest, EachPendingJobIsHandedOverAsItIsReadWithWhatTheForecastNeeds) {
    addOrder("late", "standard", "2026-12-20T10:00:00Z", 2, {laserJob("steel")});
    addOrder("rush", "rush", "", 1, {laserJob()});
    db_.exec("UPDATE orders SET forecast_late = 1 WHERE order_id = 'late'");
    std::vector<PendingJob> seen;
    queue_.forEachPending([&](const PendingJob& j) { seen.push_back(j); });
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].orderId, "rush");
    EXPECT_FALSE(seen[0].forecastLate);
    EXPECT_EQ(seen[0].dueKey, std::numeric_limits<std::int64_t>::max()) << "no due time";
    EXPECT_EQ(seen[1].orderId, "late");
    EXPECT_TRUE(seen[1].forecastLate);
    EXPECT_EQ(seen[1].dueKey, 1'797'760'800) << "2026-12-20T10:00:00Z in epoch seconds";
    EXPECT_EQ(seen[1].artifactSha, "sha-steel");
    EXPECT_EQ(seen[1].units, (std::vector<std::int64_t>{1, 2}));

    // A reader that gives up half-way leaves the queue readable (the statement is reset, its snapshot let go).
    EXPECT_THROW(queue_.forEachPending([](const PendingJob&) { throw std::runtime_error("reader failed"); }),
                 std::runtime_error);
    EXPECT_EQ(queue_.pendingJobs().size(), 2u);
    EXPECT_EQ(queue_.pendingJobs(1).size(), 1u);
}

TEST_F(JobQueueTest, TheHeadListsQueuedJobsInQueueOrderWithTheirNextUnitAndStopsAtTheLimit) {
    addOrder("std", "standard", "2026-12-20T10:00:00Z", 1, {laserJob()});
    addOrder("cnc", "rush", "", 1, {{"1", "cnc_engrave", 0, "cnc", "c", "p", 90, 5, "cnc-600", "oak"}});
    addOrder("three", "rush", "2026-12-01T10:00:00Z", 3, {laserJob()});
    addOrder("held", "rush", "", 1, {laserJob()});
    db_.exec("UPDATE orders SET state = 'on_hold' WHERE order_id = 'held'");
    start(*queue_.nextFor(laser_));   // unit 1 of "three"

    auto head = queue_.head(10);
    ASSERT_EQ(head.size(), 3u) << "a held order is not in the queue";
    EXPECT_EQ(head[0].orderId, "three");
    EXPECT_EQ(head[0].capability, "laser");
    EXPECT_EQ(head[0].nextUnit, 2);
    EXPECT_EQ(head[0].qty, 3);
    EXPECT_TRUE(head[0].rush);
    EXPECT_EQ(head[0].dueBy, "2026-12-01T10:00:00Z");
    EXPECT_DOUBLE_EQ(head[0].estimatedSeconds, 60);
    EXPECT_EQ(head[1].orderId, "cnc");
    EXPECT_EQ(head[1].capability, "cnc");
    EXPECT_EQ(head[1].dueBy, "");
    EXPECT_EQ(head[2].orderId, "std");
    EXPECT_FALSE(head[2].rush);
    EXPECT_EQ(queue_.head(1).size(), 1u);
    EXPECT_TRUE(queue_.head(0).empty());
}

std::vector<std::string> names(const std::vector<QueuedUnit>& units) {
    std::vector<std::string> out;
    for (const auto& u : units) out.push_back(u.orderId + "#" + std::to_string(u.unit));
    return out;
}

TEST_F(JobQueueTest, AJigBatchTakesReadyUnitsOfTheSameSkuOperationMaterialAndProfileInQueueOrder) {
    addOrder("a", "standard", "", 3, {laserJob("oak")});
    addOrder("steel", "standard", "", 1, {laserJob("steel")});
    addOrder("sign", "standard", "", 2, {laserJob("oak")}, "SIGN");
    addOrder("other-profile", "standard", "", 1, {laserJob("oak", "laser-900")});
    addOrder("d", "standard", "", 2, {laserJob("oak")});
    auto lead = queue_.nextFor(laser_);
    ASSERT_TRUE(lead);
    EXPECT_EQ(queue_.skuOf(*lead), "COASTER");
    EXPECT_EQ(names(queue_.batchFor(laser_, *lead, 4)), (std::vector<std::string>{"a#1", "a#2", "a#3", "d#1"}));
    EXPECT_EQ(names(queue_.batchFor(laser_, *lead, 20)), (std::vector<std::string>{"a#1", "a#2", "a#3", "d#1", "d#2"}))
        << "a jig is not waited on: what is ready is the batch";
    EXPECT_EQ(names(queue_.batchFor(laser_, *lead, 1)), std::vector<std::string>{"a#1"});

    // Started together in one transaction, they leave the queue together.
    {
        Transaction txn(db_);
        std::int64_t slot = 0;
        for (const auto& u : queue_.batchFor(laser_, *lead, 20)) {
            queue_.markStarted(u, "laser-1", clock_.now);
            queue_.markPlaced(u, "tags", slot++);
        }
        txn.commit();
    }
    EXPECT_EQ(nextOrder(laser_), "steel");
    const auto run = queue_.jigRunOf("laser-1", *lead);
    ASSERT_EQ(run.size(), 5u);
    EXPECT_EQ(run[3].first.orderId, "d");
    EXPECT_EQ(run[3].second, 3);
    EXPECT_EQ(queue_.jigOf(*lead), "tags");
    EXPECT_TRUE(queue_.jigRunOf("laser-2", *lead).empty()) << "another machine's run is another run";
}

TEST_F(JobQueueTest, ARushLeadBatchesOnlyRushUnitsAndAStandardLeadNoRushOnes) {
    addOrder("std", "standard", "", 2, {laserJob()});
    addOrder("rush", "rush", "", 1, {laserJob()});
    auto lead = queue_.nextFor(laser_);
    ASSERT_TRUE(lead);
    EXPECT_EQ(lead->orderId, "rush");
    EXPECT_EQ(names(queue_.batchFor(laser_, *lead, 20)), std::vector<std::string>{"rush#1"})
        << "a rush unit runs in a partial jig rather than wait behind standard work";
    start(*lead);
    auto next = queue_.nextFor(laser_);
    ASSERT_TRUE(next);
    EXPECT_EQ(names(queue_.batchFor(laser_, *next, 20)), (std::vector<std::string>{"std#1", "std#2"}));
}

TEST_F(JobQueueTest, AJigBatchTakesAScrappedUnitAgainFirstAndSkipsHeldOrders) {
    addOrder("a", "standard", "", 3, {laserJob()});
    addOrder("held", "standard", "", 2, {laserJob()});
    auto first = queue_.nextFor(laser_);
    ASSERT_TRUE(first);
    start(*first);
    {
        Transaction txn(db_);
        queue_.markScrapped(*first, clock_.now, "scrapped");
        ASSERT_FALSE(store_.applyCommand({CommandKind::Hold, "c1", "held", "test", std::nullopt}));
        txn.commit();
    }
    auto lead = queue_.nextFor(laser_);
    ASSERT_TRUE(lead);
    EXPECT_TRUE(lead->requeued);
    const auto batch = queue_.batchFor(laser_, *lead, 20);
    EXPECT_EQ(names(batch), (std::vector<std::string>{"a#1", "a#2", "a#3"}));
    {
        Transaction txn(db_);
        for (const auto& u : batch) queue_.markStarted(u, "laser-1", clock_.now);
        txn.commit();
    }
    EXPECT_EQ(nextOrder(laser_), "<none>");
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM units WHERE order_id = 'a' AND state = 'running'"), 3);
}

} // namespace
} // namespace mto
