// SPDX-License-Identifier: Apache-2.0
// The media connection: pictures go to HQ on a broker connection of their own, byte for byte, at no more
// than mqtt.media_rate_kib_s, and are marked acknowledged; milestones keep flowing on the events connection.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "agent_rig.hpp"
#include "fault_proxy.hpp"
#include "media/media_parts.hpp"
#include "media/media_store.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "test_env.hpp"
#include "compiler/compile_queue.hpp"
#include "store/commit_queue.hpp"
#include "store/order_store.hpp"
#include "uplink/media_uplink.hpp"
#include "util/clock.hpp"
#include "util/sha256.hpp"

namespace mto::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Writes `count` random files of `bytes` into the agent's media folder and queues them, as the camera does.
std::map<std::string, std::string> seed(AgentProcess& agent, int count, std::size_t bytes) {
    std::filesystem::create_directories(agent.stateDir());
    Database db(agent.databasePath(), Database::Mode::ReadWrite);
    migrate(db);
    std::mt19937_64 rng(11);
    std::map<std::string, std::string> out;
    Transaction txn(db);
    for (int i = 0; i < count; ++i) {
        std::string b(bytes, '\0');
        for (auto& c : b) c = static_cast<char>(rng());
        const std::string sha = sha256Hex(b);
        writeFileDurably(MediaStore::filePath(agent.stateDir(), sha, "image/jpeg"), b);
        MediaStore::enqueue(db, {0, sha, "qc", "image/jpeg", static_cast<std::int64_t>(bytes), i, "ORD-M", "1", ""});
        out.emplace(sha, std::move(b));
    }
    txn.commit();
    return out;
}

TEST(MediaUplink, PicturesReachHqWholeAtTheConfiguredRateOnTheirOwnConnectionAndAreMarkedAcknowledged) {
    AgentRigOptions o;
    o.startAgent = false;
    o.agent.mediaRateKiBs = 256;   // 8 pictures of 128 KiB: 1 MiB, about 4 s at this rate
    AgentRig rig(o);
    const auto pictures = seed(rig.agent(), 8, 128 * 1024);
    const auto started = Clock::now();   // no picture can leave before this
    rig.agent().start();
    rig.waitForOnline();

    // Milestones are not held up meanwhile: an order's receipt arrives while the pictures are still paced.
    rig.hq().sendOrder("ORD-1", makeOrder("ORD-1", 1));
    ASSERT_TRUE(rig.waitForMilestone("ORD-1", "received", 10s)) << rig.agent().log();
    EXPECT_LT(rig.hq().mediaCount(), pictures.size()) << "the pictures went faster than their rate";

    ASSERT_TRUE(waitUntil([&] { return rig.hq().mediaCount() == pictures.size(); }, 30s))
        << rig.hq().mediaCount() << " of " << pictures.size() << "\n" << rig.agent().log();
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    // Each picture pays 0.5 s at 256 KiB/s and one may go 250 ms ahead: the last leaves 7 x 0.5 - 0.25 = 3.25 s
    // after the first at the earliest; unpaced, all of them take milliseconds.
    EXPECT_GE(seconds, 3.0);
    for (const auto& [sha, bytes] : rig.hq().media()) {
        auto it = pictures.find(sha);
        ASSERT_NE(it, pictures.end()) << sha;
        EXPECT_EQ(sha256Hex(bytes), sha);
        EXPECT_TRUE(bytes == it->second);
    }
    EXPECT_NE(rig.agent().log().find("media uplink: connected to"), std::string::npos) << rig.agent().log();
    EXPECT_NE(rig.agent().log().find("-media"), std::string::npos) << "the media connection has a client id of its own";

    rig.agent().stop();
    EXPECT_EQ(scalar(rig.agent().databasePath(), "SELECT COUNT(*) FROM media WHERE state = 'acked'"),
              static_cast<std::int64_t>(pictures.size()))
        << "the acknowledgements are written by the stop at the latest";
}

TEST(MediaUplink, PicturesNotAcknowledgedBeforeAKillGoAgainAfterTheRestart) {
    AgentRigOptions o;
    o.startAgent = false;
    o.agent.mediaRateKiBs = 128;
    AgentRig rig(o);
    const auto pictures = seed(rig.agent(), 6, 64 * 1024);
    rig.agent().start();
    rig.waitForOnline();
    ASSERT_TRUE(waitUntil([&] { return rig.hq().mediaCount() >= 2; }, 20s)) << rig.agent().log();
    rig.agent().kill9();
    ASSERT_LT(rig.hq().mediaCount(), pictures.size()) << "the kill came too late to test anything";
    rig.agent().start();
    ASSERT_TRUE(waitUntil([&] { return rig.hq().mediaCount() == pictures.size(); }, 30s))
        << rig.hq().mediaCount() << " of " << pictures.size() << "\n" << rig.agent().log();
    rig.agent().stop();
    EXPECT_EQ(scalar(rig.agent().databasePath(), "SELECT COUNT(*) FROM media WHERE state = 'acked'"),
              static_cast<std::int64_t>(pictures.size()));
}

TEST(MediaUplink, APictureLargerThanAPartGoesOutInNumberedPartsThatHqPutsTogetherAndASmallOneGoesWhole) {
    AgentRigOptions o;
    o.startAgent = false;
    o.agent.mediaRateKiBs = 0;
    AgentRig rig(o);
    auto pictures = seed(rig.agent(), 1, (1 << 20) + 1000);   // 16 full parts and a short one
    const auto small = seed(rig.agent(), 1, 10 * 1024);
    pictures.insert(small.begin(), small.end());
    rig.agent().start();
    rig.waitForOnline();
    ASSERT_TRUE(waitUntil([&] { return rig.hq().mediaCount() == pictures.size(); }, 30s))
        << rig.hq().mediaCount() << " of " << pictures.size() << "\n" << rig.agent().log();
    for (const auto& [sha, bytes] : rig.hq().media()) {
        ASSERT_EQ(pictures.count(sha), 1u) << sha;
        EXPECT_TRUE(bytes == pictures.at(sha)) << sha << ": " << bytes.size() << " bytes";
    }
    EXPECT_TRUE(rig.hq().badMedia().empty());
    std::map<std::string, std::set<std::string>> partsSeen;   // topic tail after the sha -> parts
    for (const auto& [topic, size] : rig.hq().mediaMessages()) {
        EXPECT_LE(size, kMediaPartBytes) << topic;
        const auto tail = topic.substr(topic.find("/media/") + 7);
        const auto slash = tail.find('/');
        partsSeen[tail.substr(0, slash)].insert(slash == std::string::npos ? "" : tail.substr(slash + 1));
    }
    const std::string bigSha = [&] {
        for (const auto& [sha, bytes] : pictures)
            if (bytes.size() > kMediaPartBytes) return sha;
        return std::string();
    }();
    std::set<std::string> expected;
    for (int i = 0; i < 17; ++i) expected.insert(std::to_string(i) + "/17");
    EXPECT_EQ(partsSeen[bigSha], expected);
    EXPECT_EQ(partsSeen[small.begin()->first], std::set<std::string>{""}) << "a picture that fits one part goes whole";
    rig.agent().stop();
    EXPECT_EQ(scalar(rig.agent().databasePath(), "SELECT COUNT(*) FROM media WHERE state = 'acked'"), 2)
        << "a picture in parts is acknowledged once every part is";
}

TEST(MediaUplink, PicturesInPartsCutOffMidStreamArriveWholeAfterTheReconnectsAndAreAcknowledgedOnlyThen) {
    const std::uint64_t proxySeed = std::random_device{}();
    AgentRigOptions o;
    o.startAgent = false;
    o.agent.mediaRateKiBs = 512;   // 6 pictures of 256 KiB, 4 parts each: about 3 s of parts to cut into
    o.faultProxySeed = proxySeed;
    AgentRig rig(o);
    const auto pictures = seed(rig.agent(), 6, 256 * 1024);
    rig.agent().start();
    rig.waitForOnline();
    FaultProxy& proxy = rig.proxy();
    const auto until = Clock::now() + 3s;
    while (Clock::now() < until && rig.hq().mediaCount() < pictures.size()) {
        proxy.cutSoon(200 * 1024);
        std::this_thread::sleep_for(400ms);
    }
    ASSERT_TRUE(waitUntil([&] { return rig.hq().mediaCount() == pictures.size(); }, 60s))
        << "seed " << proxySeed << ": " << rig.hq().mediaCount() << " of " << pictures.size() << "\n" << rig.agent().log();
    EXPECT_GE(proxy.counters().cuts, 1u) << "seed " << proxySeed << ": no cut came while the parts flowed";
    EXPECT_NE(rig.agent().log().find("media uplink: lost connection"), std::string::npos)
        << "seed " << proxySeed << ": the media connection was never cut\n" << rig.agent().log();
    for (const auto& [sha, bytes] : rig.hq().media()) {
        ASSERT_EQ(pictures.count(sha), 1u) << sha;
        EXPECT_TRUE(bytes == pictures.at(sha)) << "seed " << proxySeed << ": " << sha;
    }
    EXPECT_TRUE(rig.hq().badMedia().empty());
    // Every picture is acknowledged in the end, each once all of its parts were on one connection.
    const auto acked = [&] { return scalar(rig.agent().databasePath(), "SELECT COUNT(*) FROM media WHERE state = 'acked'"); };
    EXPECT_TRUE(waitUntil([&] { return acked() == static_cast<std::int64_t>(pictures.size()); }, 20s))
        << "seed " << proxySeed << ": " << acked() << " acknowledged\n" << rig.agent().log();
    rig.agent().stop();
}


// The media lane on its own, in this process against a real broker: while the events lane says it has a backlog,
// media take a smaller share of the broker (kMaxInflightBytesBehindEvents), and the whole window once it has none.
TEST(MediaUplink, WhileEventsWaitOnlyTheSmallerMediaWindowIsInFlightAndTheWholeOneOnceTheyDoNot) {
    TempDir dir;
    Broker broker(dir.path() / "broker");
    broker.start();
    HqClient hq(broker.uri(), "f1", "media-hq");
    hq.connect();

    constexpr std::int64_t kBytes = 300 * 1024;   // one fits the smaller window, two do not; three fit the whole one
    static_assert(kBytes <= MediaUplink::kMaxInflightBytesBehindEvents &&
                  2 * kBytes > MediaUplink::kMaxInflightBytesBehindEvents && 3 * kBytes <= MediaUplink::kMaxInflightBytes);
    const std::filesystem::path state = dir.path() / "state";
    std::filesystem::create_directories(state);
    Database db(state / "agent.db", Database::Mode::ReadWrite);
    migrate(db);
    std::map<std::string, std::string> pictures;
    {
        std::mt19937_64 rng(5);
        Transaction txn(db);
        for (int i = 0; i < 12; ++i) {
            std::string b(static_cast<std::size_t>(kBytes), '\0');
            for (auto& c : b) c = static_cast<char>(rng());
            const std::string sha = sha256Hex(b);
            writeFileDurably(MediaStore::filePath(state, sha, "image/jpeg"), b);
            MediaStore::enqueue(db, {0, sha, "qc", "image/jpeg", kBytes, i, "ORD-M", "1", ""});
            pictures.emplace(sha, std::move(b));
        }
        txn.commit();
    }
    Config config;
    config.factoryId = "f1";
    config.stateDir = state;
    config.mqtt.uri = broker.uri();
    config.mqtt.clientId = "agent-f1";
    config.mqtt.mediaRateBytesPerSecond = 0;
    config.mqtt.reconnectMin = std::chrono::milliseconds(50);
    config.mqtt.reconnectMax = std::chrono::milliseconds(500);
    boost::asio::io_context io;
    auto busy = boost::asio::make_work_guard(io);   // Paho's reports come from its threads, into an idle loop
    SystemClock clock;
    OrderStore store(db, "f1", clock);
    CommitQueue commits(io, db);
    MediaStore media(db, state);
    MediaUplink up(io, config, store, commits, media);
    bool eventsWaiting = true;
    up.setEventsWaiting([&] { return eventsWaiting; });

    // In flight changes only in the loop's handlers: looking after each one sees its every value.
    std::size_t most = 0;
    auto runUntil = [&](const std::function<bool()>& done) {
        const auto until = Clock::now() + 30s;
        while (!done() && Clock::now() < until) {
            io.run_one_for(10ms);
            most = std::max(most, up.inflight());
        }
        return done();
    };
    up.start();
    ASSERT_TRUE(runUntil([&] { return hq.mediaCount() >= 6; })) << hq.mediaCount() << " of 6";
    EXPECT_EQ(most, 1u) << "while events wait, one 300 KiB picture at a time";

    eventsWaiting = false;
    up.poke();   // as the events lane does when its backlog ends
    EXPECT_GE(up.inflight(), 2u) << "without events waiting the whole window fills at once";
    ASSERT_TRUE(runUntil([&] { return hq.mediaCount() == pictures.size(); }))
        << hq.mediaCount() << " of " << pictures.size();
    EXPECT_GE(most, 2u);
    for (const auto& [sha, bytes] : hq.media()) {
        ASSERT_EQ(pictures.count(sha), 1u) << sha;
        EXPECT_TRUE(bytes == pictures.at(sha)) << sha;
    }
    bool stopped = false;
    up.stop([&] { stopped = true; });
    EXPECT_TRUE(runUntil([&] { return stopped; }));
}

} // namespace
} // namespace mto::test
