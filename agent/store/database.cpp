// SPDX-License-Identifier: Apache-2.0
// RAII wrappers over sqlite3 handles: a connection, prepared statements and transactions.
#include "store/database.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

namespace mto {

Statement& Statement::bind(int index, std::int64_t value) {
    int rc = sqlite3_bind_int64(stmt_, index, value);
    if (rc != SQLITE_OK) db_->fail(rc, "bind");
    return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
    int rc = sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) db_->fail(rc, "bind");
    return *this;
}

Statement& Statement::bindNull(int index) {
    int rc = sqlite3_bind_null(stmt_, index);
    if (rc != SQLITE_OK) db_->fail(rc, "bind");
    return *this;
}

Statement& Statement::bindReal(int index, double value) {
    int rc = sqlite3_bind_double(stmt_, index, value);
    if (rc != SQLITE_OK) db_->fail(rc, "bind");
    return *this;
}

Statement& Statement::bindOptional(int index, const std::string& value) {
    return value.empty() ? bindNull(index) : bind(index, value);
}

bool Statement::step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    int code = rc;
    sqlite3_reset(stmt_);
    db_->fail(code, sqlite3_sql(stmt_));
}

void Statement::run() {
    while (step()) {
    }
    reset();
}

void Statement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

std::int64_t Statement::columnInt(int col) const { return sqlite3_column_int64(stmt_, col); }

double Statement::columnReal(int col) const { return sqlite3_column_double(stmt_, col); }

std::string Statement::columnText(int col) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    if (!text) return {};
    return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string_view Statement::columnView(int col) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    if (!text) return {};
    return {text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))};
}

bool Statement::columnIsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

namespace {

// Another process (or a write outside a Transaction) holds SQLite's write lock. SQLite's own busy timeout
// sleeps a millisecond or more from the first retry, which is longer than a whole commit takes here:
// retry every 50 µs for the first 5 ms, then every millisecond, for about 5 s in all.
int retryWhileBusy(void*, int tries) {
    constexpr int kShortTries = 100;
    constexpr int kLongTries = 5000;
    if (tries >= kShortTries + kLongTries) return 0;
    std::this_thread::sleep_for(tries < kShortTries ? std::chrono::microseconds(50) : std::chrono::microseconds(1000));
    return 1;
}

} // namespace

Database::Database(const Database& sibling, Mode mode) : Database(sibling.path_, mode) {
    writeLock_ = sibling.writeLock_;
}

Database::Database(const std::filesystem::path& path, Mode mode)
    : path_(path), writeLock_(std::make_shared<std::mutex>()) {
    int flags = mode == Mode::ReadOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    flags |= SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close(db_);
        db_ = nullptr;
        throw DbError(rc, "cannot open database " + path.string() + ": " + msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_handler(db_, retryWhileBusy, nullptr);
    if (mode == Mode::ReadWrite) {
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=FULL");
    }
    exec("PRAGMA foreign_keys=ON");
}

Database::~Database() {
    cache_.clear();
    if (db_) sqlite3_close(db_);
}

void Database::fail(int rc, std::string_view what) const {
    throw DbError(rc, std::string("database ") + path_.string() + ": " + std::string(what) + ": " +
                          sqlite3_errmsg(db_) + " (" + sqlite3_errstr(rc) + ")");
}

void Database::exec(std::string_view sql) {
    char* err = nullptr;
    std::string text(sql);
    int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        throw DbError(rc, "database " + path_.string() + ": " + msg + " in: " + text.substr(0, 80));
    }
}

Statement& Database::prepare(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
        sqlite3_stmt* raw = nullptr;
        int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &raw,
                                    nullptr);
        if (rc != SQLITE_OK) fail(rc, "prepare " + sql);
        CachedStatement entry;
        entry.raw.reset(raw);
        entry.wrapper = std::make_unique<Statement>(*this, raw);
        it = cache_.emplace(sql, std::move(entry)).first;
    }
    it->second.wrapper->reset();
    return *it->second.wrapper;
}

std::int64_t Database::changes() const { return sqlite3_changes64(db_); }

namespace {

// Transaction control through the connection's statement cache rather than sqlite3_exec, which
// parses the SQL anew each time: four parses per group commit, and on the intake path a group is
// often one order, in series with its fsync.
const std::string kBegin = "BEGIN IMMEDIATE";
const std::string kCommit = "COMMIT";
const std::string kRollback = "ROLLBACK";
const std::string kSavepoint = "SAVEPOINT step";
const std::string kRelease = "RELEASE step";
const std::string kRollbackTo = "ROLLBACK TO step";

} // namespace

Transaction::Transaction(Database& db) : db_(db), writing_(db.writeLock()) { db_.prepare(kBegin).run(); }

Transaction::~Transaction() {
    if (done_) return;
    try {
        db_.prepare(kRollback).run();
    } catch (const std::exception& e) {
        // A failed COMMIT may already have ended the transaction; nothing is left to undo then.
        spdlog::debug("rollback: {}", e.what());
    }
}

void Transaction::commit() {
    db_.prepare(kCommit).run();
    done_ = true;
    writing_.unlock();
}

Savepoint::Savepoint(Database& db) : db_(db) { db_.prepare(kSavepoint).run(); }

Savepoint::~Savepoint() {
    if (done_) return;
    try {
        db_.prepare(kRollbackTo).run();
        db_.prepare(kRelease).run();
    } catch (const std::exception& e) {
        spdlog::debug("rollback to savepoint: {}", e.what());
    }
}

void Savepoint::release() {
    db_.prepare(kRelease).run();
    done_ = true;
}

} // namespace mto
