// SPDX-License-Identifier: Apache-2.0
// A printed order end to end: the real agent, broker and HQ, the keychain sliced by openscad and prusa-slicer, and
// the print run on the test Moonraker of mto-machine-sim over HTTP.
#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "agent_rig.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

using namespace std::chrono_literals;

bool onPath(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "");
    std::string dir;
    while (std::getline(dirs, dir, ':'))
        if (!dir.empty() && ::access((std::filesystem::path(dir) / program).c_str(), X_OK) == 0) return true;
    return false;
}

std::size_t countOf(HqClient& hq, const std::string& orderId, const std::string& milestone) {
    std::size_t n = 0;
    for (const auto& e : hq.events()) n += e.orderId == orderId && e.milestone == milestone;
    return n;
}

TEST(PrintHostAgent, AKeychainOrderIsPrintedOnMoonrakerUntilJobDone) {
    for (const char* tool : {"openscad", "prusa-slicer", "fc-list"})
        if (!onPath(tool)) GTEST_SKIP() << tool << " is not installed (apt install openscad prusa-slicer fontconfig)";
    TempDir simDir;
    const auto sim = std::filesystem::path(agentBinary()).parent_path() / "mto-machine-sim";
    ASSERT_TRUE(std::filesystem::exists(sim)) << sim;
    Process simProcess;
    const auto log = simDir.path() / "sim.log";
    simProcess.start({sim.string(), "--moonraker", "0", "--print-seconds", "3"}, log);
    std::smatch m;
    const std::regex urlLine("moonraker: (http://127\\.0\\.0\\.1:[0-9]+)");
    std::string text;
    ASSERT_TRUE(waitUntil(
        [&] {
            text = std::filesystem::exists(log) ? readFile(log) : "";
            return std::regex_search(text, m, urlLine);
        },
        10s))
        << text;
    const std::string url = m[1];

    AgentRigOptions o;
    o.agent.compile = true;
    o.agent.extraConfig = "[[machines]]\nid = \"printer-1\"\nprofile = \"mk3s\"\ndriver = \"moonraker\"\nurl = \"" +
                          url + "\"\npoll_ms = 200\n";
    o.hqBeforeAgent = true;
    AgentRig rig(o);
    auto& hq = rig.hq();
    hq.sendOrder("ORD-P1", R"({"order_id":"ORD-P1","items":[{"item_id":"1","sku":"KEYCHAIN-PLA-PRINT","qty":1,)"
                           R"("personalization":{"name":"Ada"}}]})");
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-P1", "production_started") == 1; }, 180s))
        << rig.agent().log();
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-P1", "job_done") == 1; }, 60s)) << rig.agent().log();
    EXPECT_EQ(countOf(hq, "ORD-P1", "interrupted"), 0u);
    EXPECT_EQ(rig.scalar("SELECT COUNT(*) FROM units WHERE state = 'done'"), 1);
    // The printer waits for its bed to be cleared like every machine.
    std::string out;
    EXPECT_EQ(rig.mtoctl({"clear", "printer-1"}, out), 0) << out;
    simProcess.signal(SIGTERM);
    simProcess.wait(5s);
}

} // namespace
} // namespace mto::test
