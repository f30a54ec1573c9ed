// SPDX-License-Identifier: Apache-2.0
// The agent is killed with SIGKILL again and again while HQ sends orders: nothing lost, nothing twice, no gaps.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "agent_rig.hpp"
#include "store/database.hpp"
#include "hq_client.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

TEST(Crash, OrdersSurviveRepeatedKillNineExactlyOnceWithGaplessSeq) {
    // HQ's persistent session first, so events published while HQ looks away are kept.
    AgentRig rig({.hqClientId = "crash-hq", .hqBeforeAgent = true});
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();

    constexpr int kOrders = 2000;
    std::int64_t expectedItems = 0;
    for (int i = 0; i < kOrders; ++i) expectedItems += 1 + i % 4;

    std::atomic<bool> sending{true};
    std::thread sender([&] {
        for (int i = 0; i < kOrders; ++i) {
            std::string id = "K-" + std::to_string(i);
            hq.sendOrder(id, makeOrder(id, 1 + i % 4, 1, "Kill " + std::to_string(i)));
            // Spread over the kill phase, so kills land in the middle of intake.
            if (i % 20 == 19) std::this_thread::sleep_for(std::chrono::milliseconds(30));
        }
        sending = false;
    });

    std::mt19937 rng(20261126);
    std::uniform_int_distribution<int> upFor(150, 500), downFor(50, 300);
    constexpr int kKills = 8;
    int kills = 0;
    std::size_t lastStartAt = 0;   // where the newest instance's log lines begin
    for (; kills < kKills; ++kills) {
        std::this_thread::sleep_for(std::chrono::milliseconds(upFor(rng)));
        agent.kill9();
        std::this_thread::sleep_for(std::chrono::milliseconds(downFor(rng)));
        lastStartAt = agent.log().size();
        agent.start();
    }
    sender.join();
    // The last instance must be up before the end of the test stops it (a process signalled
    // before main() runs cannot handle the signal at all).
    auto lastInstanceRunning = [&] {
        return agent.log().find("uplink: broker", lastStartAt) != std::string::npos;   // logged once signals are handled
    };
    ASSERT_TRUE(waitUntil(lastInstanceRunning, std::chrono::seconds(30))) << agent.log();

    // HQ's contract: re-send every order that has no receipt yet, until all have one.
    bool complete = waitUntil(
        [&] {
            if (hq.receiptCount() == kOrders) return true;
            hq.resendMissing();
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
            return hq.receiptCount() == kOrders;
        },
        std::chrono::seconds(180));
    ASSERT_TRUE(complete) << hq.missingReceipts().size() << " orders without receipt\n" << agent.log();
    EXPECT_EQ(kills, kKills);
    // Every event the agent committed (late duplicate receipts included) reaches HQ before the stop.
    auto committedEvents = [&] { return rig.scalar("SELECT COALESCE(MAX(seq), 0) FROM events"); };
    ASSERT_TRUE(waitUntil([&] { return static_cast<std::int64_t>(hq.eventCount()) >= committedEvents(); },
                          std::chrono::seconds(60)))
        << hq.eventCount() << " of " << committedEvents() << " events at HQ";
    agent.stop();

    Database db(agent.databasePath(), Database::Mode::ReadOnly);
    EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM orders"), kOrders);
    EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM items"), expectedItems);
    // Exactly one first receipt per order: a second would mean the order was taken in twice.
    EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM events WHERE milestone = 'received' AND "
                         "json_extract(payload, '$.data.duplicate') = 0"),
              kOrders);
    EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM (SELECT order_id FROM events WHERE milestone = 'received' AND "
                         "json_extract(payload, '$.data.duplicate') = 0 GROUP BY order_id HAVING COUNT(*) > 1)"),
              0);
    EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM events WHERE milestone = 'rejected'"), 0);
    const std::int64_t lastSeq = scalar(db, "SELECT MAX(seq) FROM events");
    EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM events"), lastSeq) << "seq must have no holes in the outbox";
    // HQ re-sends every 2 s whatever has no receipt yet; a re-send whose receipt still waits in the outbox
    // adds nothing, so a slow drain does not feed itself with fresh receipts (it used to reach 25x).
    EXPECT_LE(lastSeq, kOrders * 3 / 2) << "re-sends flooded the outbox with duplicate receipts";

    // HQ's view after de-duplication by event_id: 1, 2, 3, … in arrival order.
    auto events = hq.events();
    std::int64_t expected = 1;
    for (const auto& e : events) {
        ASSERT_EQ(e.seq, expected) << "gap or step back in seq seen by HQ";
        ++expected;
    }
    EXPECT_EQ(expected - 1, lastSeq);
    std::cout << "kills: " << kills << ", events: " << lastSeq << ", duplicates dropped by HQ: "
              << hq.duplicateCount() << "\n";
}

} // namespace
} // namespace mto::test
