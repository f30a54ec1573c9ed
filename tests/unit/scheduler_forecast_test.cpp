// SPDX-License-Identifier: Apache-2.0
// The scheduler's forecast over the store: what HQ hears of it (`scheduled`, `delayed`), a deep queue announced a
// bounded batch at a time, and lateness of an order whose work is all running.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <variant>
#include <vector>

#include "grbl_options.hpp"
#include "scheduler/scheduler.hpp"
#include "scripted_driver.hpp"
#include "store_rig.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

using namespace std::chrono_literals;

// The scheduler's clock: time moves only when the test says.
class TestClock final : public Clock {
public:
    std::int64_t nowMs() const override { return now; }
    std::int64_t now = 1'893'456'000'000;   // 2030-01-01T00:00:00Z
};

class SchedulerForecastTest : public ::testing::Test, protected test::StoreRig {
protected:
    SchedulerForecastTest() {
        catalog_.add({"COASTER", "Coaster"});
        programs_["sha"] = program();
        scheduler_ = std::make_unique<Scheduler>(io_, commits_, store_, queue_, loader(), testClock_);
        scheduler_->addMachine({"laser-1", "laser-400", "laser", {"oak"}}, [this](DriverListener& l) {
            auto d = std::make_unique<test::ScriptedDriver>(l);
            driver_ = d.get();
            return d;
        });
        scheduler_->setForecastTiming(1h, 1h);   // forecasts run when the test asks
        scheduler_->setForecastOptions({60});
    }
    void TearDown() override {
        bool stopped = false;
        scheduler_->stop([&] { stopped = true; });
        test::runLoopUntil(io_, [&] { return stopped; }, 3s);
        scheduler_.reset();
    }

    static JobArtifact program() {
        JobArtifact a;
        a.capability = "laser";
        a.format = "gcode-grbl";
        a.program = "G21 G90 G17 G94\nM4 S0\nG1 X10 Y10 S500 F3000\nM5 S0\nM2\n";
        a.sha256 = "sha";
        a.estimatedSeconds = 1800;
        return a;
    }
    // An order of `items` items of one unit each, `estimateS` seconds per unit; item ids 001, 002, … in queue order.
    void addOrder(const std::string& id, int items, double estimateS, const std::string& dueBy = "") {
        std::string p = R"({"order_id":")" + id + R"(","priority":"standard")";
        if (!dueBy.empty()) p += R"(,"due_by":")" + dueBy + "\"";
        p += R"(,"items":[)";
        std::vector<CompiledJob> jobs;
        for (int i = 1; i <= items; ++i) {
            const std::string item = itemId(i);
            p += std::string(i > 1 ? "," : "") + R"({"item_id":")" + item + R"(","sku":"COASTER","qty":1})";
            jobs.push_back({item, "laser_engrave", 0, "laser", "sha", "proof", estimateS, 5, "laser-400", "oak"});
        }
        p += "]}";
        storeCompiled(p, jobs);
    }
    static std::string itemId(int i) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "%03d", i);
        return buf;
    }
    // One forecast and its commit.
    bool forecast() {
        const bool more = scheduler_->runForecast();
        io_.restart();
        io_.poll();
        io_.restart();
        return more;
    }
    std::vector<boost::json::object> dataOf(const std::string& orderId, const std::string& milestone) {
        std::vector<boost::json::object> out;
        for (const auto& e : store_.eventsForOrder(orderId))
            if (e.milestone == milestone)
                out.push_back(boost::json::parse(e.payload).as_object().at("data").as_object());
        return out;
    }

    TestClock testClock_;
    std::unique_ptr<Scheduler> scheduler_;
    test::ScriptedDriver* driver_ = nullptr;
};

TEST_F(SchedulerForecastTest, ADeepQueueIsAnnouncedABoundedBatchPerForecastHeadFirst) {
    const int jobs = static_cast<int>(Scheduler::writesPerForecast) + 200;
    addOrder("BULK", jobs, 60);
    auto announced = [&] {
        return test::scalar(db_, "SELECT COUNT(*) FROM jobs WHERE scheduled_machine IS NOT NULL");
    };

    EXPECT_TRUE(forecast()) << "more to tell than one forecast writes";
    EXPECT_EQ(dataOf("BULK", "scheduled").size(), Scheduler::writesPerForecast);
    EXPECT_EQ(announced(), static_cast<std::int64_t>(Scheduler::writesPerForecast));
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM jobs WHERE scheduled_machine IS NOT NULL AND item_id > '" +
                                    itemId(static_cast<int>(Scheduler::writesPerForecast)) + "'"),
              0)
        << "the head of the queue is told first";

    EXPECT_FALSE(forecast()) << "the rest fits in the next forecast";
    EXPECT_EQ(dataOf("BULK", "scheduled").size(), static_cast<std::size_t>(jobs));
    EXPECT_FALSE(forecast());
    EXPECT_EQ(dataOf("BULK", "scheduled").size(), static_cast<std::size_t>(jobs)) << "once per job";

    // The last job: after every unit before it and a bed clear after each, on the one laser.
    const auto last = dataOf("BULK", "scheduled").back();
    EXPECT_EQ(last.at("estimated_start").as_string(), formatRfc3339Ms(testClock_.now + (jobs - 1) * 120'000LL));
}

TEST_F(SchedulerForecastTest, AnOrderWhoseOnlyWorkIsRunningIsDelayedWhenTheRunEndsAfterItsDueTime) {
    // Due at 00:10; its one unit of 30 minutes starts at 00:00.
    addOrder("DUE", 1, 1800, "2030-01-01T00:10:00Z");
    scheduler_->start();
    scheduler_->poke();
    ASSERT_TRUE(test::runLoopUntil(io_, [&] { return driver_->submitted().size() == 1; }, 5s));
    ASSERT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND started_units < qty"), 0)
        << "nothing of it is queued any more";

    forecast();
    const auto delayed = dataOf("DUE", "delayed");
    ASSERT_EQ(delayed.size(), 1u);
    EXPECT_EQ(delayed[0].at("estimated_finish").as_string(), "2030-01-01T00:30:00.000Z");
    EXPECT_EQ(delayed[0].at("late_by_s").as_int64(), 1200);
    forecast();
    EXPECT_EQ(dataOf("DUE", "delayed").size(), 1u) << "once per crossing";
}

} // namespace
} // namespace mto
