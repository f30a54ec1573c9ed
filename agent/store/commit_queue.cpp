// SPDX-License-Identifier: Apache-2.0
// Group commit: state changes that are ready together share one transaction and one fsync.
#include "store/commit_queue.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>
#include <string>

namespace mto {

namespace {

// The storage health a failed commit leaves: what status and events report.
const char* problemOf(const DbError& e) { return e.diskFull() ? "disk_full" : "io_error"; }

} // namespace

CommitQueue::CommitQueue(boost::asio::io_context& io, Database& db) : io_(io), db_(db) {}

void CommitQueue::submit(Work work, Done done) {
    pending_.push_back({std::move(work), std::move(done)});
    if (scheduled_) return;
    scheduled_ = true;
    // Deferred to the end of the current round of ready handlers, so whatever else is ready joins the group.
    boost::asio::post(io_, [this] { flush(); });
}

void CommitQueue::setProblem(const std::string& p) {
    if (p == problem_) return;
    problem_ = p;
    if (p.empty())
        spdlog::info("storage healthy again: commits succeed");
    else
        spdlog::error("storage degraded ({}): nothing new can be stored; receipts are withheld until space returns",
                      p);
    if (healthChange_) healthChange_(p);
}

void CommitQueue::committedElsewhere() {
    setProblem("");
    if (afterCommit_) afterCommit_();
}

void CommitQueue::failedElsewhere(const DbError& error) { setProblem(problemOf(error)); }

void CommitQueue::flush() {
    scheduled_ = false;
    std::vector<Entry> batch;
    batch.swap(pending_);
    std::vector<bool> ok(batch.size(), false);
    bool committed = false;
    const sqlite3_int64 changesBefore = sqlite3_total_changes64(db_.handle());
    try {
        Transaction txn(db_);
        for (std::size_t i = 0; i < batch.size(); ++i) {
            {
                Savepoint sp(db_);
                try {
                    batch[i].work();
                    sp.release();
                    ok[i] = true;
                } catch (const DbError& e) {
                    if (e.diskFull()) throw;
                    spdlog::error("store: {}", e.what());
                } catch (const std::exception& e) {
                    spdlog::error("store: {}", e.what());
                }
            }
            // Some errors (I/O, out of memory, a busy rollback) make SQLite roll back the whole transaction,
            // not just the failed statement. Work after that would run outside it and commit alone while
            // its neighbours are gone, so the group as a whole is reported as not stored.
            if (!ok[i] && sqlite3_get_autocommit(db_.handle()))
                throw DbError(SQLITE_ABORT, "SQLite rolled back the transaction of this group after change " +
                                                std::to_string(i + 1) + " failed");
        }
        txn.commit();
        committed = true;
        ++commits_;
    } catch (const DbError& e) {
        spdlog::error("commit of {} change(s) failed: {}", batch.size(), e.what());
        setProblem(problemOf(e));
    } catch (const std::exception& e) {
        spdlog::error("commit of {} change(s) failed: {}", batch.size(), e.what());
        setProblem("io_error");
    }
    if (committed) setProblem("");
    // New events are handed on before anyone is told of the commit: an inbound order's delivery
    // thread, once released, then finds its receipt already queued for publishing. A group that wrote
    // no row brings nothing new to anyone: telling them would only wake them (the forecast's commit,
    // which usually writes nothing, would otherwise re-run the forecast every second forever).
    const bool wrote = sqlite3_total_changes64(db_.handle()) != changesBefore;
    if (committed && wrote && afterCommit_) afterCommit_();
    for (std::size_t i = 0; i < batch.size(); ++i)
        if (batch[i].done) batch[i].done(committed && ok[i]);
}

} // namespace mto
