// SPDX-License-Identifier: Apache-2.0
// Poison orders against the real agent: numbers JSON cannot hold are refused at intake, and a damaged record in the database refuses its one order without stopping the agent.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "agent_rig.hpp"
#include "store/database.hpp"
#include "hq_client.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

std::string coaster(const std::string& id, const std::string& extraTop = "", const std::string& extraItem = "",
                    const std::string& personalization = R"({"text":"Ada"})") {
    return R"({"order_id":")" + id + R"(",)" + extraTop + R"("items":[{"item_id":"1","sku":"COASTER-OAK-ENGRAVED",)" +
           extraItem + R"("qty":1,"personalization":)" + personalization + "}]}";
}

// Writes an order straight into the stopped agent's database, as a damaged disk or an older bug might have.
void poison(const std::filesystem::path& dbPath, const std::string& orderId, const std::string& body,
            const std::string& personalization) {
    Database db(dbPath, Database::Mode::ReadWrite);
    db.prepare("INSERT INTO orders (order_id, revision, priority, state, content_hash, body, received_at, updated_at) "
               "VALUES (?, 1, 'standard', 'received', ?, ?, 1, 1)")
        .bind(1, orderId)
        .bind(2, std::string(64, 'f'))
        .bind(3, body)
        .run();
    db.prepare("INSERT INTO items (order_id, item_id, sku, qty, personalization) "
               "VALUES (?, '1', 'COASTER-OAK-ENGRAVED', 1, ?)")
        .bind(1, orderId)
        .bind(2, personalization)
        .run();
}

TEST(PoisonOrder, AgentStartsOnADatabaseWithDamagedOrdersRefusesThemAndServesTheRest) {
    // A real database, made by the agent itself, then the agent stopped.
    AgentRig rig({.agent = {.compile = true}, .hqBeforeAgent = true});
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();
    hq.sendOrder("FIRST-1", coaster("FIRST-1"));
    ASSERT_TRUE(rig.waitForMilestone("FIRST-1", "accepted", std::chrono::seconds(60))) << agent.log();
    agent.stop();

    poison(agent.databasePath(), "POISON-INF",
           R"({"items":[{"item_id":"1","personalization":{"size":Infinity,"text":"Ada"},"qty":1,)"
           R"("sku":"COASTER-OAK-ENGRAVED"}],"order_id":"POISON-INF","note":Infinity})",
           R"({"size":Infinity,"text":"Ada"})");
    poison(agent.databasePath(), "POISON-GARBAGE", "\x01garbage{{{", "not json");

    agent.start();
    ASSERT_TRUE(waitUntil(
        [&] {
            return rig.milestone("POISON-INF", "rejected").has_value() &&
                   rig.milestone("POISON-GARBAGE", "rejected").has_value();
        },
        std::chrono::seconds(60)))
        << agent.log();
    for (const char* id : {"POISON-INF", "POISON-GARBAGE"}) {
        SCOPED_TRACE(id);
        auto e = rig.milestone(id, "rejected");
        EXPECT_EQ(e->data.at("reason").as_string(), "internal_error");
        EXPECT_EQ(e->data.at("stage").as_string(), "compile");
        EXPECT_FALSE(e->data.at("message").as_string().empty());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ASSERT_TRUE(agent.running()) << agent.log();

    hq.sendOrder("GOOD-1", coaster("GOOD-1", "", "", R"({"text":"Lin"})"));
    ASSERT_TRUE(rig.waitForMilestone("GOOD-1", "accepted", std::chrono::seconds(60))) << agent.log();
    EXPECT_TRUE(rig.milestone("GOOD-1", "received"));
    EXPECT_TRUE(agent.running());

    // And again at the next start: the refused orders are settled, nothing is left to trip over.
    agent.stop();
    agent.start();
    ASSERT_TRUE(waitUntil([&] { return hq.lastStatus().find("online") != std::string::npos; }, std::chrono::seconds(20)));
    std::this_thread::sleep_for(std::chrono::seconds(1));
    EXPECT_TRUE(agent.running()) << agent.log();
    agent.stop();
}

TEST(PoisonOrder, NumbersBeyondTheRangeOfADoubleAreRejectedAtIntakeWithReasonAndPath) {
    AgentRig rig({.hqBeforeAgent = true});
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();

    struct Case {
        std::string orderId;
        std::string payload;
        std::string path;
    };
    const std::vector<Case> cases = {
        {"INF-TOP", coaster("INF-TOP", R"("note":1e400,)"), "note"},
        {"INF-ITEM", coaster("INF-ITEM", "", R"("weight":-1e400,)"), "items[0].weight"},
        {"INF-PERS", coaster("INF-PERS", "", "", R"({"text":"Ada","size":1e400})"), "items[0].personalization.size"},
    };
    for (const auto& c : cases) hq.sendOrder(c.orderId, c.payload);
    ASSERT_TRUE(waitUntil(
        [&] {
            for (const auto& c : cases)
                if (!hq.hasReceipt(c.orderId)) return false;
            return true;
        },
        std::chrono::seconds(20)))
        << agent.log();
    for (const auto& c : cases) {
        SCOPED_TRACE(c.orderId);
        auto e = hq.lastEventFor(c.orderId);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->milestone, "rejected");
        EXPECT_EQ(e->topic, "mto/v1/" + agent.options().factory + "/events/" + c.orderId);
        EXPECT_EQ(e->data.at("reason").as_string(), "number_out_of_range");
        EXPECT_EQ(e->data.at("path").as_string(), c.path);
    }

    const std::size_t before = hq.eventCount();
    hq.sendCommand(R"({"command":"hold","command_id":"c-inf","order_id":"INF-TOP","extra":1e400})");
    ASSERT_TRUE(hq.waitForEvents(before + 1, std::chrono::seconds(20))) << agent.log();
    auto e = hq.events().back();
    EXPECT_EQ(e.milestone, "rejected");
    EXPECT_EQ(e.data.at("reason").as_string(), "number_out_of_range");
    EXPECT_EQ(e.data.at("path").as_string(), "extra");
    EXPECT_EQ(e.data.at("command_id").as_string(), "c-inf");

    EXPECT_EQ(rig.scalar("SELECT COUNT(*) FROM orders"), 0) << "nothing of a refused order is stored";
    EXPECT_TRUE(agent.running());
}

TEST(PoisonOrder, OversizedOrderIsRejectedUnderItsOwnOrderIdSoHqStopsResending) {
    AgentRig rig({.agent = {.maxPayloadBytes = 64 * 1024}, .hqBeforeAgent = true});
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();

    const std::string big =
        coaster("BIG-1", R"("pad":")" + std::string(100 * 1024, 'x') + R"(",)");
    hq.sendOrder("BIG-1", big);
    ASSERT_TRUE(waitUntil([&] { return hq.hasReceipt("BIG-1"); }, std::chrono::seconds(20))) << agent.log();
    auto e = hq.lastEventFor("BIG-1");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->milestone, "rejected");
    EXPECT_EQ(e->data.at("reason").as_string(), "payload_too_large");
    EXPECT_TRUE(hq.missingReceipts().empty());
}

} // namespace
} // namespace mto::test
