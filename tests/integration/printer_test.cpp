// SPDX-License-Identifier: Apache-2.0
// A print order through the real agent, a real broker and HQ to an emulated Marlin printer from
// mto-machine-sim on a pty: compiled, scheduled, streamed with line numbers and checksums, done.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <csignal>
#include <filesystem>
#include <string>

#include "agent_rig.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

using namespace std::chrono_literals;

TEST(Printer, APrintOrderRunsOnTheMarlinPrinterToJobDoneThroughResends) {
    TempDir simDir;
    const auto sim = std::filesystem::path(agentBinary()).parent_path() / "mto-machine-sim";
    ASSERT_TRUE(std::filesystem::exists(sim)) << sim;
    const std::string port = (simDir.path() / "printer-1").string();
    Process simulator;
    // 1% of the lines arrive damaged and are asked for again; the print still ends.
    simulator.start({sim.string(), "--marlin", port, "--speed", "300", "--checksum-errors", "0.01"},
                    simDir.path() / "sim.log");
    ASSERT_TRUE(waitUntil([&] { return std::filesystem::exists(port); }, 10s));
    AgentRigOptions o;
    o.agent.compile = true;
    o.agent.extraConfig = "[[machines]]\nid = \"printer-1\"\nprofile = \"mk3s\"\ndriver = \"marlin\"\nport = \"" + port +
                          "\"\nin_flight = 4\n";
    o.hqBeforeAgent = true;
    AgentRig rig(o);
    auto& hq = rig.hq();
    hq.sendOrder("P-1", R"({"order_id":"P-1","items":[{"item_id":"1","sku":"CLIP-PLA-PRINT","qty":1,"personalization":{}}]})");
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "P-1", "job_done") == 1; }, 180s))
        << rig.agent().log() << "\n" << readFile(simDir.path() / "sim.log");
    EXPECT_EQ(countOf(hq, "P-1", "production_started"), 1u);
    EXPECT_EQ(countOf(hq, "P-1", "interrupted"), 0u);
    auto started = rig.milestone("P-1", "production_started");
    ASSERT_TRUE(started);
    EXPECT_EQ(std::string(started->data.at("machine").as_string()), "printer-1");
    const std::string log = rig.agent().log();
    EXPECT_NE(log.find("Marlin 2.1.2"), std::string::npos) << "the printer was identified by M115";
    std::string out;
    ASSERT_EQ(rig.mtoctl({"status"}, out), 0) << out;
    EXPECT_NE(out.find("printer-1"), std::string::npos) << out;
    simulator.signal(SIGTERM);
    simulator.wait(5s);
}

TEST(Printer, APrinterProfileOnTheGrblDriverIsAConfigErrorNamingTheKey) {
    TempDir dir;
    AgentOptions o;
    o.compile = true;
    o.extraConfig = "[[machines]]\nid = \"printer-1\"\nprofile = \"mk3s\"\nport = \"/dev/null\"\n";
    AgentProcess agent(dir.path() / "agent", freeTcpPort(), o);
    agent.start();
    const int status = agent.waitExit(15s);
    ASSERT_NE(status, -1) << "the agent did not stop on a bad [[machines]] table";
    EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    const std::string log = agent.log();
    EXPECT_NE(log.find("machines[0].driver"), std::string::npos) << log;
    EXPECT_NE(log.find("use driver = \"marlin\""), std::string::npos) << log;
}

} // namespace
} // namespace mto::test
