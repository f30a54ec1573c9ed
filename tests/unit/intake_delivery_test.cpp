// SPDX-License-Identifier: Apache-2.0
// New orders committed on the delivery thread through a second connection, while the loop writes through its own.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <atomic>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "intake/intake.hpp"
#include "store/commit_queue.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "store/order_store.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

std::int64_t count(Database& db, const std::string& sql) {
    auto& st = db.prepare(sql);
    st.step();
    return st.columnInt(0);
}

std::string orderJson(const std::string& id, std::int64_t revision = 1, const std::string& text = "Ada") {
    return R"({"order_id":")" + id + R"(","revision":)" + std::to_string(revision) +
           R"(,"items":[{"item_id":"it-0","sku":"COASTER-OAK-ENGRAVED","qty":1,"personalization":{"text":)" +
           json::serialize(json::string(text)) + "}}]}";
}

TEST(DatabaseSiblings, ATransactionOnOneConnectionHoldsTheWriterLockOfItsSibling) {
    test::TempDir dir;
    Database first(dir.path() / "agent.db", Database::Mode::ReadWrite);
    Database second(first, Database::Mode::ReadWrite);
    Database stranger(dir.path() / "agent.db", Database::Mode::ReadWrite);
    first.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)");
    {
        Transaction txn(first);
        EXPECT_FALSE(second.writeLock().try_lock()) << "the sibling's writer lock is free during a transaction";
        EXPECT_TRUE(stranger.writeLock().try_lock()) << "an unrelated connection shares the lock";
        stranger.writeLock().unlock();
        first.prepare("INSERT INTO notes (body) VALUES ('a')").run();
        txn.commit();
    }
    ASSERT_TRUE(second.writeLock().try_lock()) << "the lock is still held after COMMIT";
    second.writeLock().unlock();
    {
        Transaction rolledBack(second);
        second.prepare("INSERT INTO notes (body) VALUES ('b')").run();
    }
    ASSERT_TRUE(first.writeLock().try_lock()) << "the lock is still held after ROLLBACK";
    first.writeLock().unlock();
    EXPECT_EQ(count(first, "SELECT COUNT(*) FROM notes"), 1);
}

TEST(DatabaseSiblings, AWriterWaitsForAnotherProcesssWriteLockInsteadOfFailing) {
    test::TempDir dir;
    Database db(dir.path() / "agent.db", Database::Mode::ReadWrite);
    db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)");
    // Another process's connection, as far as this one can tell: no shared writer lock.
    Database other(dir.path() / "agent.db", Database::Mode::ReadWrite);
    std::promise<void> holding;
    std::promise<void> release;
    std::thread holder([&] {
        other.exec("BEGIN IMMEDIATE");
        other.exec("INSERT INTO notes (body) VALUES ('other')");
        holding.set_value();
        release.get_future().wait();
        other.exec("COMMIT");
    });
    holding.get_future().wait();
    std::thread releaser([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        release.set_value();
    });
    {
        Transaction txn(db);   // busy until the other COMMIT: retried, not SQLITE_BUSY
        db.prepare("INSERT INTO notes (body) VALUES ('mine')").run();
        txn.commit();
    }
    holder.join();
    releaser.join();
    EXPECT_EQ(count(db, "SELECT COUNT(*) FROM notes"), 2);
}

// The agent's intake as the daemon wires it: a loop thread with the group commit, and a delivery thread.
class IntakeDeliveryTest : public ::testing::Test {
protected:
    IntakeDeliveryTest()
        : path_(dir_.path() / "agent.db"), db_(path_, Database::Mode::ReadWrite), store_(db_, "f1", clock_),
          commits_(io_, db_) {
        migrate(db_);
        auto catalog = std::make_shared<Catalog>();
        catalog->add({"COASTER-OAK-ENGRAVED", "Oak coaster"});
        intake_ = std::make_unique<Intake>(io_, commits_, store_, "f1", ParseLimits{}, catalog);
        intake_->storeNewOrdersOnDelivery(std::make_unique<Database>(db_, Database::Mode::ReadWrite), clock_);
        intake_->onOrderStored([this](const std::string& id, std::optional<CompileInput> content) {
            handedOver_.push_back(id + (content ? " with content" : " by id"));
        });
        commits_.onCommitted([this] { ++afterCommit_; });
        loop_ = std::thread([this] { io_.run(); });
    }

    ~IntakeDeliveryTest() override {
        guard_.reset();
        loop_.join();
    }

    // Runs on the loop and waits for it: the loop's state is read only there.
    template <typename F>
    auto onLoop(F f) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto result = task.get_future();
        boost::asio::post(io_, [&task] { task(); });
        return result.get();
    }

    std::string orders() const { return "mto/v1/f1/orders"; }

    test::TempDir dir_;
    fs::path path_;
    Database db_;
    SystemClock clock_;
    OrderStore store_;
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{io_.get_executor()};
    CommitQueue commits_;
    std::unique_ptr<Intake> intake_;
    std::vector<std::string> handedOver_;   // loop only
    int afterCommit_ = 0;                   // loop only
    std::thread loop_;
};

TEST_F(IntakeDeliveryTest, ANewOrderIsOnDiskAndAcknowledgedWhileTheLoopIsBusy) {
    std::promise<void> unblock;
    boost::asio::post(io_, [f = unblock.get_future().share()] { f.wait(); });   // the loop is stuck in a handler

    auto submitted = std::async(std::launch::async, [&] { return intake_->submitAndWait(orders(), orderJson("ORD-1")); });
    const bool returned = submitted.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
    std::int64_t storedMeanwhile = -1;
    {
        Database reader(path_, Database::Mode::ReadOnly);
        storedMeanwhile = count(reader, "SELECT COUNT(*) FROM orders WHERE order_id = 'ORD-1'");
    }
    unblock.set_value();
    ASSERT_TRUE(returned) << "the delivery waited for the loop";
    EXPECT_TRUE(submitted.get());
    EXPECT_EQ(storedMeanwhile, 1);

    // Once the loop runs again it hears of the commit: counters, the uplink's wake-up, the compiler.
    const auto [orders, handed, woken] = onLoop([this] {
        return std::make_tuple(intake_->counters().orders, handedOver_, afterCommit_);
    });
    EXPECT_EQ(orders, 1u);
    EXPECT_EQ(handed, std::vector<std::string>{"ORD-1 with content"});
    EXPECT_GE(woken, 1);
}

TEST_F(IntakeDeliveryTest, ReSentRevisedAndBadOrdersStillGetTheLoopsAnswers) {
    ASSERT_TRUE(intake_->submitAndWait(orders(), orderJson("ORD-1")));
    ASSERT_TRUE(intake_->submitAndWait(orders(), orderJson("ORD-1")));                 // re-sent: receipt queued
    ASSERT_TRUE(intake_->submitAndWait(orders(), orderJson("ORD-1", 2, "Grace")));     // revised
    ASSERT_TRUE(intake_->submitAndWait(orders(), R"({"order_id":"ORD-2","revision":1e400,"items":[]})"));
    const auto counters = onLoop([this] { return intake_->counters(); });
    EXPECT_EQ(counters.orders, 1u);
    EXPECT_EQ(counters.duplicates, 1u);
    EXPECT_EQ(counters.revisions, 1u);
    EXPECT_EQ(counters.rejected, 1u);
    EXPECT_EQ(count(db_, "SELECT revision FROM orders WHERE order_id = 'ORD-1'"), 2);
    EXPECT_EQ(count(db_, "SELECT COUNT(*) FROM orders"), 1);
    EXPECT_EQ(count(db_, "SELECT COUNT(*) FROM events WHERE milestone = 'received'"), 2);
    EXPECT_EQ(count(db_, "SELECT COUNT(*) FROM events WHERE milestone = 'rejected' AND order_id = 'ORD-2'"), 1);
}

// The loop writes events of its own (here: rejections) while the delivery thread stores orders: every event
// gets its own seq, with no gap and no repeat, and every order is stored once.
TEST_F(IntakeDeliveryTest, OrdersOnTheDeliveryThreadAndTheLoopsOwnWritesShareOneGaplessSequence) {
    constexpr int kOrders = 300;
    constexpr int kLoopWrites = 300;
    std::atomic<int> loopWritesDone{0};
    std::thread loopWriter([&] {
        for (int i = 0; i < kLoopWrites; ++i) {
            std::promise<bool> done;
            auto result = done.get_future();
            boost::asio::post(io_, [&, i] {
                commits_.submit(
                    [&, i] {
                        Rejections rej;
                        rej.list.push_back({"invalid_json", "", "noise " + std::to_string(i)});
                        store_.recordRejection("mto/v1/f1/orders", "noise", rej);
                    },
                    [&](bool committed) { done.set_value(committed); });
            });
            if (result.get()) ++loopWritesDone;
        }
    });
    int acknowledged = 0;
    for (int i = 0; i < kOrders; ++i)
        if (intake_->submitAndWait(orders(), orderJson("ORD-" + std::to_string(i)))) ++acknowledged;
    loopWriter.join();
    EXPECT_EQ(acknowledged, kOrders);
    EXPECT_EQ(loopWritesDone.load(), kLoopWrites);
    onLoop([] { return 0; });   // the posted reports of the last orders have run

    EXPECT_EQ(count(db_, "SELECT COUNT(*) FROM orders"), kOrders);
    EXPECT_EQ(count(db_, "SELECT COUNT(*) FROM events WHERE milestone = 'received'"), kOrders);
    EXPECT_EQ(count(db_, "SELECT COUNT(*) FROM events WHERE milestone = 'rejected'"), kLoopWrites);
    EXPECT_EQ(count(db_, "SELECT COUNT(DISTINCT seq) FROM events"), kOrders + kLoopWrites);
    EXPECT_EQ(count(db_, "SELECT MIN(seq) FROM events"), 1);
    EXPECT_EQ(count(db_, "SELECT MAX(seq) FROM events"), kOrders + kLoopWrites);
    EXPECT_EQ(count(db_, "SELECT COUNT(DISTINCT event_id) FROM events"), kOrders + kLoopWrites);
    const auto handed = onLoop([this] { return handedOver_; });
    EXPECT_EQ(handed.size(), static_cast<std::size_t>(kOrders));
    EXPECT_EQ(std::set<std::string>(handed.begin(), handed.end()).size(), static_cast<std::size_t>(kOrders));
}

} // namespace
} // namespace mto
