// SPDX-License-Identifier: Apache-2.0
// The broker goes away while thousands of events are pending; when it returns all arrive, in order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "agent_rig.hpp"
#include "catalog.hpp"
#include "store/database.hpp"
#include "hq_client.hpp"
#include "store/migrations.hpp"
#include "intake/order_parser.hpp"
#include "store/order_store.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

// Stores orders through the agent's own store code in a second connection, as a stand-in for
// production work that happens while the broker is away (SQLite WAL serialises the two writers).
void storeOrdersDirectly(const std::filesystem::path& dbPath, const std::string& factory, int from, int count) {
    Database db(dbPath, Database::Mode::ReadWrite);
    SystemClock clock;
    OrderStore store(db, factory, clock);
    auto catalog = Catalog::load(sourceDir() + "/config/catalog.toml");
    OrderParser parser(ParseLimits{});
    for (int done = 0; done < count;) {
        Transaction txn(db);
        for (int k = 0; k < 500 && done < count; ++k, ++done) {
            std::string id = "OUT-" + std::to_string(from + done);
            auto parsed = parser.parseOrder(makeOrder(id, 1), catalog);
            Rejection rejection;
            store.storeOrder(std::get<Order>(parsed), "", rejection);
        }
        txn.commit();
    }
}

TEST(BrokerOutage, FiveThousandPendingEventsAreDeliveredInOrderAfterTheBrokerReturns) {
    AgentRig rig({.hqClientId = "outage-hq"});
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();
    for (int i = 0; i < 10; ++i) hq.sendOrder("PRE-" + std::to_string(i), makeOrder("PRE-" + std::to_string(i)));
    ASSERT_TRUE(waitUntil([&] { return hq.receiptCount() == 10; }, std::chrono::seconds(20)));

    rig.broker().stop();
    storeOrdersDirectly(agent.databasePath(), agent.options().factory, 0, 5000);

    std::string out;
    ASSERT_EQ(rig.mtoctl({"events", "--pending"}, out), 0);
    EXPECT_NE(out.find("5000 event(s) pending"), std::string::npos) << out;

    std::this_thread::sleep_for(std::chrono::seconds(2));   // the agent keeps retrying meanwhile
    ASSERT_TRUE(agent.running()) << agent.log();
    rig.broker().start();

    ASSERT_TRUE(waitUntil([&] { return hq.eventCount() >= 5010; }, std::chrono::seconds(120)))
        << hq.eventCount() << " events, HQ connected " << hq.isConnected() << ", statuses " << hq.statuses().size()
        << "\n" << readFile(rig.dir() / "broker" / "mosquitto.log");
    auto events = hq.events();
    ASSERT_EQ(events.size(), 5010u);
    for (std::size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].seq, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(events.back().orderId, "OUT-4999");

    // The delivery mark catches up, so a restart would not send them all again.
    ASSERT_TRUE(waitUntil(
        [&] {
            rig.mtoctl({"events", "--pending"}, out);
            return out.find("0 event(s) pending") != std::string::npos;
        },
        std::chrono::seconds(10)))
        << out;
}

} // namespace
} // namespace mto::test

namespace mto::test {
namespace {

// The lines of an agent log ("2026-12-01T17:00:00.000 warning ...") logged at `level` or above it.
std::string linesAtOrAbove(const std::string& log, const std::string& level) {
    static const std::vector<std::string> levels{"trace", "debug", "info", "warning", "error", "critical"};
    const auto from = std::find(levels.begin(), levels.end(), level);
    std::string found;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::string at, lineLevel;
        words >> at >> lineLevel;
        if (std::find(from, levels.end(), lineLevel) != levels.end()) found += line + "\n";
    }
    return found;
}

// A window far above Paho's default buffer of 100 publishes must neither drop nor reorder events, and
// Paho must take every publish the window hands it: a refused one is sent again, so the events still
// arrive and only the log (at debug level, in some versions) can tell.
TEST(BrokerOutage, LargeInFlightWindowDrainsABacklogInSeqOrderWithoutARefusedPublish) {
    AgentOptions options;
    options.inflightWindow = 1000;
    options.logLevel = "debug";
    // The level must be debug whatever the caller asks for every other agent, or the check below sees nothing.
    ::unsetenv("MTO_TEST_AGENT_LOG_LEVEL");
    AgentRig rig({.agent = options, .hqClientId = "window-hq", .startAgent = false});
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();
    std::filesystem::create_directories(agent.stateDir());
    {
        Database db(agent.databasePath(), Database::Mode::ReadWrite);
        migrate(db);
    }
    storeOrdersDirectly(agent.databasePath(), agent.options().factory, 0, 20000);
    agent.start();
    ASSERT_TRUE(waitUntil([&] { return hq.eventCount() >= 20000; }, std::chrono::seconds(120)))
        << hq.eventCount() << " events\n" << agent.log();
    auto events = hq.events();
    for (std::size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].seq, static_cast<std::int64_t>(i + 1));

    // An order sent twice makes the agent log a debug line: proof that debug lines reach this log.
    hq.sendOrder("CANARY-1", makeOrder("CANARY-1"));
    ASSERT_TRUE(waitUntil([&] { return hq.hasReceipt("CANARY-1"); }, std::chrono::seconds(20))) << agent.log();
    hq.sendOrder("CANARY-1", makeOrder("CANARY-1"));
    ASSERT_TRUE(waitUntil([&] { return hq.eventCount() >= 20002; }, std::chrono::seconds(20))) << agent.log();
    agent.stop();
    const std::string log = agent.log();
    ASSERT_NE(log.find("debug order CANARY-1 re-sent with the same content"), std::string::npos) << log;
    EXPECT_EQ(log.find("publish of"), std::string::npos) << log;   // refused or failed, at any level
    EXPECT_EQ(linesAtOrAbove(log, "warning"), "");
}

} // namespace
} // namespace mto::test
