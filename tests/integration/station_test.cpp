// SPDX-License-Identifier: Apache-2.0
// The station display of the real agent: a page following its laser bay sees the emulated laser run a unit
// and wait for its bed to be cleared, while HQ's status still follows the machine too.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <csignal>
#include <filesystem>
#include <optional>
#include <string>

#include "agent_rig.hpp"
#include "station_client.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

// laser-1 as a page's snapshot shows it, or nullopt.
std::optional<json::object> laserIn(const std::string& data) {
    const auto v = json::parse(data);
    for (const auto& m : v.at("floor").at("machines").as_array())
        if (m.at("id") == "laser-1") return m.as_object();
    return std::nullopt;
}

class Station : public ::testing::Test {
protected:
    void SetUp() override {
        const auto sim = std::filesystem::path(agentBinary()).parent_path() / "mto-machine-sim";
        ASSERT_TRUE(std::filesystem::exists(sim)) << sim;
        port_ = (simDir_.path() / "laser-1").string();
        sim_.start({sim.string(), "--grbl", port_, "--laser", "--speed", "2"}, simDir_.path() / "sim.log");
        ASSERT_TRUE(waitUntil([&] { return std::filesystem::exists(port_); }, 10s));
        stationPort_ = freeTcpPort();
        AgentRigOptions o;
        o.agent.compile = true;
        o.agent.extraConfig = "[[machines]]\nid = \"laser-1\"\nprofile = \"laser-400\"\nport = \"" + port_ +
                              "\"\nstatus_running_ms = 100\nstatus_idle_ms = 500\n"
                              "[station]\nlisten = \"127.0.0.1:" + std::to_string(stationPort_) + "\"\n"
                              "[[station.stations]]\nid = \"laser-bay\"\nname = \"Laser bay\"\nmachines = [\"laser-1\"]\n";
        o.hqBeforeAgent = true;
        rig_ = std::make_unique<AgentRig>(o);
        ASSERT_TRUE(waitForPort(stationPort_, 10s)) << rig_->agent().log();
    }
    void TearDown() override {
        rig_.reset();
        sim_.signal(SIGTERM);
        sim_.wait(5s);
    }

    TempDir simDir_;
    std::string port_;
    int stationPort_ = 0;
    Process sim_;
    std::unique_ptr<AgentRig> rig_;
};

TEST_F(Station, APageFollowingTheLaserBaySeesTheUnitRunAndThenWaitForTheBedClear) {
    EventStreamClient page(stationPort_, "/station/laser-bay/events");
    auto first = page.next(10s);
    ASSERT_TRUE(first) << rig_->agent().log();
    auto laser = laserIn(*first);
    ASSERT_TRUE(laser) << *first;
    EXPECT_EQ(laser->at("bay"), "ready");
    EXPECT_EQ(json::parse(*first).at("station").at("name"), "Laser bay");

    rig_->hq().sendOrder("ORD-1", R"({"order_id":"ORD-1","items":[{"item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":1,"personalization":{"text":"Ada"}}]})");

    // Every push of the page, in order, until the bed waits to be cleared.
    std::vector<std::string> bays;
    std::optional<json::object> running;
    int progressUpdates = 0;
    int lastPercent = -1;
    const auto deadline = std::chrono::steady_clock::now() + 90s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto data = page.next(20s);
        ASSERT_TRUE(data) << "the page heard nothing for 20 s; bays so far: " << ::testing::PrintToString(bays) << "\n"
                          << rig_->agent().log();
        laser = laserIn(*data);
        ASSERT_TRUE(laser);
        const std::string bay(laser->at("bay").as_string());
        if (bays.empty() || bays.back() != bay) bays.push_back(bay);
        if (bay == "running" && laser->at("job").is_object()) {
            if (!running) running = laser;
            const int percent = static_cast<int>(laser->at("job").at("percent").as_int64());
            if (percent != lastPercent) ++progressUpdates;
            lastPercent = percent;
        }
        if (bay == "awaiting_clear") break;
    }
    ASSERT_FALSE(bays.empty());
    EXPECT_EQ(bays.back(), "awaiting_clear") << ::testing::PrintToString(bays);
    ASSERT_TRUE(running) << "never saw it running: " << ::testing::PrintToString(bays);
    EXPECT_EQ(running->at("job").at("order_id"), "ORD-1");
    EXPECT_EQ(running->at("job").at("item_id"), "1");
    EXPECT_GE(progressUpdates, 1);
    EXPECT_EQ(std::count(bays.begin(), bays.end(), "running"), 1) << ::testing::PrintToString(bays);
    EXPECT_LT(std::find(bays.begin(), bays.end(), "running") - bays.begin(),
              std::find(bays.begin(), bays.end(), "awaiting_clear") - bays.begin());

    // The uplink's status follows the machine as before: both listen to the scheduler.
    ASSERT_TRUE(waitUntil([&] { return rig_->hq().lastStatus().find("awaiting_clear") != std::string::npos; }, 5s))
        << rig_->hq().lastStatus();

    // The same agent refuses what it does not serve, and every other method.
    EXPECT_EQ(httpGet(stationPort_, "/station/packing").status, 404);
    EXPECT_EQ(httpRequest(stationPort_, "POST", "/station/laser-bay").status, 405);
    EXPECT_EQ(httpGet(stationPort_, "/media/" + std::string(64, '0') + ".jpg").status, 404);
    const auto page2 = httpGet(stationPort_, "/station/laser-bay");
    EXPECT_EQ(page2.status, 200);
    EXPECT_NE(page2.body.find("awaiting_clear"), std::string::npos) << "the page starts from the current state";
}

} // namespace
} // namespace mto::test
