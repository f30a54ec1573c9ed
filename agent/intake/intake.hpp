// SPDX-License-Identifier: Apache-2.0
// Intake: orders and commands from HQ are validated and committed before the broker gets its PUBACK.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
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

// Thread-bound to the io_context, except submitAndWait() which the MQTT client's delivery thread calls.
// Invariants: the loop owns the counters, the hooks and the loop's store; the delivery thread alone uses
// deliveryDb_/deliveryStore_ (after storeNewOrdersOnDelivery(), which runs before the first delivery); the
// catalog is shared under catalogMutex_; the parser holds only its limits. Both connections write under
// one writer lock (Transaction), so each `received` event takes the next seq in commit order, whichever
// thread commits it. The loop hears of a delivery thread's commit through a post, after the commit.
class Intake {
public:
    Intake(boost::asio::io_context& io, CommitQueue& commits, OrderStore& store, std::string factory,
           ParseLimits limits, std::shared_ptr<const Catalog> catalog);
    ~Intake();

    // Stores new orders on the calling (delivery) thread through a connection of its own, so an order's
    // commit is not in series with two hand-offs to the loop and back. Anything else (commands, re-sent and
    // revised orders, rejections) still goes through the loop. Call before the first delivery.
    void storeNewOrdersOnDelivery(std::unique_ptr<Database> connection, const Clock& clock);

    // Commits one inbound message and returns once it is on disk (true) or could not be stored (false: no
    // receipt was produced, HQ will re-send). Returning lets the client send PUBACK. A new order is stored on
    // the calling thread when storeNewOrdersOnDelivery() was called; everything else waits for the loop.
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

    void setCatalog(std::shared_ptr<const Catalog> catalog);
    void stop() { stopping_ = true; }
    const IntakeCounters& counters() const { return counters_; }

    std::string ordersTopic() const;
    std::string commandsTopic() const;

private:
    std::shared_ptr<const Catalog> catalog() const;
    // The delivery thread's part: a new order parsed and committed here. Empty when the message needs the
    // loop (not a new, valid order, or something unexpected went wrong); else whether it is on disk.
    std::optional<bool> storeNewOrder(const std::string& payload);
    // Over the loop's group commit, waiting for it.
    bool submitToLoop(const std::string& topic, std::string payload);
    // On the loop, once a message is known to be committed (or not): counters, the log line, the compiler.
    void committed(Outcome& outcome);

    boost::asio::io_context& io_;
    CommitQueue& commits_;
    OrderStore& store_;
    std::string factory_;
    const std::string ordersTopic_;
    const std::string commandsTopic_;
    OrderParser parser_;
    mutable std::mutex catalogMutex_;   // set on the loop (reload), read on the delivery thread
    std::shared_ptr<const Catalog> catalog_;
    // The delivery thread's own connection and store, when new orders are stored there.
    std::unique_ptr<Database> deliveryDb_;
    std::unique_ptr<OrderStore> deliveryStore_;
    std::atomic<bool> stopping_{false};
    IntakeCounters counters_;
    OrderStored orderStored_;
};

} // namespace mto
