// SPDX-License-Identifier: Apache-2.0
// The only owner of order state: orders, items, commands, the rejection audit and the events outbox.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/clock.hpp"
#include "store/database.hpp"
#include "mto/event.hpp"
#include "mto/order.hpp"
#include "mto/order_state.hpp"
#include "util/uuid.hpp"

namespace mto {

struct OrderRecord {
    std::string orderId;
    std::int64_t revision = 0;
    std::string priority;
    std::string dueBy;
    std::string state;
    std::string contentHash;
    std::string body;
    std::int64_t items = 0;
    std::int64_t receivedAtMs = 0;
    std::int64_t updatedAtMs = 0;
};

struct OutboxStats {
    std::int64_t lastSeq = 0;
    std::int64_t ackedSeq = 0;
    std::int64_t unsent = 0;
    std::int64_t oldestUnsentAtMs = 0;   // 0 when nothing is unsent
    std::int64_t openOrders = 0;
};

// Duplicate: an identical re-send, answered with a fresh receipt. DuplicateQueued: an identical re-send
// while the order's receipt for that revision still waits in the outbox; that receipt is the answer and
// nothing new is queued, so re-sends cannot grow the outbox faster than it drains.
enum class OrderOutcome { Stored, Duplicate, DuplicateQueued, Revised, Rejected };

// An order's items as they stand, for the compiler.
struct CompileInput {
    std::string orderId;
    std::int64_t revision = 0;
    std::string contentHash;
    bool rush = false;
    std::vector<Item> items;
};

// One item's compiled job, ready to be recorded.
struct CompiledJob {
    std::string itemId;
    std::string operation;    // route step; an item has one job per machine operation
    int step = 0;             // its position among the item's jobs
    std::string capability;
    std::string artifactSha;
    std::string proofSha;
    double estimatedSeconds = 0;
    double textHeight = 0;
    std::string profile{};    // the machine profile it was compiled and checked for
    std::string material{};
};

// A stored machine job, as the scheduler and mtoctl see it.
struct JobRecord {
    std::string itemId;
    std::string operation;
    int step = 0;
    std::int64_t revision = 0;
    std::string capability;
    std::string artifactSha;
    std::string proofSha;
    double estimatedSeconds = 0;
    bool rush = false;
    std::string state;
};

struct ItemProblem {
    std::string reason;
    std::string path;
    std::string message;
};

// Thread-bound: used only from the io_context thread (or a CLI's main thread).
// Write methods must run inside a Transaction owned by the caller, so a state change and the
// events it causes commit together.
class OrderStore {
public:
    OrderStore(Database& db, std::string factory, const Clock& clock);
    // The connection the store writes through, for rooms whose tables share its transactions.
    Database& database() { return db_; }
    // Where the compiler's proofs lie (<dir>/media), so their sizes count in the media table; unset: size 0.
    void setStateDir(std::filesystem::path dir) { mediaStateDir_ = std::move(dir); }

    // A new order, an identical re-send (fresh receipt), or a new revision. On a refused revision
    // `rejection` is filled and the caller records it with recordRejection().
    OrderOutcome storeOrder(const Order& order, const std::string& commandId, Rejection& rejection);

    // Applies cancel/hold/resume/change/resync; returns the rejection when the command is refused.
    // A resync of all open orders answers one page of orders per transaction: the first page now, the
    // rest through the follow-up hook, so neither memory nor one transaction grows with the backlog.
    std::optional<Rejection> applyCommand(const Command& cmd);

    // Where the store hands work that must run in a later transaction of its own (the next pages of a
    // resync). Without a hook (mtoctl, tests driving the store directly) that work runs at once, inline.
    using FollowUp = std::function<void(std::function<void()>)>;
    void onFollowUp(FollowUp f) { followUp_ = std::move(f); }
    void setResyncPageSize(std::size_t n) { resyncPageSize_ = n ? n : 1; }
    // What a hold, cancel or resume does to a unit of the order that is running on a machine ("finish",
    // "pause", "stop", "resume", "continue"); listed in the command's event under `running`. Unset: "finish".
    using RunningWorkPolicy = std::function<std::string(const std::string& machineId, CommandKind kind)>;
    void setRunningWorkPolicy(RunningWorkPolicy policy) { runningWorkPolicy_ = std::move(policy); }

    // Audit row plus a `rejected` event.
    void recordRejection(std::string_view topic, std::string_view payload, const Rejections& rejections);

    void setAckedSeq(std::int64_t seq);
    // The uplink's delivery mark as it stands in memory (ahead of the stored one, which is written in
    // batches): events up to it have left the outbox, so a re-send is answered with a fresh receipt.
    void noteDelivered(std::int64_t seq) { delivered_ = std::max(delivered_, seq); }

    // Orders whose items still need compiling (received, or held before they were compiled).
    std::vector<std::string> ordersAwaitingCompile();
    std::optional<CompileInput> compileInput(const std::string& orderId);
    // Records the jobs and emits `accepted` + one `proof_ready` per item, or `rejected` listing every
    // failing item; does nothing when the order changed (revision) or was cancelled meanwhile.
    void recordCompiled(const CompileInput& input, const std::vector<CompiledJob>& jobs);
    void recordCompileFailure(const CompileInput& input, const std::vector<ItemProblem>& problems);
    // An order that could not even be handed to the compiler (its stored record cannot be read, or the
    // compiler failed in a way no item explains) is refused at stage compile with reason internal_error,
    // so HQ hears of it and nothing waits on it. Returns false when the order no longer awaits compiling.
    bool recordInternalFailure(const std::string& orderId, const std::string& message);
    // True while the order is stored and not yet compiled (received, or held before it was compiled).
    bool awaitsCompile(const std::string& orderId);
    // A milestone from the floor about one item (production_started, progress, job_done, interrupted,
    // machine_fault). The first production_started moves an accepted order into production.
    void recordProduction(const std::string& orderId, const std::string& itemId, std::string_view milestone,
                          boost::json::object data);

    // The media quota shed media of this order that HQ never got (`media_shed` with their hashes).
    void recordMediaShed(const std::string& orderId, const std::string& itemId, boost::json::object data) {
        emit(orderId, itemId, "media_shed", std::move(data));
    }
    // An operator's milestone from a scan (qc_passed, qc_failed, ready_to_ship, shipped, scan_refused);
    // returns its seq.
    std::int64_t recordScanEvent(const std::string& orderId, const std::string& itemId, std::string_view milestone,
                                 boost::json::object data);
    // Moves the order to `to`; throws mto::Error when the state table does not allow it from where it is.
    void moveOrder(const std::string& orderId, OrderState to);

    // The proof of an item's job: the given operation's, or the first operation's when none is given.
    // The order's jobs, by item id and then route step.
    std::vector<JobRecord> jobsForOrder(const std::string& orderId);
    std::optional<std::string> proofSha(const std::string& orderId, const std::string& itemId,
                                        const std::string& operation = {});

    std::int64_t ackedSeq();
    std::int64_t lastSeq();
    std::vector<Event> eventsAfter(std::int64_t seq, std::size_t limit);
    std::vector<Event> eventsForOrder(const std::string& orderId);
    OutboxStats outboxStats();
    std::vector<OrderRecord> orders(std::size_t limit);
    std::optional<OrderRecord> order(const std::string& orderId);
    // An event about the floor, not an order (machine_fault): order_id null, on the topic events/_floor.
    void recordFloorEvent(std::string_view milestone, boost::json::object data);
    // Only the order's state ("in_production", "on_hold", ...), without reading its body.
    std::optional<std::string> orderState(const std::string& orderId);
    std::int64_t rejectionCount();

private:
    // Still the same revision and in a state where compile results apply?
    std::optional<OrderState> compileTarget(const CompileInput& input);
    // `topicName` overrides the topic's last level (the order id, or _invalid without one).
    std::int64_t emit(const std::string& orderId, const std::string& itemId, std::string_view milestone,
                      boost::json::object data, std::string_view topicName = {});
    void insertItems(const Order& order);
    void setState(const std::string& orderId, OrderState state, const std::string& heldFrom);
    void rememberCommand(const Command& cmd, std::string_view milestone);
    // One page of a resync of all open orders, after the given (received_at, order_id).
    void resyncPage(const Command& cmd, std::int64_t afterReceivedAt, const std::string& afterOrderId);
    // The units of the order running on machines, with what the command does to each.
    boost::json::array runningWork(const Command& cmd);
    static Event readEvent(Statement& st);
    // Is an answer to this order (a `received` of `revision`) or to this command (`commandId` set) still
    // waiting in the outbox, above the delivery mark?
    bool receiptQueued(const std::string& orderId, std::int64_t revision, const std::string& commandId);

    Database& db_;
    std::string factory_;
    const Clock& clock_;
    UuidGenerator uuids_;
    FollowUp followUp_;
    std::size_t resyncPageSize_ = 200;
    RunningWorkPolicy runningWorkPolicy_;
    std::filesystem::path mediaStateDir_;
    std::int64_t delivered_ = 0;
};

} // namespace mto
