// SPDX-License-Identifier: Apache-2.0
// The retained status: machines with their state, bay and unit go out with the backlog; the will says less.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "uplink/status_report.hpp"

namespace mto {
namespace {

StatusInputs online() {
    StatusInputs in;
    in.state = "online";
    in.factory = "f1";
    in.nowMs = 1'780'000'000'000;
    in.queuedWorkSeconds = {{"laser", 5400}};
    in.machines.push_back({"laser-1", "laser-400", "laser", "running", "running", "", FloorJob{"ORD-1", "1", "laser_engrave", 1, 2, 40, 90.4}, ""});
    in.machines.push_back({"laser-2", "laser-400", "laser", "needs_attention", "alarm", "ALARM:1",
                           FloorJob{"ORD-2", "1", "laser_engrave", 1, 0, 10, -1}, "alarm"});
    in.machines.push_back({"cnc-1", "cnc-600", "cnc", "ready", "idle", "", std::nullopt, ""});
    return in;
}

TEST(StatusReport, EachMachineGoesOutWithItsStateBayUnitProgressAndReason) {
    const auto o = boost::json::parse(statusPayload(online())).as_object();
    EXPECT_DOUBLE_EQ(o.at("queued_hours").at("laser").to_number<double>(), 1.5);
    const auto& machines = o.at("machines").as_array();
    ASSERT_EQ(machines.size(), 3u);

    const auto& running = machines[0].as_object();
    EXPECT_EQ(running.at("id").as_string(), "laser-1");
    EXPECT_EQ(running.at("capability").as_string(), "laser");
    EXPECT_EQ(running.at("state").as_string(), "running");
    EXPECT_EQ(running.at("bay").as_string(), "running");
    EXPECT_TRUE(running.at("reason").is_null());
    const auto& job = running.at("job").as_object();
    EXPECT_EQ(job.at("order_id").as_string(), "ORD-1");
    EXPECT_EQ(job.at("item_id").as_string(), "1");
    EXPECT_EQ(job.at("operation").as_string(), "laser_engrave");
    EXPECT_EQ(job.at("unit").as_int64(), 1);
    EXPECT_EQ(job.at("qty").as_int64(), 2);
    EXPECT_EQ(job.at("percent").as_int64(), 40);
    EXPECT_EQ(job.at("seconds_left").as_int64(), 90);

    const auto& stopped = machines[1].as_object();
    EXPECT_EQ(stopped.at("bay").as_string(), "needs_attention");
    EXPECT_EQ(stopped.at("reason").as_string(), "alarm");
    EXPECT_TRUE(stopped.at("job").at("qty").is_null());
    EXPECT_TRUE(stopped.at("job").at("seconds_left").is_null());

    EXPECT_TRUE(machines[2].at("job").is_null());
}

TEST(StatusReport, TheOfflineWillNamesNoMachines) {
    StatusInputs in = online();
    in.state = "offline";
    const auto o = boost::json::parse(statusPayload(in)).as_object();
    EXPECT_FALSE(o.contains("machines"));
    EXPECT_EQ(o.at("state").as_string(), "offline");
}

TEST(StatusReport, AFloorWithoutMachinesHasAnEmptyList) {
    StatusInputs in = online();
    in.machines.clear();
    const auto o = boost::json::parse(statusPayload(in)).as_object();
    ASSERT_TRUE(o.at("machines").is_array());
    EXPECT_TRUE(o.at("machines").as_array().empty());
}

TEST(StatusReport, EachScannerGoesOutWithWhetherItIsConnectedAndWhyNot) {
    StatusInputs in = online();
    in.scanners.push_back({"pack-1", "evdev", "packing", "/dev/input/event3", true, "evdev, grabbed", 12});
    in.scanners.push_back({"bay", "serial", "laser bay", "/dev/ttyACM0", false, "cannot open: No such file or directory", 0});
    in.scanners.push_back({"script", "line", "script", "127.0.0.1:7781", true, "", 0});
    const auto o = boost::json::parse(statusPayload(in)).as_object();
    const auto& scanners = o.at("scanners").as_array();
    ASSERT_EQ(scanners.size(), 3u);
    EXPECT_EQ(scanners[0].at("id"), "pack-1");
    EXPECT_EQ(scanners[0].at("kind"), "evdev");
    EXPECT_EQ(scanners[0].at("station"), "packing");
    EXPECT_TRUE(scanners[0].at("connected").as_bool());
    EXPECT_FALSE(scanners[1].at("connected").as_bool());
    EXPECT_EQ(scanners[1].at("detail"), "cannot open: No such file or directory");
    EXPECT_TRUE(scanners[2].at("detail").is_null());
    in.state = "offline";
    EXPECT_FALSE(boost::json::parse(statusPayload(in)).as_object().contains("scanners")) << "not in the will";
}

} // namespace
} // namespace mto
