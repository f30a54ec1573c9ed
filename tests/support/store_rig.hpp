// SPDX-License-Identifier: Apache-2.0
// The store, its group commit and the scheduler's queue on a real SQLite file, all on one loop: the ground
// the scheduler's tests stand on.
#pragma once

#include <boost/asio/io_context.hpp>
#include <map>
#include <optional>
#include <string>

#include "catalog.hpp"
#include "intake/order_parser.hpp"
#include "scheduler/job_queue.hpp"
#include "scheduler/scheduler.hpp"
#include "store/commit_queue.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "store/order_store.hpp"
#include "test_env.hpp"
#include "util/clock.hpp"

namespace mto::test {

// Thread-bound to the test's thread, which turns io_. Members keep fixture-style names so a fixture that
// derives from it reads as if it declared them itself.
class StoreRig {
protected:
    StoreRig() : db_(dir_.path() / "agent.db", Database::Mode::ReadWrite), store_(db_, "f1", clock_) { migrate(db_); }

    // The scheduler's program loader, answering from programs_ by artifact sha.
    Scheduler::ArtifactLoader loader() {
        return [this](const std::string& sha) -> std::optional<JobArtifact> {
            auto it = programs_.find(sha);
            if (it == programs_.end()) return std::nullopt;
            return it->second;
        };
    }

    TempDir dir_;
    Database db_;
    SystemClock clock_;
    OrderStore store_;
    boost::asio::io_context io_;
    CommitQueue commits_{io_, db_};
    JobQueue queue_{db_};
    Catalog catalog_;
    OrderParser parser_{ParseLimits{}};
    std::map<std::string, JobArtifact> programs_;
};

} // namespace mto::test
