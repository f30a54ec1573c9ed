// SPDX-License-Identifier: Apache-2.0
// A job a machine's driver refuses: that machine passes it over and takes other work, HQ is told once, and the
// job is offered again after the driver connects afresh or the configuration is reloaded.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "grbl_options.hpp"
#include "scheduler/scheduler.hpp"
#include "store_rig.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

using namespace std::chrono_literals;

// A program whose S words go as high as `maxS`; the sha names it.
JobArtifact refusalTestProgram(const std::string& sha, int maxS) {
    JobArtifact a;
    a.capability = "laser";
    a.format = "gcode-grbl";
    a.program = "G21 G90 G17 G94\nM4 S0\nG1 X10 Y10 S" + std::to_string(maxS) + " F3000\nM5 S0\nM2\n";
    a.sha256 = sha;
    a.estimatedSeconds = 1;
    return a;
}

// A GRBL-like machine whose spindle range ($30) the test sets: check() refuses programs asking for more, as the
// real driver does. A job finishes as soon as it is submitted. Thread-bound to the test's loop.
class SpindleRangeDriver final : public MachineDriver {
public:
    SpindleRangeDriver(boost::asio::io_context& io, DriverListener& listener, int maxS)
        : io_(io), listener_(listener), maxS_(maxS) {}

    void start() override {
        boost::asio::post(io_, [this] { setState(MachineState::Idle); });
    }
    void stop(std::function<void()> done) override { boost::asio::post(io_, std::move(done)); }
    MachineState state() const override { return state_; }
    const MachineIdentity& identity() const override { return identity_; }
    DriverCapabilities capabilities() const override { return {}; }
    std::optional<MachineFault> check(const JobArtifact& job) const override {
        ++checks;
        const auto s = job.program.find(" S", job.program.find("\nG1 "));
        const int asked = s == std::string::npos ? 0 : std::stoi(job.program.substr(s + 2));
        if (asked > maxS_)
            return MachineFault{"spindle_range", "",
                                "the program asks for S" + std::to_string(asked) + " but $30 is " + std::to_string(maxS_)};
        return std::nullopt;
    }
    void submit(const std::string& jobId, const JobArtifact&, std::uint64_t) override {
        submitted.push_back(jobId);
        setState(MachineState::Running);
        boost::asio::post(io_, [this, jobId] {
            listener_.jobFinished(jobId);
            setState(MachineState::Idle);
        });
    }
    void pause() override {}
    void resume() override {}
    void cancel() override {}
    void unlock() override {}

    // The operator changed $30 on the controller; the driver learns it only when it reads the settings again.
    void setSpindleMaxOnController(int maxS) { controllerMaxS_ = maxS; }
    // The link drops and comes back; the settings are read again on the way.
    void reconnect() {
        setState(MachineState::Disconnected);
        setState(MachineState::Connecting);
        maxS_ = controllerMaxS_.value_or(maxS_);
        setState(MachineState::Idle);
    }

    std::vector<std::string> submitted;
    mutable int checks = 0;

private:
    void setState(MachineState s) {
        if (s == state_) return;
        state_ = s;
        listener_.machineState(s, "");
    }

    boost::asio::io_context& io_;
    DriverListener& listener_;
    int maxS_;
    std::optional<int> controllerMaxS_;
    MachineState state_ = MachineState::Disconnected;
    MachineIdentity identity_{"Grbl", "1.1h", ""};
};

class SchedulerRefusalTest : public ::testing::Test, protected test::StoreRig {
protected:
    SchedulerRefusalTest() { catalog_.add({"COASTER", "Coaster"}); }

    // An order of one item of `qty` units whose program asks for S`maxS`.
    void addOrder(const std::string& id, int maxS, std::int64_t qty = 1, const std::string& priority = "standard") {
        const std::string p = R"({"order_id":")" + id + R"(","priority":")" + priority +
                              R"(","items":[{"item_id":"1","sku":"COASTER","qty":)" + std::to_string(qty) + "}]}";
        programs_["sha-" + id] = refusalTestProgram("sha-" + id, maxS);
        storeCompiled(p, {{"1", "laser_engrave", 0, "laser", "sha-" + id, "proof", 1, 5, "laser-400", "oak"}});
    }

    // Machines with these $30 values, in this order.
    void startFloor(const std::vector<std::pair<std::string, int>>& machines) {
        scheduler_ = std::make_unique<Scheduler>(io_, commits_, store_, queue_, loader(), clock_);
        scheduler_->setForecastTiming(1h, 1h);   // `scheduled` comes with the start here; no forecast runs
        for (const auto& [id, maxS] : machines)
            scheduler_->addMachine({id, "laser-400", "laser", {"oak"}}, [this, id = id, maxS = maxS](DriverListener& l) {
                auto d = std::make_unique<SpindleRangeDriver>(io_, l, maxS);
                drivers_[id] = d.get();
                return d;
            });
        scheduler_->start();
        scheduler_->poke();
    }

    void TearDown() override {
        if (!scheduler_) return;
        bool stopped = false;
        scheduler_->stop([&] { stopped = true; });
        test::runLoopUntil(io_, [&] { return stopped; }, 3s);
        scheduler_.reset();
    }

    bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
        return test::runLoopUntil(io_, done, limit);
    }
    // Runs the loop for a while, clearing every bed that waits, so finished work makes room for more.
    void runClearing(std::chrono::milliseconds d) {
        runUntil(
            [&] {
                for (const auto& v : scheduler_->machines())
                    if (v.bay == Bay::AwaitingClear) scheduler_->clear(v.machineId);
                return false;
            },
            d);
    }
    bool runClearingUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
        return runUntil(
            [&] {
                for (const auto& v : scheduler_->machines())
                    if (v.bay == Bay::AwaitingClear) scheduler_->clear(v.machineId);
                return done();
            },
            limit);
    }
    // Many dispatch rounds, as a busy floor makes them (every commit and state change pokes the scheduler).
    void dispatchRounds(int rounds) {
        for (int round = 0; round < rounds; ++round) {
            scheduler_->poke();
            io_.restart();
            io_.poll();
        }
    }

    std::vector<boost::json::object> dataOf(const std::string& orderId, const std::string& milestone) {
        std::vector<boost::json::object> out;
        for (const auto& e : store_.eventsForOrder(orderId))
            if (e.milestone == milestone) out.push_back(boost::json::parse(e.payload).as_object().at("data").as_object());
        return out;
    }
    std::size_t count(const std::string& orderId, const std::string& milestone) {
        return dataOf(orderId, milestone).size();
    }
    std::string machineOf(const std::string& orderId) {
        auto started = dataOf(orderId, "production_started");
        return started.empty() ? "" : std::string(started.front().at("machine").as_string());
    }
    const Scheduler::MachineView view(const std::string& machineId) {
        for (const auto& v : scheduler_->machines())
            if (v.machineId == machineId) return v;
        ADD_FAILURE() << "no machine " << machineId;
        return {};
    }

    std::unique_ptr<Scheduler> scheduler_;
    std::map<std::string, SpindleRangeDriver*> drivers_;
};

TEST_F(SchedulerRefusalTest, AMachineThatRefusesTheHeadOfTheQueueRunsTheWorkBehindIt) {
    addOrder("HOT", 1000, 1, "rush");   // first in the queue, beyond this laser's $30
    addOrder("COOL", 500);
    startFloor({{"laser-1", 800}});
    ASSERT_TRUE(runClearingUntil([&] { return count("COOL", "job_done") == 1; }, 3s))
        << "the unit behind the refused one never ran: the machine was blocked by the head of the queue";
    EXPECT_EQ(count("HOT", "production_started"), 0u);
    EXPECT_EQ(drivers_["laser-1"]->submitted, (std::vector<std::string>{"COOL/1/laser_engrave/1"}));
    EXPECT_EQ(store_.order("HOT")->state, "accepted") << "the refused unit stays queued";
}

TEST_F(SchedulerRefusalTest, AnotherMachineThatCanRunTheRefusedUnitRunsIt) {
    addOrder("HOT", 1000, 2);
    startFloor({{"laser-1", 800}, {"laser-2", 1000}});
    ASSERT_TRUE(runClearingUntil([&] { return count("HOT", "job_done") == 2; }));
    for (const auto& d : dataOf("HOT", "production_started")) EXPECT_EQ(d.at("machine").as_string(), "laser-2");
    EXPECT_TRUE(drivers_["laser-1"]->submitted.empty());
    const auto refused = dataOf("HOT", "refused_by_machine");
    ASSERT_EQ(refused.size(), 1u) << "once for the job, not once per unit";
    EXPECT_EQ(refused[0].at("machine").as_string(), "laser-1");
}

TEST_F(SchedulerRefusalTest, HqIsToldOncePerUnitAndMachineHoweverManyDispatchRoundsMeetIt) {
    addOrder("HOT", 1000, 3);
    addOrder("COOL", 500, 3);
    startFloor({{"laser-1", 800}});
    ASSERT_TRUE(runUntil([&] { return count("HOT", "refused_by_machine") == 1; }));
    dispatchRounds(50);
    runClearing(300ms);
    dispatchRounds(50);
    EXPECT_EQ(count("COOL", "job_done"), 3u);
    const auto refused = dataOf("HOT", "refused_by_machine");
    ASSERT_EQ(refused.size(), 1u);
    const auto& d = refused[0];
    EXPECT_EQ(d.at("machine").as_string(), "laser-1");
    EXPECT_EQ(d.at("operation").as_string(), "laser_engrave");
    EXPECT_EQ(d.at("unit").as_int64(), 1);
    EXPECT_EQ(d.at("reason").as_string(), "spindle_range");
    EXPECT_EQ(d.at("message").as_string(), "the program asks for S1000 but $30 is 800");
    EXPECT_EQ(count("COOL", "refused_by_machine"), 0u);
    EXPECT_EQ(drivers_["laser-1"]->checks, 4) << "the refused program is checked once, not on every round";
    // It is on the order's topic, about the item.
    auto& st = db_.prepare("SELECT topic, item_id FROM events WHERE milestone = 'refused_by_machine'");
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.columnText(0), "mto/v1/f1/events/HOT");
    EXPECT_EQ(st.columnText(1), "1");
    st.reset();

    const auto v = view("laser-1");
    EXPECT_EQ(v.refusedJobs, 1u);
    ASSERT_TRUE(v.lastRefusal);
    EXPECT_EQ(v.lastRefusal->unit.orderId, "HOT");
    EXPECT_EQ(v.lastRefusal->reason, "spindle_range");
}

TEST_F(SchedulerRefusalTest, AfterTheDriverReconnectsTheRefusedUnitIsTriedAgain) {
    addOrder("HOT", 1000);
    startFloor({{"laser-1", 800}});
    ASSERT_TRUE(runUntil([&] { return count("HOT", "refused_by_machine") == 1; }));

    // Reconnected with the same settings: tried and refused again, but HQ has heard that cause already (a
    // machine whose link flaps does not repeat it).
    int checks = drivers_["laser-1"]->checks;
    drivers_["laser-1"]->reconnect();
    ASSERT_TRUE(runUntil([&] { return drivers_["laser-1"]->checks == checks + 1 && view("laser-1").lastRefusal; }));
    dispatchRounds(20);
    EXPECT_EQ(count("HOT", "refused_by_machine"), 1u);
    EXPECT_EQ(view("laser-1").refusedJobs, 1u);

    // Reconnected with another $30 that still does not cover the job: a new cause, told.
    drivers_["laser-1"]->setSpindleMaxOnController(900);
    drivers_["laser-1"]->reconnect();
    ASSERT_TRUE(runUntil([&] { return count("HOT", "refused_by_machine") == 2; }));
    EXPECT_NE(dataOf("HOT", "refused_by_machine")[1].at("message"), dataOf("HOT", "refused_by_machine")[0].at("message"));

    // The operator raises $30; the driver knows only once it has read the settings again.
    drivers_["laser-1"]->setSpindleMaxOnController(1000);
    dispatchRounds(20);
    EXPECT_EQ(count("HOT", "production_started"), 0u);
    drivers_["laser-1"]->reconnect();
    ASSERT_TRUE(runClearingUntil([&] { return count("HOT", "job_done") == 1; }));
    EXPECT_EQ(machineOf("HOT"), "laser-1");
    EXPECT_EQ(view("laser-1").refusedJobs, 0u);
    EXPECT_FALSE(view("laser-1").lastRefusal);
}

TEST_F(SchedulerRefusalTest, AReloadedConfigurationOffersTheRefusedUnitsAgain) {
    addOrder("HOT", 1000);
    startFloor({{"laser-1", 800}});
    ASSERT_TRUE(runUntil([&] { return count("HOT", "refused_by_machine") == 1; }));
    const int checks = drivers_["laser-1"]->checks;
    scheduler_->forgetRefusals("the configuration was reloaded");
    ASSERT_TRUE(runUntil([&] { return drivers_["laser-1"]->checks == checks + 1 && view("laser-1").lastRefusal; }));
    dispatchRounds(20);
    EXPECT_EQ(count("HOT", "refused_by_machine"), 1u) << "the same cause: HQ knows";
}

TEST_F(SchedulerRefusalTest, AfterAnAgentRestartTheSameRefusalIsNotToldAgain) {
    addOrder("HOT", 1000);
    startFloor({{"laser-1", 800}});
    ASSERT_TRUE(runUntil([&] { return count("HOT", "refused_by_machine") == 1; }));
    bool stopped = false;
    scheduler_->stop([&] { stopped = true; });
    ASSERT_TRUE(runUntil([&] { return stopped; }));
    scheduler_.reset();

    // A new scheduler on the same store, as after a restart: it finds the refusal again through check().
    startFloor({{"laser-1", 800}});
    ASSERT_TRUE(runUntil([&] { return drivers_["laser-1"]->checks >= 1 && view("laser-1").lastRefusal; }));
    dispatchRounds(20);
    EXPECT_EQ(view("laser-1").refusedJobs, 1u);
    EXPECT_EQ(count("HOT", "refused_by_machine"), 1u);
}

TEST_F(SchedulerRefusalTest, AMachineRefusingALongStretchOfTheQueueStillFindsTheWorkBehindIt) {
    for (int i = 0; i < 30; ++i) addOrder("HOT-" + std::to_string(i), 1000, 1, "rush");
    addOrder("COOL", 500);
    startFloor({{"laser-1", 800}});
    ASSERT_TRUE(runClearingUntil([&] { return count("COOL", "job_done") == 1; }));
    for (int i = 0; i < 30; ++i) EXPECT_EQ(count("HOT-" + std::to_string(i), "refused_by_machine"), 1u) << i;
    EXPECT_EQ(view("laser-1").refusedJobs, 30u);
}

TEST_F(SchedulerRefusalTest, TheQueuePassesOverARefusedJobOnlyWhileItKeepsTheProgramThatWasRefused) {
    addOrder("HOT", 1000, 1, "rush");
    addOrder("COOL", 500);
    const MachineSlot laser{"laser-1", "laser-400", "laser", {"oak"}};
    ASSERT_EQ(queue_.nextFor(laser)->orderId, "HOT");
    RefusedJobs refused{{JobKey{"HOT", "1", "laser_engrave"}, "sha-HOT"}};
    ASSERT_EQ(queue_.nextFor(laser, refused)->orderId, "COOL");
    refused[JobKey{"COOL", "1", "laser_engrave"}] = "sha-COOL";
    EXPECT_FALSE(queue_.nextFor(laser, refused));
    refused[JobKey{"HOT", "1", "laser_engrave"}] = "sha-of-an-older-compile";
    EXPECT_EQ(queue_.nextFor(laser, refused)->orderId, "HOT") << "compiled again since: worth a new check";
}

} // namespace
} // namespace mto
