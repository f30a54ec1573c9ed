// SPDX-License-Identifier: Apache-2.0
// Intake: orders and commands from HQ are validated and committed before the broker gets its PUBACK.
#include "intake/intake.hpp"

#include <boost/asio/post.hpp>
#include <future>
#include <spdlog/spdlog.h>

#include "store/event_json.hpp"
#include "util/utf8.hpp"

namespace mto {

Intake::Intake(boost::asio::io_context& io, CommitQueue& commits, OrderStore& store, std::string factory,
               ParseLimits limits, std::shared_ptr<const Catalog> catalog)
    : io_(io), commits_(commits), store_(store), factory_(std::move(factory)),
      ordersTopic_(topicPrefix(factory_) + "/orders"), commandsTopic_(topicPrefix(factory_) + "/commands"),
      parser_(limits), catalog_(std::move(catalog)) {}

std::string Intake::ordersTopic() const { return ordersTopic_; }
std::string Intake::commandsTopic() const { return commandsTopic_; }

namespace {

// One inbound message on its way through the loop, in one allocation. Only the loop's handlers own it:
// if they are destroyed unrun (the loop ended), the promise breaks and the waiting thread learns it.
struct Submission {
    Submission(const std::string& t, std::string p) : topic(t), payload(std::move(p)) {}
    std::string topic;
    std::string payload;
    Intake::Outcome outcome;
    std::promise<bool> committed;
};

// What the compiler needs of an order just committed; the items move, the order is not used after.
CompileInput compileInputOf(Order& order) {
    return CompileInput{order.orderId, order.revision, order.contentHash, order.priority == Priority::Rush,
                        std::move(order.items)};
}

std::string storedSummary(const Order& order) {
    return fmt::format("order {} stored: revision {}, {} item(s), {}", order.orderId, order.revision,
                       order.items.size(), toString(order.priority));
}

} // namespace

Intake::~Intake() = default;

void Intake::storeNewOrdersOnDelivery(std::unique_ptr<Database> connection, const Clock& clock) {
    deliveryDb_ = std::move(connection);
    deliveryStore_ = std::make_unique<OrderStore>(*deliveryDb_, factory_, clock);
}

void Intake::setCatalog(std::shared_ptr<const Catalog> catalog) {
    std::lock_guard lock(catalogMutex_);
    catalog_ = std::move(catalog);
}

std::shared_ptr<const Catalog> Intake::catalog() const {
    std::lock_guard lock(catalogMutex_);
    return catalog_;
}

bool Intake::submitAndWait(const std::string& topic, std::string payload) {
    if (deliveryStore_ && topic == ordersTopic_)
        if (auto stored = storeNewOrder(payload)) return *stored;
    return submitToLoop(topic, std::move(payload));
}

std::optional<bool> Intake::storeNewOrder(const std::string& payload) {
    auto parsed = parser_.parseOrder(payload, *catalog());
    auto* order = std::get_if<Order>(&parsed);
    if (!order) return std::nullopt;   // the loop rejects it, with its event and its counter
    try {
        Transaction txn(*deliveryDb_);
        Rejection refusal;
        // Seen before (a re-send or a revision): rolled back here, answered by the loop's rules.
        if (deliveryStore_->storeOrder(*order, "", refusal) != OrderOutcome::Stored) return std::nullopt;
        txn.commit();
    } catch (const DbError& e) {
        spdlog::error("commit of order {} failed: {}", order->orderId, e.what());
        boost::asio::post(io_, [this, e] {
            commits_.failedElsewhere(e);
            ++counters_.notStored;
        });
        spdlog::warn("message on {} not stored (commit failed): no receipt; it comes again", ordersTopic_);
        return false;
    } catch (const std::exception& e) {
        // Not a storage failure: the loop's path, which isolates a failing message, tries it and says why.
        spdlog::error("order {} not stored on the delivery thread: {}; handing it to the loop", order->orderId,
                      e.what());
        return std::nullopt;
    }
    Outcome out;
    out.level = spdlog::level::info;
    out.summary = storedSummary(*order);
    out.stored = compileInputOf(*order);
    boost::asio::post(io_, [this, out = std::move(out)]() mutable {
        ++counters_.orders;
        commits_.committedElsewhere();   // the receipt goes out, storage is known to be healthy
        committed(out);
    });
    return true;
}

void Intake::committed(Outcome& outcome) {
    // Said after it happened: a line about a stored order means it is on disk.
    if (!outcome.summary.empty()) spdlog::log(outcome.level, "{}", outcome.summary);
    if (!orderStored_) return;
    const std::string id = outcome.stored ? outcome.stored->orderId : outcome.changed;
    if (id.empty()) return;
    try {
        orderStored_(id, std::move(outcome.stored));
    } catch (const std::exception& e) {
        // The order is stored; it is compiled again at the next start.
        spdlog::error("order {} stored but not handed to the compiler: {}", id, e.what());
    }
}

bool Intake::submitToLoop(const std::string& topic, std::string payload) {
    auto s = std::make_shared<Submission>(topic, std::move(payload));
    auto future = s->committed.get_future();
    boost::asio::post(io_, [this, s]() mutable {
        Submission* raw = s.get();   // the done handler below owns it, and runs after the work
        commits_.submit([this, raw] { raw->outcome = process(raw->topic, raw->payload); },
                        [this, s = std::move(s)](bool committed) {
                            s->committed.set_value(committed);
                            if (!committed) {
                                ++counters_.notStored;
                                spdlog::warn("message on {} not stored (commit failed): no receipt; it comes again",
                                             s->topic);
                                return;
                            }
                            this->committed(s->outcome);
                        });
    });
    // The loop normally answers within a disk flush; the check on stopping keeps shutdown from hanging here.
    while (future.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready)
        if (stopping_) return false;
    try {
        return future.get();
    } catch (const std::future_error&) {
        return false;   // the loop ended before running the work
    }
}

Intake::Outcome Intake::process(const std::string& topic, const std::string& payload) {
    Outcome out;
    auto reject = [&](const Rejections& rej) {
        ++counters_.rejected;
        const auto& r = rej.first();
        out.level = spdlog::level::warn;
        out.summary = fmt::format("rejected {} {} from {}: {} at '{}': {}",
                                  rej.probe.command.empty() ? "order" : rej.probe.command,
                                  rej.probe.orderId.empty() ? "(no id)" : rej.probe.orderId, topic, r.reason, r.path,
                                  sanitizeUtf8(r.message, 200));
        store_.recordRejection(topic, payload, rej);
    };

    if (topic == ordersTopic_) {
        auto parsed = parser_.parseOrder(payload, *catalog());
        if (auto* rej = std::get_if<Rejections>(&parsed)) {
            reject(*rej);
            return out;
        }
        Order& order = std::get<Order>(parsed);
        Rejection refusal;
        switch (store_.storeOrder(order, "", refusal)) {
        case OrderOutcome::Stored:
            ++counters_.orders;
            out.level = spdlog::level::info;
            out.summary = storedSummary(order);
            out.stored = compileInputOf(order);
            break;
        case OrderOutcome::Duplicate:
            ++counters_.duplicates;
            out.summary = fmt::format("order {} re-sent with the same content; receipt sent again", order.orderId);
            break;
        case OrderOutcome::DuplicateQueued:
            ++counters_.duplicates;
            out.summary = fmt::format("order {} re-sent while its receipt waits in the outbox; that receipt answers it",
                                      order.orderId);
            break;
        case OrderOutcome::Revised:
            ++counters_.revisions;
            out.level = spdlog::level::info;
            out.summary = fmt::format("order {} changed to revision {}", order.orderId, order.revision);
            out.stored = compileInputOf(order);
            break;
        case OrderOutcome::Rejected: {
            Rejections rej;
            rej.list.push_back(refusal);
            rej.probe.orderId = order.orderId;
            rej.probe.revision = order.revision;
            reject(rej);
            break;
        }
        }
        return out;
    }
    if (topic == commandsTopic_) {
        auto parsed = parser_.parseCommand(payload, *catalog());
        if (auto* rej = std::get_if<Rejections>(&parsed)) {
            reject(*rej);
            return out;
        }
        const Command& cmd = std::get<Command>(parsed);
        if (auto refusal = store_.applyCommand(cmd)) {
            Rejections rej;
            rej.list.push_back(*refusal);
            rej.probe.orderId = cmd.orderId;
            rej.probe.command = toString(cmd.kind);
            rej.probe.commandId = cmd.commandId;
            if (cmd.order) rej.probe.revision = cmd.order->revision;
            reject(rej);
            return out;
        }
        ++counters_.commands;
        out.level = spdlog::level::info;
        out.summary = fmt::format("command {} {} applied to {}", toString(cmd.kind), cmd.commandId,
                                  cmd.orderId.empty() ? "all open orders" : cmd.orderId);
        if (cmd.kind == CommandKind::Change) out.changed = cmd.orderId;
        return out;
    }
    out.level = spdlog::level::warn;
    out.summary = fmt::format("message on unexpected topic {} ignored", sanitizeUtf8(topic, 200));
    return out;
}

} // namespace mto
