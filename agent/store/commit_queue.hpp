// SPDX-License-Identifier: Apache-2.0
// Group commit: state changes that are ready together share one transaction and one fsync.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <string>
#include <vector>

#include "store/database.hpp"

namespace mto {

// Thread-bound to the io_context: submit() must be called on the loop.
class CommitQueue {
public:
    using Work = std::function<void()>;
    using Done = std::function<void(bool committed)>;

    CommitQueue(boost::asio::io_context& io, Database& db);

    // Runs `work` inside the next group transaction; `done` learns whether it was committed.
    // Work that throws is undone alone (savepoint); a failed COMMIT fails the whole group.
    void submit(Work work, Done done);

    // Called on the loop after every successful commit that wrote a row (the uplink drains new events from
    // here); and after a commit made on another connection (committedElsewhere).
    void onCommitted(std::function<void()> f) { afterCommit_ = std::move(f); }
    // Called when the health of storage changes: empty string = healthy, else the reason (disk_full, io_error).
    void onHealthChange(std::function<void(const std::string&)> f) { healthChange_ = std::move(f); }

    // A commit made on another connection of this process (new orders on the intake's delivery thread),
    // reported on the loop: storage health and the after-commit handler, as for the queue's own commits.
    void committedElsewhere();
    void failedElsewhere(const DbError& error);

    const std::string& problem() const { return problem_; }
    std::uint64_t commits() const { return commits_; }

private:
    struct Entry {
        Work work;
        Done done;
    };
    void flush();
    void setProblem(const std::string& p);

    boost::asio::io_context& io_;
    Database& db_;
    std::vector<Entry> pending_;
    bool scheduled_ = false;
    std::string problem_;
    std::uint64_t commits_ = 0;
    std::function<void()> afterCommit_;
    std::function<void(const std::string&)> healthChange_;
};

} // namespace mto
