// SPDX-License-Identifier: Apache-2.0
// Orders over a real mosquitto into the real agent process: storage, receipts, commands.
#include <gtest/gtest.h>

#include "agent_rig.hpp"
#include "hq_client.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

TEST(Intake, ThousandOrdersAreStoredAndEachGetsOneReceipt) {
    AgentRig rig;
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();

    constexpr int kOrders = 1000;
    for (int i = 0; i < kOrders; ++i) {
        std::string id = "ORD-" + std::to_string(i);
        hq.sendOrder(id, makeOrder(id, 1 + i % 3));
    }
    ASSERT_TRUE(waitUntil([&] { return hq.receiptCount() == kOrders; }, std::chrono::seconds(60)))
        << hq.receiptCount() << " receipts\n" << agent.log();

    EXPECT_EQ(rig.scalar("SELECT COUNT(*) FROM orders"), kOrders);
    EXPECT_EQ(rig.scalar("SELECT COUNT(*) FROM items"), 333 * 6 + 1);
    EXPECT_EQ(rig.scalar("SELECT COUNT(*) FROM events WHERE milestone = 'received'"), kOrders);
    auto events = hq.events();
    ASSERT_EQ(events.size(), static_cast<std::size_t>(kOrders));
    for (std::size_t i = 0; i < events.size(); ++i) {
        EXPECT_EQ(events[i].seq, static_cast<std::int64_t>(i + 1));
        EXPECT_EQ(events[i].milestone, "received");
        EXPECT_FALSE(events[i].data.at("duplicate").as_bool());
    }
    agent.stop();
    EXPECT_NE(agent.log().find("stopped cleanly"), std::string::npos) << agent.log();
}

TEST(Intake, ResentOrderGetsAFreshReceiptButNoSecondOrder) {
    AgentRig rig;
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();

    hq.sendOrder("ORD-A", makeOrder("ORD-A", 2));
    ASSERT_TRUE(hq.waitForEvents(1, std::chrono::seconds(20))) << agent.log();
    hq.sendOrder("ORD-A", makeOrder("ORD-A", 2));
    ASSERT_TRUE(hq.waitForEvents(2, std::chrono::seconds(20))) << agent.log();
    auto events = hq.events();
    EXPECT_EQ(events[1].milestone, "received");
    EXPECT_TRUE(events[1].data.at("duplicate").as_bool());
    EXPECT_NE(events[0].eventId, events[1].eventId);
    EXPECT_EQ(rig.scalar("SELECT COUNT(*) FROM orders"), 1);
    EXPECT_EQ(rig.scalar("SELECT COUNT(*) FROM items"), 2);
}

TEST(Intake, RevisionHoldResumeAndCancelProduceTheirMilestones) {
    AgentRig rig;
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();

    hq.sendOrder("ORD-R", makeOrder("ORD-R", 1, 1, "Ada"));
    ASSERT_TRUE(hq.waitForEvents(1, std::chrono::seconds(20)));
    hq.sendOrder("ORD-R", makeOrder("ORD-R", 3, 2, "Grace"), 2);
    ASSERT_TRUE(hq.waitForEvents(2, std::chrono::seconds(20)));
    EXPECT_EQ(hq.events()[1].data.at("revised_from").as_int64(), 1);
    EXPECT_EQ(rig.scalar("SELECT COUNT(*) FROM items WHERE order_id = 'ORD-R'"), 3);

    hq.sendCommand(R"({"command":"hold","command_id":"c-1","order_id":"ORD-R","reason":"customer call"})");
    hq.sendCommand(R"({"command":"resume","command_id":"c-2","order_id":"ORD-R"})");
    hq.sendCommand(R"({"command":"cancel","command_id":"c-3","order_id":"ORD-R"})");
    hq.sendCommand(R"({"command":"resume","command_id":"c-4","order_id":"ORD-R"})");
    hq.sendOrder("ORD-R", makeOrder("ORD-R", 1, 3, "Late"), 3);
    ASSERT_TRUE(hq.waitForEvents(7, std::chrono::seconds(20))) << agent.log();
    auto events = hq.events();
    EXPECT_EQ(events[2].milestone, "on_hold");
    EXPECT_EQ(events[3].milestone, "resumed");
    EXPECT_EQ(events[3].data.at("state").as_string(), "received");
    EXPECT_EQ(events[4].milestone, "cancelled");
    EXPECT_EQ(events[5].milestone, "rejected");
    EXPECT_EQ(events[5].data.at("reason").as_string(), "illegal_transition");
    EXPECT_EQ(events[5].data.at("command_id").as_string(), "c-4");
    EXPECT_EQ(events[6].milestone, "rejected");
    EXPECT_EQ(events[6].data.at("reason").as_string(), "order_closed");
    EXPECT_EQ(rig.scalar("SELECT revision FROM orders WHERE order_id = 'ORD-R'"), 2);
}

} // namespace
} // namespace mto::test
