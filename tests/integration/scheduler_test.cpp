// SPDX-License-Identifier: Apache-2.0
// The scheduler with the real store (SQLite file), the GRBL driver and the GRBL emulator over a pty.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
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
#include "scripted_driver.hpp"
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

    // An accepted order of one laser item; `estimateS` is the per-unit estimate the compile room stored.
    void addOrder(const std::string& id, std::int64_t qty, int segments = 300, const std::string& dueBy = "",
                  double estimateS = 2, const std::string& priority = "standard") {
        const std::string due = dueBy.empty() ? "" : R"(,"due_by":")" + dueBy + "\"";
        const std::string p = R"({"order_id":")" + id + R"(","priority":")" + priority + "\"" + due +
                              R"(,"items":[{"item_id":"1","sku":"COASTER","qty":)" + std::to_string(qty) + "}]}";
        programs_["sha-" + id] = laserProgram(segments);
        storeCompiled(p, {{"1", "laser_engrave", 0, "laser", "sha-" + id, "proof", estimateS, 5, "laser-400", "oak"}});
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
        }, policy_);
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

    // HQ's hold, cancel or resume, applied as intake applies it (one commit), then the scheduler is told.
    void command(CommandKind kind, const std::string& orderId, const std::string& commandId) {
        Transaction txn(db_);
        auto refused = store_.applyCommand({kind, commandId, orderId, "test", std::nullopt});
        ASSERT_FALSE(refused) << refused->message;
        txn.commit();
        scheduler_->poke();
    }
    // The `data` of the order's last event with this milestone.
    boost::json::object lastData(const std::string& orderId, const std::string& milestone) {
        boost::json::object data;
        for (const auto& e : store_.eventsForOrder(orderId))
            if (e.milestone == milestone) data = boost::json::parse(e.payload).as_object().at("data").as_object();
        return data;
    }
    void addMachinePolicy(MachinePolicy p) { policy_ = p; }
    MachinePolicy policy_;

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
    EXPECT_EQ(milestones("ORD-1"), (std::vector<std::string>{"scheduled", "production_started", "progress", "job_done",
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

// The emulator's other injected faults, as the unplug and the alarm above: each interrupts the running unit with
// its reason, the machine needs the operator, and nothing runs again until the operator decides.
TEST_F(SchedulerTest, AnErrorOnALineMidJobInterruptsTheUnitWithTheDecodedCodeAndARestartFinishesIt) {
    addOrder("ORD-1", 1);
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "production_started") == 1; }));
    emulator_->failLine(emulator_->linesReceived() + 40, 20);
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "interrupted") == 1; }));
    auto why = lastData("ORD-1", "interrupted");
    EXPECT_EQ(why.at("reason").as_string(), "error");
    EXPECT_EQ(why.at("code").as_string(), "error:20");
    EXPECT_NE(std::string(why.at("message").as_string()).find("at program line"), std::string::npos) << why;
    EXPECT_GT(why.at("last_line").as_int64(), 0);
    ASSERT_TRUE(runUntil([&] { return scheduler_->bay("laser-1") == Bay::NeedsAttention; }));
    EXPECT_EQ(scheduler_->machines().at(0).reason, "error");
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM machines WHERE bay = 'needs_attention'"), 1);
    // The driver reset the controller to stop the lines after the refused one; reset in motion, GRBL locks.
    ASSERT_TRUE(runUntil([&] {
        const auto state = scheduler_->machines().at(0).state;
        return state == MachineState::Alarm || state == MachineState::Idle;
    }));
    runUntil([] { return false; }, 500ms);
    EXPECT_EQ(count("ORD-1", "production_started"), 1u) << "nothing runs again by itself";
    if (scheduler_->machines().at(0).state == MachineState::Alarm) {
        EXPECT_FALSE(scheduler_->unlock("laser-1"));
    }
    ASSERT_TRUE(runUntil([&] { return !scheduler_->restart("laser-1"); }));
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "job_done") == 1; })) << ::testing::PrintToString(milestones("ORD-1"));
    EXPECT_EQ(count("ORD-1", "production_started"), 2u);
}

TEST_F(SchedulerTest, AControllerThatStopsAnsweringMidJobInterruptsTheUnitAsATimeout) {
    addOrder("ORD-1", 1, 3000);
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "production_started") == 1 && emulator_->linesReceived() > 50; }));
    emulator_->stall(true);
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "interrupted") == 1; }));
    auto why = lastData("ORD-1", "interrupted");
    EXPECT_EQ(why.at("reason").as_string(), "timeout");
    EXPECT_NE(std::string(why.at("message").as_string()).find("has not answered"), std::string::npos) << why;
    ASSERT_TRUE(runUntil([&] { return scheduler_->bay("laser-1") == Bay::NeedsAttention; }));
    EXPECT_EQ(scheduler_->machines().at(0).reason, "timeout");
    EXPECT_NE(scheduler_->machines().at(0).state, MachineState::Running) << "the link was closed";
    emulator_->stall(false);
    // The link is opened again and the controller identified; the unit still waits for the operator.
    ASSERT_TRUE(runUntil([&] {
        const auto state = scheduler_->machines().at(0).state;
        return state == MachineState::Alarm || state == MachineState::Idle;
    }));
    runUntil([] { return false; }, 500ms);
    EXPECT_EQ(count("ORD-1", "production_started"), 1u) << "nothing runs again by itself";
    EXPECT_EQ(scheduler_->bay("laser-1"), Bay::NeedsAttention);
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM units WHERE state = 'interrupted' AND reason = 'timeout'"), 1);
}

TEST_F(SchedulerTest, ALostOkMidJobInterruptsTheUnitAndTheIdleMachineCanRunItAgain) {
    addOrder("ORD-1", 1);
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "production_started") == 1; }));
    emulator_->loseOk(emulator_->linesReceived() + 40);
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "interrupted") == 1; }));
    EXPECT_EQ(count("ORD-1", "job_done"), 0u) << "not done: one line's answer never came";
    auto why = lastData("ORD-1", "interrupted");
    EXPECT_EQ(why.at("reason").as_string(), "lost_answer");
    EXPECT_NE(std::string(why.at("message").as_string()).find("never answered"), std::string::npos) << why;
    ASSERT_TRUE(runUntil([&] { return scheduler_->bay("laser-1") == Bay::NeedsAttention; }));
    EXPECT_EQ(scheduler_->machines().at(0).reason, "lost_answer");
    ASSERT_TRUE(runUntil([&] { return scheduler_->machines().at(0).state == MachineState::Idle; }))
        << "the controller sits idle; its state was " << toString(scheduler_->machines().at(0).state);
    runUntil([] { return false; }, 500ms);
    EXPECT_EQ(count("ORD-1", "production_started"), 1u) << "nothing runs again by itself";
    const auto refused = scheduler_->restart("laser-1");
    ASSERT_FALSE(refused) << *refused;
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "job_done") == 1; })) << ::testing::PrintToString(milestones("ORD-1"));
    EXPECT_EQ(count("ORD-1", "production_started"), 2u);
}

TEST_F(SchedulerTest, AScrappedUnitIsQueuedAgainUnderItsIndexAndRunsBeforeTheNextUnit) {
    addOrder("ORD-1", 2, 3000);
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "production_started") == 1 && emulator_->linesReceived() > 100; }));
    EXPECT_TRUE(scheduler_->scrap("laser-1")) << "a running unit cannot be scrapped";
    emulator_->injectAlarm(1);
    // The bay changes at once, the unit's interruption with the next group commit: the operator's decision
    // below is checked against the stored unit, so it waits for the interruption to be stored.
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "interrupted") == 1; }));
    ASSERT_TRUE(runUntil([&] { return scheduler_->bay("laser-1") == Bay::NeedsAttention; }));
    EXPECT_FALSE(scheduler_->scrap("laser-1"));
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "scrapped") == 1; }));
    auto scrapped = lastData("ORD-1", "scrapped");
    EXPECT_EQ(scrapped.at("unit").as_int64(), 1);
    EXPECT_EQ(scrapped.at("after").as_string(), "interrupted");
    EXPECT_TRUE(scrapped.at("requeued").as_bool());
    EXPECT_EQ(scheduler_->bay("laser-1"), Bay::AwaitingClear) << "the scrapped part is still on the bed";
    EXPECT_FALSE(scheduler_->clear("laser-1"));
    runUntil([] { return false; }, 300ms);
    EXPECT_EQ(count("ORD-1", "production_started"), 1u) << "cleared, but still locked by the alarm";
    EXPECT_FALSE(scheduler_->unlock("laser-1"));
    // Unit 1 runs again before unit 2, as a new start (not a restart) marked requeued.
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "job_done") == 1; }, 60s)) << ::testing::PrintToString(milestones("ORD-1"));
    EXPECT_EQ(lastData("ORD-1", "job_done").at("unit").as_int64(), 1);
    EXPECT_TRUE(lastData("ORD-1", "production_started").at("requeued").as_bool());
    EXPECT_EQ(test::scalar(db_, "SELECT attempt FROM units WHERE unit = 1"), 2);
    ASSERT_FALSE(scheduler_->clear("laser-1"));
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "job_done") == 2; }, 60s));
    EXPECT_EQ(lastData("ORD-1", "job_done").at("unit").as_int64(), 2);
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM jobs WHERE state = 'done'"), 1);
}

TEST_F(SchedulerTest, ResumeOnGrblIsRefusedWithTheReasonAndTheUnitStaysInterrupted) {
    addOrder("ORD-1", 1, 3000);
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "production_started") == 1 && emulator_->linesReceived() > 100; }));
    emulator_->injectAlarm(1);
    // The bay changes at once, the unit's interruption with the next group commit: the operator's decision
    // below is checked against the stored unit, so it waits for the interruption to be stored.
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "interrupted") == 1; }));
    ASSERT_TRUE(runUntil([&] { return scheduler_->bay("laser-1") == Bay::NeedsAttention; }));
    auto refused = scheduler_->resume("laser-1");
    ASSERT_TRUE(refused);
    EXPECT_NE(refused->find("cannot continue a program from a line"), std::string::npos) << *refused;
    EXPECT_NE(refused->find("restart"), std::string::npos) << "the refusal names the decisions that work";
    EXPECT_EQ(scheduler_->bay("laser-1"), Bay::NeedsAttention);
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM units WHERE state = 'interrupted'"), 1);
}

TEST_F(SchedulerTest, CancelOnAStopMachineStopsTheRunningUnitAndTheEventSaysSo) {
    addMachinePolicy({false, true});
    addOrder("ORD-1", 2, 3000);
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "production_started") == 1 && emulator_->linesReceived() > 100; }));
    const auto resets = emulator_->resets();
    command(CommandKind::Cancel, "ORD-1", "c-1");
    auto cancelled = lastData("ORD-1", "cancelled");
    ASSERT_TRUE(cancelled.contains("running")) << boost::json::serialize(cancelled);
    auto running = cancelled.at("running").as_array().at(0).as_object();
    EXPECT_EQ(running.at("machine").as_string(), "laser-1");
    EXPECT_EQ(running.at("unit").as_int64(), 1);
    EXPECT_EQ(running.at("action").as_string(), "stop");
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "interrupted") == 1; }));
    EXPECT_EQ(lastData("ORD-1", "interrupted").at("reason").as_string(), "order_cancelled");
    ASSERT_TRUE(runUntil([&] { return scheduler_->bay("laser-1") == Bay::AwaitingClear; }));
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM units WHERE state = 'cancelled'"), 1);
    // The lines sent before the soft reset are still on their way at the line rate (the emulator paces them):
    // once it has reset, every byte sent before the 0x18 has arrived, and any later G-code line came after the stop.
    ASSERT_TRUE(runUntil([&] { return emulator_->resets() > resets; }));
    const auto lines = emulator_->gcodeLinesReceived();
    runUntil([] { return false; }, 500ms);
    EXPECT_EQ(emulator_->gcodeLinesReceived(), lines) << "nothing more of the program is streamed";
    EXPECT_NE(emulator_->state(), "Run");
    EXPECT_TRUE(scheduler_->restart("laser-1")) << "a cancelled unit is not an operator's decision";
    EXPECT_FALSE(scheduler_->clear("laser-1"));
    runUntil([] { return false; }, 500ms);
    EXPECT_EQ(count("ORD-1", "production_started"), 1u) << "unit 2 of a cancelled order never starts";
}

TEST_F(SchedulerTest, CancelOnAFinishMachineLetsTheRunningUnitEndButStartsNoOther) {
    addOrder("ORD-1", 2, 1500);
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "production_started") == 1; }));
    command(CommandKind::Cancel, "ORD-1", "c-1");
    EXPECT_EQ(lastData("ORD-1", "cancelled").at("running").as_array().at(0).as_object().at("action").as_string(),
              "finish");
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "job_done") == 1; }, 60s)) << ::testing::PrintToString(milestones("ORD-1"));
    EXPECT_EQ(count("ORD-1", "interrupted"), 0u);
    ASSERT_FALSE(scheduler_->clear("laser-1"));
    runUntil([] { return false; }, 1000ms);
    EXPECT_EQ(count("ORD-1", "production_started"), 1u);
}

TEST_F(SchedulerTest, HoldOnAPauseMachineFeedHoldsTheUnitUntilTheOrderIsResumed) {
    addMachinePolicy({true, false});
    addOrder("ORD-1", 1, 3000);
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "production_started") == 1 && emulator_->linesReceived() > 100; }));
    command(CommandKind::Hold, "ORD-1", "h-1");
    EXPECT_EQ(lastData("ORD-1", "on_hold").at("running").as_array().at(0).as_object().at("action").as_string(),
              "pause");
    ASSERT_TRUE(runUntil([&] { return emulator_->state().rfind("Hold", 0) == 0; })) << emulator_->state();
    const auto lines = emulator_->linesReceived();
    runUntil([] { return false; }, 500ms);
    EXPECT_EQ(emulator_->state().rfind("Hold", 0), 0u) << "held, not stopped";
    EXPECT_LE(emulator_->linesReceived(), lines + 16) << "at most what fits the planner and buffer is sent";
    command(CommandKind::Resume, "ORD-1", "r-1");
    EXPECT_EQ(lastData("ORD-1", "resumed").at("running").as_array().at(0).as_object().at("action").as_string(),
              "resume");
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "job_done") == 1; }, 60s)) << ::testing::PrintToString(milestones("ORD-1"));
    EXPECT_EQ(count("ORD-1", "interrupted"), 0u);
}

TEST_F(SchedulerTest, EveryJobIsScheduledOnAMachineWithEstimatesBeforeItStarts) {
    addOrder("ORD-1", 1, 300);
    addOrder("ORD-2", 2, 300);
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "job_done") == 1 && count("ORD-2", "scheduled") == 1; }))
        << ::testing::PrintToString(milestones("ORD-2"));
    EXPECT_EQ(milestones("ORD-1").front(), "scheduled") << "started at once, still scheduled first";
    EXPECT_EQ(milestones("ORD-2"), std::vector<std::string>{"scheduled"}) << "waits for the bed clear";
    EXPECT_EQ(store_.orderState("ORD-2"), "scheduled");
    auto data = lastData("ORD-2", "scheduled");
    EXPECT_EQ(data.at("machine").as_string(), "laser-1");
    EXPECT_EQ(data.at("operation").as_string(), "laser_engrave");
    const std::string start(data.at("estimated_start").as_string()), finish(data.at("estimated_finish").as_string());
    EXPECT_TRUE(isRfc3339(start)) << start;
    EXPECT_LT(start, finish) << "two units of 2 s each";
    EXPECT_GT(start, formatRfc3339Ms(clock_.nowMs())) << "after the bed clear of the machine";
    ASSERT_FALSE(scheduler_->clear("laser-1"));
    ASSERT_TRUE(runUntil([&] { return count("ORD-2", "job_done") == 1; }));
    EXPECT_EQ(count("ORD-2", "scheduled"), 1u) << "once per job, not per unit or forecast round";
}

TEST_F(SchedulerTest, AnOrderForecastToFinishAfterItsDueTimeIsDelayedOncePerCrossing) {
    addOrder("FIRST", 1, 300);
    addOrder("LATE", 1, 300, "2020-01-01T00:00:00Z");
    addOrder("FAR", 1, 300, "2099-01-01T00:00:00Z");
    // Far due first in the queue would not matter: the late one sorts first by due time.
    startFloor();
    scheduler_->setForecastTiming(20ms, 50ms);
    ASSERT_TRUE(runUntil([&] { return count("LATE", "delayed") == 1; })) << ::testing::PrintToString(milestones("LATE"));
    runUntil([] { return false; }, 1000ms);
    EXPECT_EQ(count("LATE", "delayed"), 1u) << "once per crossing, not on every forecast";
    EXPECT_EQ(count("FAR", "delayed"), 0u);
    auto data = lastData("LATE", "delayed");
    EXPECT_EQ(data.at("due_by").as_string(), "2020-01-01T00:00:00Z");
    EXPECT_GT(data.at("late_by_s").as_int64(), 0);
    EXPECT_TRUE(isRfc3339(std::string(data.at("estimated_finish").as_string())));
    EXPECT_EQ(test::scalar(db_, "SELECT forecast_late FROM orders WHERE order_id = 'LATE'"), 1);
}

// The scheduler's clock in the lateness test: time moves only when the test says.
class LatenessTestClock final : public Clock {
public:
    std::int64_t nowMs() const override { return now; }
    std::int64_t now = 0;
};

TEST_F(SchedulerTest, AFutureDueTimeCrossedTwiceByTheForecastGivesTwoDelayedEachWithItsNewEstimate) {
    LatenessTestClock clock;
    clock.now = 1'893'456'000'000;   // 2030-01-01T00:00:00Z
    // One laser that takes nothing (its floor is never poked): the forecast alone decides, when the test asks.
    scheduler_ = std::make_unique<Scheduler>(io_, commits_, store_, queue_, loader(), clock);
    scheduler_->addMachine({"laser-1", "laser-400", "laser", {"oak"}},
                           [](DriverListener& l) { return std::make_unique<test::ScriptedDriver>(l); });
    scheduler_->setForecastOptions({60});   // a minute's bed clear between two units
    auto forecast = [&] {
        scheduler_->runForecast();
        io_.poll();   // its commit
        io_.restart();
    };
    auto delayed = [&] {
        std::vector<std::string> out;
        for (const auto& e : store_.eventsForOrder("DUE"))
            if (e.milestone == "delayed") {
                const auto data = boost::json::parse(e.payload).as_object().at("data").as_object();
                out.push_back(std::string(data.at("estimated_finish").as_string()) + " late_by_s " +
                              std::to_string(data.at("late_by_s").as_int64()));
            }
        return out;
    };
    // Due at 02:00; its 30 minutes of work alone finish at 00:30.
    addOrder("DUE", 1, 300, "2030-01-01T02:00:00Z", 1800);
    forecast();
    EXPECT_TRUE(delayed().empty());

    // The queue grows: three rush units of 30 minutes go first (with a bed clear after each), so DUE runs
    // 01:33-02:03.
    addOrder("RUSH", 3, 300, "", 1800, "rush");
    forecast();
    EXPECT_EQ(delayed(), std::vector<std::string>{"2030-01-01T02:03:00.000Z late_by_s 180"});
    forecast();
    EXPECT_EQ(delayed().size(), 1u) << "once per crossing, not on every forecast";
    EXPECT_EQ(test::scalar(db_, "SELECT forecast_late FROM orders WHERE order_id = 'DUE'"), 1);

    // The rush order is cancelled: DUE is back on time (00:30), with more than the margin to spare.
    {
        Transaction txn(db_);   // as intake applies it, without the poke that would start DUE on the idle laser
        ASSERT_FALSE(store_.applyCommand({CommandKind::Cancel, "c-rush", "RUSH", "test", std::nullopt}));
        txn.commit();
    }
    forecast();
    EXPECT_EQ(delayed().size(), 1u);
    EXPECT_EQ(test::scalar(db_, "SELECT forecast_late FROM orders WHERE order_id = 'DUE'"), 0) << "armed again";

    // Time passes with nothing started: at 01:40 the same 30 minutes finish at 02:10.
    clock.now += 100 * 60 * 1000;
    forecast();
    EXPECT_EQ(delayed(), (std::vector<std::string>{"2030-01-01T02:03:00.000Z late_by_s 180",
                                                   "2030-01-01T02:10:00.000Z late_by_s 600"}));
    clock.now += 60 * 1000;
    forecast();
    EXPECT_EQ(delayed().size(), 2u) << "still late: no third delayed";
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM units"), 0) << "nothing was started";
    stopFloor();   // before the clock it reads goes
}

TEST_F(SchedulerTest, TheMachineViewFollowsAUnitFromRunningWithProgressToAwaitingClearAndSaysWhenItChanges) {
    addOrder("ORD-1", 2, 3000);
    startFloor();
    // Shared with the listener, which the scheduler may still call while the fixture stops it.
    auto changes = std::make_shared<int>(0);
    scheduler_->onMachineChange([changes] { ++*changes; });
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
    EXPECT_GT(*changes, 0) << "the start was reported";

    ASSERT_TRUE(runUntil([&] { return view().bay == Bay::AwaitingClear; }));
    v = view();
    ASSERT_TRUE(v.unit) << "the finished part is still on the bed";
    EXPECT_EQ(v.unit->unit, 1);
    EXPECT_DOUBLE_EQ(v.fraction, 1.0);
    EXPECT_DOUBLE_EQ(v.secondsLeft, 0);
    const int before = *changes;
    EXPECT_FALSE(scheduler_->clear("laser-1"));
    ASSERT_TRUE(runUntil([&] { return *changes > before; })) << "the clear was reported";
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

TEST_F(SchedulerTest, ProgressPointsAndTheEndOfAUnitAreToldAfterTheirMilestonesCommit) {
    addOrder("ORD-1", 1, 1000);
    startFloor();
    // Shared with the listener, which outlives this body until the fixture stops the scheduler.
    auto told = std::make_shared<std::vector<std::string>>();
    scheduler_->onUnitMilestone([this, told](const Scheduler::UnitMilestone& u) {
        EXPECT_EQ(u.machineId, "laser-1");
        EXPECT_EQ(u.unit.orderId, "ORD-1");
        EXPECT_EQ(u.unit.unit, 1);
        EXPECT_EQ(count("ORD-1", u.milestone), 1u) << "committed before it is told";
        told->push_back(u.milestone + " " + std::to_string(u.percent));
        if (u.milestone == "job_done") throw std::runtime_error("a listener that fails does not stop the floor");
    });
    ASSERT_TRUE(runUntil([&] { return count("ORD-1", "job_done") == 1; }));
    runUntil([] { return false; }, 100ms);
    EXPECT_EQ(*told, (std::vector<std::string>{"progress 50", "job_done 100"}));
    EXPECT_EQ(scheduler_->bay("laser-1"), Bay::AwaitingClear);
}

TEST_F(SchedulerTest, AUnitBeyondTheLasersSpindleRangeIsPassedOverWithOneEventAndTheWorkBehindItRuns) {
    // First in the queue (a due time), but its S500 is beyond this laser's $30 = 400.
    addOrder("STRONG", 2, 50, "2026-01-01T00:00:00Z");
    addOrder("WEAK", 1, 50);
    auto& weak = programs_["sha-WEAK"];
    for (std::size_t at; (at = weak.program.find("S500")) != std::string::npos;) weak.program.replace(at, 4, "S300");
    virt::GrblEmulatorOptions eo;
    eo.maxSpindle = 400;
    startFloor(eo);
    ASSERT_TRUE(runUntil([&] { return count("WEAK", "job_done") == 1; })) << ::testing::PrintToString(milestones("WEAK"));
    scheduler_->clear("laser-1");
    runUntil([] { return false; }, 500ms);
    EXPECT_EQ(count("STRONG", "production_started"), 0u);
    ASSERT_EQ(count("STRONG", "refused_by_machine"), 1u) << "once for the job, not per unit or per round";
    const auto data = lastData("STRONG", "refused_by_machine");
    EXPECT_EQ(data.at("machine").as_string(), "laser-1");
    EXPECT_EQ(data.at("unit").as_int64(), 1);
    EXPECT_EQ(data.at("reason").as_string(), "spindle_range");
    EXPECT_NE(data.at("message").as_string().find("$30 is 400"), boost::json::string::npos) << data.at("message");
    const auto v = scheduler_->machines().at(0);
    EXPECT_EQ(v.refusedJobs, 1u);
    ASSERT_TRUE(v.lastRefusal);
    EXPECT_EQ(v.lastRefusal->unit.orderId, "STRONG");
}

TEST_F(SchedulerTest, AFaultOutsideAJobIsAMachineFaultOnTheFloorTopicOncePerEpisode) {
    startFloor();
    ASSERT_TRUE(runUntil([&] { return scheduler_->machines().at(0).state == MachineState::Idle; }));
    const std::string faults = "SELECT COUNT(*) FROM events WHERE milestone = 'machine_fault' AND order_id IS NULL "
                               "AND topic = 'mto/v1/f1/events/_floor'";
    emulator_->injectAlarm(9);
    ASSERT_TRUE(runUntil([&] { return test::scalar(db_, faults) == 1; }));
    auto& st = db_.prepare("SELECT payload FROM events WHERE milestone = 'machine_fault'");
    ASSERT_TRUE(st.step());
    const auto data = boost::json::parse(st.columnText(0)).as_object().at("data").as_object();
    st.reset();
    EXPECT_EQ(data.at("machine").as_string(), "laser-1");
    EXPECT_EQ(data.at("reason").as_string(), "alarm");
    EXPECT_EQ(data.at("code").as_string(), "ALARM:9");
    EXPECT_NE(data.at("message").as_string().find("oming"), boost::json::string::npos) << data.at("message");
    // The same alarm again (its status reports, a second report) is the same episode.
    runUntil([] { return false; }, 500ms);
    EXPECT_EQ(test::scalar(db_, faults), 1);
    ASSERT_FALSE(scheduler_->unlock("laser-1"));
    ASSERT_TRUE(runUntil([&] { return scheduler_->machines().at(0).state == MachineState::Idle; }));
    emulator_->injectAlarm(9);
    ASSERT_TRUE(runUntil([&] { return test::scalar(db_, faults) == 2; })) << "after the machine was idle, news again";
}

} // namespace
} // namespace mto
