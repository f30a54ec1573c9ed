// SPDX-License-Identifier: Apache-2.0
// The station display over real sockets: live pushes, coalescing, a stuck browser dropped, 404/405 on the wire.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <future>
#include <thread>

#include "station/station_server.hpp"
#include "station_client.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

class StationServerTest : public ::testing::Test {
protected:
    void start(StationServer::Limits limits = {}) {
        StationDisplayConfig config;
        config.enabled = true;
        config.port = static_cast<unsigned short>(test::freeTcpPort());
        config.stations = {{"floor", "Floor", {}, {}}};
        // The providers run on the loop; what they read is changed only there (onLoop).
        feed_.scans = [this](const StationConfig&, std::size_t) { return scans_; };
        server_ = std::make_unique<StationServer>(io_, config, "f1", dir_.path(), feed_, limits);
        port_ = config.port;
        thread_ = std::thread([this] { io_.run(); });
        onLoop([this] { server_->start(); });
        ASSERT_TRUE(test::waitForPort(port_, 5s));
    }
    void TearDown() override {
        if (thread_.joinable()) {
            onLoop([this] { server_->stop(); });
            work_.reset();
            io_.stop();
            thread_.join();
        }
        server_.reset();
    }
    template <typename F>
    std::invoke_result_t<F> onLoop(F f) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto result = task.get_future();
        boost::asio::post(io_, [&task] { task(); });
        return result.get();
    }
    void addScan(const std::string& message) {
        onLoop([&] {
            scans_.insert(scans_.begin(), ScanLine{"2026-11-26T05:31:00Z", "s1", "QC:PASS", "accepted", message, ""});
            feed_.changed();
        });
    }
    static std::string firstMessage(const std::string& data) {
        const auto o = json::parse(data).as_object();
        const auto& scans = o.at("scans").as_array();
        return scans.empty() ? "" : std::string(scans.at(0).at("message").as_string());
    }

    // Opens a page that never reads (a small receive buffer) while each change brings ~25 KB of new scans;
    // true when the server dropped it within 30 s. `slowest`: the longest another request waited meanwhile.
    bool runStuckPage(std::chrono::milliseconds& slowest) {
        const std::string big(25 * 1024, 'x');
        boost::asio::io_context io;
        boost::asio::ip::tcp::socket stuck(io);
        stuck.open(boost::asio::ip::tcp::v4());
        const int small = 4096;
        ::setsockopt(stuck.native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        stuck.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)});
        const std::string req = "GET /station/floor/events HTTP/1.1\r\nHost: x\r\n\r\n";
        boost::asio::write(stuck, boost::asio::buffer(req));
        if (!test::waitUntil([&] { return onLoop([this] { return server_->eventClients(); }) == 1; }, 5s)) return false;
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
            addScan(big + std::to_string(i));
            const auto t0 = std::chrono::steady_clock::now();
            const auto answer = test::httpGet(port_, "/");
            slowest = std::max(slowest, std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0));
            EXPECT_EQ(answer.status, 200);
            if (onLoop([this] { return server_->eventClients(); }) == 0) return true;
            std::this_thread::sleep_for(10ms);
        }
        return false;
    }

    test::TempDir dir_;
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ = boost::asio::make_work_guard(io_);
    StationFeed feed_;
    std::vector<ScanLine> scans_;
    std::unique_ptr<StationServer> server_;
    std::thread thread_;
    int port_ = 0;
};

TEST_F(StationServerTest, APageGetsTheStateAtOnceThenEachChangeAndNothingWhenNothingChanged) {
    start();
    test::EventStreamClient page(port_, "/station/floor/events");
    EXPECT_EQ(page.head().rfind("HTTP/1.1 200", 0), 0u) << page.head();
    EXPECT_NE(page.head().find("text/event-stream"), std::string::npos) << page.head();
    auto first = page.next(5s);
    ASSERT_TRUE(first);
    EXPECT_EQ(firstMessage(*first), "");
    EXPECT_FALSE(json::parse(*first).at("at").as_string().empty());

    addScan("ORD-1 / 1 passed QC");
    auto second = page.next(5s);
    ASSERT_TRUE(second);
    EXPECT_EQ(firstMessage(*second), "ORD-1 / 1 passed QC");

    onLoop([this] { feed_.changed(); });
    EXPECT_FALSE(page.next(1500ms)) << "an unchanged station sends nothing";
    EXPECT_EQ(onLoop([this] { return server_->eventClients(); }), 1u);
}

TEST_F(StationServerTest, ABurstOfChangesIsCoalescedIntoAFewPushesEndingWithTheLatest) {
    start();
    test::EventStreamClient page(port_, "/station/floor/events");
    ASSERT_TRUE(page.next(5s));
    const auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < 200; ++i) {
        addScan("scan " + std::to_string(i));
        std::this_thread::sleep_for(5ms);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    int pushes = 0;
    std::string last;
    while (auto data = page.next(1500ms)) {
        ++pushes;
        last = firstMessage(*data);
    }
    EXPECT_EQ(last, "scan 199");
    // At most one push per 300 ms, plus the first after the burst began and the last after it ended.
    EXPECT_LE(pushes, static_cast<int>(seconds / 0.3) + 2) << "over " << seconds << " s";
    EXPECT_GE(pushes, 2);
}

// A page that connects and never reads while every change brings ~25 KB of new scans: true when the server
// dropped it within 30 s; `slowest` is the longest another request waited meanwhile.
TEST_F(StationServerTest, ABrowserThatStopsReadingIsDroppedWhenItsQueueFillsAndTheLoopKeepsAnswering) {
    StationServer::Limits limits;
    limits.minPushInterval = 5ms;
    limits.writeTimeout = 600s;   // only the queue bound can drop it
    start(limits);
    std::chrono::milliseconds slowest{0};
    EXPECT_TRUE(runStuckPage(slowest)) << "the page that never reads is still held";
    EXPECT_LT(slowest, 1000ms) << "the loop answered other requests all along";
}

TEST_F(StationServerTest, ABrowserThatStopsReadingIsDroppedWhenAWriteTakesTooLong) {
    StationServer::Limits limits;
    limits.minPushInterval = 5ms;
    limits.writeTimeout = 1s;
    limits.clientQueueMessages = 1000000;   // only the write timeout can drop it
    limits.clientQueueBytes = std::size_t(1) << 40;
    start(limits);
    std::chrono::milliseconds slowest{0};
    EXPECT_TRUE(runStuckPage(slowest)) << "the page that never reads is still held";
    EXPECT_LT(slowest, 1000ms) << "the loop answered other requests all along";
}

TEST_F(StationServerTest, OnTheWireBadRequestsGetClearAnswers) {
    start();
    auto post = test::httpRequest(port_, "POST", "/station/floor");
    EXPECT_EQ(post.status, 405);
    EXPECT_EQ(post.allow, "GET");
    EXPECT_EQ(test::httpRequest(port_, "DELETE", "/media/" + std::string(64, 'a') + ".jpg").status, 405);
    auto unknown = test::httpGet(port_, "/station/welding/events");
    EXPECT_EQ(unknown.status, 404);
    EXPECT_NE(unknown.body.find("There is no station &#39;welding&#39;"), std::string::npos) << unknown.body;
    EXPECT_EQ(test::httpGet(port_, "/media/../agent.db").status, 404);
    EXPECT_EQ(test::httpGet(port_, "/station/floor/state.json").status, 200);
    EXPECT_EQ(test::httpGet(port_, "/").status, 200);
}

TEST_F(StationServerTest, PagesOverTheLimitAreToldToCloseOne) {
    StationServer::Limits limits;
    limits.maxEventClients = 2;
    start(limits);
    test::EventStreamClient a(port_, "/station/floor/events");
    test::EventStreamClient b(port_, "/station/floor/events");
    ASSERT_TRUE(a.next(5s));
    ASSERT_TRUE(b.next(5s));
    auto third = test::httpGet(port_, "/station/floor/events");
    EXPECT_EQ(third.status, 503);
    EXPECT_NE(third.body.find("at most 2"), std::string::npos) << third.body;
}

} // namespace
} // namespace mto
