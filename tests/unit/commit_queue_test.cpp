// SPDX-License-Identifier: Apache-2.0
// CommitQueue on a real SQLite file: group commit, per-item undo, and a disk that fills up and frees again.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/commit_queue.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

namespace fs = std::filesystem;

void createNotes(Database& db) { db.exec("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)"); }

void insertNote(Database& db, const std::string& body) {
    db.prepare("INSERT INTO notes (body) VALUES (?)").bind(1, body).run();
}

// Counts through a second connection, so only committed rows are seen.
std::int64_t committedNotes(const fs::path& path, const std::string& where = "1") {
    Database reader(path, Database::Mode::ReadOnly);
    auto& st = reader.prepare("SELECT COUNT(*) FROM notes WHERE " + where);
    st.step();
    return st.columnInt(0);
}

class CommitQueueTest : public ::testing::Test {
protected:
    CommitQueueTest() : path_(dir_.path() / "agent.db"), db_(path_, Database::Mode::ReadWrite) {
        migrate(db_);
        createNotes(db_);
    }

    test::TempDir dir_;
    fs::path path_;
    Database db_;
    boost::asio::io_context io_;
};

TEST_F(CommitQueueTest, SubmitsMadeBeforeTheLoopRunsShareOneTransaction) {
    CommitQueue queue(io_, db_);
    std::vector<std::optional<bool>> done(6);
    for (std::size_t i = 0; i < done.size(); ++i)
        queue.submit([this, i] { insertNote(db_, "note " + std::to_string(i)); },
                     [&done, i](bool committed) { done[i] = committed; });
    EXPECT_EQ(queue.commits(), 0u);
    EXPECT_EQ(committedNotes(path_), 0) << "nothing is written before the loop runs";

    io_.run();
    EXPECT_EQ(queue.commits(), 1u);
    for (std::size_t i = 0; i < done.size(); ++i) {
        ASSERT_TRUE(done[i]) << i;
        EXPECT_TRUE(*done[i]) << i;
    }
    EXPECT_EQ(committedNotes(path_), 6);
    EXPECT_EQ(queue.problem(), "");
}

TEST_F(CommitQueueTest, GroupWhoseTransactionSQLiteRolledBackFailsAsAWholeAndNoLaterWorkCommitsAlone) {
    CommitQueue queue(io_, db_);
    std::vector<std::optional<bool>> done(3);
    auto record = [&done](std::size_t i) { return [&done, i](bool ok) { done[i] = ok; }; };
    queue.submit([this] { insertNote(db_, "before"); }, record(0));
    // What SQLite does itself on some errors (I/O, out of memory): the whole transaction is gone.
    queue.submit(
        [this] {
            insertNote(db_, "failing");
            db_.exec("ROLLBACK");
            throw std::runtime_error("disk I/O error");
        },
        record(1));
    queue.submit([this] { insertNote(db_, "after"); }, record(2));
    io_.run();

    ASSERT_TRUE(done[0] && done[1] && done[2]);
    EXPECT_FALSE(*done[0]) << "its change was rolled back with the transaction";
    EXPECT_FALSE(*done[1]);
    EXPECT_FALSE(*done[2]);
    EXPECT_EQ(committedNotes(path_), 0) << "nothing may be committed while the group is reported as not stored";
    EXPECT_EQ(queue.problem(), "io_error");

    // The next group starts a transaction of its own and commits normally.
    std::optional<bool> next;
    io_.restart();
    queue.submit([this] { insertNote(db_, "next"); }, [&](bool ok) { next = ok; });
    io_.run();
    ASSERT_TRUE(next);
    EXPECT_TRUE(*next);
    EXPECT_EQ(committedNotes(path_), 1);
    EXPECT_EQ(queue.problem(), "");
}

TEST_F(CommitQueueTest, SubmitsFromOtherReadyHandlersJoinTheSameGroup) {
    CommitQueue queue(io_, db_);
    int committed = 0;
    for (int i = 0; i < 4; ++i)
        boost::asio::post(io_, [&, i] {
            queue.submit([&, i] { insertNote(db_, std::to_string(i)); }, [&](bool ok) { committed += ok; });
        });
    io_.run();
    EXPECT_EQ(committed, 4);
    EXPECT_EQ(queue.commits(), 1u);
}

TEST_F(CommitQueueTest, WorkThatThrowsIsUndoneAloneAndOnlyItFails) {
    CommitQueue queue(io_, db_);
    std::vector<std::optional<bool>> done(4);
    auto record = [&done](std::size_t i) { return [&done, i](bool ok) { done[i] = ok; }; };
    queue.submit([this] { insertNote(db_, "first"); }, record(0));
    queue.submit(
        [this] {
            insertNote(db_, "doomed one");
            insertNote(db_, "doomed two");
            throw std::runtime_error("the work failed half way");
        },
        record(1));
    queue.submit(
        [this] {
            insertNote(db_, "doomed three");
            db_.exec("INSERT INTO notes (id, body) VALUES (1, 'clash')");   // primary key taken by "first"
        },
        record(2));
    queue.submit([this] { insertNote(db_, "last"); }, record(3));
    io_.run();

    EXPECT_EQ(queue.commits(), 1u);
    ASSERT_TRUE(done[0] && done[1] && done[2] && done[3]);
    EXPECT_TRUE(*done[0]);
    EXPECT_FALSE(*done[1]);
    EXPECT_FALSE(*done[2]);
    EXPECT_TRUE(*done[3]);
    EXPECT_EQ(committedNotes(path_, "body LIKE 'doomed%' OR body = 'clash'"), 0);
    EXPECT_EQ(committedNotes(path_, "body IN ('first', 'last')"), 2);
    EXPECT_EQ(queue.problem(), "") << "a failing work item says nothing about the disk";
}

TEST_F(CommitQueueTest, OnCommittedRunsOnceAfterTheDataIsDurable) {
    CommitQueue queue(io_, db_);
    int calls = 0;
    std::int64_t seenByReader = -1;
    int doneBefore = 0;
    int doneCount = 0;
    queue.onCommitted([&] {
        ++calls;
        seenByReader = committedNotes(path_);
        doneBefore = doneCount;
    });
    for (int i = 0; i < 3; ++i) queue.submit([this] { insertNote(db_, "x"); }, [&](bool) { ++doneCount; });
    io_.run();
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(seenByReader, 3) << "a second connection already sees the rows when onCommitted runs";
    EXPECT_EQ(doneBefore, 0) << "the uplink is poked before any submitter is released, so an inbound "
                                "order's receipt is already queued when its delivery callback returns";
    EXPECT_EQ(doneCount, 3);
}

TEST_F(CommitQueueTest, AGroupThatWritesNothingIsCommittedWithoutWakingThoseWhoFollowCommits) {
    CommitQueue queue(io_, db_);
    int calls = 0;
    queue.onCommitted([&] { ++calls; });
    bool readOnlyDone = false;
    queue.submit([this] { db_.prepare("SELECT COUNT(*) FROM notes").step(); },
                 [&](bool ok) { readOnlyDone = ok; });
    io_.run();
    EXPECT_TRUE(readOnlyDone) << "work that only reads still learns it was committed";
    EXPECT_EQ(calls, 0) << "nothing new to publish or schedule: a follower woken here would, like the "
                           "scheduler's forecast, commit again and be woken again";
    // An UPDATE that matches no row writes nothing either; one that matches does.
    queue.submit([this] { db_.prepare("UPDATE notes SET body = 'y' WHERE id = -1").run(); }, nullptr);
    io_.restart();
    io_.run();
    EXPECT_EQ(calls, 0);
    queue.submit([this] { insertNote(db_, "z"); }, nullptr);
    io_.restart();
    io_.run();
    EXPECT_EQ(calls, 1);
}

TEST_F(CommitQueueTest, SubmitFromADoneCallbackGoesIntoTheNextGroup) {
    CommitQueue queue(io_, db_);
    bool secondDone = false;
    queue.submit([this] { insertNote(db_, "one"); },
                 [&](bool) { queue.submit([this] { insertNote(db_, "two"); }, [&](bool ok) { secondDone = ok; }); });
    io_.run();
    EXPECT_TRUE(secondDone);
    EXPECT_EQ(queue.commits(), 2u);
    EXPECT_EQ(committedNotes(path_), 2);
}

TEST_F(CommitQueueTest, SubmitWithoutDoneCallbackIsCommittedToo) {
    CommitQueue queue(io_, db_);
    queue.submit([this] { insertNote(db_, "fire and forget"); }, nullptr);
    io_.run();
    EXPECT_EQ(committedNotes(path_), 1);
}

// A state directory on a 256 KiB tmpfs, so the test can fill the disk and free it again.
class CommitQueueDiskFullTest : public ::testing::Test {
protected:
    void SetUp() override {
        mountPoint_ = dir_.path() / "small";
        fs::create_directories(mountPoint_);
        if (::mount("tmpfs", mountPoint_.c_str(), "tmpfs", 0, "size=1m") != 0)
            GTEST_SKIP() << "cannot mount a tmpfs to fill (" << std::strerror(errno)
                         << "); this test needs root or CAP_SYS_ADMIN";
        mounted_ = true;
        path_ = mountPoint_ / "agent.db";
        db_ = std::make_unique<Database>(path_, Database::Mode::ReadWrite);
        migrate(*db_);
        createNotes(*db_);
    }

    void TearDown() override {
        db_.reset();
        if (mounted_ && ::umount2(mountPoint_.c_str(), MNT_DETACH) != 0)
            ADD_FAILURE() << "umount " << mountPoint_ << ": " << std::strerror(errno);
    }

    // Writes a filler file until the file system refuses; returns the bytes written.
    std::size_t fill() {
        int fd = ::open((mountPoint_ / "filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0) throw std::runtime_error("cannot create filler");
        const std::string chunk(4096, 'f');
        std::size_t total = 0;
        for (;;) {
            ssize_t n = ::write(fd, chunk.data(), chunk.size());
            if (n <= 0) break;
            total += static_cast<std::size_t>(n);
        }
        ::close(fd);
        return total;
    }

    void freeSpace() { fs::remove(mountPoint_ / "filler"); }

    test::TempDir dir_;
    fs::path mountPoint_;
    fs::path path_;
    bool mounted_ = false;
    std::unique_ptr<Database> db_;
    boost::asio::io_context io_;
};

TEST_F(CommitQueueDiskFullTest, FullDiskFailsTheWholeGroupAndFreedSpaceHealsTheNextCommit) {
    CommitQueue queue(io_, *db_);
    std::vector<std::string> health;
    queue.onHealthChange([&](const std::string& p) { health.push_back(p); });
    int afterCommit = 0;
    queue.onCommitted([&] { ++afterCommit; });

    ASSERT_GT(fill(), 0u);
    const std::string big(16 * 1024, 'b');
    std::vector<std::optional<bool>> done(3);
    for (std::size_t i = 0; i < done.size(); ++i)
        queue.submit([&] { insertNote(*db_, big); }, [&done, i](bool ok) { done[i] = ok; });
    io_.run();
    io_.restart();

    for (std::size_t i = 0; i < done.size(); ++i) {
        ASSERT_TRUE(done[i]) << i;
        EXPECT_FALSE(*done[i]) << i;
    }
    EXPECT_EQ(queue.problem(), "disk_full");
    ASSERT_EQ(health.size(), 1u);
    EXPECT_EQ(health[0], "disk_full");
    EXPECT_EQ(queue.commits(), 0u);
    EXPECT_EQ(afterCommit, 0);

    freeSpace();
    bool healed = false;
    queue.submit([&] { insertNote(*db_, "after the cleanup"); }, [&](bool ok) { healed = ok; });
    io_.run();

    EXPECT_TRUE(healed);
    EXPECT_EQ(queue.problem(), "");
    ASSERT_EQ(health.size(), 2u);
    EXPECT_EQ(health[1], "");
    EXPECT_EQ(queue.commits(), 1u);
    EXPECT_EQ(afterCommit, 1);
    EXPECT_EQ(committedNotes(path_, "body = 'after the cleanup'"), 1);
    EXPECT_EQ(committedNotes(path_, "length(body) = 16384"), 0) << "nothing of the failed group survives";
}

TEST_F(CommitQueueDiskFullTest, FullDiskInsideOneWorkItemFailsTheWholeGroupRatherThanOnlyThatItem) {
    // A tiny page cache makes SQLite spill to the WAL while the work runs, so the write fails inside it.
    db_->exec("PRAGMA cache_size = 2");
    CommitQueue queue(io_, *db_);
    ASSERT_GT(fill(), 0u);
    std::optional<bool> small, large;
    queue.submit([&] { insertNote(*db_, "small"); }, [&](bool ok) { small = ok; });
    queue.submit([&] { insertNote(*db_, std::string(512 * 1024, 'L')); }, [&](bool ok) { large = ok; });
    io_.run();
    ASSERT_TRUE(small && large);
    EXPECT_FALSE(*large);
    EXPECT_FALSE(*small) << "committing the rest would hide that nothing more fits";
    EXPECT_EQ(queue.problem(), "disk_full");
    EXPECT_EQ(queue.commits(), 0u);
}

}   // namespace
}   // namespace mto
