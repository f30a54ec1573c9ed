// SPDX-License-Identifier: Apache-2.0
// Baseline C of the ingest benchmark: the least a receiver can do that acknowledges only after a commit.
#include "commit_subscriber.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "bare_mqtt_client.hpp"
#include "bench_support.hpp"
#include "hq_client.hpp"
#include "test_env.hpp"

namespace mto::bench {

namespace {

// One prepared statement, finalized on scope exit.
struct Statement {
    sqlite3_stmt* s = nullptr;
    Statement(sqlite3* db, const char* sql) {
        if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK)
            throw BenchError(std::string("commit subscriber: ") + sqlite3_errmsg(db));
    }
    ~Statement() { sqlite3_finalize(s); }
    void run() {
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) throw BenchError("commit subscriber: step failed (" + std::to_string(rc) + ")");
    }
};

std::int64_t monotonicNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

} // namespace

int runCommitSubscriber(int argc, char** argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: mto_bench --commit-subscriber URI TOPIC COUNT DATABASE\n");
        return 2;
    }
    const std::string uri = argv[2], topic = argv[3];
    const long count = std::strtol(argv[4], nullptr, 10);
    sqlite3* db = nullptr;
    if (sqlite3_open(argv[5], &db) != SQLITE_OK) {
        std::fprintf(stderr, "commit subscriber: cannot open %s\n", argv[5]);
        return 1;
    }
    try {
        if (sqlite3_exec(db,
                         "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                         "CREATE TABLE IF NOT EXISTS message(id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
                         nullptr, nullptr, nullptr) != SQLITE_OK)
            throw BenchError(std::string("commit subscriber: ") + sqlite3_errmsg(db));
        Statement begin(db, "BEGIN"), insert(db, "INSERT INTO message(body) VALUES(?1)"), commit(db, "COMMIT");
        std::atomic<long> stored{0};
        std::atomic<std::int64_t> lastCommitNs{0};
        BareMqttClient client(uri, "bench-commit-sub");
        client.onMessage([&](const mqtt::const_message_ptr& msg) {
            begin.run();
            const auto& body = msg->get_payload_str();
            sqlite3_bind_text(insert.s, 1, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
            insert.run();
            commit.run();
            lastCommitNs = monotonicNs();
            ++stored;
        });
        client.connect(true, 1000);
        client.subscribe(topic, 1);
        std::printf("ready\n");
        std::fflush(stdout);
        // The parent kills this process if it never finishes; no deadline of its own.
        while (stored.load() < count) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        std::printf("done %lld\n", static_cast<long long>(lastCommitNs.load()));
        std::fflush(stdout);
        client.disconnect();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        sqlite3_close(db);
        return 1;
    }
    sqlite3_close(db);
    return 0;
}

double commitSubscriberSeconds(const std::string& uri, const std::string& topic,
                               const std::vector<std::string>& payloads, const std::filesystem::path& dir) {
    const auto log = dir / "commit-subscriber.log";
    const auto database = dir / "commit-subscriber.db";
    char self[4096];
    ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) throw BenchError("cannot find this benchmark's own binary to start baseline C");
    self[len] = '\0';
    test::Process child;
    child.start({self, "--commit-subscriber", uri, topic, std::to_string(payloads.size()), database.string()}, log);
    auto logText = [&] {
        std::ifstream in(log);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    };
    try {
        waitFor([&] { return logText().find("ready\n") != std::string::npos; }, std::chrono::seconds(20),
                "baseline C's subscriber to be ready");
        test::HqClient publisher(uri, "bench-c", "bench-hq-c");
        publisher.connect();
        const auto started = Clock::now();
        for (std::size_t i = 0; i < payloads.size(); ++i) {
            if (i % 256 == 0) throwIfInterrupted();
            publisher.publishRaw(topic, payloads[i]);
        }
        std::string text;
        waitFor([&] { return (text = logText()).find("done ") != std::string::npos; },
                std::chrono::milliseconds(60000 + 20LL * static_cast<long long>(payloads.size())),
                std::to_string(payloads.size()) + " commits at baseline C's subscriber", std::chrono::milliseconds(5));
        const long long lastNs = std::stoll(text.substr(text.find("done ") + 5));
        const auto startedNs = std::chrono::duration_cast<std::chrono::nanoseconds>(started.time_since_epoch()).count();
        child.wait(std::chrono::seconds(10));
        std::filesystem::remove(database);
        std::filesystem::remove(database.string() + "-wal");
        std::filesystem::remove(database.string() + "-shm");
        return static_cast<double>(lastNs - startedNs) / 1e9;
    } catch (const BenchError& e) {
        child.kill9();
        throw BenchError(std::string(e.what()) + "; its log:\n" + tail(logText(), 5));
    }
}

} // namespace mto::bench
