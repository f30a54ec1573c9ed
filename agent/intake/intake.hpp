// SPDX-License-Identifier: Apache-2.0
// Intake: orders and commands from HQ are validated and committed before the broker gets its PUBACK.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <vector>
#include <memory>
#include <optional>
#include <spdlog/spdlog.h>
#include <string>

#include "catalog.hpp"
#include "store/commit_queue.hpp"
#include "intake/order_parser.hpp"
#include "store/order_store.hpp"

namespace mto {

struct IntakeCounters {
    std::uint64_t orders = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t revisions = 0;
    std::uint64_t commands = 0;
    std::uint64_t rejected = 0;
    std::uint64_t notStored = 0;
};

// Thread-bound to the io_context, except submitAndWait() which the MQTT client's thread calls.
class Intake {
public:
    Intake(boost::asio::io_context& io, CommitQueue& commits, OrderStore& store, std::string factory,
           ParseLimits limits, std::shared_ptr<const Catalog> catalog);

    // Hands one inbound message to the loop and blocks until it is committed (true) or could not be
    // stored (false: no receipt was produced, HQ will re-send). Returning lets the client send PUBACK.
    bool submitAndWait(const std::string& topic, std::string payload);

    // What handling one message did inside the group transaction; reported only once it is committed.
    struct Outcome {
        // An order stored or revised, as parsed: the content just committed, handed to the compiler as is.
        std::optional<CompileInput> stored;
        std::string changed;                  // an order changed by a command: compiled from what is stored
        spdlog::level::level_enum level = spdlog::level::debug;
        std::string summary;                  // "order X stored: ..." / "rejected ..."
    };
    // Runs on the loop inside the group transaction.
    Outcome process(const std::string& topic, const std::string& payload);

    // Called on the loop for every order stored or revised, after its commit: with its content when the
    // order came as an order (no need to read it back), by id alone after a change command.
    using OrderStored = std::function<void(const std::string& orderId, std::optional<CompileInput> content)>;
    void onOrderStored(OrderStored f) { orderStored_ = std::move(f); }

    void setCatalog(std::shared_ptr<const Catalog> catalog) { catalog_ = std::move(catalog); }
    void stop() { stopping_ = true; }
    const IntakeCounters& counters() const { return counters_; }

    std::string ordersTopic() const;
    std::string commandsTopic() const;

private:
    boost::asio::io_context& io_;
    CommitQueue& commits_;
    OrderStore& store_;
    std::string factory_;
    const std::string ordersTopic_;
    const std::string commandsTopic_;
    OrderParser parser_;
    std::shared_ptr<const Catalog> catalog_;
    std::atomic<bool> stopping_{false};
    IntakeCounters counters_;
    OrderStored orderStored_;
};

} // namespace mto
