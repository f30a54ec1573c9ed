// SPDX-License-Identifier: Apache-2.0
// Orders become physical work: the real agent, a real broker and HQ, and an emulated GRBL laser from
// mto-machine-sim on a pty; the operator clears the bed with mtoctl.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <string>
#include <thread>

#include "agent_rig.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

using namespace std::chrono_literals;

std::size_t countOf(HqClient& hq, const std::string& orderId, const std::string& milestone) {
    std::size_t n = 0;
    for (const auto& e : hq.events()) n += e.orderId == orderId && e.milestone == milestone;
    return n;
}

class Machines : public ::testing::Test {
protected:
    void SetUp() override {
        const auto sim = std::filesystem::path(agentBinary()).parent_path() / "mto-machine-sim";
        ASSERT_TRUE(std::filesystem::exists(sim)) << sim;
        port_ = (simDir_.path() / "laser-1").string();
        sim_.start({sim.string(), "--grbl", port_, "--laser", "--speed", "100"}, simDir_.path() / "sim.log");
        ASSERT_TRUE(waitUntil([&] { return std::filesystem::exists(port_); }, 10s));
        AgentRigOptions o;
        o.agent.compile = true;
        o.agent.extraConfig = "[[machines]]\nid = \"laser-1\"\nprofile = \"laser-400\"\nport = \"" + port_ +
                              "\"\nstatus_running_ms = 100\nstatus_idle_ms = 500\n";
        o.hqBeforeAgent = true;
        rig_ = std::make_unique<AgentRig>(o);
    }
    void TearDown() override {
        rig_.reset();
        sim_.signal(SIGTERM);
        sim_.wait(5s);
    }
    void sendCoasters(const std::string& id, int qty) {
        rig_->hq().sendOrder(id, R"({"order_id":")" + id +
                                     R"(","items":[{"item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":)" +
                                     std::to_string(qty) + R"(,"personalization":{"text":"Ada"}}]})");
    }

    TempDir simDir_;
    std::string port_;
    Process sim_;
    std::unique_ptr<AgentRig> rig_;
};

TEST_F(Machines, AnOrderRunsOnTheLaserUnitByUnitAndTheOperatorClearsTheBedInBetween) {
    sendCoasters("ORD-1", 2);
    auto& hq = rig_->hq();
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "job_done") == 1; }, 60s)) << rig_->agent().log();
    EXPECT_EQ(countOf(hq, "ORD-1", "production_started"), 1u);
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(countOf(hq, "ORD-1", "production_started"), 1u) << "the second unit waits for the bed";

    std::string out;
    EXPECT_EQ(rig_->mtoctl({"clear", "laser-9"}, out), 1) << out;
    EXPECT_NE(out.find("no machine laser-9"), std::string::npos) << out;
    ASSERT_EQ(rig_->mtoctl({"clear", "laser-1"}, out), 0) << out;
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "job_done") == 2; }, 60s)) << rig_->agent().log();
    EXPECT_EQ(countOf(hq, "ORD-1", "production_started"), 2u);
    EXPECT_EQ(rig_->mtoctl({"clear", "laser-1"}, out), 0) << out;
    EXPECT_EQ(rig_->mtoctl({"clear", "laser-1"}, out), 1) << "already clear: " << out;
    EXPECT_EQ(rig_->scalar("SELECT COUNT(*) FROM units WHERE state = 'done'"), 2);
    EXPECT_EQ(rig_->scalar("SELECT COUNT(*) FROM orders WHERE order_id = 'ORD-1' AND state = 'in_production'"), 1);
}

TEST_F(Machines, AStopDuringAJobInterruptsItAndOnlyTheOperatorsRestartRunsItAgain) {
    sendCoasters("ORD-1", 1);
    auto& hq = rig_->hq();
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "production_started") == 1; }, 60s)) << rig_->agent().log();
    rig_->agent().stop();   // SIGTERM: the agent holds and resets the machine, records the interruption
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "interrupted") == 1; }, 20s)) << rig_->agent().log();
    rig_->agent().start();
    rig_->waitForOnline();
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(countOf(hq, "ORD-1", "production_started"), 1u) << "nothing restarts physical work by itself";
    EXPECT_EQ(countOf(hq, "ORD-1", "job_done"), 0u);
    EXPECT_EQ(rig_->scalar("SELECT COUNT(*) FROM machines WHERE bay = 'needs_attention'"), 1);

    // The operator takes the half-made part off and decides to run the unit again.
    std::string out;
    EXPECT_EQ(rig_->mtoctl({"clear", "laser-1"}, out), 1) << "not a finished job: " << out;
    ASSERT_EQ(rig_->mtoctl({"restart", "laser-1"}, out), 0) << out;
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "job_done") == 1; }, 60s)) << rig_->agent().log();
    EXPECT_EQ(countOf(hq, "ORD-1", "production_started"), 2u);
    EXPECT_EQ(rig_->mtoctl({"restart", "laser-1"}, out), 1) << "nothing left to restart: " << out;
}

TEST_F(Machines, AfterAnInterruptionResumeIsRefusedOnGrblAndAScrappedUnitIsMadeAgain) {
    sendCoasters("ORD-1", 1);
    auto& hq = rig_->hq();
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "production_started") == 1; }, 60s)) << rig_->agent().log();
    rig_->agent().stop();
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "interrupted") == 1; }, 20s)) << rig_->agent().log();
    rig_->agent().start();
    rig_->waitForOnline();

    std::string out;
    EXPECT_EQ(rig_->mtoctl({"resume", "laser-1"}, out), 1) << out;
    EXPECT_NE(out.find("cannot continue a program from a line"), std::string::npos) << out;
    ASSERT_EQ(rig_->mtoctl({"scrap", "laser-1"}, out), 0) << out;
    EXPECT_NE(out.find("clear the bed"), std::string::npos) << out;
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "scrapped") == 1; }, 20s)) << rig_->agent().log();
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(countOf(hq, "ORD-1", "production_started"), 1u) << "the scrapped part is still on the bed";
    ASSERT_EQ(rig_->mtoctl({"clear", "laser-1"}, out), 0) << out;
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "job_done") == 1; }, 60s)) << rig_->agent().log();
    EXPECT_EQ(countOf(hq, "ORD-1", "production_started"), 2u);
    EXPECT_EQ(rig_->scalar("SELECT attempt FROM units WHERE order_id = 'ORD-1' AND state = 'done'"), 2);
    EXPECT_EQ(rig_->mtoctl({"scrap", "laser-9"}, out), 1) << out;
}

} // namespace
} // namespace mto::test
