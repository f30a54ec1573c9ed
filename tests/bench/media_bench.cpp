// SPDX-License-Identifier: Apache-2.0
// The media lane: milestone latency while 1 MB snapshots stream out against none; outbox drain with a snapshot
// per 20 events against a bare Paho publisher of the same bytes and window; agent RSS with 4 open cameras.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <random>

#include "agent_rig.hpp"
#include "bare_mqtt_client.hpp"
#include "bench_support.hpp"
#include "benchmarks.hpp"
#include "compiler/compile_queue.hpp"
#include "media/media_parts.hpp"
#include "media/media_store.hpp"
#include "outbox_filler.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "store/event_json.hpp"
#include "util/clock.hpp"
#include "util/sha256.hpp"
#include "util/uuid.hpp"

#include <cstring>
#include <thread>

namespace mto::bench {

namespace {

constexpr auto kMediaTripTimeout = std::chrono::seconds(5);

std::string randomBytes(std::size_t n, std::mt19937_64& rng) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
        const auto v = rng();
        std::memcpy(&s[i], &v, 8);
    }
    return s;
}

// Queues `count` snapshots of `bytes` each in the agent's media lane, as the QC room stores them. With
// `distinct` false they are hard links of one file under made-up hashes (the agent does not re-hash what it
// sends), so a long stream costs no disk.
std::vector<std::string> seedMedia(const std::filesystem::path& stateDir, const std::filesystem::path& database,
                                   int count, std::size_t bytes, std::mt19937_64& rng, bool distinct = true) {
    std::filesystem::create_directories(stateDir);
    Database db(database, Database::Mode::ReadWrite);
    migrate(db);
    std::vector<std::string> shas;
    std::filesystem::path first;
    Transaction txn(db);
    for (int i = 0; i < count; ++i) {
        std::string sha;
        if (distinct || first.empty()) {
            const std::string b = randomBytes(bytes, rng);
            sha = sha256Hex(b);
            writeFileDurably(MediaStore::filePath(stateDir, sha, "image/jpeg"), b);
            first = MediaStore::filePath(stateDir, sha, "image/jpeg");
        } else {
            sha = sha256Hex("snapshot " + std::to_string(i));
            std::filesystem::create_hard_link(first, MediaStore::filePath(stateDir, sha, "image/jpeg"));
        }
        MediaStore::enqueue(db, {0, sha, "qc", "image/jpeg", static_cast<std::int64_t>(bytes), i, "seed", "1", ""});
        shas.push_back(sha);
    }
    txn.commit();
    return shas;
}

// Receipt latency of one order at a time; with `streaming`, only trips that ended while it still held.
std::vector<double> receiptTrips(AgentRig& rig, int warmup, int trips, const std::string& prefix,
                                 const std::function<bool()>& streaming = {}) {
    auto& hq = rig.hq();
    std::vector<double> ms;
    const std::size_t before = hq.eventCount();
    for (int i = 0; i < warmup + trips; ++i) {
        throwIfInterrupted();
        char id[32];
        std::snprintf(id, sizeof id, "%s-%06d", prefix.c_str(), i);
        const auto sent = Clock::now();
        hq.sendOrder(id, test::makeOrder(id));
        if (!hq.waitForEvents(before + static_cast<std::size_t>(i) + 1, kMediaTripTimeout))
            throw BenchError(std::string("no receipt for ") + id + " within 5 s; agent log:\n" + rig.agentLogTail());
        auto receipt = hq.lastEventFor(id);
        if (!receipt) throw BenchError(std::string("no event for ") + id);
        if (streaming && !streaming()) break;
        if (i >= warmup) ms.push_back(millisBetween(sent, receipt->arrived));
    }
    return ms;
}

// A drain as HQ saw it, in seconds: from `started` to the first event or media message, from there to the last
// event or image complete, and when (after the first message) the events and the images were all in.
struct Span {
    double startup = 0, drain = 0, eventsDone = 0, imagesDone = 0;
    std::size_t events = 0, eventsByLastImage = 0;   // how far the events were when the last image was complete
};

Span span(test::HqClient& hq, Clock::time_point started) {
    const auto first = hq.firstArrival();
    const auto images = hq.lastImageArrival();
    const auto events = hq.events();
    if (!first || !images || events.empty()) throw BenchError("HQ saw no drain to time");
    auto lastEvent = events.front().arrived;
    Span s;
    for (const auto& e : events) {
        lastEvent = std::max(lastEvent, e.arrived);
        s.eventsByLastImage += e.arrived <= *images;
    }
    s.events = events.size();
    s.startup = secondsBetween(started, *first);
    s.eventsDone = secondsBetween(*first, lastEvent);
    s.imagesDone = secondsBetween(*first, *images);
    s.drain = std::max(s.eventsDone, s.imagesDone);
    return s;
}

} // namespace

void runMediaLatencyBench(const BenchOptions& o, BenchReport& report) {
    const std::string bench = "media-latency";
    const int trips = std::min(o.roundTrips, 400);
    std::mt19937_64 rng(42);
    std::vector<double> quiet, busy;
    {
        AgentRig rig(o);
        rig.startAgentOnline();
        quiet = receiptTrips(rig, o.warmup, trips, "q");
    }
    constexpr int kMedia = 2000;   // 2,000 MiB: under the default media quota of 2,048 MiB
    constexpr std::size_t kMediaBytes = 1 << 20;
    std::size_t mediaDuring = 0;
    double mediaSeconds = 0;
    {
        AgentRig rig(o);
        seedMedia(rig.agent().stateDir(), rig.agent().databasePath(), kMedia, kMediaBytes, rng, false);
        // HQ takes events on one connection and images on another, as the contract advises.
        rig.connectHq();
        rig.hq().ignoreMedia();
        std::atomic<std::size_t> images{0};
        BareMqttClient imageSink(rig.broker().uri(), "bench-hq-media");
        // An image counts once all of its parts are in (an image larger than a part comes in parts).
        MediaReassembly reassembly;
        imageSink.onMessage([&](const mqtt::const_message_ptr& msg) {
            const std::string& topic = msg->get_topic();
            const auto at = topic.find("/media/");
            if (at != std::string::npos && reassembly.add(std::string_view(topic).substr(at + 7), msg->to_string())) ++images;
        });
        imageSink.connect(true, 64);
        imageSink.subscribe("mto/v1/" + kAgentFactory + "/media/#", 1);
        rig.agent().start();
        const auto start = Clock::now();
        if (!rig.hq().waitForOnline(std::chrono::seconds(20))) throw BenchError("agent not online");
        busy = receiptTrips(rig, 0, trips, "b", [&] { return images.load() < static_cast<std::size_t>(kMedia); });
        if (busy.size() < 50) throw BenchError("only " + std::to_string(busy.size()) + " trips while media streamed");
        // The media must still have been streaming when the last trip ended, else the figure says nothing.
        mediaDuring = images.load();
        mediaSeconds = secondsBetween(start, Clock::now());
    }
    report.figure(bench, "receipts at HQ, no media", spread(quiet) + " over " + std::to_string(trips) + " trips");
    report.figure(bench, "receipts at HQ while 1 MiB snapshots stream out at the default media rate (8 MiB/s)",
                  spread(busy) + " over the " + std::to_string(busy.size()) + " trips that ended while snapshots were still streaming; " + std::to_string(mediaDuring) + " of " +
                      std::to_string(kMedia) + " snapshots at HQ in the " + fixed(mediaSeconds, 2) + " s it took");
    report.goal(bench, "ratio p99 with media / p99 without", percentile(busy, 99) / percentile(quiet, 99), "", 2.0,
                Better::Lower);
}

namespace {


struct DrainRound {
    Span agent, bare;
    std::string workload;
};

// One round of the drain: the agent drains a filled outbox and its media to HQ, then a bare publisher sends the
// same events and bytes to a second HQ client on the same broker.
DrainRound drainRound(const BenchOptions& o, int n, std::mt19937_64& rng) {
    const int snapshots = n / 20;
    constexpr std::size_t kSnapshotBytes = 200 * 1024;
    DrainRound round;
    // No media rate limit: the agent's own pipeline against a bare publisher of the same bytes, both as fast as
    // they go (the latency benchmark runs with the default limit).
    AgentRig rig(o, "", 0);
    std::filesystem::create_directories(rig.agent().stateDir());
    const FillResult fill = fillOutbox(rig.agent().databasePath(), kAgentFactory, n);
    const auto shas = seedMedia(rig.agent().stateDir(), rig.agent().databasePath(), snapshots, kSnapshotBytes, rng);
    round.workload = formatCount(n) + " pending events of " + fixed(fill.averagePayloadBytes, 0) + " B and " +
                     std::to_string(snapshots) + " snapshots of " + std::to_string(kSnapshotBytes / 1024) +
                     " KiB (one per 20 events), window " + std::to_string(o.window);
    rig.connectHq();
    auto& hq = rig.hq();
    const auto started = Clock::now();
    rig.agent().start();
    rig.waitForHqEvents(static_cast<std::size_t>(n), std::chrono::seconds(300), std::chrono::milliseconds(20));
    waitFor([&] { return hq.mediaCount() >= shas.size(); }, std::chrono::seconds(300), "snapshots at HQ",
            std::chrono::milliseconds(20));
    round.agent = span(hq, started);
    rig.stopAgent();

    // Baseline: the same events and bytes from a publisher keeping the same window, a snapshot after every 20 events.
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
    publisher.connect(true, o.window + 8);
    std::vector<std::string> media;
    for (int i = 0; i < snapshots; ++i) media.push_back(randomBytes(kSnapshotBytes, rng));
    // The events as the agent writes them (its own serializer), under the bare factory's id of the same length.
    std::vector<std::string> topics, payloads;
    UuidGenerator uuids;
    for (int i = 1; i <= n; ++i) {
        char id[32];
        std::snprintf(id, sizeof id, "ord-%07d", i);
        Event e;
        e.seq = i;
        e.eventId = uuids.next();
        e.orderId = id;
        e.milestone = "received";
        e.atMs = SystemClock().nowMs();
        topics.push_back(eventTopic(kBareFactory, e.orderId));
        payloads.push_back(eventPayload(e, kBareFactory,
                                        {{"revision", 1}, {"items", 1}, {"priority", "standard"}, {"duplicate", false}}));
    }
    const auto bareStarted = Clock::now();
    for (int i = 0; i < n; ++i) {
        if (i % 256 == 0) throwIfInterrupted();
        auto send = [&](const std::string& topic, const std::string& bytes) {
            std::unique_lock lock(mutex);
            if (!acked.wait_for(lock, std::chrono::seconds(10), [&] { return inflight < o.window; }))
                throw BenchError("bare publisher: no PUBACK for 10 s");
            ++inflight;
            lock.unlock();
            publisher.publish(topic, bytes);
        };
        send(topics[static_cast<std::size_t>(i)], payloads[static_cast<std::size_t>(i)]);
        if (i % 20 == 19) send("mto/v1/" + kBareFactory + "/media/" + std::to_string(i), media[static_cast<std::size_t>(i / 20)]);
    }
    waitFor([&] { return bareHq.eventCount() >= static_cast<std::size_t>(n) && bareHq.mediaCount() >= media.size(); },
            std::chrono::seconds(300), "bare events and media at HQ", std::chrono::milliseconds(20));
    round.bare = span(bareHq, bareStarted);
    return round;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::string spanText(const Span& s) {
    return fixed(s.drain, 3) + " s (events all in after " + fixed(s.eventsDone, 3) + " s, snapshots after " +
           fixed(s.imagesDone, 3) + " s, when " + formatCount(static_cast<std::int64_t>(s.eventsByLastImage)) + " of " +
           formatCount(static_cast<std::int64_t>(s.events)) + " events were in)";
}

} // namespace

void runMediaDrainBench(const BenchOptions& o, BenchReport& report) {
    const std::string bench = "media-drain";
    const int n = std::min(o.events, 20000);
    std::mt19937_64 rng(7);
    // The machine's load moves between the agent's turn and the baseline's; rounds that alternate the two, and the
    // median of their ratios, keep one slow spell from deciding the figure.
    const int rounds = o.quick ? 3 : 5;
    std::vector<double> drainRatios, startRatios;
    for (int r = 1; r <= rounds; ++r) {
        const DrainRound round = drainRound(o, n, rng);
        if (r == 1) report.figure(bench, "workload", round.workload + "; " + std::to_string(rounds) + " rounds");
        const std::string tag = "round " + std::to_string(r) + ": ";
        report.figure(bench, tag + "agent, start -> first message at HQ (process start, loading, connecting)",
                      fixed(round.agent.startup, 3) + " s");
        report.figure(bench, tag + "agent, first -> last message at HQ (the drain)", spanText(round.agent));
        report.figure(bench, tag + "baseline, bare Paho publisher, same window, same bytes, first -> last message at HQ",
                      spanText(round.bare) + "; first publish -> first message " + fixed(round.bare.startup, 3) + " s");
        drainRatios.push_back(round.bare.drain / round.agent.drain);
        startRatios.push_back((round.bare.startup + round.bare.drain) / (round.agent.startup + round.agent.drain));
    }
    std::string each;
    for (double r : drainRatios) each += (each.empty() ? "" : ", ") + fixed(r, 2);
    report.figure(bench, "ratio of the drains per round", each);
    // The drain is timed alike on both sides, from the first message at HQ to the last. The agent's own start (a
    // process loading its libraries and opening its database; the baseline is connected before its clock starts)
    // is reported beside it, and in this ratio, which the goal does not use.
    report.info(bench, "median ratio agent / baseline with the agent's process start (against the first publish)",
                fixed(median(startRatios), 2));
    report.goal(bench, "median ratio agent drain rate / baseline drain rate", median(drainRatios), "", 1.0,
                Better::Higher);
}

void runCameraMemoryBench(const BenchOptions& o, BenchReport& report) {
    const std::string bench = "camera-memory";
    if (!std::filesystem::exists("/usr/bin/ffmpeg")) throw BenchError("ffmpeg is not installed");
    auto measure = [&](int cameras) {
        test::TempDir dir;
        test::Broker broker(dir.path() / "broker");
        broker.start();
        std::vector<std::unique_ptr<test::Process>> servers;
        test::AgentOptions a;
        a.logLevel = o.logLevel;
        for (int i = 0; i < cameras; ++i) {
            const int port = test::freeTcpPort();
            const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/cam.mjpg";
            servers.push_back(std::make_unique<test::Process>());
            servers.back()->start({"/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                                   "testsrc=size=1280x720:rate=10", "-f", "mpjpeg", "-q:v", "4", "-listen", "1", url},
                                  dir.path() / ("cam" + std::to_string(i) + ".log"));
            a.extraConfig += "[[cameras]]\nid = \"cam-" + std::to_string(i) + "\"\nsource = \"" + url +
                             "\"\nmachines = []\nkeep_open = true\n";
        }
        test::AgentProcess agent(dir.path() / "agent", broker.port(), a);
        agent.start();
        std::this_thread::sleep_for(std::chrono::seconds(15));
        const std::int64_t rss = residentKiB(agent.pid());
        const std::int64_t peak = peakResidentKiB(agent.pid());
        const double cpu = cpuSeconds(agent.pid());
        const bool streaming = cameras == 0 || agent.log().find("stream lost") == std::string::npos;
        stopAgentProcess(agent);
        for (auto& s : servers) s->kill9();
        return std::tuple{rss, peak, cpu, streaming};
    };
    auto [rss0, peak0, cpu0, ok0] = measure(0);
    auto [rss4, peak4, cpu4, ok4] = measure(4);
    report.figure(bench, "agent, no camera", fixed(rss0 / 1024.0, 1) + " MiB VmRSS after 15 s (peak " +
                                                 fixed(peak0 / 1024.0, 1) + " MiB), CPU " + fixed(cpu0, 2) + " s");
    report.figure(bench, "agent, 4 open cameras, 1280x720 MJPEG at 10 fps",
                  fixed(rss4 / 1024.0, 1) + " MiB VmRSS after 15 s (peak " + fixed(peak4 / 1024.0, 1) + " MiB), CPU " +
                      fixed(cpu4, 2) + " s" + (ok4 ? "" : "; a stream was lost during the run"));
    report.info(bench, "per camera", fixed((rss4 - rss0) / 4.0 / 1024.0, 1) + " MiB");
    report.goal(bench, "extra RSS for 4 cameras", (rss4 - rss0) / 1024.0, "MiB", 64.0, Better::Lower);
}

} // namespace mto::bench
