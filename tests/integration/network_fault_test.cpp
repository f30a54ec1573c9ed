// SPDX-License-Identifier: Apache-2.0
// Delivery through a faulty network: a proxy between agent and broker cuts, delays, stalls and swallows PUBACKs.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "agent_rig.hpp"
#include "fault_proxy.hpp"
#include "hq_client.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

std::int64_t lastSeqIn(const AgentRig& rig) { return rig.scalar("SELECT COALESCE(MAX(seq), 0) FROM events"); }

std::int64_t pendingIn(const AgentRig& rig) {
    return rig.scalar("SELECT COUNT(*) FROM events WHERE seq > (SELECT acked_seq FROM outbox_state WHERE id = 1)");
}

// What HQ saw, judged as the contract says: after de-duplication by event_id, the first sighting
// of each seq must come after the first sightings of every smaller seq.
struct OrderVerdict {
    std::size_t stepsBack = 0;
    std::vector<std::int64_t> missing;
    std::string firstStepBack;
};

OrderVerdict judge(const std::vector<SeenEvent>& events, std::int64_t lastSeq) {
    OrderVerdict v;
    std::int64_t highest = 0;
    std::set<std::int64_t> seen;
    for (const auto& e : events) {
        if (!seen.insert(e.seq).second) continue;   // a second event_id with a seen seq would be a bug too
        if (e.seq < highest) {
            if (v.stepsBack++ == 0)
                v.firstStepBack = std::to_string(e.seq) + " after " + std::to_string(highest);
        }
        highest = std::max(highest, e.seq);
    }
    for (std::int64_t s = 1; s <= lastSeq; ++s)
        if (!seen.count(s)) v.missing.push_back(s);
    return v;
}

TEST(NetworkFaults, HqSeesEverySeqOnceInOrderWhileTheLinkIsCutDelayedStalledAndPubacksAreSwallowed) {
    const std::uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    AgentOptions options;
    options.compile = true;   // proof images go out on the media topic before their proof_ready event
    options.inflightWindow = 64;
    AgentRig rig({.agent = options,
                  .hqClientId = "fault-hq",
                  .onlineTimeout = std::chrono::seconds(30),
                  .faultProxySeed = seed});
    FaultProxy& proxy = rig.proxy();
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();

    // Bulk laser orders (each item compiles to a job with a proof image) and plain receipts.
    constexpr int kBulkOrders = 12, kItemsPerBulk = 25, kSmallOrders = 1500;
    constexpr int kProofs = kBulkOrders * kItemsPerBulk + kSmallOrders;
    for (int i = 0; i < kBulkOrders; ++i) {
        std::string id = "BULK-" + std::to_string(i);
        hq.sendOrder(id, makeOrder(id, kItemsPerBulk, 1, "Tag " + std::to_string(i)));
    }

    std::uniform_int_distribution<int> pick(0, 5), pause(50, 400);
    int cuts = 0, midStreamCuts = 0, delays = 0, stalls = 0, swallows = 0;
    int sent = 0;
    auto faultsUntil = std::chrono::steady_clock::now() + std::chrono::seconds(25);
    while (std::chrono::steady_clock::now() < faultsUntil) {
        for (int k = 0; k < 100 && sent < kSmallOrders; ++k, ++sent) {
            std::string id = "S-" + std::to_string(sent);
            hq.sendOrder(id, makeOrder(id, 1, 1, id));   // its own text: its own proof image
        }
        FaultSettings s;
        switch (pick(rng)) {
        case 0: proxy.cutAll(); ++cuts; break;
        case 1: proxy.cutSoon(64 * 1024); ++midStreamCuts; break;
        case 2: s.delay = std::chrono::milliseconds(pause(rng) / 10); ++delays; break;
        case 3: s.stall = true; ++stalls; break;
        case 4: s.swallowPubacks = true; ++swallows; break;
        default: break;   // a quiet spell
        }
        proxy.set(s);
        std::this_thread::sleep_for(std::chrono::milliseconds(pause(rng)));
        proxy.set(FaultSettings{});
        hq.resendMissing(std::chrono::seconds(10));   // HQ backs off: a re-send storm only buries the receipts
    }
    // Random windows can all fall where no PUBACK flows (reconnecting, or the slow compiles of a sanitizer
    // build): hold one open while the compiled orders' events go out, until it has swallowed some.
    if (proxy.counters().pubacksSwallowed == 0) {
        FaultSettings s;
        s.swallowPubacks = true;
        proxy.set(s);
        ++swallows;
        waitUntil([&] { return proxy.counters().pubacksSwallowed > 0; }, std::chrono::seconds(30));
    }
    // Whatever was left in flight under swallowed PUBACKs goes again after one more cut.
    proxy.set(FaultSettings{});
    proxy.cutAll();
    ++cuts;
    ASSERT_TRUE(waitUntil(
        [&] {
            hq.resendMissing(std::chrono::seconds(10));
            return hq.missingReceipts().empty() && hq.receiptCount() == std::size_t(kBulkOrders + kSmallOrders);
        },
        std::chrono::seconds(120)))
        << hq.missingReceipts().size() << " receipts missing (seed " << seed << ")\n" << agent.log().substr(0, 20000);
    // Compiling settles, then every event in the outbox must have reached HQ.
    std::int64_t last = 0;
    ASSERT_TRUE(waitUntil(
        [&] {
            last = lastSeqIn(rig);
            auto events = hq.events();
            std::size_t proofs = 0;
            for (const auto& e : events) proofs += e.milestone == "proof_ready";
            return proofs >= std::size_t(kProofs) && !events.empty() &&
                   std::int64_t(hq.eventCount()) >= last;
        },
        std::chrono::seconds(180)))
        << hq.eventCount() << " of " << last << " events at HQ (seed " << seed << ")";
    // Proof images travel on the media lane, behind the milestones (contract 1.4.0): they may still be on
    // their way when the last event arrived.
    waitUntil([&] { return hq.mediaCount() >= std::size_t(kSmallOrders + kBulkOrders); }, std::chrono::seconds(120));

    auto events = hq.events();
    auto verdict = judge(events, last);
    auto counters = proxy.counters();
    std::size_t proofs = 0;
    for (const auto& e : events) proofs += e.milestone == "proof_ready";
    std::printf("[ proxy    ] %lld events, %zu proof images; faults: %d cuts, %d mid-stream cuts, %d delays, "
                "%d stalls, %d PUBACK black holes (%llu PUBACKs swallowed); %llu connections; "
                "%zu duplicates dropped by HQ; steps back %zu, missing %zu (seed %llu)\n",
                static_cast<long long>(last), hq.media().size(), cuts, midStreamCuts, delays, stalls, swallows,
                static_cast<unsigned long long>(counters.pubacksSwallowed),
                static_cast<unsigned long long>(counters.connections), hq.duplicateCount(), verdict.stepsBack,
                verdict.missing.size(), static_cast<unsigned long long>(seed));
    EXPECT_EQ(verdict.stepsBack, 0u) << "first step back: " << verdict.firstStepBack << " (seed " << seed << ")";
    EXPECT_TRUE(verdict.missing.empty()) << verdict.missing.size() << " seqs never arrived, first "
                                         << (verdict.missing.empty() ? 0 : verdict.missing.front());
    EXPECT_EQ(proofs, std::size_t(kProofs));
    // One distinct image per small order and one per bulk order (its items share a text).
    EXPECT_EQ(hq.media().size(), std::size_t(kSmallOrders + kBulkOrders)) << "every proof image arrived";
    EXPECT_GT(counters.connections, 5u) << "the faults never forced a reconnect";
    EXPECT_GT(counters.pubacksSwallowed, 0u);
    EXPECT_GT(hq.duplicateCount(), 0u) << "nothing was ever sent twice: the faults did not bite";
    agent.stop();
}

TEST(NetworkFaults, SigtermWithSixtyFourEventsInFlightAndNoPubackExitsCleanlyAndKeepsThemPending) {
    AgentOptions options;
    options.inflightWindow = 64;
    AgentRig rig({.agent = options,
                  .hqClientId = "sigterm-hq",
                  .onlineTimeout = std::chrono::seconds(30),
                  .faultProxySeed = 1});
    FaultProxy& proxy = rig.proxy();
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();

    FaultSettings s;
    s.swallowPubacks = true;
    proxy.set(s);
    for (int i = 0; i < 200; ++i) hq.sendOrder("T-" + std::to_string(i), makeOrder("T-" + std::to_string(i)));
    // The agent stores them all (its own PUBACKs to the broker pass), but hears of no delivery.
    ASSERT_TRUE(waitUntil([&] { return hq.receiptCount() >= 64; }, std::chrono::seconds(30)))
        << hq.receiptCount() << " receipts; PUBACKs swallowed " << proxy.counters().pubacksSwallowed;
    ASSERT_TRUE(waitUntil([&] { return proxy.counters().pubacksSwallowed >= 64; }, std::chrono::seconds(30)));

    agent.stop();   // fails unless the agent exits 0 (and, in the sanitizer build, without a report)
    EXPECT_NE(agent.log().find("stopped cleanly"), std::string::npos) << agent.log();
    const auto pending = pendingIn(rig);
    EXPECT_GE(pending, 64) << "events without a PUBACK must stay pending";

    proxy.set(FaultSettings{});
    agent.start();
    ASSERT_TRUE(waitUntil([&] { return pendingIn(rig) == 0; }, std::chrono::seconds(60)))
        << agent.log();
    // The broker acknowledges an event to the agent before HQ has it: the last ones may still be on their way.
    const std::int64_t last = lastSeqIn(rig);
    waitUntil([&] { return judge(hq.events(), last).missing.empty(); }, std::chrono::seconds(10));
    auto verdict = judge(hq.events(), last);
    EXPECT_EQ(verdict.stepsBack, 0u) << verdict.firstStepBack;
    EXPECT_TRUE(verdict.missing.empty()) << verdict.missing.size() << " seq(s) up to " << last << " never reached HQ";
    agent.stop();
}

} // namespace
} // namespace mto::test
