// SPDX-License-Identifier: Apache-2.0
// CompileQueue on a real SQLite file and state directory: unreadable orders, compiler faults and storage trouble.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "catalog.hpp"
#include "util/clock.hpp"
#include "store/commit_queue.hpp"
#include "compiler/compile_queue.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "intake/order_parser.hpp"
#include "store/order_store.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

std::string coasterOrder(const std::string& id, const std::string& text) {
    return R"({"order_id":")" + id + R"(","items":[{"item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":1,)"
           R"("personalization":{"text":")" + text + R"("}}]})";
}

// The store, commit queue and compile queue of an agent, on the loop of the test's own thread.
class CompileQueueTest : public ::testing::Test {
protected:
    CompileQueueTest()
        : catalog_(std::make_shared<const Catalog>(Catalog::load(test::sourceDir() + "/config/catalog.toml"))),
          db_(dir_.path() / "agent.db", Database::Mode::ReadWrite), store_(db_, "f1", clock_), commits_(io_, db_) {
        migrate(db_);
        queue_ = std::make_unique<CompileQueue>(io_, commits_, store_, stateDir(), catalog_, 64ull << 20, 2);
        queue_->setRetryDelay(std::chrono::milliseconds(100));
    }
    ~CompileQueueTest() override { queue_->stop(); }

    fs::path stateDir() const { return dir_.path() / "state"; }

    void store(const std::string& payload) {
        auto parsed = OrderParser(ParseLimits{}).parseOrder(payload, *catalog_);
        ASSERT_TRUE(std::holds_alternative<Order>(parsed)) << std::get<Rejections>(parsed).first().reason;
        Transaction txn(db_);
        Rejection r;
        ASSERT_EQ(store_.storeOrder(std::get<Order>(parsed), "", r), OrderOutcome::Stored);
        txn.commit();
    }

    std::string state(const std::string& id) { return store_.order(id)->state; }

    // Runs the loop until `pred` holds or the time is up.
    bool runUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
        const auto end = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < end) {
            if (pred()) return true;
            io_.restart();
            if (io_.run_for(std::chrono::milliseconds(20)) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return pred();
    }

    std::optional<json::object> lastEventData(const std::string& id, const std::string& milestone) {
        std::optional<json::object> found;
        for (const auto& e : store_.eventsForOrder(id))
            if (e.milestone == milestone) found = json::parse(e.payload).as_object().at("data").as_object();
        return found;
    }

    test::TempDir dir_;
    std::shared_ptr<const Catalog> catalog_;
    boost::asio::io_context io_;
    Database db_;
    SystemClock clock_;
    OrderStore store_;
    CommitQueue commits_;
    std::unique_ptr<CompileQueue> queue_;
};

TEST_F(CompileQueueTest, OrderWhoseStoredBodyIsNotJsonIsRefusedAsInternalErrorAndTheNextOrderStillCompiles) {
    store(coasterOrder("POISON-1", "Ada"));
    store(coasterOrder("POISON-2", "Max"));
    store(coasterOrder("GOOD-1", "Lin"));
    db_.prepare("UPDATE orders SET body = ? WHERE order_id = ?").bind(1, "{\"items\":[1e99999,Infinity]").bind(2, "POISON-1").run();
    db_.prepare("UPDATE orders SET body = ? WHERE order_id = ?").bind(1, "not json at all").bind(2, "POISON-2").run();

    ASSERT_NO_THROW(queue_->resumePending());
    ASSERT_TRUE(runUntil([&] { return state("GOOD-1") == "accepted" && state("POISON-2") == "rejected"; }))
        << state("GOOD-1") << " " << state("POISON-2");
    for (const char* id : {"POISON-1", "POISON-2"}) {
        SCOPED_TRACE(id);
        EXPECT_EQ(state(id), "rejected");
        auto data = lastEventData(id, "rejected");
        ASSERT_TRUE(data);
        EXPECT_EQ(data->at("reason").as_string(), "internal_error");
        EXPECT_EQ(data->at("stage").as_string(), "compile");
        EXPECT_EQ(data->at("revision").as_int64(), 1);
        EXPECT_FALSE(data->at("message").as_string().empty());
        EXPECT_EQ(data->at("errors").as_array().size(), 1u);
    }
}

TEST_F(CompileQueueTest, CompileThatCannotStoreItsFilesIsTriedAgainOnceStorageRecovers) {
    // A file where the artifacts directory belongs: every artifact write fails until it is gone.
    fs::create_directories(stateDir());
    test::writeFile(stateDir() / "artifacts", "in the way");
    store(coasterOrder("ORD-1", "Ada"));
    queue_->enqueue("ORD-1");
    ASSERT_TRUE(runUntil([&] { return queue_->pending() == 0; }));
    runUntil([] { return false; }, std::chrono::milliseconds(300));
    EXPECT_EQ(state("ORD-1"), "received") << "storage trouble is not the order's fault";

    fs::remove(stateDir() / "artifacts");
    ASSERT_TRUE(runUntil([&] { return state("ORD-1") == "accepted"; })) << state("ORD-1");
    EXPECT_TRUE(lastEventData("ORD-1", "accepted"));
    EXPECT_FALSE(lastEventData("ORD-1", "rejected"));
}

TEST(WriteFileDurably, ThreadsStoringTheSameFileAtOnceAllSucceedAndLeaveOneWholeFile) {
    test::TempDir dir;
    const std::string bytes(256 * 1024, 'g');
    for (int round = 0; round < 20; ++round) {
        const fs::path path = dir.path() / "artifacts" / ("same-" + std::to_string(round) + ".gcode");
        std::vector<std::thread> threads;
        std::vector<std::string> errors(8);
        for (std::size_t t = 0; t < errors.size(); ++t)
            threads.emplace_back([&, t] {
                try {
                    writeFileDurably(path, bytes);
                } catch (const std::exception& e) {
                    errors[t] = e.what();
                }
            });
        for (auto& th : threads) th.join();
        for (const auto& e : errors) EXPECT_EQ(e, "") << "round " << round;
        EXPECT_EQ(test::readFile(path), bytes);
    }
    for (const auto& entry : fs::directory_iterator(dir.path() / "artifacts"))
        EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path() << " left behind";
}

} // namespace
} // namespace mto
