// SPDX-License-Identifier: Apache-2.0
// The agent's life on the network: birth and will status, starting before the broker, SIGHUP reload.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <thread>

#include "agent_rig.hpp"
#include "hq_client.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

TEST(Lifecycle, BirthStatusCarriesBacklogAndKillNineLeavesTheWillOffline) {
    AgentRig rig;
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();
    auto status = boost::json::parse(hq.lastStatus()).as_object();
    EXPECT_EQ(status.at("factory").as_string(), "test-factory");
    EXPECT_EQ(status.at("version").as_string(), MTO_VERSION);
    for (const char* key : {"queue_depth", "unsent_events", "oldest_unsent_age_s", "disk_free_bytes", "at"})
        EXPECT_TRUE(status.contains(key)) << key;
    EXPECT_GT(status.at("disk_free_bytes").to_number<std::int64_t>(), 0);

    agent.kill9();
    ASSERT_TRUE(waitUntil([&] { return hq.lastStatus().find("\"offline\"") != std::string::npos; },
                          std::chrono::seconds(20)))
        << hq.lastStatus();
}

TEST(Lifecycle, AgentStartedBeforeTheBrokerConnectsWhenItAppears) {
    TempDir dir;
    Broker broker(dir.path() / "broker");
    AgentProcess agent(dir.path() / "agent", broker.port());
    agent.start();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    ASSERT_TRUE(agent.running()) << agent.log();
    broker.start();
    HqClient hq(broker.uri(), agent.options().factory);
    hq.connect();
    ASSERT_TRUE(hq.waitForOnline(std::chrono::seconds(20))) << agent.log();
    hq.sendOrder("LATE-1", makeOrder("LATE-1"));
    ASSERT_TRUE(waitUntil([&] { return hq.hasReceipt("LATE-1"); }, std::chrono::seconds(20))) << agent.log();
}

TEST(Lifecycle, SigtermWhileTheBrokerIsUnreachableStopsCleanly) {
    TempDir dir;
    AgentProcess agent(dir.path() / "agent", freeTcpPort());   // nothing listens there
    auto count = [&](const std::string& text) {
        std::size_t n = 0;
        const std::string log = agent.log();
        for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
        return n;
    };
    for (std::size_t round = 0; round < 5; ++round) {
        agent.start();
        // This round's line, not one left in the log by an earlier round.
        ASSERT_TRUE(waitUntil([&] { return count("uplink: broker") == round + 1; }, std::chrono::seconds(10)));
        std::this_thread::sleep_for(std::chrono::milliseconds(100 + 150 * round));
        agent.stop();   // fails the test unless the agent exits 0
    }
    EXPECT_NE(agent.log().find("stopped cleanly"), std::string::npos);
}

// True once the process's main thread blocks SIGTERM: the first code of the agent's own has run.
bool blocksSigterm(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("SigBlk:", 0) == 0) return (std::stoull(line.substr(7), nullptr, 16) >> (SIGTERM - 1)) & 1;
    return false;
}

TEST(Lifecycle, StopSignalsAtAnyMomentFromTheFirstInstructionToTheLastEndWithExitZero) {
    // Before the agent's first instruction (in .preinit_array) only the dynamic loader runs; from
    // there on a stop signal waits for the loop, and a second one during teardown must not kill the
    // process either (the signal set's destruction restores the default action).
    TempDir dir;
    AgentProcess agent(dir.path() / "agent", freeTcpPort());   // nothing listens there
    for (int delayMs : {0, 2, 5, 10, 20, 40, 80, 150, 300}) {
        agent.start();
        ASSERT_TRUE(waitUntil([&] { return blocksSigterm(agent.pid()); }, std::chrono::seconds(10)));
        std::this_thread::sleep_for(std::chrono::milliseconds(delayMs));
        ::kill(agent.pid(), SIGTERM);
        std::this_thread::sleep_for(std::chrono::milliseconds(delayMs % 7));
        ::kill(agent.pid(), SIGTERM);   // a second stop signal, while the first one is being handled
        int status = agent.waitExit(std::chrono::seconds(15));
        ASSERT_NE(status, -1) << "no exit within 15 s of SIGTERM at " << delayMs << " ms";
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
            << "wait status " << status << " after SIGTERM at " << delayMs << " ms\n" << agent.log();
    }
}

TEST(Lifecycle, SighupReloadsTheCatalogAndRefusesABrokenOne) {
    AgentRig rig({.startAgent = false, .connectHq = false});
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();
    const auto catalog = rig.dir() / "catalog.toml";
    // Point the agent at a catalog of its own that the test can change.
    std::string cfg = readFile(agent.configPath());
    const std::string shipped = agent.catalogPath().string();
    cfg.replace(cfg.find(shipped), shipped.size(), catalog.string());
    writeFile(agent.configPath(), cfg);
    writeFile(catalog, readFile(shipped));
    agent.start();
    hq.connect();
    rig.waitForOnline();

    const std::string newSku =
        R"({"order_id":"HUP-1","items":[{"item_id":"1","sku":"MUG-NEW","qty":1}]})";
    hq.sendOrder("HUP-1", newSku);
    ASSERT_TRUE(hq.waitForEvents(1, std::chrono::seconds(20)));
    EXPECT_EQ(hq.events().back().data.at("reason").as_string(), "unknown_sku");

    writeFile(catalog, readFile(shipped) + "\n[sku.MUG-NEW]\nname = \"Mug\"\n");
    ::kill(agent.pid(), SIGHUP);
    ASSERT_TRUE(waitUntil([&] { return agent.log().find("reloaded:") != std::string::npos; },
                          std::chrono::seconds(10)));
    hq.sendOrder("HUP-1", newSku);
    ASSERT_TRUE(hq.waitForEvents(2, std::chrono::seconds(20)));
    EXPECT_EQ(hq.events().back().milestone, "received");

    writeFile(catalog, "[sku.BROKEN\n");
    ::kill(agent.pid(), SIGHUP);
    ASSERT_TRUE(waitUntil([&] { return agent.log().find("reload refused") != std::string::npos; },
                          std::chrono::seconds(10)))
        << agent.log();
    hq.sendOrder("HUP-2", R"({"order_id":"HUP-2","items":[{"item_id":"1","sku":"MUG-NEW","qty":2}]})");
    ASSERT_TRUE(waitUntil([&] { return hq.hasReceipt("HUP-2"); }, std::chrono::seconds(20)));
    EXPECT_EQ(hq.lastEventFor("HUP-2")->milestone, "received") << "the old catalog stays in force";
    ASSERT_TRUE(agent.running());
}

} // namespace
} // namespace mto::test
