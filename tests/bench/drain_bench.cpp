// SPDX-License-Identifier: Apache-2.0
// Drain: a backlog of pending events from the agent's outbox to HQ, against a bare windowed Paho publisher.
#include <algorithm>
#include <boost/json.hpp>
#include <condition_variable>
#include <cstdio>
#include <mutex>

#include "agent_rig.hpp"
#include "bare_mqtt_client.hpp"
#include "bench_support.hpp"
#include "benchmarks.hpp"
#include "util/clock.hpp"
#include "store/event_json.hpp"
#include "outbox_filler.hpp"
#include "util/uuid.hpp"

namespace mto::bench {

namespace {

const std::string kDrainBench = "drain";
constexpr auto kAckTimeout = std::chrono::seconds(10);

struct Arrivals {
    Clock::time_point first;
    Clock::time_point last;
    std::size_t outOfOrder = 0;     // arrivals whose seq is not one more than the arrival before
    std::size_t firstBad = 0;       // index of the first such arrival
    bool complete = true;           // seqs 1..n, each once
};

Arrivals examine(const std::vector<test::SeenEvent>& events) {
    Arrivals a;
    if (events.empty()) return a;
    a.first = a.last = events.front().arrived;
    std::vector<bool> seen(events.size() + 1, false);
    for (std::size_t i = 0; i < events.size(); ++i) {
        a.first = std::min(a.first, events[i].arrived);
        a.last = std::max(a.last, events[i].arrived);
        const std::int64_t expected = i == 0 ? 1 : events[i - 1].seq + 1;
        if (events[i].seq != expected && a.outOfOrder++ == 0) a.firstBad = i;
        const auto seq = events[i].seq;
        if (seq < 1 || seq > static_cast<std::int64_t>(events.size()) || seen[static_cast<std::size_t>(seq)])
            a.complete = false;
        else
            seen[static_cast<std::size_t>(seq)] = true;
    }
    return a;
}

std::string orderText(const Arrivals& a, const std::vector<test::SeenEvent>& events, std::size_t duplicates) {
    std::string dups = formatCount(static_cast<std::int64_t>(duplicates)) + " duplicates dropped by event_id";
    if (a.outOfOrder == 0 && a.complete) return "in order, 1.." + formatCount(static_cast<std::int64_t>(events.size())) +
                                                 " without gaps; " + dups;
    std::string text = formatCount(static_cast<std::int64_t>(a.outOfOrder)) + " arrivals out of order";
    if (a.outOfOrder > 0)
        text += ", the first at arrival #" + std::to_string(a.firstBad + 1) + ": seq " +
                std::to_string(events[a.firstBad].seq) + " after seq " +
                (a.firstBad ? std::to_string(events[a.firstBad - 1].seq) : std::string("nothing"));
    if (!a.complete) text += "; seqs are not exactly 1..n";
    return text + "; " + dups;
}

// The events the bare publisher sends: built by the agent's own serializer, so they have the agent's shape and size.
void makeBareEvents(int count, std::vector<std::string>& topics, std::vector<std::string>& payloads) {
    UuidGenerator uuids;
    const std::int64_t now = SystemClock().nowMs();
    for (int i = 1; i <= count; ++i) {
        char id[32];
        std::snprintf(id, sizeof id, "ord-%07d", i);
        Event e;
        e.seq = i;
        e.eventId = uuids.next();
        e.orderId = id;
        e.milestone = "received";
        e.atMs = now;
        boost::json::object data;
        data["revision"] = 1;
        data["items"] = 1;
        data["priority"] = "standard";
        data["duplicate"] = false;
        topics.push_back(eventTopic(kBareFactory, e.orderId));
        payloads.push_back(eventPayload(e, kBareFactory, data));
    }
}

} // namespace

void runDrainBench(const BenchOptions& o, BenchReport& report) {
    const int n = o.events;
    const auto timeout = std::chrono::milliseconds(60000 + 2LL * n);
    AgentRig rig(o);
    std::filesystem::create_directories(rig.agent().stateDir());
    const FillResult fill = fillOutbox(rig.agent().databasePath(), kAgentFactory, n);
    report.figure(kDrainBench, "workload",
                  formatCount(fill.events) + " pending received events, payload " + fixed(fill.averagePayloadBytes, 0) +
                      " B, topic " + fixed(fill.averageTopicBytes, 0) + " B, window " + std::to_string(o.window) +
                      " (outbox filled in " + fixed(fill.seconds, 1) + " s)");

    // HQ's persistent session exists before the agent publishes anything, so the broker drops nothing.
    rig.connectHq();
    auto& hq = rig.hq();
    const auto started = Clock::now();
    rig.agent().start();
    rig.waitForHqEvents(static_cast<std::size_t>(n), timeout, std::chrono::milliseconds(20));
    const double cpu = cpuSeconds(rig.agent().pid());
    const std::int64_t peakKiB = peakResidentKiB(rig.agent().pid());
    const auto events = hq.events();
    const Arrivals agent = examine(events);
    const double agentSeconds = secondsBetween(started, agent.last);
    const double agentRate = n / agentSeconds;
    report.figure(kDrainBench, "agent, start -> all events at HQ (de-duplicated by event_id)",
                  formatCount(n) + " events in " + fixed(agentSeconds, 3) + " s = " +
                      perSecond(n, agentSeconds, "events") + " (first event after " +
                      fixed(millisBetween(started, agent.first), 0) + " ms; " +
                      perSecond(n - 1, secondsBetween(agent.first, agent.last), "events") + " from first to last)");
    report.check(kDrainBench, "agent seq order at HQ", agent.outOfOrder == 0 && agent.complete,
                 orderText(agent, events, hq.duplicateCount()));
    if (cpu >= 0)
        report.figure(kDrainBench, "agent CPU over the drain",
                      fixed(cpu, 2) + " s user+sys = " + fixed(cpu * 1e6 / n, 1) + " us per event, " +
                          fixed(cpu / agentSeconds * 100.0, 0) + "% of one core (startup included)");
    if (peakKiB >= 0)
        report.figure(kDrainBench, "agent peak VmRSS over the drain", fixed(peakKiB / 1024.0, 1) + " MiB (VmHWM)");
    if (auto why = abnormalExit(rig.stopAgent()); !why.empty())
        report.figure(kDrainBench, "note", "the agent did not exit cleanly on SIGTERM: " + why + "\n" + rig.agentLogTail(3));

    // Baseline: the same number of same-size messages from a publisher that keeps the same window.
    std::vector<std::string> topics, payloads;
    makeBareEvents(n, topics, payloads);
    double bytes = 0;
    for (const auto& p : payloads) bytes += static_cast<double>(p.size());
    test::HqClient bareHq(rig.broker().uri(), kBareFactory, "bench-hq-bare");
    bareHq.connect();
    std::mutex mutex;
    std::condition_variable acked;
    int inflight = 0;
    BareMqttClient publisher(rig.broker().uri(), "bench-bare-pub");
    publisher.onAck([&] {
        {
            std::lock_guard lock(mutex);
            --inflight;
        }
        acked.notify_one();
    });
    // The agent asks Paho for the same room: its window plus a few for status messages.
    publisher.connect(true, o.window + 8);
    const auto bareStarted = Clock::now();
    for (std::size_t i = 0; i < payloads.size(); ++i) {
        if (i % 256 == 0) throwIfInterrupted();
        {
            std::unique_lock lock(mutex);
            if (!acked.wait_for(lock, kAckTimeout, [&] { return inflight < o.window; }))
                throw BenchError("bare publisher: no PUBACK for 10 s with " + std::to_string(inflight) + " in flight");
            ++inflight;
        }
        publisher.publish(topics[i], payloads[i]);
    }
    waitFor([&] { return bareHq.eventCount() >= static_cast<std::size_t>(n); }, timeout,
            std::to_string(n) + " bare events at HQ", std::chrono::milliseconds(20));
    const auto bareEvents = bareHq.events();
    const Arrivals bare = examine(bareEvents);
    const double bareSeconds = secondsBetween(bareStarted, bare.last);
    const double bareRate = n / bareSeconds;
    report.figure(kDrainBench, "baseline, bare Paho publisher with window " + std::to_string(o.window) + " -> an identical HQ client",
                  formatCount(n) + " events of " + fixed(bytes / n, 0) + " B in " + fixed(bareSeconds, 3) + " s = " +
                      perSecond(n, bareSeconds, "events") + "; " + orderText(bare, bareEvents, bareHq.duplicateCount()));
    report.goal(kDrainBench, "ratio agent / baseline", agentRate / bareRate, "", 0.8, Better::Higher);
}

} // namespace mto::bench
