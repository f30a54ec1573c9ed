// SPDX-License-Identifier: Apache-2.0
// The store, its group commit and the scheduler's queue on a real SQLite file, all on one loop: the ground
// the scheduler's tests stand on.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

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

    // Stores the order HQ sent as `payload` and records `jobs` as its compiled jobs, in one commit, as intake and
    // the compile room do. A payload that does not parse fails the test and stores nothing.
    void storeCompiled(const std::string& payload, const std::vector<CompiledJob>& jobs) {
        auto parsed = parser_.parseOrder(payload, catalog_);
        ASSERT_TRUE(std::holds_alternative<Order>(parsed)) << std::get<Rejections>(parsed).first().message;
        const Order& order = std::get<Order>(parsed);
        Transaction txn(db_);
        Rejection r;
        ASSERT_EQ(store_.storeOrder(order, "", r), OrderOutcome::Stored) << r.message;
        auto input = store_.compileInput(order.orderId);
        ASSERT_TRUE(input);
        store_.recordCompiled(*input, jobs);
        txn.commit();
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
