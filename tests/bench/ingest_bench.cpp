// SPDX-License-Identifier: Apache-2.0
// Ingest: orders per second from HQ's publish to stored and receipted, against an fsync loop and a bare subscriber.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "agent_rig.hpp"
#include "bare_mqtt_client.hpp"
#include "bench_support.hpp"
#include "benchmarks.hpp"
#include "commit_subscriber.hpp"

namespace mto::bench {

namespace {

const std::string kIngestBench = "ingest";
constexpr std::size_t kRecordBytes = 500;
constexpr int kRounds = 10;
constexpr int kOverwriteSlots = 8;

struct Workload {
    std::vector<std::string> ids;
    std::vector<std::string> payloads;
    double averageBytes = 0;
};

Workload makeWorkload(int count) {
    Workload w;
    std::size_t bytes = 0;
    for (int i = 1; i <= count; ++i) {
        char id[32];
        std::snprintf(id, sizeof id, "ing-%07d", i);
        w.ids.emplace_back(id);
        w.payloads.push_back(test::makeOrder(id));
        bytes += w.payloads.back().size();
    }
    w.averageBytes = static_cast<double>(bytes) / count;
    return w;
}

enum class SyncedWrite {
    Append,      // the file grows with every record, so each fdatasync also writes the inode
    Overwrite,   // records land in a block that already exists, like SQLite reusing its WAL after a checkpoint
};

// What the agent's durable commit is held against: the cheapest durable write the filesystem offers.
double fsyncLoopSeconds(const std::filesystem::path& dir, int count, SyncedWrite how) {
    const auto path = dir / "fsync-baseline.dat";
    int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (how == SyncedWrite::Append ? O_APPEND : 0);
    int fd = ::open(path.c_str(), flags, 0600);
    if (fd < 0) throw BenchError("cannot create " + path.string() + ": " + std::strerror(errno));
    std::string record(kRecordBytes - 1, 'r');
    record += '\n';
    auto fail = [&](const char* what) {
        int err = errno;
        ::close(fd);
        std::filesystem::remove(path);
        throw BenchError(std::string(what) + " on " + path.string() + " failed: " + std::strerror(err));
    };
    if (how == SyncedWrite::Overwrite) {
        const std::string block(kOverwriteSlots * kRecordBytes, '\0');
        if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) || ::fsync(fd) != 0)
            fail("preallocating");
    }
    auto started = Clock::now();
    for (int i = 0; i < count; ++i) {
        if (i % 256 == 0) throwIfInterrupted();
        const auto n = static_cast<ssize_t>(record.size());
        const ssize_t written = how == SyncedWrite::Append
                                    ? ::write(fd, record.data(), record.size())
                                    : ::pwrite(fd, record.data(), record.size(),
                                               static_cast<off_t>((i % kOverwriteSlots) * kRecordBytes));
        if (written != n || ::fdatasync(fd) != 0) fail("write + fdatasync");
    }
    double seconds = secondsBetween(started, Clock::now());
    ::close(fd);
    std::filesystem::remove(path);
    return seconds;
}

// Per-record time of one synced-write loop, summed over the rounds it ran in.
struct SyncedLoop {
    double seconds = 0;
    double fastestMs = 1e300;
    double slowestMs = 0;
    void add(double s, int records) {
        seconds += s;
        fastestMs = std::min(fastestMs, s * 1000.0 / records);
        slowestMs = std::max(slowestMs, s * 1000.0 / records);
    }
    std::string describe(int n) const {
        return formatCount(n) + " records in " + fixed(seconds, 3) + " s = " + perSecond(n, seconds, "records") + " (" +
               fixed(seconds * 1000.0 / n, 3) + " ms each; rounds ranged " + fixed(fastestMs, 3) + " .. " +
               fixed(slowestMs, 3) + " ms)";
    }
};

} // namespace

void runIngestBench(const BenchOptions& o, BenchReport& report) {
    const int n = o.orders;
    const Workload work = makeWorkload(n);
    report.figure(kIngestBench, "workload",
                  formatCount(n) + " one-item orders of " + fixed(work.averageBytes, 0) +
                      " bytes, published back to back at QoS1 by the test HQ (Paho, in-flight up to 1000)");
    const auto agentTimeout = std::chrono::milliseconds(60000 + 20LL * n);
    const auto bareTimeout = std::chrono::milliseconds(60000 + 5LL * n);

    AgentRig rig(o);
    std::filesystem::create_directories(rig.agent().stateDir());
    rig.startAgentOnline();
    auto& hq = rig.hq();

    // The agent and baseline A take turns in rounds, because this disk's fdatasync time drifts by 10x
    // within seconds; interleaving gives both sides of the ratio the same weather.
    const int rounds = std::min(kRounds, n);
    double agentSeconds = 0;
    SyncedLoop append, overwrite;
    Clock::duration handOver{};
    const double cpuBefore = cpuSeconds(rig.agent().pid());
    for (int r = 0; r < rounds; ++r) {
        const int first = static_cast<int>(static_cast<std::int64_t>(n) * r / rounds);
        const int end = static_cast<int>(static_cast<std::int64_t>(n) * (r + 1) / rounds);
        const auto started = Clock::now();
        for (int i = first; i < end; ++i) {
            if (i % 256 == 0) throwIfInterrupted();
            hq.sendOrder(work.ids[static_cast<std::size_t>(i)], work.payloads[static_cast<std::size_t>(i)]);
        }
        handOver += Clock::now() - started;
        rig.waitForHqEvents(static_cast<std::size_t>(end), agentTimeout, std::chrono::milliseconds(5));
        Clock::time_point lastReceipt = started;
        const auto events = hq.events();
        for (std::size_t i = static_cast<std::size_t>(first); i < events.size(); ++i)
            lastReceipt = std::max(lastReceipt, events[i].arrived);
        agentSeconds += secondsBetween(started, lastReceipt);

        append.add(fsyncLoopSeconds(rig.agent().stateDir(), end - first, SyncedWrite::Append), end - first);
        overwrite.add(fsyncLoopSeconds(rig.agent().stateDir(), end - first, SyncedWrite::Overwrite), end - first);
    }
    const double cpuAfter = cpuSeconds(rig.agent().pid());
    if (auto got = hq.receiptCount(); got != static_cast<std::size_t>(n))
        throw BenchError("HQ has " + std::to_string(got) + " receipts for " + std::to_string(n) + " orders");
    const double agentRate = n / agentSeconds;
    report.figure(kIngestBench, "agent, publish -> stored -> receipt at HQ",
                  formatCount(n) + " orders in " + fixed(agentSeconds, 3) + " s = " + perSecond(n, agentSeconds, "orders") +
                      " (" + std::to_string(rounds) + " rounds; HQ handed them to Paho in " +
                      fixed(std::chrono::duration<double>(handOver).count(), 3) + " s; " +
                      std::to_string(hq.duplicateCount()) + " duplicate receipts)");
    if (cpuBefore >= 0 && cpuAfter >= 0)
        report.figure(kIngestBench, "agent CPU while ingesting",
                      fixed(cpuAfter - cpuBefore, 2) + " s user+sys = " +
                          fixed((cpuAfter - cpuBefore) * 1000.0 / n, 3) + " ms per order, " +
                          fixed((cpuAfter - cpuBefore) / agentSeconds * 100.0, 0) + "% of one core");
    if (auto why = abnormalExit(rig.stopAgent()); !why.empty())
        report.figure(kIngestBench, "note", "the agent did not exit cleanly on SIGTERM: " + why + "\n" + rig.agentLogTail(3));
    report.figure(kIngestBench, "baseline A, append 500 B + fdatasync per record, agent's filesystem", append.describe(n));
    report.goal(kIngestBench, "ratio agent / baseline A", agentRate / (n / append.seconds), "", 0.8, Better::Higher);
    // Paho hands over one message at a time and acknowledges it after the callback, so an order's time is
    // its fsync plus everything else in series; this line shows how the two compare.
    if (cpuBefore >= 0 && cpuAfter >= 0)
        report.info(kIngestBench, "per order: publish -> receipt / baseline A's write+fdatasync / agent CPU (all threads)",
                    fixed(agentSeconds * 1000.0 / n, 3) + " / " + fixed(append.seconds * 1000.0 / n, 3) + " / " +
                        fixed((cpuAfter - cpuBefore) * 1000.0 / n, 3) + " ms");
    report.figure(kIngestBench, "baseline A2, overwrite 500 B in place + fdatasync (no file growth)", overwrite.describe(n));
    report.info(kIngestBench, "ratio agent / baseline A2", fixed(agentRate / (n / overwrite.seconds), 2));

    // Baseline B: the same messages through the same broker to a subscriber that only counts them.
    std::mutex mutex;
    std::size_t received = 0;
    Clock::time_point lastArrival;
    BareMqttClient subscriber(rig.broker().uri(), "bench-bare-sub");
    subscriber.onMessage([&](const mqtt::const_message_ptr&) {
        std::lock_guard lock(mutex);
        ++received;
        lastArrival = Clock::now();
    });
    subscriber.connect(true, 1000);
    const std::string bareTopic = "mto/v1/" + kBareFactory + "/orders";
    subscriber.subscribe(bareTopic, 1);
    test::HqClient publisher(rig.broker().uri(), kBareFactory, "bench-hq-bare");
    publisher.connect();
    const auto bareStarted = Clock::now();
    for (int i = 0; i < n; ++i) {
        if (i % 256 == 0) throwIfInterrupted();
        publisher.publishRaw(bareTopic, work.payloads[static_cast<std::size_t>(i)]);
    }
    waitFor(
        [&] {
            std::lock_guard lock(mutex);
            return received >= static_cast<std::size_t>(n);
        },
        bareTimeout, std::to_string(n) + " messages at the bare subscriber", std::chrono::milliseconds(5));
    double bareSeconds = 0;
    {
        std::lock_guard lock(mutex);
        bareSeconds = secondsBetween(bareStarted, lastArrival);
    }
    report.figure(kIngestBench, "baseline B, bare Paho subscriber (QoS1, no storage, no reply), same broker",
                  formatCount(n) + " messages in " + fixed(bareSeconds, 3) + " s = " + perSecond(n, bareSeconds, "messages"));
    report.info(kIngestBench, "ratio agent / baseline B", fixed(agentRate / (n / bareSeconds), 3));

    // Baseline C: what any receiver that acknowledges only after its commit can reach with Paho, which
    // delivers one message at a time on one thread per process and acknowledges it when the callback returns.
    const double commitSeconds =
        commitSubscriberSeconds(rig.broker().uri(), "mto/v1/bench-c/orders", work.payloads, rig.agent().stateDir());
    report.figure(kIngestBench,
                  "baseline C, Paho subscriber committing each message in SQLite (WAL, synchronous FULL) "
                  "inside its callback, own process",
                  formatCount(n) + " messages in " + fixed(commitSeconds, 3) + " s = " +
                      perSecond(n, commitSeconds, "messages") + " (" + fixed(commitSeconds * 1000.0 / n, 3) +
                      " ms each)");
    report.info(kIngestBench, "ratio baseline C / baseline A (the most one Paho connection allows on this disk)",
                fixed((n / commitSeconds) / (n / append.seconds), 2));
    report.info(kIngestBench, "ratio agent / baseline C", fixed(agentRate / (n / commitSeconds), 2));
}

} // namespace mto::bench
