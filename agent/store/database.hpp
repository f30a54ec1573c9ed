// SPDX-License-Identifier: Apache-2.0
// RAII wrappers over sqlite3 handles: a connection, prepared statements and transactions.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "mto/error.hpp"

namespace mto {

// A SQLite failure; code() tells disk full (SQLITE_FULL) from the rest.
class DbError : public Error {
public:
    DbError(int code, const std::string& message) : Error(message), code_(code) {}
    int code() const { return code_; }
    bool diskFull() const { return (code_ & 0xff) == SQLITE_FULL; }

private:
    int code_;
};

class Database;

// A prepared statement; thread-bound to its connection.
class Statement {
public:
    Statement(Database& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, std::string_view value);
    Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
    Statement& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
    Statement& bindNull(int index);
    Statement& bindReal(int index, double value);
    Statement& bindOptional(int index, const std::string& value);   // empty → NULL

    bool step();        // true while a row is available
    void run();         // step to completion, expecting no rows to be read
    void reset();

    std::int64_t columnInt(int col) const;
    double columnReal(int col) const;
    std::string columnText(int col) const;
    // The same text without a copy; valid until the next step() or reset() of this statement.
    std::string_view columnView(int col) const;
    bool columnIsNull(int col) const;

private:
    Database* db_;
    sqlite3_stmt* stmt_;
};

// One SQLite connection in WAL mode with synchronous=FULL; thread-bound.
class Database {
public:
    enum class Mode { ReadWrite, ReadOnly };

    Database(const std::filesystem::path& path, Mode mode);
    // A second connection to the same file for another thread of this process. The two share one writer
    // lock, taken by every Transaction, so their writes queue up here instead of in SQLite's busy handler.
    Database(const Database& sibling, Mode mode);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    void exec(std::string_view sql);
    // A cached prepared statement, reset and with bindings cleared.
    Statement& prepare(const std::string& sql);
    std::int64_t changes() const;
    sqlite3* handle() const { return db_; }
    const std::filesystem::path& path() const { return path_; }
    std::mutex& writeLock() const { return *writeLock_; }

    [[noreturn]] void fail(int rc, std::string_view what) const;

private:
    struct StmtDeleter {
        void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
    };
    struct CachedStatement {
        std::unique_ptr<sqlite3_stmt, StmtDeleter> raw;
        std::unique_ptr<Statement> wrapper;
    };

    std::filesystem::path path_;
    std::shared_ptr<std::mutex> writeLock_;
    sqlite3* db_ = nullptr;
    std::unordered_map<std::string, CachedStatement> cache_;
};

// BEGIN IMMEDIATE … COMMIT; rolls back when destroyed uncommitted. Holds the connection's writer lock
// from BEGIN to COMMIT or ROLLBACK.
class Transaction {
public:
    explicit Transaction(Database& db);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

private:
    Database& db_;
    std::unique_lock<std::mutex> writing_;
    bool done_ = false;
};

// A named savepoint inside a transaction, so one failing step can be undone alone.
class Savepoint {
public:
    explicit Savepoint(Database& db);
    ~Savepoint();
    Savepoint(const Savepoint&) = delete;
    Savepoint& operator=(const Savepoint&) = delete;
    void release();

private:
    Database& db_;
    bool done_ = false;
};

} // namespace mto
