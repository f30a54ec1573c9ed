// SPDX-License-Identifier: Apache-2.0
// The scheduler with the real store (SQLite file), the GRBL driver and the GRBL emulator over a pty.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "grbl/grbl_driver.hpp"
#include "grbl_options.hpp"
#include "intake/order_parser.hpp"
#include "scheduler/scheduler.hpp"
#include "store/commit_queue.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "store/order_store.hpp"
#include "store_rig.hpp"
#include "test_env.hpp"
#include "util/clock.hpp"
#include "virtual/grbl_emulator.hpp"

namespace mto {
namespace {

using namespace std::chrono_literals;

JobArtifact laserProgram(int segments) {
    JobArtifact job;
    job.capability = "laser";
    job.format = "gcode-grbl";
    job.program = "G21 G90 G17 G94\nM4 S0\n";
    for (int i = 0; i < segments; ++i) {
        char line[64];
        std::snprintf(line, sizeof line, "G1 X%d Y%d S500 F6000\n", 5 + i % 30, 5 + (i * 7) % 30);
        job.program += line;
    }
    job.program += "M5 S0\nG0 X0 Y0\nM2\n";
    job.bbox = {0, 0, 0, 40, 40, 0};
    job.estimatedSeconds = 2;
    return job;
}

// A factory floor of one emulated laser, the store, and the scheduler, all on one loop.
class SchedulerTest : public ::testing::Test, protected test::StoreRig {
protected:
    SchedulerTest() {
        catalog_.add({"COASTER", "Coaster"});
    }

    void addOrder(const std::string& id, std::int64_t qty, int segments = 300) {
        const std::string p = R"({"order_id":")" + id + R"(","items":[{"item_id":"1","sku":"COASTER","qty":)" +
                              std::to_string(qty) + "}]}";
        auto parsed = parser_.parseOrder(p, catalog_);
        ASSERT_TRUE(std::holds_alternative<Order>(parsed));
        programs_["sha-" + id] = laserProgram(segments);
        Transaction txn(db_);
        Rejection r;
        ASSERT_EQ(store_.storeOrder(std::get<Order>(parsed), "", r), OrderOutcome::Stored);
        auto input = store_.compileInput(id);
        ASSERT_TRUE(input);
        store_.recordCompiled(*input, {{"1", "laser_engrave", 0, "laser", "sha-" + id, "proof", 2, 5, "laser-400", "oak"}});
        txn.commit();
    }

    void startFloor(virt::GrblEmulatorOptions eo = {}) {
        eo.linkPath = (dir_.path() / "laser").string();
        eo.laserMode = true;
        eo.speedFactor = 100;
        if (!emulator_) emulator_ = std::make_unique<virt::GrblEmulator>(io_, eo);
        scheduler_ = std::make_unique<Scheduler>(
            io_, commits_, store_, queue_,
            loader(), clock_);
        scheduler_->setProgressStep(50);
        scheduler_->addMachine({"laser-1", "laser-400", "laser", {"oak"}}, [this](DriverListener& l) {
            return std::make_unique<grbl::GrblDriver>(io_, test::laserDriverOptions("laser-1", emulator_->devicePath()), l);
        });
        scheduler_->start();
        scheduler_->poke();
    }

    void stopFloor() {
        bool stopped = false;
        scheduler_->stop([&] { stopped = true; });
        runUntil([&] { return stopped; }, 3s);
        scheduler_.reset();
    }

    bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 20s) {
        return test::runLoopUntil(io_, done, limit);
    }

    std::vector<std::string> milestones(const std::string& orderId) {
        std::vector<std::string> out;
        for (const auto& e : store_.eventsForOrder(orderId))
            if (e.milestone != "received" && e.milestone != "accepted" && e.milestone != "proof_ready")
                out.push_back(e.milestone);
        return out;
    }
    std::size_t count(const std::string& orderId, const std::string& milestone) {
        std::size_t n = 0;
        for (const auto& m : milestones(orderId)) n += m == milestone;
        return n;
    }

    void TearDown() override {
        if (scheduler_) stopFloor();
    }

    std::unique_ptr<virt::GrblEmulator> emulator_;
    std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerTest, EachUnitRunsToJobDoneAndTheNextWaitsForTheBedToBeCleared) {
    addOrder("ORD-1", 2);
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "job_done") == 1; })) << ::testing::PrintToString(milestones("ORD-1"));
    EXPECT_EQ(scheduler_->bay("laser-1"), Bay::AwaitingClear);
    EXPECT_EQ(store_.order("ORD-1")->state, "in_production");
    runUntil([] { return false; }, 500ms);
    EXPECT_EQ(count("ORD-1", "production_started"), 1u) << "the second unit waits while the bed holds the first";
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM machines WHERE bay = 'awaiting_clear' AND unit = 1"), 1);

    EXPECT_TRUE(scheduler_->clear("laser-2"));
    EXPECT_FALSE(scheduler_->clear("laser-1"));
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "job_done") == 2; }));
    EXPECT_EQ(milestones("ORD-1"), (std::vector<std::string>{"production_started", "progress", "job_done",
                                                              "production_started", "progress", "job_done"}));
    EXPECT_FALSE(scheduler_->clear("laser-1"));
    EXPECT_TRUE(scheduler_->clear("laser-1")) << "a second clear is refused: the bed is already clear";
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM units WHERE state = 'done'"), 2);
}

TEST_F(SchedulerTest, RushOrdersGoFirst) {
    addOrder("ORD-STD", 1);
    {
        const std::string p = R"({"order_id":"ORD-RUSH","priority":"rush","items":[{"item_id":"1","sku":"COASTER","qty":1}]})";
        auto parsed = parser_.parseOrder(p, catalog_);
        programs_["sha-ORD-RUSH"] = laserProgram(50);
        Transaction txn(db_);
        Rejection r;
        store_.storeOrder(std::get<Order>(parsed), "", r);
        store_.recordCompiled(*store_.compileInput("ORD-RUSH"),
                              {{"1", "laser_engrave", 0, "laser", "sha-ORD-RUSH", "proof", 2, 5, "laser-400", "oak"}});
        txn.commit();
    }
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("ORD-RUSH", "job_done") == 1; }));
    EXPECT_EQ(count("ORD-STD", "production_started"), 0u);
    scheduler_->clear("laser-1");
    ASSERT_TRUE(runUntil([&] { return count("ORD-STD", "job_done") == 1; }));
}

TEST_F(SchedulerTest, AnUnpluggedMachineInterruptsTheUnitWhichIsNotRunAgainByItself) {
    addOrder("ORD-1", 2, 3000);
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "production_started") == 1 && emulator_->linesReceived() > 100; }));
    emulator_->disconnect();
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "interrupted") == 1; }));
    EXPECT_EQ(scheduler_->bay("laser-1"), Bay::NeedsAttention);
    emulator_->reconnect();
    runUntil([] { return false; }, 1500ms);
    EXPECT_EQ(count("ORD-1", "production_started"), 1u) << "nothing new starts on a machine that needs attention";
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM units WHERE state = 'interrupted' AND last_line > 0 AND "
                                "reason = 'disconnected'"),
              1);
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM machines WHERE bay = 'needs_attention'"), 1);
}

TEST_F(SchedulerTest, AUnitLeftRunningByACrashIsInterruptedAtStartAndItsMachineWaitsForTheOperator) {
    addOrder("ORD-1", 2, 3000);
    {
        // What a kill -9 mid-job leaves in the store: the unit started, the machine running it.
        auto unit = queue_.nextFor({"laser-1", "laser-400", "laser", {"oak"}});
        ASSERT_TRUE(unit);
        Transaction txn(db_);
        queue_.markStarted(*unit, "laser-1", clock_.nowMs());
        db_.exec("INSERT INTO machines (machine_id, bay, order_id, item_id, operation, unit, updated_at) "
                 "VALUES ('laser-1', 'running', 'ORD-1', '1', 'laser_engrave', 1, 0)");
        txn.commit();
    }
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "interrupted") == 1; }));
    EXPECT_EQ(scheduler_->bay("laser-1"), Bay::NeedsAttention);
    runUntil([] { return false; }, 1000ms);
    EXPECT_EQ(count("ORD-1", "production_started"), 0u) << "nothing starts on the machine until the operator decides";
    EXPECT_EQ(emulator_->position()[0], 0) << "the laser did not move";
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM units WHERE state = 'interrupted' AND reason = 'agent_restarted'"),
              1);
}

TEST_F(SchedulerTest, AfterAnAlarmTheOperatorUnlocksAndRestartsTheUnitWhichThenFinishes) {
    addOrder("ORD-1", 1, 3000);
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "production_started") == 1 && emulator_->linesReceived() > 100; }));
    EXPECT_TRUE(scheduler_->restart("laser-1")) << "a running unit cannot be restarted";
    emulator_->injectAlarm(1);
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "interrupted") == 1; }));
    ASSERT_TRUE(runUntil([&] { return scheduler_->bay("laser-1") == Bay::NeedsAttention; }));
    auto refused = scheduler_->restart("laser-1");
    ASSERT_TRUE(refused);
    EXPECT_NE(refused->find("unlock"), std::string::npos) << *refused;
    EXPECT_TRUE(scheduler_->unlock("laser-2"));
    EXPECT_FALSE(scheduler_->unlock("laser-1"));
    ASSERT_TRUE(runUntil([&] { return !scheduler_->restart("laser-1"); })) << "idle again after the unlock";
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "job_done") == 1; }, 60s)) << ::testing::PrintToString(milestones("ORD-1"));
    EXPECT_EQ(count("ORD-1", "production_started"), 2u);
    EXPECT_EQ(scheduler_->bay("laser-1"), Bay::AwaitingClear);
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM units WHERE state = 'done' AND unit = 1"), 1);
    bool restartFlag = false;
    for (const auto& e : store_.eventsForOrder("ORD-1"))
        restartFlag |= e.milestone == "production_started" && e.payload.find("\"restart\":true") != std::string::npos;
    EXPECT_TRUE(restartFlag) << "HQ can tell the second start is a restart";
}

TEST_F(SchedulerTest, TheMachineViewFollowsAUnitFromRunningWithProgressToAwaitingClearAndSaysWhenItChanges) {
    addOrder("ORD-1", 2, 3000);
    startFloor();
    int changes = 0;
    scheduler_->onMachineChange([&] { ++changes; });
    auto view = [&] { return scheduler_->machines().at(0); };
    ASSERT_EQ(scheduler_->machines().size(), 1u);
    ASSERT_TRUE(runUntil([&] {
        auto v = view();
        return v.bay == Bay::Running && v.fraction > 0.05;
    }));
    auto v = view();
    EXPECT_EQ(v.machineId, "laser-1");
    EXPECT_EQ(v.profile, "laser-400");
    EXPECT_EQ(v.capability, "laser");
    EXPECT_EQ(v.state, MachineState::Running);
    ASSERT_TRUE(v.unit);
    EXPECT_EQ(v.unit->orderId, "ORD-1");
    EXPECT_EQ(v.unit->operation, "laser_engrave");
    EXPECT_EQ(v.unit->unit, 1);
    EXPECT_EQ(v.unit->qty, 2);
    EXPECT_LT(v.fraction, 1.0);
    EXPECT_GE(v.secondsLeft, 0);
    EXPECT_TRUE(v.reason.empty());
    EXPECT_GT(changes, 0) << "the start was reported";

    ASSERT_TRUE(runUntil([&] { return view().bay == Bay::AwaitingClear; }));
    v = view();
    ASSERT_TRUE(v.unit) << "the finished part is still on the bed";
    EXPECT_EQ(v.unit->unit, 1);
    EXPECT_DOUBLE_EQ(v.fraction, 1.0);
    EXPECT_DOUBLE_EQ(v.secondsLeft, 0);
    const int before = changes;
    EXPECT_FALSE(scheduler_->clear("laser-1"));
    ASSERT_TRUE(runUntil([&] { return changes > before; })) << "the clear was reported";
    ASSERT_TRUE(runUntil([&] { return view().bay == Bay::Running; }));
    v = view();
    ASSERT_TRUE(v.unit);
    EXPECT_EQ(v.unit->unit, 2);
}

TEST_F(SchedulerTest, TheMachineViewOfAnInterruptedUnitSaysWhyAndKnowsNoTimeLeft) {
    addOrder("ORD-1", 1, 3000);
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "production_started") == 1 && emulator_->linesReceived() > 100; }));
    emulator_->disconnect();
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "interrupted") == 1; }));
    const auto v = scheduler_->machines().at(0);
    EXPECT_EQ(v.bay, Bay::NeedsAttention);
    EXPECT_EQ(v.reason, "disconnected");
    ASSERT_TRUE(v.unit);
    EXPECT_EQ(v.unit->orderId, "ORD-1");
    EXPECT_GT(v.fraction, 0) << "where it stopped";
    EXPECT_LT(v.secondsLeft, 0);
    EXPECT_NE(v.state, MachineState::Running);
}

} // namespace
} // namespace mto
