// SPDX-License-Identifier: Apache-2.0
// The real agent process driving GRBL emulators that live in the test (a pty each, on a thread of their own), so
// the test sees what reaches the controller: a laser job killed with kill -9, a CNC order carved and cut out.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "agent_rig.hpp"
#include "control/control_server.hpp"
#include "control/floor_view.hpp"
#include "grbl_on_thread.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

using namespace std::chrono_literals;

// The driver's state of the agent's first machine as its control channel tells it; "" when the agent does not
// answer (starting, or gone).
std::string grblAgentDriverState(AgentRig& rig) {
    try {
        const std::string reply = controlRequest(rig.agent().stateDir() / "control.sock", "status", 2s);
        if (reply.rfind("ok ", 0) != 0) return "";
        const FloorView view = parseFloorView(reply.substr(3));
        return view.machines.empty() ? "" : view.machines[0].state;
    } catch (const std::exception&) {
        return "";
    }
}

std::vector<SeenEvent> grblAgentEvents(HqClient& hq, const std::string& orderId, const std::string& milestone) {
    std::vector<SeenEvent> out;
    for (auto& e : hq.events())
        if (e.orderId == orderId && e.milestone == milestone) out.push_back(std::move(e));
    return out;
}

class GrblAgent : public ::testing::Test {
protected:
    // One machine of the shipped catalog's `profile` on the emulator at `port`, polled often enough for a test.
    static AgentRigOptions agentWith(const std::string& id, const std::string& profile, const std::string& port,
                                     unsigned baud = 115200) {
        AgentRigOptions o;
        o.agent.compile = true;
        o.agent.extraConfig = "[[machines]]\nid = \"" + id + "\"\nprofile = \"" + profile + "\"\nport = \"" + port +
                              "\"\nbaud = " + std::to_string(baud) + "\nstatus_running_ms = 100\nstatus_idle_ms = 500\n";
        o.hqBeforeAgent = true;
        return o;
    }
    std::string linkPath(const std::string& name) const { return (dir_.path() / name).string(); }

    TempDir dir_;
};

TEST_F(GrblAgent, AKillNineMidJobLeavesTheUnitInterruptedAndNoLineReachesTheLaserUntilTheOperatorRestartsIt) {
    virt::GrblEmulatorOptions eo;
    eo.linkPath = linkPath("laser-1");
    eo.laserMode = true;
    eo.speedFactor = 20;   // a coaster takes a few seconds here: long enough to be killed in the middle
    GrblOnThread laser(eo);
    auto linesReceived = [&] { return laser.run([](virt::GrblEmulator& e) { return e.gcodeLinesReceived(); }); };

    AgentRig rig(agentWith("laser-1", "laser-400", eo.linkPath));
    auto& hq = rig.hq();
    hq.sendOrder("K-1", R"({"order_id":"K-1","items":[{"item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":1,)"
                        R"("personalization":{"text":"Ada Lovelace"}}]})");
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "K-1", "production_started") == 1 && linesReceived() > 30; }, 60s))
        << rig.agent().log();
    ASSERT_EQ(laser.run([](virt::GrblEmulator& e) { return e.state(); }), "Run") << "killed mid-job";
    rig.agent().kill9();
    EXPECT_EQ(countOf(hq, "K-1", "job_done"), 0u) << "the unit was still running when the agent died";
    // What was already in the controller's buffer still runs out; then it sits idle with nobody on the line, and
    // every line it will take from now on comes from the restarted agent.
    ASSERT_TRUE(waitUntil(
        [&] {
            return laser.run([](virt::GrblEmulator& e) { return !e.hostConnected() && e.state() == "Idle"; });
        },
        20s));
    const auto linesOfTheFirstRun = linesReceived();

    rig.agent().start();
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "K-1", "interrupted") == 1; }, 30s)) << rig.agent().log();
    const auto interrupted = grblAgentEvents(hq, "K-1", "interrupted").at(0);
    EXPECT_EQ(interrupted.data.at("reason").as_string(), "agent_restarted");
    EXPECT_EQ(interrupted.data.at("machine").as_string(), "laser-1");
    EXPECT_EQ(interrupted.data.at("unit").as_int64(), 1);
    ASSERT_TRUE(waitUntil([&] { return grblAgentDriverState(rig) == "idle"; }, 20s))
        << "the restarted agent connects to the laser and identifies it\n"
        << rig.agent().log();
    EXPECT_EQ(rig.scalar("SELECT COUNT(*) FROM machines WHERE machine_id = 'laser-1' AND bay = 'needs_attention'"), 1);

    // Connected, identified and idle a while: the controller has had $I and $$ and not one line of G-code.
    const auto position = laser.run([](virt::GrblEmulator& e) { return e.position(); });
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(linesReceived(), linesOfTheFirstRun) << "nothing is streamed until the operator decides";
    EXPECT_EQ(laser.run([](virt::GrblEmulator& e) { return e.position(); }), position) << "the laser did not move";
    EXPECT_EQ(countOf(hq, "K-1", "production_started"), 1u);
    std::string out;
    EXPECT_EQ(rig.mtoctl({"clear", "laser-1"}, out), 1) << "not a finished job: " << out;

    ASSERT_EQ(rig.mtoctl({"restart", "laser-1"}, out), 0) << out;
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "K-1", "job_done") == 1; }, 60s)) << rig.agent().log();
    EXPECT_GE(linesReceived() - linesOfTheFirstRun, linesOfTheFirstRun)
        << "the restart ran the whole program again, from its first line";
    const auto starts = grblAgentEvents(hq, "K-1", "production_started");
    ASSERT_EQ(starts.size(), 2u);
    EXPECT_TRUE(starts[1].data.at("restart").as_bool());
    EXPECT_EQ(countOf(hq, "K-1", "interrupted"), 1u);
    EXPECT_EQ(rig.scalar("SELECT COUNT(*) FROM units WHERE order_id = 'K-1' AND state = 'done'"), 1);
}

TEST_F(GrblAgent, ACncCoasterIsCarvedAndCutOutOnTheRouterToJobDoneForBothSteps) {
    virt::GrblEmulatorOptions eo;
    eo.linkPath = linkPath("cnc-1");
    eo.laserMode = false;    // $32=0: a spindle machine
    eo.maxSpindle = 24000;   // $30 above the pine's 18,000 rpm
    eo.maxTravel[0] = 600;   // $130..$132 hold the cnc-600 profile: 600 x 400 x 50 mm
    eo.speedFactor = 1000;
    // The cut-out is some 2,900 short lines: at 115200 baud the line alone would take five seconds of the test.
    eo.baud = 1000000;
    GrblOnThread router(eo);
    auto lowestZ = [&] { return router.run([](virt::GrblEmulator& e) { return e.lowestZ(); }); };

    AgentRig rig(agentWith("cnc-1", "cnc-600", eo.linkPath, eo.baud));
    auto& hq = rig.hq();
    hq.sendOrder("C-1", R"({"order_id":"C-1","items":[{"item_id":"1","sku":"COASTER-PINE-CNC","qty":1,)"
                        R"("personalization":{"text":"AB"}}]})");
    auto doneOrInterrupted = [&](std::size_t done) {
        return countOf(hq, "C-1", "job_done") == done || countOf(hq, "C-1", "interrupted") > 0;
    };
    ASSERT_TRUE(waitUntil([&] { return doneOrInterrupted(1); }, 120s)) << rig.agent().log();
    ASSERT_EQ(countOf(hq, "C-1", "job_done"), 1u) << rig.agent().log();
    EXPECT_EQ(grblAgentEvents(hq, "C-1", "job_done").at(0).data.at("operation").as_string(), "cnc_engrave");
    EXPECT_LT(lowestZ(), -0.3) << "the V-bit went into the wood";
    EXPECT_GE(router.run([](virt::GrblEmulator& e) { return e.highestSpindle(); }), 18000) << "at the pine's speed";
    EXPECT_EQ(router.run([](virt::GrblEmulator& e) { return e.spindleOutput(); }), 0) << "and stopped at the end";

    // The part stays on the bed for the cut-out: the operator clears it (as after every job) and the cut runs.
    std::string out;
    ASSERT_EQ(rig.mtoctl({"clear", "cnc-1"}, out), 0) << out;
    ASSERT_TRUE(waitUntil([&] { return doneOrInterrupted(2); }, 120s)) << rig.agent().log();
    ASSERT_EQ(countOf(hq, "C-1", "job_done"), 2u) << rig.agent().log();
    EXPECT_EQ(grblAgentEvents(hq, "C-1", "job_done").at(1).data.at("operation").as_string(), "cnc_profile");
    EXPECT_LT(lowestZ(), -9.0) << "the cut-out went through the 10 mm board";
    EXPECT_EQ(router.run([](virt::GrblEmulator& e) { return e.bytesLost(); }), 0u);
    EXPECT_EQ(router.run([](virt::GrblEmulator& e) { return e.state(); }), "Idle");
    const auto starts = grblAgentEvents(hq, "C-1", "production_started");
    ASSERT_EQ(starts.size(), 2u);
    for (const auto& s : starts) EXPECT_EQ(s.data.at("machine").as_string(), "cnc-1");
    EXPECT_EQ(rig.scalar("SELECT COUNT(*) FROM units WHERE order_id = 'C-1' AND state = 'done'"), 2);
}

} // namespace
} // namespace mto::test
