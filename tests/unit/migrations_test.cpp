// SPDX-License-Identifier: Apache-2.0
// Schema migrations: a fresh file reaches the latest version durably, reruns do nothing, newer files are refused.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/database.hpp"
#include "store/migrations.hpp"
#include "mto/error.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

using test::scalar;

std::string pragmaText(Database& db, const std::string& pragma) {
    auto& st = db.prepare("PRAGMA " + pragma);
    std::string v = st.step() ? st.columnText(0) : "";
    st.reset();
    return v;
}

TEST(Migrations, FreshDatabaseReachesTheLatestVersionInWalModeWithFullSync) {
    test::TempDir dir;
    Database db(dir.path() / "agent.db", Database::Mode::ReadWrite);
    EXPECT_EQ(schemaVersion(db), 0);
    migrate(db);
    EXPECT_GE(latestSchemaVersion(), 1);
    EXPECT_EQ(schemaVersion(db), latestSchemaVersion());
    EXPECT_EQ(pragmaText(db, "journal_mode"), "wal");
    EXPECT_EQ(pragmaText(db, "synchronous"), "2") << "2 is FULL: every commit is fsynced";
    for (const char* table : {"orders", "items", "events", "commands", "rejections", "outbox_state"})
        EXPECT_EQ(scalar(db, std::string("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '") +
                                 table + "'"),
                  1)
            << table;
    EXPECT_EQ(scalar(db, "SELECT acked_seq FROM outbox_state WHERE id = 1"), 0);
}

TEST(Migrations, JobsOfVersionTwoBecomeTheFirstOperationOfTheirItem) {
    test::TempDir dir;
    Database db(dir.path() / "agent.db", Database::Mode::ReadWrite);
    migrateTo(db, 2);
    ASSERT_EQ(schemaVersion(db), 2);
    db.exec("INSERT INTO jobs (order_id, item_id, revision, capability, artifact_sha, proof_sha, estimated_s, rush) VALUES "
            "('O1', '1', 1, 'laser', 'a1', 'p1', 12.5, 1), ('O1', '2', 1, 'cnc', 'a2', 'p2', 60, 0), "
            "('O2', '1', 2, 'fdm', 'a3', 'p3', 3600, 0)");
    migrate(db);
    EXPECT_EQ(schemaVersion(db), latestSchemaVersion());
    auto& st = db.prepare("SELECT order_id, item_id, operation, step, revision, capability, artifact_sha, proof_sha, "
                          "estimated_s, rush, state FROM jobs ORDER BY order_id, item_id");
    std::vector<std::string> rows;
    while (st.step())
        rows.push_back(st.columnText(0) + "/" + st.columnText(1) + " " + st.columnText(2) + " " + st.columnText(3) + " r" +
                       st.columnText(4) + " " + st.columnText(5) + " " + st.columnText(6) + " " + st.columnText(7) + " " +
                       std::to_string(st.columnReal(8)) + " " + st.columnText(9) + " " + st.columnText(10));
    st.reset();
    EXPECT_EQ(rows, (std::vector<std::string>{"O1/1 laser_engrave 0 r1 laser a1 p1 12.500000 1 queued",
                                              "O1/2 cnc_engrave 0 r1 cnc a2 p2 60.000000 0 queued",
                                              "O2/1 print 0 r2 fdm a3 p3 3600.000000 0 queued"}));
    // A second operation of the same item now has a row of its own.
    db.exec("INSERT INTO jobs (order_id, item_id, operation, step, revision, capability, artifact_sha, proof_sha, "
            "estimated_s, rush) VALUES ('O1', '2', 'cnc_profile', 1, 1, 'cnc', 'a4', 'p2', 600, 0)");
    EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM jobs WHERE order_id = 'O1' AND item_id = '2'"), 2);
}

TEST(Migrations, VersionAndJournalModeSurviveReopening) {
    test::TempDir dir;
    {
        Database db(dir.path() / "agent.db", Database::Mode::ReadWrite);
        migrate(db);
    }
    Database again(dir.path() / "agent.db", Database::Mode::ReadOnly);
    EXPECT_EQ(schemaVersion(again), latestSchemaVersion());
    EXPECT_EQ(pragmaText(again, "journal_mode"), "wal") << "WAL is recorded in the file, not only the connection";
}

TEST(Migrations, RunningMigrateTwiceChangesNothing) {
    test::TempDir dir;
    Database db(dir.path() / "agent.db", Database::Mode::ReadWrite);
    migrate(db);
    db.exec("UPDATE outbox_state SET acked_seq = 7");
    const auto objects = scalar(db, "SELECT COUNT(*) FROM sqlite_master");
    ASSERT_NO_THROW(migrate(db));
    EXPECT_EQ(schemaVersion(db), latestSchemaVersion());
    EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM sqlite_master"), objects);
    EXPECT_EQ(scalar(db, "SELECT acked_seq FROM outbox_state"), 7) << "the seed row is not inserted again";
    EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM outbox_state"), 1);
}

TEST(Migrations, DatabaseFromANewerAgentIsRefusedNamingTheFile) {
    test::TempDir dir;
    const auto path = dir.path() / "agent.db";
    Database db(path, Database::Mode::ReadWrite);
    db.exec("PRAGMA user_version = " + std::to_string(latestSchemaVersion() + 1));
    try {
        migrate(db);
        FAIL() << "a newer schema was accepted";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
        EXPECT_NE(msg.find(std::to_string(latestSchemaVersion() + 1)), std::string::npos) << msg;
    }
    EXPECT_EQ(schemaVersion(db), latestSchemaVersion() + 1) << "the file is left as it was";
    EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'orders'"), 0);
}

TEST(Migrations, UnrelatedTableInAnUnversionedFileIsKept) {
    test::TempDir dir;
    Database db(dir.path() / "agent.db", Database::Mode::ReadWrite);
    db.exec("CREATE TABLE operator_notes (id INTEGER PRIMARY KEY, note TEXT)");
    db.exec("INSERT INTO operator_notes (note) VALUES ('check the laser lens')");
    ASSERT_EQ(schemaVersion(db), 0);
    migrate(db);
    EXPECT_EQ(schemaVersion(db), latestSchemaVersion());
    EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM operator_notes"), 1);
    EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'orders'"), 1);
}

TEST(Migrations, FailedStepLeavesTheVersionWhereItWas) {
    test::TempDir dir;
    Database db(dir.path() / "agent.db", Database::Mode::ReadWrite);
    // A table the first step also creates makes that step fail; its transaction must undo the whole step.
    db.exec("CREATE TABLE rejections (x)");
    EXPECT_THROW(migrate(db), Error);
    EXPECT_EQ(schemaVersion(db), 0);
    EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'orders'"), 0)
        << "tables created before the failure are rolled back";
}

}   // namespace
}   // namespace mto
