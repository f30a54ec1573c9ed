// SPDX-License-Identifier: Apache-2.0
// Latency: one order at a time, publish to receipt at HQ, against a bare Paho QoS1 publish-to-subscriber hop.
#include <condition_variable>
#include <cstdio>
#include <mutex>

#include "agent_rig.hpp"
#include "bare_mqtt_client.hpp"
#include "bench_support.hpp"
#include "benchmarks.hpp"

namespace mto::bench {

namespace {

const std::string kLatencyBench = "latency";
constexpr auto kLatencyTripTimeout = std::chrono::seconds(5);

} // namespace

void runLatencyBench(const BenchOptions& o, BenchReport& report) {
    const int trips = o.roundTrips;
    const int total = o.warmup + trips;
    AgentRig rig(o);
    rig.startAgentOnline();
    auto& hq = rig.hq();

    std::vector<double> agentMs;
    std::size_t payloadBytes = 0;
    for (int i = 0; i < total; ++i) {
        throwIfInterrupted();
        char id[32];
        std::snprintf(id, sizeof id, "lat-%07d", i);
        const std::string payload = test::makeOrder(id);
        payloadBytes = payload.size();
        const auto sent = Clock::now();
        hq.sendOrder(id, payload);
        if (!hq.waitForEvents(static_cast<std::size_t>(i) + 1, kLatencyTripTimeout))
            throw BenchError(std::string("no receipt for ") + id + " within 5 s; agent log:\n" + rig.agentLogTail());
        auto receipt = hq.lastEventFor(id);
        if (!receipt || receipt->milestone != "received")
            throw BenchError(std::string("the event that arrived for ") + id + " is not a receipt");
        if (i >= o.warmup) agentMs.push_back(millisBetween(sent, receipt->arrived));
    }
    report.figure(kLatencyBench, "agent, order publish -> receipt at HQ (upper bound of commit -> HQ)",
                  spread(agentMs) + " over " + formatCount(trips) + " round trips after " + std::to_string(o.warmup) +
                      " warm-up; one order of " + std::to_string(payloadBytes) +
                      " B at a time: inbound hop + durable commit + outbound event hop");
    const double agentP50 = percentile(agentMs, 50);
    report.goal(kLatencyBench, "agent p50", agentP50, "ms", 2.0, Better::Lower);
    if (auto why = abnormalExit(rig.stopAgent()); !why.empty())
        report.figure(kLatencyBench, "note", "the agent did not exit cleanly on SIGTERM: " + why + "\n" + rig.agentLogTail(3));

    // Baseline: one bare QoS1 hop through the same broker, the same payload size.
    std::mutex mutex;
    std::condition_variable arrived;
    std::vector<Clock::time_point> arrivals;
    arrivals.reserve(static_cast<std::size_t>(total));
    BareMqttClient subscriber(rig.broker().uri(), "bench-lat-sub");
    subscriber.onMessage([&](const mqtt::const_message_ptr&) {
        auto now = Clock::now();
        std::lock_guard lock(mutex);
        arrivals.push_back(now);
        arrived.notify_all();
    });
    subscriber.connect(true, 64);
    const std::string topic = "mto/v1/" + kBareFactory + "/latency";
    subscriber.subscribe(topic, 1);
    BareMqttClient publisher(rig.broker().uri(), "bench-lat-pub");
    publisher.connect(true, 64);
    const std::string payload = test::makeOrder("lat-0000000");
    std::vector<double> bareMs;
    for (int i = 0; i < total; ++i) {
        throwIfInterrupted();
        const auto sent = Clock::now();
        publisher.publish(topic, payload);
        std::unique_lock lock(mutex);
        if (!arrived.wait_for(lock, kLatencyTripTimeout, [&] { return arrivals.size() > static_cast<std::size_t>(i); }))
            throw BenchError("bare message " + std::to_string(i) + " did not arrive within 5 s");
        if (i >= o.warmup) bareMs.push_back(millisBetween(sent, arrivals[static_cast<std::size_t>(i)]));
    }
    const double bareP50 = percentile(bareMs, 50);
    report.figure(kLatencyBench, "baseline, bare Paho QoS1 publish -> subscriber, TCP_NODELAY, same broker",
                  spread(bareMs) + " over " + formatCount(trips) + " messages of " + std::to_string(payload.size()) + " B");
    report.info(kLatencyBench, "ratio agent p50 / baseline p50", fixed(agentP50 / bareP50, 2));
    report.info(kLatencyBench, "agent p50 minus two baseline hops (parse, commit and hand-offs inside the agent)",
                fixed(agentP50 - 2 * bareP50, 3) + " ms");
}

} // namespace mto::bench
