// SPDX-License-Identifier: Apache-2.0
// The broker goes away while thousands of events are pending; when it returns all arrive, in order.
#include <gtest/gtest.h>

#include <thread>

#include "catalog.hpp"
#include "database.hpp"
#include "hq_client.hpp"
#include "migrations.hpp"
#include "order_parser.hpp"
#include "order_store.hpp"
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
    TempDir dir;
    Broker broker(dir.path() / "broker");
    broker.start();
    AgentProcess agent(dir.path() / "agent", broker.port());
    agent.start();
    HqClient hq(broker.uri(), agent.options().factory, "outage-hq");
    hq.connect();
    ASSERT_TRUE(hq.waitForOnline(std::chrono::seconds(20))) << agent.log();
    for (int i = 0; i < 10; ++i) hq.sendOrder("PRE-" + std::to_string(i), makeOrder("PRE-" + std::to_string(i)));
    ASSERT_TRUE(waitUntil([&] { return hq.receiptCount() == 10; }, std::chrono::seconds(20)));

    broker.stop();
    storeOrdersDirectly(agent.databasePath(), agent.options().factory, 0, 5000);

    std::string out;
    ASSERT_EQ(runCommand({mtoctlBinary(), "--config", agent.configPath().string(), "events", "--pending"}, out), 0);
    EXPECT_NE(out.find("5000 event(s) pending"), std::string::npos) << out;

    std::this_thread::sleep_for(std::chrono::seconds(2));   // the agent keeps retrying meanwhile
    ASSERT_TRUE(agent.running()) << agent.log();
    broker.start();

    ASSERT_TRUE(waitUntil([&] { return hq.eventCount() >= 5010; }, std::chrono::seconds(120)))
        << hq.eventCount() << " events, HQ connected " << hq.isConnected() << ", statuses " << hq.statuses().size()
        << "\n" << readFile(dir.path() / "broker" / "mosquitto.log");
    auto events = hq.events();
    ASSERT_EQ(events.size(), 5010u);
    for (std::size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].seq, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(events.back().orderId, "OUT-4999");

    // The delivery mark catches up, so a restart would not send them all again.
    ASSERT_TRUE(waitUntil(
        [&] {
            runCommand({mtoctlBinary(), "--config", agent.configPath().string(), "events", "--pending"}, out);
            return out.find("0 event(s) pending") != std::string::npos;
        },
        std::chrono::seconds(10)))
        << out;
}

} // namespace
} // namespace mto::test

namespace mto::test {
namespace {

// A window far above Paho's default buffer of 100 publishes must neither drop nor reorder events.
TEST(BrokerOutage, LargeInFlightWindowDrainsABacklogInSeqOrder) {
    TempDir dir;
    Broker broker(dir.path() / "broker");
    broker.start();
    AgentOptions options;
    options.inflightWindow = 1000;
    AgentProcess agent(dir.path() / "agent", broker.port(), options);
    HqClient hq(broker.uri(), agent.options().factory, "window-hq");
    hq.connect();
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
    EXPECT_EQ(agent.log().find("failed"), std::string::npos) << agent.log();
    agent.stop();
}

} // namespace
} // namespace mto::test
