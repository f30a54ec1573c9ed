// SPDX-License-Identifier: Apache-2.0
// The control channel's status answer: one line of JSON that mtoctl reads back, and clear errors when it cannot.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "control/floor_view.hpp"
#include "mto/error.hpp"

namespace mto {
namespace {

FloorView twoMachines() {
    FloorView v;
    v.factory = "f1";
    v.at = "2026-11-26T05:30:00.000Z";
    v.machines.push_back({"laser-1", "laser-400", "laser", "running", "running", "", FloorJob{"ORD-1", "1", "laser_engrave", 2, 3, 57, 12.6}, ""});
    v.machines.push_back({"cnc-1", "cnc-600", "cnc", "needs_attention", "alarm", "ALARM:1\nhard limit",
                          FloorJob{"ORD-2", "4", "cnc_profile", 1, 0, 30, -1}, "alarm"});
    v.queue.push_back({"ORD-9", "1", "laser_engrave", "laser", 2, 3, true, "2026-12-01T10:00:00Z", 60.5});
    v.queuedSeconds = {{"cnc", 0}, {"laser", 181.5}};
    return v;
}

TEST(FloorView, TheStatusAnswerIsOneLineThatReadsBackTheSame) {
    const std::string json = floorViewJson(twoMachines());
    EXPECT_EQ(json.find('\n'), std::string::npos) << "the control channel answers in one line";
    const FloorView v = parseFloorView(json);
    EXPECT_EQ(v.factory, "f1");
    EXPECT_EQ(v.at, "2026-11-26T05:30:00.000Z");
    ASSERT_EQ(v.machines.size(), 2u);
    const auto& l = v.machines[0];
    EXPECT_EQ(l.id, "laser-1");
    EXPECT_EQ(l.profile, "laser-400");
    EXPECT_EQ(l.bay, "running");
    EXPECT_EQ(l.state, "running");
    ASSERT_TRUE(l.job);
    EXPECT_EQ(l.job->orderId, "ORD-1");
    EXPECT_EQ(l.job->unit, 2);
    EXPECT_EQ(l.job->qty, 3);
    EXPECT_EQ(l.job->percent, 57);
    EXPECT_DOUBLE_EQ(l.job->secondsLeft, 13) << "whole seconds";
    const auto& c = v.machines[1];
    EXPECT_EQ(c.detail, "ALARM:1\nhard limit");
    EXPECT_EQ(c.reason, "alarm");
    ASSERT_TRUE(c.job);
    EXPECT_EQ(c.job->qty, 0) << "unknown stays unknown";
    EXPECT_LT(c.job->secondsLeft, 0);
    ASSERT_EQ(v.queue.size(), 1u);
    EXPECT_EQ(v.queue[0].nextUnit, 2);
    EXPECT_TRUE(v.queue[0].rush);
    EXPECT_EQ(v.queue[0].dueBy, "2026-12-01T10:00:00Z");
    EXPECT_DOUBLE_EQ(v.queue[0].estimatedSeconds, 60.5);
    EXPECT_DOUBLE_EQ(v.queuedSeconds.at("laser"), 181.5);
    EXPECT_DOUBLE_EQ(v.queuedSeconds.at("cnc"), 0);
}

TEST(FloorView, AMachineWithoutAUnitHasANullJobAndReason) {
    FloorMachine m{"laser-1", "laser-400", "laser", "ready", "idle", "", std::nullopt, ""};
    const auto o = machineJson(m);
    EXPECT_TRUE(o.at("job").is_null());
    EXPECT_TRUE(o.at("reason").is_null());
    EXPECT_TRUE(o.at("detail").is_null());
    EXPECT_EQ(o.at("bay").as_string(), "ready");
}

TEST(FloorView, AMachineThatRefusedJobsSaysHowManyAndTheLastAndReadsBackTheSame) {
    FloorView v = twoMachines();
    v.machines[0].refused = FloorRefusal{3, "ORD-5", "2", "laser_engrave", 1, "spindle_range",
                                         "the program asks for S1000 but $30 is 500"};
    const auto o = machineJson(v.machines[0]);
    EXPECT_EQ(o.at("refused").at("jobs").as_int64(), 3);
    EXPECT_EQ(o.at("refused").at("reason").as_string(), "spindle_range");
    EXPECT_TRUE(machineJson(v.machines[1]).at("refused").is_null());
    const FloorView back = parseFloorView(floorViewJson(v));
    ASSERT_TRUE(back.machines[0].refused);
    EXPECT_EQ(back.machines[0].refused->jobs, 3u);
    EXPECT_EQ(back.machines[0].refused->orderId, "ORD-5");
    EXPECT_EQ(back.machines[0].refused->itemId, "2");
    EXPECT_EQ(back.machines[0].refused->operation, "laser_engrave");
    EXPECT_EQ(back.machines[0].refused->unit, 1);
    EXPECT_EQ(back.machines[0].refused->message, "the program asks for S1000 but $30 is 500");
    EXPECT_FALSE(back.machines[1].refused);
}

TEST(FloorView, AnAnswerFromAnAgentThatDoesNotSayWhatItsMachinesRefusedReadsAsNothingRefused) {
    const std::string json = floorViewJson(twoMachines());
    std::string older = json;
    for (std::size_t at; (at = older.find(",\"refused\":null")) != std::string::npos;) older.erase(at, 15);
    ASSERT_NE(older, json);
    const FloorView v = parseFloorView(older);
    EXPECT_FALSE(v.machines[0].refused);
}

TEST(FloorView, AnAnswerThatIsNotAStatusIsAClearError) {
    auto message = [](const std::string& text) {
        try {
            parseFloorView(text);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("<no error>");
    };
    EXPECT_NE(message("not json").find("not JSON"), std::string::npos) << message("not json");
    EXPECT_NE(message("[1]").find("not an object"), std::string::npos) << message("[1]");
    EXPECT_NE(message(R"({"factory":"f1","at":"x"})").find("no 'machines'"), std::string::npos);
    auto broken = boost::json::parse(floorViewJson(twoMachines())).as_object();
    broken["machines"].as_array()[0].as_object()["job"].as_object()["percent"] = "most";
    const std::string why = message(boost::json::serialize(broken));
    EXPECT_NE(why.find("machine laser-1: 'percent' is not a number"), std::string::npos) << why;
}

} // namespace
} // namespace mto
