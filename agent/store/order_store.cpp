// SPDX-License-Identifier: Apache-2.0
// The only owner of order state: orders, items, commands, the rejection audit and the events outbox.
#include "store/order_store.hpp"

#include "media/media_store.hpp"

#include <boost/json.hpp>
#include <cmath>
#include <limits>
#include <map>
#include <spdlog/spdlog.h>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/event_json.hpp"
#include "util/sha256.hpp"
#include "util/utf8.hpp"

namespace mto {

namespace json = boost::json;

namespace {

constexpr std::size_t kExcerptBytes = 512;

const char* kSelectEvent = "SELECT seq, event_id, order_id, item_id, milestone, at, topic, payload FROM events ";
const char* kSelectOrder =
    "SELECT o.order_id, o.revision, o.priority, o.due_by, o.state, o.content_hash, o.body, o.received_at, "
    "o.updated_at, (SELECT COUNT(*) FROM items i WHERE i.order_id = o.order_id) FROM orders o ";

OrderRecord readOrder(Statement& st) {
    OrderRecord r;
    r.orderId = st.columnText(0);
    r.revision = st.columnInt(1);
    r.priority = st.columnText(2);
    r.dueBy = st.columnText(3);
    r.state = st.columnText(4);
    r.contentHash = st.columnText(5);
    r.body = st.columnText(6);
    r.receivedAtMs = st.columnInt(7);
    r.updatedAtMs = st.columnInt(8);
    r.items = st.columnInt(9);
    return r;
}

// The state an order on hold returns to on resume; nullopt when it is not held.
std::optional<OrderState> heldFromState(Database& db, const std::string& orderId) {
    auto& st = db.prepare("SELECT held_from FROM orders WHERE order_id = ?").bind(1, orderId);
    std::optional<OrderState> s;
    if (st.step()) s = orderStateFromString(st.columnText(0));
    st.reset();
    return s;
}

// What an order may still undergo: a hold pauses production, it does not undo it, so an order held
// in production is as far along as one that was never held.
OrderState orderProgressOf(Database& db, const std::string& orderId, OrderState state) {
    if (state != OrderState::OnHold) return state;
    return heldFromState(db, orderId).value_or(OrderState::OnHold);
}

json::object commandData(const Command& cmd) {
    json::object data;
    data["command"] = toString(cmd.kind);
    data["command_id"] = cmd.commandId;
    if (!cmd.reason.empty()) data["reason"] = cmd.reason;
    return data;
}

} // namespace

OrderStore::OrderStore(Database& db, std::string factory, const Clock& clock)
    : db_(db), factory_(std::move(factory)), clock_(clock) {}

Event OrderStore::readEvent(Statement& st) {
    Event e;
    e.seq = st.columnInt(0);
    e.eventId = st.columnText(1);
    e.orderId = st.columnText(2);
    e.itemId = st.columnText(3);
    e.milestone = st.columnText(4);
    e.atMs = st.columnInt(5);
    e.topic = st.columnText(6);
    e.payload = st.columnText(7);
    return e;
}

std::int64_t OrderStore::emit(const std::string& orderId, const std::string& itemId, std::string_view milestone,
                              json::object data, std::string_view topicName) {
    Event e;
    e.seq = lastSeq() + 1;
    e.eventId = uuids_.next();
    e.orderId = orderId;
    e.itemId = itemId;
    e.milestone = std::string(milestone);
    e.atMs = clock_.nowMs();
    e.topic = topicName.empty() ? eventTopic(factory_, orderId)
                                : topicPrefix(factory_) + "/events/" + std::string(topicName);
    e.payload = eventPayload(e, factory_, data);
    // The SQL of statements run for every order is built once: Database::prepare() looks its cache up by
    // std::string, and a literal would be copied into a fresh one on every call.
    static const std::string kInsertEvent = "INSERT INTO events (seq, event_id, order_id, item_id, milestone, at, "
                                            "topic, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
    db_.prepare(kInsertEvent)
        .bind(1, e.seq)
        .bind(2, e.eventId)
        .bindOptional(3, e.orderId)
        .bindOptional(4, e.itemId)
        .bind(5, e.milestone)
        .bind(6, e.atMs)
        .bind(7, e.topic)
        .bind(8, e.payload)
        .run();
    return e.seq;
}

void OrderStore::insertItems(const Order& order) {
    static const std::string kInsertItem =
        "INSERT INTO items (order_id, item_id, sku, qty, personalization) VALUES (?, ?, ?, ?, ?)";
    for (const auto& item : order.items) {
        db_.prepare(kInsertItem)
            .bind(1, order.orderId)
            .bind(2, item.itemId)
            .bind(3, item.sku)
            .bind(4, item.qty)
            .bind(5, item.personalizationJson)
            .run();
    }
}

void OrderStore::recordProduction(const std::string& orderId, const std::string& itemId, std::string_view milestone,
                                  json::object data) {
    // Milestones never go backwards: `scheduled` moves only an accepted order; `production_started` moves an
    // order not yet in production, through scheduled. A held order keeps its state (it resumes into it).
    if (milestone == "scheduled" || milestone == "production_started") {
        const auto stored = orderState(orderId);
        // Unknown or unreadable: nothing to move.
        OrderState state = stored ? orderStateFromString(*stored).value_or(OrderState::Cancelled) : OrderState::Cancelled;
        if (state == OrderState::Accepted) {
            setState(orderId, OrderState::Scheduled, "");
            state = OrderState::Scheduled;
        }
        if (milestone == "production_started" && state == OrderState::Scheduled)
            setState(orderId, OrderState::InProduction, "");
    }
    emit(orderId, itemId, milestone, std::move(data));
}

std::int64_t OrderStore::recordScanEvent(const std::string& orderId, const std::string& itemId,
                                        std::string_view milestone, json::object data) {
    return emit(orderId, itemId, milestone, std::move(data));
}

void OrderStore::moveOrder(const std::string& orderId, OrderState to) {
    const auto stored = orderState(orderId);
    const auto from = stored ? orderStateFromString(*stored) : std::nullopt;
    if (!from || !isLegalTransition(*from, to))
        throw Error("order " + orderId + " cannot move from " + (stored ? *stored : "nowhere") + " to " + toString(to));
    setState(orderId, to, "");
}

void OrderStore::setState(const std::string& orderId, OrderState state, const std::string& heldFrom) {
    db_.prepare("UPDATE orders SET state = ?, held_from = ?, updated_at = ? WHERE order_id = ?")
        .bind(1, toString(state))
        .bindOptional(2, heldFrom)
        .bind(3, clock_.nowMs())
        .bind(4, orderId)
        .run();
}

void OrderStore::rememberCommand(const Command& cmd, std::string_view milestone) {
    auto& st = db_.prepare("INSERT INTO commands (command_id, order_id, command, milestone, at, revision) "
                           "VALUES (?, ?, ?, ?, ?, ?)")
                   .bind(1, cmd.commandId)
                   .bindOptional(2, cmd.orderId)
                   .bind(3, toString(cmd.kind))
                   .bind(4, milestone)
                   .bind(5, clock_.nowMs());
    if (cmd.order)
        st.bind(6, cmd.order->revision);
    else
        st.bindNull(6);
    st.run();
}

OrderOutcome OrderStore::storeOrder(const Order& order, const std::string& commandId, Rejection& rejection) {
    auto existing = this->order(order.orderId);
    json::object data;
    data["revision"] = order.revision;
    if (!commandId.empty()) {
        data["command"] = "change";
        data["command_id"] = commandId;
    }
    const std::int64_t now = clock_.nowMs();

    if (!existing) {
        static const std::string kInsertOrder = "INSERT INTO orders (order_id, revision, priority, due_by, state, "
                                                "content_hash, body, received_at, updated_at) "
                                                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
        db_.prepare(kInsertOrder)
            .bind(1, order.orderId)
            .bind(2, order.revision)
            .bind(3, toString(order.priority))
            .bindOptional(4, order.dueBy)
            .bind(5, toString(OrderState::Received))
            .bind(6, order.contentHash)
            .bind(7, order.canonicalJson)
            .bind(8, now)
            .bind(9, now)
            .run();
        insertItems(order);
        data["items"] = order.items.size();
        data["priority"] = toString(order.priority);
        data["duplicate"] = false;
        emit(order.orderId, "", "received", std::move(data));
        return OrderOutcome::Stored;
    }

    if (existing->contentHash == order.contentHash) {
        if (commandId.empty() && receiptQueued(order.orderId, order.revision, ""))
            return OrderOutcome::DuplicateQueued;
        data["items"] = existing->items;
        data["duplicate"] = true;
        data["state"] = existing->state;
        emit(order.orderId, "", "received", std::move(data));
        return OrderOutcome::Duplicate;
    }

    auto state = orderStateFromString(existing->state).value_or(OrderState::Received);
    auto progress = orderProgressOf(db_, order.orderId, state);
    if (order.revision < existing->revision) {
        rejection = {"stale_revision", "revision",
                     "revision " + std::to_string(order.revision) + " is older than the stored revision " +
                         std::to_string(existing->revision)};
    } else if (order.revision == existing->revision) {
        rejection = {"revision_conflict", "revision",
                     "same revision " + std::to_string(order.revision) +
                         " with different content; a change needs a higher revision"};
    } else if (!acceptsRevision(state) || !acceptsRevision(progress)) {
        rejection = {isTerminal(state) ? "order_closed" : "production_started", "revision",
                     std::string("the order is ") + toString(state) +
                         (progress != state ? std::string(" (held while ") + toString(progress) + ")" : "") +
                         "; it can no longer be changed"};
    } else {
        db_.prepare("UPDATE orders SET revision = ?, priority = ?, due_by = ?, content_hash = ?, body = ?, "
                    "updated_at = ? WHERE order_id = ?")
            .bind(1, order.revision)
            .bind(2, toString(order.priority))
            .bindOptional(3, order.dueBy)
            .bind(4, order.contentHash)
            .bind(5, order.canonicalJson)
            .bind(6, now)
            .bind(7, order.orderId)
            .run();
        db_.prepare("DELETE FROM items WHERE order_id = ?").bind(1, order.orderId).run();
        db_.prepare("DELETE FROM jobs WHERE order_id = ?").bind(1, order.orderId).run();
        insertItems(order);
        // A new revision is compiled again from scratch.
        if (state == OrderState::OnHold)
            db_.prepare("UPDATE orders SET held_from = 'received' WHERE order_id = ?").bind(1, order.orderId).run();
        else
            setState(order.orderId, OrderState::Received, "");
        data["items"] = order.items.size();
        data["priority"] = toString(order.priority);
        data["duplicate"] = false;
        data["revised_from"] = existing->revision;
        emit(order.orderId, "", "received", std::move(data));
        return OrderOutcome::Revised;
    }
    return OrderOutcome::Rejected;
}

std::optional<Rejection> OrderStore::applyCommand(const Command& cmd) {
    {
        auto& st = db_.prepare("SELECT milestone, order_id, command, revision FROM commands WHERE command_id = ?")
                       .bind(1, cmd.commandId);
        if (st.step()) {
            std::string milestone = st.columnText(0);
            std::string orderId = st.columnText(1);
            std::string kind = st.columnText(2);
            std::optional<std::int64_t> revision;
            if (!st.columnIsNull(3)) revision = st.columnInt(3);
            st.reset();
            // A re-sent command is answered again; another command under a used id would be silently
            // answered with the old one's milestone, so it is refused instead.
            const bool sameCommand = kind == toString(cmd.kind) && orderId == cmd.orderId &&
                                     (!revision || !cmd.order || *revision == cmd.order->revision);
            if (!sameCommand)
                return Rejection{"command_id_reused", "command_id",
                                 "command_id " + cmd.commandId + " was already used for " + kind +
                                     (orderId.empty() ? std::string(" of all open orders") : " of order " + orderId) +
                                     (revision ? " revision " + std::to_string(*revision) : std::string()) +
                                     "; a different command needs a new command_id"};
            if (receiptQueued(orderId, 0, cmd.commandId)) return std::nullopt;   // its answer is on its way
            json::object data = commandData(cmd);
            data["duplicate"] = true;
            if (auto o = order(orderId)) data["state"] = o->state;
            emit(orderId, "", milestone, std::move(data));
            return std::nullopt;
        }
        st.reset();
    }

    if (cmd.kind == CommandKind::Resync) {
        if (!cmd.orderId.empty()) {
            auto o = order(cmd.orderId);
            if (!o) return Rejection{"unknown_order", "order_id", "no order with this id"};
            json::object data = commandData(cmd);
            data["state"] = o->state;
            data["revision"] = o->revision;
            emit(o->orderId, "", "state", std::move(data));
        }
        // Remembered with the first page: the later pages run only once it is committed.
        rememberCommand(cmd, "state");
        if (cmd.orderId.empty()) resyncPage(cmd, std::numeric_limits<std::int64_t>::min(), "");
        return std::nullopt;
    }

    if (cmd.kind == CommandKind::Change) {
        Rejection rejection;
        auto outcome = storeOrder(*cmd.order, cmd.commandId, rejection);
        if (outcome == OrderOutcome::Rejected) return rejection;
        rememberCommand(cmd, "received");
        return std::nullopt;
    }

    auto existing = order(cmd.orderId);
    if (!existing) return Rejection{"unknown_order", "order_id", "no order with this id"};
    OrderState from = orderStateFromString(existing->state).value_or(OrderState::Received);

    OrderState to = OrderState::Cancelled;
    std::string heldFrom;
    const char* milestone = "cancelled";
    if (cmd.kind == CommandKind::Hold) {
        to = OrderState::OnHold;
        heldFrom = toString(from);
        milestone = "on_hold";
    } else if (cmd.kind == CommandKind::Resume) {
        auto back = heldFromState(db_, cmd.orderId);
        if (from != OrderState::OnHold || !back)
            return Rejection{"illegal_transition", "command",
                             std::string("resume needs an order on hold; the order is ") + toString(from)};
        to = *back;
        milestone = "resumed";
    }
    if (!isLegalTransition(from, to))
        return Rejection{"illegal_transition", "command",
                         std::string("cannot ") + toString(cmd.kind) + " an order that is " + toString(from)};
    if (auto progress = orderProgressOf(db_, cmd.orderId, from); cmd.kind == CommandKind::Cancel && progress != from &&
                                                            !isLegalTransition(progress, to))
        return Rejection{"illegal_transition", "command",
                         std::string("cannot cancel an order that is on_hold (held while ") + toString(progress) + ")"};
    setState(cmd.orderId, to, heldFrom);
    json::object data = commandData(cmd);
    data["state"] = toString(to);
    data["revision"] = existing->revision;
    if (auto running = runningWork(cmd); !running.empty()) data["running"] = std::move(running);
    emit(cmd.orderId, "", milestone, std::move(data));
    rememberCommand(cmd, milestone);
    return std::nullopt;
}

json::array OrderStore::runningWork(const Command& cmd) {
    json::array out;
    auto& st = db_.prepare("SELECT item_id, machine_id, operation, unit FROM units WHERE order_id = ? AND "
                           "state = 'running' ORDER BY item_id, step, unit")
                   .bind(1, cmd.orderId);
    while (st.step()) {
        json::object unit;
        unit["item_id"] = st.columnText(0);
        unit["machine"] = st.columnText(1);
        unit["operation"] = st.columnText(2);
        unit["unit"] = st.columnInt(3);
        unit["action"] = runningWorkPolicy_ ? runningWorkPolicy_(st.columnText(1), cmd.kind) : "finish";
        out.push_back(std::move(unit));
    }
    st.reset();
    return out;
}

void OrderStore::resyncPage(const Command& cmd, std::int64_t afterReceivedAt, const std::string& afterOrderId) {
    struct Open {
        std::string orderId;
        std::string state;
        std::int64_t revision;
        std::int64_t receivedAt;
    };
    std::vector<Open> page;
    // Only what the answer needs: order bodies can be large and a resync covers every open order.
    auto& st = db_.prepare("SELECT order_id, state, revision, received_at FROM orders "
                           "WHERE state NOT IN ('shipped', 'cancelled') AND "
                           "(received_at > ? OR (received_at = ? AND order_id > ?)) "
                           "ORDER BY received_at, order_id LIMIT ?")
                   .bind(1, afterReceivedAt)
                   .bind(2, afterReceivedAt)
                   .bind(3, afterOrderId)
                   .bind(4, static_cast<std::int64_t>(resyncPageSize_));
    while (st.step()) page.push_back({st.columnText(0), st.columnText(1), st.columnInt(2), st.columnInt(3)});
    st.reset();
    for (const auto& o : page) {
        // One order that cannot be reported must not take the answers about the others with it.
        Savepoint sp(db_);
        try {
            json::object data = commandData(cmd);
            data["state"] = o.state;
            data["revision"] = o.revision;
            emit(o.orderId, "", "state", std::move(data));
            sp.release();
        } catch (const DbError& e) {
            if (e.diskFull()) throw;
            spdlog::error("resync {}: order {} left out: {}", cmd.commandId, o.orderId, e.what());
        } catch (const std::exception& e) {
            spdlog::error("resync {}: order {} left out: {}", cmd.commandId, o.orderId, e.what());
        }
    }
    if (page.size() < resyncPageSize_) return;
    auto next = [this, cmd, at = page.back().receivedAt, id = page.back().orderId] {
        // The command was remembered in the first page's transaction; if that was undone, HQ gets no
        // receipt and sends the resync again, so the rest of this one is dropped.
        auto& remembered = db_.prepare("SELECT 1 FROM commands WHERE command_id = ?").bind(1, cmd.commandId);
        const bool committed = remembered.step();
        remembered.reset();
        if (committed) resyncPage(cmd, at, id);
    };
    if (followUp_)
        followUp_(std::move(next));
    else
        next();
}

void OrderStore::recordRejection(std::string_view topic, std::string_view payload, const Rejections& rejections) {
    const Rejection& first = rejections.first();
    const PayloadProbe& probe = rejections.probe;
    db_.prepare("INSERT INTO rejections (at, topic, reason, path, message, order_id, payload_sha256, payload_size, "
                "excerpt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(1, clock_.nowMs())
        .bind(2, sanitizeUtf8(topic, 256))
        .bind(3, first.reason)
        .bind(4, first.path)
        .bind(5, first.message)
        .bindOptional(6, probe.orderId)
        .bind(7, sha256Hex(payload))
        .bind(8, static_cast<std::int64_t>(payload.size()))
        .bind(9, sanitizeUtf8(payload, kExcerptBytes))
        .run();

    json::object data;
    data["reason"] = first.reason;
    data["path"] = first.path;
    data["message"] = first.message;
    if (probe.revision) data["revision"] = *probe.revision;
    if (!probe.command.empty()) data["command"] = probe.command;
    if (!probe.commandId.empty()) data["command_id"] = probe.commandId;
    if (rejections.list.size() > 1) {
        json::array all;
        for (const auto& r : rejections.list) all.push_back({{"reason", r.reason}, {"path", r.path}, {"message", r.message}});
        data["errors"] = std::move(all);
    }
    emit(probe.orderId, "", "rejected", std::move(data));
}

std::vector<std::string> OrderStore::ordersAwaitingCompile() {
    std::vector<std::string> out;
    auto& st = db_.prepare("SELECT order_id FROM orders WHERE state = 'received' OR "
                           "(state = 'on_hold' AND held_from = 'received') ORDER BY received_at");
    while (st.step()) out.push_back(st.columnText(0));
    st.reset();
    return out;
}

std::optional<CompileInput> OrderStore::compileInput(const std::string& orderId) {
    // Runs on the loop right after each order's commit, so it reads only what it needs: no item count,
    // no timestamps or state as order() would.
    static const std::string kSelectHead = "SELECT revision, content_hash, priority, body FROM orders WHERE order_id = ?";
    auto& head = db_.prepare(kSelectHead).bind(1, orderId);
    if (!head.step()) {
        head.reset();
        return std::nullopt;
    }
    CompileInput in;
    in.orderId = orderId;
    in.revision = head.columnInt(0);
    in.contentHash = head.columnText(1);
    in.rush = head.columnText(2) == "rush";
    const std::string storedBody = head.columnText(3);
    head.reset();
    static const std::string kSelectItems = "SELECT item_id, sku, qty, personalization FROM items WHERE order_id = ?";
    auto& st = db_.prepare(kSelectItems).bind(1, orderId);
    while (st.step()) in.items.push_back({st.columnText(0), st.columnText(1), st.columnInt(2), st.columnText(3)});
    st.reset();
    // Items keep the order HQ sent them in: that is the index used in error paths. The parsed body is
    // only looked at here, so it lives in an arena instead of one heap block per node.
    alignas(std::max_align_t) unsigned char block[4096];
    json::monotonic_resource arena(block, sizeof block);
    boost::system::error_code ec;
    auto body = boost::json::parse(storedBody, ec, &arena);
    if (ec || !body.is_object()) throw Error("the stored body of order " + orderId + " is not a JSON object");
    // By id through a map: matching each body item against every stored item is quadratic, and a bulk
    // order of 10,000 items would hold up the loop (and every inbound order behind it) for a long while.
    std::unordered_map<std::string_view, std::size_t> byId;
    byId.reserve(in.items.size());
    for (std::size_t i = 0; i < in.items.size(); ++i) byId.emplace(in.items[i].itemId, i);
    std::vector<Item> ordered;
    ordered.reserve(in.items.size());
    for (const auto& it : body.at("items").as_array()) {
        const auto& id = it.at("item_id").as_string();
        if (auto found = byId.find(std::string_view(id.data(), id.size())); found != byId.end())
            ordered.push_back(in.items[found->second]);
    }
    in.items = std::move(ordered);
    return in;
}

std::optional<OrderState> OrderStore::compileTarget(const CompileInput& input) {
    auto o = order(input.orderId);
    if (!o || o->revision != input.revision || o->contentHash != input.contentHash) return std::nullopt;
    auto state = orderStateFromString(o->state);
    if (state == OrderState::Received) return state;
    if (state == OrderState::OnHold) {
        auto& st = db_.prepare("SELECT held_from FROM orders WHERE order_id = ?").bind(1, input.orderId);
        st.step();
        bool fresh = st.columnText(0) == "received";
        st.reset();
        if (fresh) return state;
    }
    return std::nullopt;
}

void OrderStore::recordCompiled(const CompileInput& input, const std::vector<CompiledJob>& jobs) {
    auto state = compileTarget(input);
    if (!state) return;
    std::map<std::string, double> perSeconds;
    json::array items;
    double total = 0;
    for (const auto& job : jobs) {
        // The queue's sort keys come from the order and the item, so the scheduler never joins to sort.
        db_.prepare("INSERT OR REPLACE INTO jobs (order_id, item_id, operation, step, revision, capability, artifact_sha, "
                    "proof_sha, estimated_s, rush, profile, material, due_key, arrival, qty) "
                    "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                    "COALESCE(CAST(strftime('%s', o.due_by) AS INTEGER), 9223372036854775807), o.received_at, i.qty "
                    "FROM orders o JOIN items i ON i.order_id = o.order_id AND i.item_id = ?2 WHERE o.order_id = ?1")
            .bind(1, input.orderId)
            .bind(2, job.itemId)
            .bind(3, job.operation)
            .bind(4, static_cast<std::int64_t>(job.step))
            .bind(5, input.revision)
            .bind(6, job.capability)
            .bind(7, job.artifactSha)
            .bind(8, job.proofSha)
            .bindReal(9, job.estimatedSeconds)
            .bind(10, static_cast<std::int64_t>(input.rush))
            .bind(11, job.profile)
            .bind(12, job.material)
            .run();
        perSeconds[job.capability] += job.estimatedSeconds;
        total += job.estimatedSeconds;
        items.push_back({{"item_id", job.itemId},
                         {"operation", job.operation},
                         {"capability", job.capability},
                         {"job_sha256", job.artifactSha},
                         {"estimated_s", std::round(job.estimatedSeconds * 10) / 10}});
    }
    json::object perCapability;
    for (const auto& [capability, seconds] : perSeconds) perCapability[capability] = std::round(seconds * 10) / 10;
    if (*state == OrderState::OnHold)
        db_.prepare("UPDATE orders SET held_from = 'accepted' WHERE order_id = ?").bind(1, input.orderId).run();
    else
        setState(input.orderId, OrderState::Accepted, "");
    json::object data;
    data["revision"] = input.revision;
    data["rush"] = input.rush;
    data["items"] = std::move(items);
    data["estimated_s_by_capability"] = std::move(perCapability);
    data["estimated_s"] = std::round(total * 10) / 10;
    emit(input.orderId, "", "accepted", std::move(data));
    // One proof_ready per proof image of an item; an image shows every operation on one machine.
    // Grouped in one pass (a bulk order has thousands of jobs, and this runs inside the commit).
    struct ProofImage {
        const CompiledJob* first;
        json::array operations, jobShas;
    };
    std::vector<ProofImage> proofs;
    std::map<std::pair<std::string_view, std::string_view>, std::size_t> byImage;
    for (const auto& job : jobs) {
        auto [it, added] = byImage.try_emplace({job.itemId, job.proofSha}, proofs.size());
        if (added) proofs.push_back({&job, {}, {}});
        proofs[it->second].operations.push_back(json::string(job.operation));
        proofs[it->second].jobShas.push_back(json::string(job.artifactSha));
    }
    for (auto& proof : proofs) {
        // The image goes to HQ through the media lane, behind milestones: the event names it, the bytes follow.
        std::error_code ec;
        const auto path = MediaStore::filePath(mediaStateDir_, proof.first->proofSha, "image/png");
        const auto size = mediaStateDir_.empty() ? 0 : std::filesystem::file_size(path, ec);
        MediaStore::enqueue(db_, {0, proof.first->proofSha, "proof", "image/png",
                                  ec ? 0 : static_cast<std::int64_t>(size), clock_.nowMs(), input.orderId,
                                  proof.first->itemId, "queued"});
        emit(input.orderId, proof.first->itemId, "proof_ready",
             json::object{{"media_sha256", proof.first->proofSha},
                          {"job_sha256", proof.first->artifactSha},
                          {"operations", std::move(proof.operations)},
                          {"job_sha256s", std::move(proof.jobShas)},
                          {"revision", input.revision}});
    }
}

void OrderStore::recordCompileFailure(const CompileInput& input, const std::vector<ItemProblem>& problems) {
    auto state = compileTarget(input);
    if (!state || problems.empty()) return;
    if (*state == OrderState::OnHold)
        db_.prepare("UPDATE orders SET held_from = 'rejected' WHERE order_id = ?").bind(1, input.orderId).run();
    else
        setState(input.orderId, OrderState::Rejected, "");
    json::array errors;
    for (const auto& p : problems) errors.push_back({{"reason", p.reason}, {"path", p.path}, {"message", p.message}});
    json::object data{{"reason", problems.front().reason},
                      {"path", problems.front().path},
                      {"message", problems.front().message},
                      {"revision", input.revision},
                      {"stage", "compile"},
                      {"errors", std::move(errors)}};
    emit(input.orderId, "", "rejected", std::move(data));
}

bool OrderStore::recordInternalFailure(const std::string& orderId, const std::string& message) {
    auto& st = db_.prepare("SELECT state, held_from, revision FROM orders WHERE order_id = ?").bind(1, orderId);
    if (!st.step()) {
        st.reset();
        return false;
    }
    const std::string state = st.columnText(0);
    const std::string heldFrom = st.columnText(1);
    const std::int64_t revision = st.columnInt(2);
    st.reset();
    if (state == toString(OrderState::Received))
        setState(orderId, OrderState::Rejected, "");
    else if (state == toString(OrderState::OnHold) && heldFrom == toString(OrderState::Received))
        db_.prepare("UPDATE orders SET held_from = 'rejected' WHERE order_id = ?").bind(1, orderId).run();
    else
        return false;
    const std::string text = sanitizeUtf8("internal error: " + message, 300);
    json::array errors;
    errors.push_back({{"reason", "internal_error"}, {"path", ""}, {"message", text}});
    emit(orderId, "", "rejected",
         json::object{{"reason", "internal_error"},
                      {"path", ""},
                      {"message", text},
                      {"revision", revision},
                      {"stage", "compile"},
                      {"errors", std::move(errors)}});
    return true;
}

bool OrderStore::awaitsCompile(const std::string& orderId) {
    auto& st = db_.prepare("SELECT 1 FROM orders WHERE order_id = ? AND (state = 'received' OR "
                           "(state = 'on_hold' AND held_from = 'received'))")
                   .bind(1, orderId);
    const bool awaits = st.step();
    st.reset();
    return awaits;
}

std::vector<JobRecord> OrderStore::jobsForOrder(const std::string& orderId) {
    std::vector<JobRecord> out;
    auto& st = db_.prepare("SELECT item_id, operation, step, revision, capability, artifact_sha, proof_sha, estimated_s, rush, "
                           "state FROM jobs WHERE order_id = ? ORDER BY item_id, step")
                   .bind(1, orderId);
    while (st.step())
        out.push_back({st.columnText(0), st.columnText(1), static_cast<int>(st.columnInt(2)), st.columnInt(3), st.columnText(4),
                       st.columnText(5), st.columnText(6), st.columnReal(7), st.columnInt(8) != 0, st.columnText(9)});
    st.reset();
    return out;
}

std::optional<std::string> OrderStore::proofSha(const std::string& orderId, const std::string& itemId,
                                                const std::string& operation) {
    auto& st = db_.prepare("SELECT proof_sha FROM jobs WHERE order_id = ? AND item_id = ? AND (? = '' OR operation = ?) "
                           "ORDER BY step LIMIT 1")
                   .bind(1, orderId)
                   .bind(2, itemId)
                   .bind(3, operation)
                   .bind(4, operation);
    std::optional<std::string> r;
    if (st.step()) r = st.columnText(0);
    st.reset();
    return r;
}

bool OrderStore::receiptQueued(const std::string& orderId, std::int64_t revision, const std::string& commandId) {
    const std::int64_t mark = std::max(delivered_, ackedSeq());
    // events_by_order: only this order's events above the mark are read, a handful at most.
    static const std::string kOrderReceipt =
        "SELECT 1 FROM events WHERE order_id IS ? AND seq > ? AND milestone = 'received' "
        "AND json_extract(payload, '$.data.revision') = ? LIMIT 1";
    static const std::string kCommandAnswer = "SELECT 1 FROM events WHERE order_id IS ? AND seq > ? "
                                              "AND json_extract(payload, '$.data.command_id') = ? LIMIT 1";
    auto& st = commandId.empty() ? db_.prepare(kOrderReceipt) : db_.prepare(kCommandAnswer);
    st.bindOptional(1, orderId).bind(2, mark);
    if (commandId.empty())
        st.bind(3, revision);
    else
        st.bind(3, commandId);
    const bool queued = st.step();
    st.reset();
    return queued;
}

void OrderStore::setAckedSeq(std::int64_t seq) {
    noteDelivered(seq);
    db_.prepare("UPDATE outbox_state SET acked_seq = ? WHERE id = 1 AND acked_seq < ?").bind(1, seq).bind(2, seq).run();
}

std::int64_t OrderStore::ackedSeq() {
    auto& st = db_.prepare("SELECT acked_seq FROM outbox_state WHERE id = 1");
    std::int64_t v = st.step() ? st.columnInt(0) : 0;
    st.reset();
    return v;
}

std::int64_t OrderStore::lastSeq() {
    static const std::string kLastSeq = "SELECT COALESCE(MAX(seq), 0) FROM events";
    auto& st = db_.prepare(kLastSeq);
    st.step();
    std::int64_t v = st.columnInt(0);
    st.reset();
    return v;
}

std::vector<Event> OrderStore::eventsAfter(std::int64_t seq, std::size_t limit) {
    std::vector<Event> out;
    auto& st = db_.prepare(std::string(kSelectEvent) + "WHERE seq > ? ORDER BY seq LIMIT ?")
                   .bind(1, seq)
                   .bind(2, static_cast<std::int64_t>(limit));
    while (st.step()) out.push_back(readEvent(st));
    st.reset();
    return out;
}

std::vector<Event> OrderStore::eventsForOrder(const std::string& orderId) {
    std::vector<Event> out;
    auto& st = db_.prepare(std::string(kSelectEvent) + "WHERE order_id = ? ORDER BY seq").bind(1, orderId);
    while (st.step()) out.push_back(readEvent(st));
    st.reset();
    return out;
}

OutboxStats OrderStore::outboxStats() {
    OutboxStats s;
    s.lastSeq = lastSeq();
    s.ackedSeq = ackedSeq();
    s.unsent = s.lastSeq > s.ackedSeq ? s.lastSeq - s.ackedSeq : 0;
    auto& st = db_.prepare("SELECT at FROM events WHERE seq > ? ORDER BY seq LIMIT 1").bind(1, s.ackedSeq);
    if (st.step()) s.oldestUnsentAtMs = st.columnInt(0);
    st.reset();
    auto& open = db_.prepare("SELECT COUNT(*) FROM orders WHERE state NOT IN ('shipped', 'cancelled')");
    open.step();
    s.openOrders = open.columnInt(0);
    open.reset();
    return s;
}

std::vector<OrderRecord> OrderStore::orders(std::size_t limit) {
    std::vector<OrderRecord> out;
    auto& st = db_.prepare(std::string(kSelectOrder) + "ORDER BY o.received_at, o.order_id LIMIT ?")
                   .bind(1, static_cast<std::int64_t>(limit));
    while (st.step()) out.push_back(readOrder(st));
    st.reset();
    return out;
}

void OrderStore::recordFloorEvent(std::string_view milestone, json::object data) {
    emit("", "", milestone, std::move(data), "_floor");
}

std::optional<std::string> OrderStore::orderState(const std::string& orderId) {
    auto& st = db_.prepare("SELECT state FROM orders WHERE order_id = ?").bind(1, orderId);
    std::optional<std::string> state;
    if (st.step()) state = st.columnText(0);
    st.reset();
    return state;
}

std::optional<OrderRecord> OrderStore::order(const std::string& orderId) {
    static const std::string kSelectOneOrder = std::string(kSelectOrder) + "WHERE o.order_id = ?";
    auto& st = db_.prepare(kSelectOneOrder).bind(1, orderId);
    std::optional<OrderRecord> r;
    if (st.step()) r = readOrder(st);
    st.reset();
    return r;
}

std::int64_t OrderStore::rejectionCount() {
    auto& st = db_.prepare("SELECT COUNT(*) FROM rejections");
    st.step();
    std::int64_t n = st.columnInt(0);
    st.reset();
    return n;
}

} // namespace mto
