// SPDX-License-Identifier: Apache-2.0
// What the broker keeps for the agent while it is away, and what it drops before the agent can see it.
#include <gtest/gtest.h>

#include <mqtt/async_client.h>

#include "agent_rig.hpp"
#include "hq_client.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

// Publishes at QoS 1 once each, with no session and no re-sending: whatever the broker drops stays dropped.
void publishOnce(const std::string& uri, const std::string& topic, const std::vector<std::string>& payloads) {
    mqtt::async_client client(uri, "plain-publisher", static_cast<int>(payloads.size()) + 16, nullptr);
    mqtt::connect_options opts;
    opts.set_clean_session(true);
    opts.set_max_inflight(200);
    client.connect(opts)->wait();
    std::vector<mqtt::delivery_token_ptr> tokens;
    tokens.reserve(payloads.size());
    for (const auto& p : payloads) tokens.push_back(client.publish(topic, p.data(), p.size(), 1, false));
    // A PUBACK each: the broker has taken every one of them before the agent comes back.
    for (auto& t : tokens) ASSERT_TRUE(t->wait_for(std::chrono::seconds(60)));
    client.disconnect()->wait();
}

// mosquitto's default max_queued_messages of 1,000 would drop every order past the thousandth here.
TEST(BrokerQueue, FifteenHundredOrdersPublishedWhileTheAgentIsOfflineAreAllStored) {
    // The first run leaves the agent's session, with its subscription to orders, at the broker.
    AgentRig rig({.hqClientId = "queue-hq", .hqBeforeAgent = true});
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();
    agent.stop();

    constexpr int kOrders = 1500;
    std::vector<std::string> ids, payloads;
    for (int i = 0; i < kOrders; ++i) {
        ids.push_back("Q-" + std::to_string(i));
        payloads.push_back(makeOrder(ids.back()));
    }
    publishOnce(rig.broker().uri(), hq.ordersTopic(), payloads);
    if (HasFatalFailure()) return;

    agent.start();
    // receiptsFor(), not receiptCount(): that one counts only what this HqClient sent itself.
    auto receipts = [&] { return hq.receiptsFor(ids); };
    ASSERT_TRUE(waitUntil([&] { return receipts() == std::size_t(kOrders); }, std::chrono::seconds(120)))
        << receipts() << " receipts\n" << agent.log();

    std::string out;
    ASSERT_EQ(rig.mtoctl({"orders"}, out), 0) << out;
    EXPECT_NE(out.find(std::to_string(kOrders) + " order(s)"), std::string::npos) << out;
    agent.stop();
}

// The broker acknowledges an order above its message_size_limit and drops it: the agent never sees it,
// so it cannot answer, while one above the agent's own limit but within the broker's gets a rejection.
TEST(BrokerQueue, AnOrderAboveTheBrokersSizeLimitNeverReachesTheAgent) {
    AgentRig rig({.hqClientId = "size-hq", .hqBeforeAgent = true});
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();

    auto padded = [](const std::string& id, std::size_t bytes) {
        return R"({"order_id":")" + id + R"(","revision":1,"pad":")" + std::string(bytes, 'x') + "\"}";
    };
    // Published first, so had the agent got it, its answer would come before that of the second.
    publishOnce(rig.broker().uri(), hq.ordersTopic(), {padded("HUGE-1", 3 * 1024 * 1024), padded("BIG-1", 1024 * 1024)});
    if (HasFatalFailure()) return;

    ASSERT_TRUE(waitUntil([&] { return hq.hasReceipt("BIG-1"); }, std::chrono::seconds(20))) << agent.log();
    auto big = hq.lastEventFor("BIG-1");
    ASSERT_TRUE(big);
    EXPECT_EQ(big->milestone, "rejected");
    EXPECT_NE(boost::json::serialize(big->data).find("payload_too_large"), std::string::npos)
        << boost::json::serialize(big->data);
    EXPECT_FALSE(hq.hasReceipt("HUGE-1"));
    EXPECT_FALSE(hq.lastEventFor("HUGE-1"));
    agent.stop();
    EXPECT_EQ(agent.log().find("HUGE-1"), std::string::npos) << agent.log();
}

} // namespace
} // namespace mto::test
