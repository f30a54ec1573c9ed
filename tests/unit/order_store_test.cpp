// SPDX-License-Identifier: Apache-2.0
// OrderStore on a real SQLite file: orders, revisions, commands, the rejection audit and the events outbox.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <variant>

#include "util/clock.hpp"
#include "store/commit_queue.hpp"
#include "store/database.hpp"
#include "store/event_json.hpp"
#include "store/migrations.hpp"
#include "intake/order_parser.hpp"
#include "store/order_store.hpp"
#include "util/sha256.hpp"
#include "test_env.hpp"
#include "util/utf8.hpp"

namespace mto {
namespace {

namespace json = boost::json;

constexpr std::int64_t kStart = 1795671000123;   // 2026-11-26T05:30:00.123Z

// Time stands still unless a test moves it.
class FixedClock final : public Clock {
public:
    std::int64_t nowMs() const override { return now; }
    std::int64_t now = kStart;
};

std::string orderJson(const std::string& id, std::int64_t revision, const std::string& text = "Ada", int items = 1) {
    std::string out = R"({"order_id":")" + id + R"(","revision":)" + std::to_string(revision) + R"(,"items":[)";
    for (int i = 0; i < items; ++i)
        out += (i ? "," : "") + std::string(R"({"item_id":"it-)") + std::to_string(i) +
               R"(","sku":"COASTER-OAK-ENGRAVED","qty":)" + std::to_string(i + 1) + R"(,"personalization":{"text":)" +
               json::serialize(json::string(text)) + "}}";
    return out + "]}";
}

class OrderStoreTest : public ::testing::Test {
protected:
    OrderStoreTest() : db_(dir_.path() / "agent.db", Database::Mode::ReadWrite), store_(db_, "f1", clock_) {
        migrate(db_);
        catalog_.add({"COASTER-OAK-ENGRAVED", "Oak coaster"});
        catalog_.add({"SIGN-PINE-CNC", "Pine sign"});
    }

    Order parse(const std::string& payload) {
        auto r = parser_.parseOrder(payload, catalog_);
        if (auto* rej = std::get_if<Rejections>(&r))
            throw std::runtime_error("test order rejected: " + rej->first().reason);
        return std::get<Order>(r);
    }

    Command command(const std::string& payload) {
        auto r = parser_.parseCommand(payload, catalog_);
        if (auto* rej = std::get_if<Rejections>(&r))
            throw std::runtime_error("test command rejected: " + rej->first().reason);
        return std::get<Command>(r);
    }

    Command command(const std::string& kind, const std::string& commandId, const std::string& orderId,
                    const std::string& reason = "") {
        std::string p = R"({"command":")" + kind + R"(","command_id":")" + commandId + "\"";
        if (!orderId.empty()) p += R"(,"order_id":")" + orderId + "\"";
        if (!reason.empty()) p += R"(,"reason":")" + reason + "\"";
        return command(p + "}");
    }

    OrderOutcome store(const std::string& payload, Rejection* rejection = nullptr) {
        Transaction txn(db_);
        Rejection r;
        auto outcome = store_.storeOrder(parse(payload), "", r);
        txn.commit();
        if (rejection) *rejection = r;
        return outcome;
    }

    std::optional<Rejection> apply(const Command& cmd) {
        Transaction txn(db_);
        auto r = store_.applyCommand(cmd);
        txn.commit();
        return r;
    }

    std::int64_t count(const std::string& sql) {
        auto& st = db_.prepare(sql);
        st.step();
        std::int64_t n = st.columnInt(0);
        st.reset();
        return n;
    }

    std::string text(const std::string& sql) {
        auto& st = db_.prepare(sql);
        std::string s = st.step() ? st.columnText(0) : "<no row>";
        st.reset();
        return s;
    }

    std::string state(const std::string& orderId) {
        auto o = store_.order(orderId);
        return o ? o->state : "<none>";
    }

    void setState(const std::string& orderId, const std::string& state) {
        db_.prepare("UPDATE orders SET state = ? WHERE order_id = ?").bind(1, state).bind(2, orderId).run();
    }

    json::object dataOf(const Event& e) { return json::parse(e.payload).as_object().at("data").as_object(); }

    Event lastEvent() {
        auto events = store_.eventsAfter(store_.lastSeq() - 1, 1);
        if (events.empty()) throw std::runtime_error("no events");
        return events.front();
    }

    test::TempDir dir_;
    Database db_;
    FixedClock clock_;
    OrderStore store_;
    Catalog catalog_;
    OrderParser parser_{ParseLimits{}};
};

TEST_F(OrderStoreTest, NewOrderIsStoredWithItsItemsAndOneReceivedEvent) {
    EXPECT_EQ(store(orderJson("ORD-1", 1, "Ada", 2)), OrderOutcome::Stored);

    auto o = store_.order("ORD-1");
    ASSERT_TRUE(o);
    EXPECT_EQ(o->revision, 1);
    EXPECT_EQ(o->state, "received");
    EXPECT_EQ(o->priority, "standard");
    EXPECT_EQ(o->items, 2);
    EXPECT_EQ(o->receivedAtMs, kStart);
    EXPECT_EQ(o->contentHash, parse(orderJson("ORD-1", 1, "Ada", 2)).contentHash);
    EXPECT_EQ(count("SELECT COUNT(*) FROM items WHERE order_id = 'ORD-1' AND sku = 'COASTER-OAK-ENGRAVED'"), 2);
    EXPECT_EQ(count("SELECT qty FROM items WHERE order_id = 'ORD-1' AND item_id = 'it-1'"), 2);

    auto events = store_.eventsForOrder("ORD-1");
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].seq, 1);
    EXPECT_EQ(events[0].milestone, "received");
    EXPECT_EQ(events[0].topic, "mto/v1/f1/events/ORD-1");
    auto data = dataOf(events[0]);
    EXPECT_EQ(data.at("revision").as_int64(), 1);
    EXPECT_EQ(data.at("items").to_number<std::int64_t>(), 2);
    EXPECT_FALSE(data.at("duplicate").as_bool());
}

TEST_F(OrderStoreTest, IdenticalResendCreatesNoSecondOrderButAFreshReceipt) {
    ASSERT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Stored);
    clock_.now += 2000;
    store_.setAckedSeq(store_.lastSeq());   // the first receipt has left (the broker acknowledged it)
    EXPECT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Duplicate);

    EXPECT_EQ(count("SELECT COUNT(*) FROM orders"), 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM items"), 1);
    auto events = store_.eventsForOrder("ORD-1");
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1].milestone, "received");
    EXPECT_TRUE(dataOf(events[1]).at("duplicate").as_bool());
    EXPECT_EQ(dataOf(events[1]).at("revision").as_int64(), 1);
    EXPECT_NE(events[0].eventId, events[1].eventId);
    EXPECT_EQ(events[1].atMs, kStart + 2000);
    EXPECT_EQ(store_.order("ORD-1")->receivedAtMs, kStart) << "a re-send is not a new order";
}

TEST_F(OrderStoreTest, ResendsWhileTheReceiptWaitsInTheOutboxQueueNothingNewUntilItHasLeft) {
    ASSERT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Stored);
    const auto receiptSeq = store_.lastSeq();
    for (int i = 0; i < 50; ++i) EXPECT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::DuplicateQueued);
    EXPECT_EQ(store_.lastSeq(), receiptSeq) << "the waiting receipt answers every re-send";

    // The uplink's in-memory mark counts, before the stored mark catches up.
    store_.noteDelivered(receiptSeq);
    EXPECT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Duplicate);
    const auto duplicateSeq = store_.lastSeq();
    EXPECT_EQ(duplicateSeq, receiptSeq + 1);
    EXPECT_TRUE(dataOf(lastEvent()).at("duplicate").as_bool());
    EXPECT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::DuplicateQueued) << "the fresh receipt now waits";

    // Other orders' and other revisions' receipts do not answer for this one.
    ASSERT_EQ(store(orderJson("ORD-2", 1)), OrderOutcome::Stored);
    store_.setAckedSeq(duplicateSeq);
    EXPECT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Duplicate);
    EXPECT_EQ(store(orderJson("ORD-1", 2, "Grace")), OrderOutcome::Revised);
    store_.setAckedSeq(store_.lastSeq() - 1);   // only the revision's receipt still waits
    EXPECT_EQ(store(orderJson("ORD-1", 2, "Grace")), OrderOutcome::DuplicateQueued);
    EXPECT_EQ(count("SELECT COUNT(*) FROM orders"), 2);
}

TEST_F(OrderStoreTest, ARepeatedCommandWhoseAnswerStillWaitsIsNotAnsweredTwice) {
    ASSERT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Stored);
    ASSERT_FALSE(apply(command("hold", "c-1", "ORD-1")));
    const auto answerSeq = store_.lastSeq();
    EXPECT_FALSE(apply(command("hold", "c-1", "ORD-1")));
    EXPECT_EQ(store_.lastSeq(), answerSeq);
    // An unrelated event of the same order (the resume's) does not stand in for the hold's answer.
    ASSERT_FALSE(apply(command("resume", "c-2", "ORD-1")));
    store_.noteDelivered(answerSeq);
    EXPECT_FALSE(apply(command("hold", "c-1", "ORD-1")));
    EXPECT_EQ(lastEvent().milestone, "on_hold");
    EXPECT_TRUE(dataOf(lastEvent()).at("duplicate").as_bool());
    EXPECT_EQ(state("ORD-1"), "received") << "repeated, not applied again";

    // A resync of every open order (no order id): its answers are the orders' own events, so the first
    // re-send is answered once more (without an order), and that answer then stands for the next ones.
    ASSERT_FALSE(apply(command("resync", "c-3", "")));
    EXPECT_FALSE(apply(command("resync", "c-3", "")));
    const auto repeated = store_.lastSeq();
    EXPECT_TRUE(dataOf(lastEvent()).at("duplicate").as_bool());
    EXPECT_FALSE(apply(command("resync", "c-3", "")));
    EXPECT_EQ(store_.lastSeq(), repeated);
}

TEST_F(OrderStoreTest, HigherRevisionReplacesTheItemsAndSaysWhichRevisionItReplaced) {
    ASSERT_EQ(store(orderJson("ORD-1", 1, "Ada", 3)), OrderOutcome::Stored);
    EXPECT_EQ(store(orderJson("ORD-1", 2, "Grace", 1)), OrderOutcome::Revised);

    auto o = store_.order("ORD-1");
    EXPECT_EQ(o->revision, 2);
    EXPECT_EQ(o->items, 1);
    EXPECT_EQ(o->contentHash, parse(orderJson("ORD-1", 2, "Grace", 1)).contentHash);
    EXPECT_EQ(json::parse(text("SELECT personalization FROM items WHERE order_id = 'ORD-1'")).at("text").as_string(),
              "Grace");
    auto data = dataOf(lastEvent());
    EXPECT_EQ(lastEvent().milestone, "received");
    EXPECT_EQ(data.at("revision").as_int64(), 2);
    EXPECT_EQ(data.at("revised_from").as_int64(), 1);
    EXPECT_FALSE(data.at("duplicate").as_bool());
}

TEST_F(OrderStoreTest, SameRevisionWithOtherContentIsARevisionConflict) {
    ASSERT_EQ(store(orderJson("ORD-1", 1, "Ada")), OrderOutcome::Stored);
    const auto before = store_.lastSeq();
    Rejection r;
    EXPECT_EQ(store(orderJson("ORD-1", 1, "Grace"), &r), OrderOutcome::Rejected);
    EXPECT_EQ(r.reason, "revision_conflict");
    EXPECT_EQ(r.path, "revision");
    EXPECT_EQ(store_.order("ORD-1")->contentHash, parse(orderJson("ORD-1", 1, "Ada")).contentHash);
    EXPECT_EQ(store_.lastSeq(), before) << "the caller records the refusal; the store emits nothing for it";
}

TEST_F(OrderStoreTest, LowerRevisionIsStale) {
    ASSERT_EQ(store(orderJson("ORD-1", 3)), OrderOutcome::Stored);
    Rejection r;
    EXPECT_EQ(store(orderJson("ORD-1", 2, "older"), &r), OrderOutcome::Rejected);
    EXPECT_EQ(r.reason, "stale_revision");
    EXPECT_EQ(store_.order("ORD-1")->revision, 3);
}

TEST_F(OrderStoreTest, RevisionAfterCancelIsRefusedBecauseTheOrderIsClosed) {
    ASSERT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Stored);
    ASSERT_FALSE(apply(command("cancel", "c-1", "ORD-1")));
    Rejection r;
    EXPECT_EQ(store(orderJson("ORD-1", 2, "new"), &r), OrderOutcome::Rejected);
    EXPECT_EQ(r.reason, "order_closed");
    EXPECT_EQ(store_.order("ORD-1")->revision, 1);
}

TEST_F(OrderStoreTest, RevisionAfterProductionStartedIsRefused) {
    ASSERT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Stored);
    setState("ORD-1", "in_production");
    Rejection r;
    EXPECT_EQ(store(orderJson("ORD-1", 2, "new"), &r), OrderOutcome::Rejected);
    EXPECT_EQ(r.reason, "production_started");
    EXPECT_EQ(store_.order("ORD-1")->revision, 1);
}

TEST_F(OrderStoreTest, HoldingAnOrderInProductionDoesNotReopenItForRevisions) {
    ASSERT_EQ(store(orderJson("ORD-1", 1, "Ada")), OrderOutcome::Stored);
    setState("ORD-1", "in_production");
    ASSERT_FALSE(apply(command("hold", "c-1", "ORD-1")));
    ASSERT_EQ(state("ORD-1"), "on_hold");
    Rejection r;
    EXPECT_EQ(store(orderJson("ORD-1", 2, "Grace"), &r), OrderOutcome::Rejected);
    EXPECT_EQ(r.reason, "production_started");
    EXPECT_EQ(json::parse(text("SELECT personalization FROM items WHERE order_id = 'ORD-1'")).at("text").as_string(),
              "Ada");
}

TEST_F(OrderStoreTest, OrderHeldBeforeProductionStillTakesRevisions) {
    ASSERT_EQ(store(orderJson("ORD-1", 1, "Ada")), OrderOutcome::Stored);
    ASSERT_FALSE(apply(command("hold", "c-1", "ORD-1")));
    EXPECT_EQ(store(orderJson("ORD-1", 2, "Grace")), OrderOutcome::Revised);
    EXPECT_EQ(state("ORD-1"), "on_hold") << "a revision does not lift the hold";
}

TEST_F(OrderStoreTest, HoldResumeAndCancelChangeStateAndEmitTheirMilestones) {
    ASSERT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Stored);

    ASSERT_FALSE(apply(command("hold", "c-1", "ORD-1", "material late")));
    EXPECT_EQ(state("ORD-1"), "on_hold");
    Event e = lastEvent();
    EXPECT_EQ(e.milestone, "on_hold");
    EXPECT_EQ(dataOf(e).at("command_id").as_string(), "c-1");
    EXPECT_EQ(dataOf(e).at("reason").as_string(), "material late");
    EXPECT_EQ(dataOf(e).at("state").as_string(), "on_hold");

    ASSERT_FALSE(apply(command("resume", "c-2", "ORD-1")));
    EXPECT_EQ(state("ORD-1"), "received");
    e = lastEvent();
    EXPECT_EQ(e.milestone, "resumed");
    EXPECT_EQ(dataOf(e).at("command_id").as_string(), "c-2");
    EXPECT_FALSE(dataOf(e).contains("reason"));

    ASSERT_FALSE(apply(command("cancel", "c-3", "ORD-1", "customer asked")));
    EXPECT_EQ(state("ORD-1"), "cancelled");
    e = lastEvent();
    EXPECT_EQ(e.milestone, "cancelled");
    EXPECT_EQ(dataOf(e).at("command_id").as_string(), "c-3");
    EXPECT_EQ(e.topic, "mto/v1/f1/events/ORD-1");
    EXPECT_EQ(count("SELECT COUNT(*) FROM commands"), 3);
}

TEST_F(OrderStoreTest, ResumeReturnsToTheStateTheOrderWasHeldIn) {
    for (const char* held : {"accepted", "scheduled", "in_production", "ready_to_ship"}) {
        SCOPED_TRACE(held);
        const std::string id = std::string("ORD-") + held;
        ASSERT_EQ(store(orderJson(id, 1)), OrderOutcome::Stored);
        setState(id, held);
        ASSERT_FALSE(apply(command("hold", std::string("h-") + held, id)));
        ASSERT_EQ(state(id), "on_hold");
        ASSERT_FALSE(apply(command("resume", std::string("r-") + held, id)));
        EXPECT_EQ(state(id), held);
        EXPECT_EQ(dataOf(lastEvent()).at("state").as_string(), held);
    }
}

TEST_F(OrderStoreTest, IllegalTransitionsAreRefusedAndLeaveTheStateAlone) {
    ASSERT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Stored);
    ASSERT_EQ(store(orderJson("ORD-2", 1)), OrderOutcome::Stored);

    auto r = apply(command("resume", "c-1", "ORD-1"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, "illegal_transition");
    EXPECT_EQ(r->path, "command");
    EXPECT_EQ(state("ORD-1"), "received");

    ASSERT_FALSE(apply(command("hold", "c-2", "ORD-1")));
    r = apply(command("hold", "c-3", "ORD-1"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, "illegal_transition");
    EXPECT_EQ(state("ORD-1"), "on_hold");
    EXPECT_EQ(text("SELECT held_from FROM orders WHERE order_id = 'ORD-1'"), "received")
        << "a refused second hold must not overwrite where the first one came from";

    ASSERT_FALSE(apply(command("cancel", "c-4", "ORD-2")));
    const auto seq = store_.lastSeq();
    r = apply(command("cancel", "c-5", "ORD-2"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, "illegal_transition");
    EXPECT_EQ(state("ORD-2"), "cancelled");
    EXPECT_EQ(store_.lastSeq(), seq) << "a refused command emits nothing by itself";
    EXPECT_EQ(count("SELECT COUNT(*) FROM commands WHERE command_id IN ('c-1', 'c-3', 'c-5')"), 0)
        << "refused commands are not remembered, so a corrected re-send is not mistaken for a repeat";
}

TEST_F(OrderStoreTest, OrderInProductionCanBeCancelledAlsoWhileHeldButNotOnceItsGoodsAreMade) {
    ASSERT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Stored);
    setState("ORD-1", "in_production");
    ASSERT_FALSE(apply(command("hold", "c-1", "ORD-1")));
    EXPECT_FALSE(apply(command("cancel", "c-2", "ORD-1")));
    EXPECT_EQ(state("ORD-1"), "cancelled");

    ASSERT_EQ(store(orderJson("ORD-2", 1)), OrderOutcome::Stored);
    setState("ORD-2", "ready_to_ship");
    ASSERT_FALSE(apply(command("hold", "c-3", "ORD-2")));
    auto r = apply(command("cancel", "c-4", "ORD-2"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, "illegal_transition");
    EXPECT_EQ(state("ORD-2"), "on_hold");
    ASSERT_FALSE(apply(command("resume", "c-5", "ORD-2")));
    EXPECT_EQ(state("ORD-2"), "ready_to_ship");
}

TEST_F(OrderStoreTest, OrderHeldBeforeProductionCanBeCancelled) {
    ASSERT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Stored);
    setState("ORD-1", "scheduled");
    ASSERT_FALSE(apply(command("hold", "c-1", "ORD-1")));
    EXPECT_FALSE(apply(command("cancel", "c-2", "ORD-1")));
    EXPECT_EQ(state("ORD-1"), "cancelled");
}

TEST_F(OrderStoreTest, RepeatedCommandIdRepeatsTheMilestoneWithoutApplyingItAgain) {
    ASSERT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Stored);
    ASSERT_FALSE(apply(command("hold", "c-1", "ORD-1")));
    const std::string firstId = lastEvent().eventId;
    ASSERT_FALSE(apply(command("resume", "c-2", "ORD-1")));
    ASSERT_EQ(state("ORD-1"), "received");
    store_.setAckedSeq(store_.lastSeq());

    EXPECT_FALSE(apply(command("hold", "c-1", "ORD-1")));
    Event e = lastEvent();
    EXPECT_EQ(e.milestone, "on_hold");
    EXPECT_NE(e.eventId, firstId);
    EXPECT_TRUE(dataOf(e).at("duplicate").as_bool());
    EXPECT_EQ(dataOf(e).at("command_id").as_string(), "c-1");
    EXPECT_EQ(dataOf(e).at("state").as_string(), "received") << "the answer tells the order's real state";
    EXPECT_EQ(state("ORD-1"), "received");
    EXPECT_EQ(count("SELECT COUNT(*) FROM commands WHERE command_id = 'c-1'"), 1);
}

TEST_F(OrderStoreTest, CommandsForAnUnknownOrderAreRefused) {
    for (const char* kind : {"cancel", "hold", "resume", "resync"}) {
        SCOPED_TRACE(kind);
        auto r = apply(command(kind, std::string("c-") + kind, "NOPE"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->reason, "unknown_order");
        EXPECT_EQ(r->path, "order_id");
    }
    EXPECT_EQ(store_.lastSeq(), 0);
    EXPECT_EQ(count("SELECT COUNT(*) FROM orders"), 0);
}

TEST_F(OrderStoreTest, ChangeCommandStoresTheNewRevisionAndIsRememberedAsReceived) {
    ASSERT_EQ(store(orderJson("ORD-1", 1, "Ada")), OrderOutcome::Stored);
    Command change =
        command(R"({"command":"change","command_id":"c-9","order":)" + orderJson("ORD-1", 2, "Grace") + "}");
    EXPECT_FALSE(apply(change));
    EXPECT_EQ(store_.order("ORD-1")->revision, 2);
    Event e = lastEvent();
    EXPECT_EQ(e.milestone, "received");
    EXPECT_EQ(dataOf(e).at("command_id").as_string(), "c-9");
    EXPECT_EQ(dataOf(e).at("revised_from").as_int64(), 1);
    EXPECT_EQ(text("SELECT milestone FROM commands WHERE command_id = 'c-9'"), "received");

    Command stale = command(R"({"command":"change","command_id":"c-10","order":)" + orderJson("ORD-1", 1, "x") + "}");
    auto r = apply(stale);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, "stale_revision");
}

TEST_F(OrderStoreTest, ResyncAnswersWithOneStateEventPerOpenOrder) {
    for (const char* id : {"ORD-A", "ORD-B", "ORD-C"}) {
        ASSERT_EQ(store(orderJson(id, 2)), OrderOutcome::Stored);
        clock_.now += 10;
    }
    ASSERT_FALSE(apply(command("cancel", "c-1", "ORD-B")));
    ASSERT_FALSE(apply(command("hold", "c-2", "ORD-C")));
    const auto before = store_.lastSeq();

    ASSERT_FALSE(apply(command("resync", "c-3", "")));
    auto events = store_.eventsAfter(before, 100);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].orderId, "ORD-A");
    EXPECT_EQ(events[1].orderId, "ORD-C");
    for (const auto& e : events) {
        EXPECT_EQ(e.milestone, "state");
        EXPECT_EQ(dataOf(e).at("command_id").as_string(), "c-3");
        EXPECT_EQ(dataOf(e).at("revision").as_int64(), 2);
    }
    EXPECT_EQ(dataOf(events[0]).at("state").as_string(), "received");
    EXPECT_EQ(dataOf(events[1]).at("state").as_string(), "on_hold");

    ASSERT_FALSE(apply(command("resync", "c-4", "ORD-B")));
    EXPECT_EQ(lastEvent().orderId, "ORD-B");
    EXPECT_EQ(dataOf(lastEvent()).at("state").as_string(), "cancelled") << "asked by id, closed orders answer too";
}

TEST_F(OrderStoreTest, RejectionOfInvalidUtf8IsAuditedWithItsHashAndASafeExcerpt) {
    const std::string payload = "{\"order_id\":\"ORD-\xff\xfe\",\"x\":\"\xc0\xaf\"}";
    auto parsed = parser_.parseOrder(payload, catalog_);
    ASSERT_TRUE(std::holds_alternative<Rejections>(parsed));
    {
        Transaction txn(db_);
        store_.recordRejection("mto/v1/f1/orders", payload, std::get<Rejections>(parsed));
        txn.commit();
    }
    EXPECT_EQ(store_.rejectionCount(), 1);
    EXPECT_EQ(text("SELECT reason FROM rejections"), "invalid_utf8");
    EXPECT_EQ(text("SELECT topic FROM rejections"), "mto/v1/f1/orders");
    EXPECT_EQ(text("SELECT payload_sha256 FROM rejections"), sha256Hex(payload));
    EXPECT_EQ(count("SELECT payload_size FROM rejections"), static_cast<std::int64_t>(payload.size()));
    EXPECT_EQ(count("SELECT order_id IS NULL FROM rejections"), 1);
    const std::string excerpt = text("SELECT excerpt FROM rejections");
    EXPECT_EQ(findInvalidUtf8(excerpt), std::string::npos);
    EXPECT_NE(excerpt.find("\xef\xbf\xbd"), std::string::npos) << "bad bytes show as U+FFFD";
    EXPECT_NE(excerpt.find("order_id"), std::string::npos);

    Event e = lastEvent();
    EXPECT_EQ(e.milestone, "rejected");
    EXPECT_EQ(e.topic, "mto/v1/f1/events/_invalid");
    auto payloadJson = json::parse(e.payload).as_object();
    EXPECT_TRUE(payloadJson.at("order_id").is_null());
    EXPECT_EQ(payloadJson.at("data").at("reason").as_string(), "invalid_utf8");
    EXPECT_EQ(payloadJson.at("data").at("path").as_string(), "");
    EXPECT_FALSE(payloadJson.at("data").at("message").as_string().empty());
}

TEST_F(OrderStoreTest, RejectionExcerptOfAHugePayloadIsCappedWithoutSplittingACharacter) {
    std::string payload = "{\"t\":\"";
    for (int i = 0; i < 5000; ++i) payload += "\xe2\x99\xa5";   // ♥, three bytes
    Rejections rej;
    rej.list.push_back({"payload_too_large", "", "too big"});
    {
        Transaction txn(db_);
        store_.recordRejection("mto/v1/f1/orders", payload, rej);
        txn.commit();
    }
    const std::string excerpt = text("SELECT excerpt FROM rejections");
    EXPECT_LE(excerpt.size(), 512u);
    EXPECT_GE(excerpt.size(), 510u);
    EXPECT_EQ(findInvalidUtf8(excerpt), std::string::npos);
    EXPECT_EQ(count("SELECT payload_size FROM rejections"), static_cast<std::int64_t>(payload.size()));
}

TEST_F(OrderStoreTest, RejectionWithAKnownOrderGoesToThatOrdersTopicWithEveryProblem) {
    auto parsed = parser_.parseCommand(
        R"({"command":"change","command_id":"c-1","order":{"order_id":"ORD-7","revision":3,"items":[)"
        R"({"item_id":"1","sku":"NOPE","qty":0}]}})",
        catalog_);
    ASSERT_TRUE(std::holds_alternative<Rejections>(parsed));
    {
        Transaction txn(db_);
        store_.recordRejection("mto/v1/f1/commands", "payload", std::get<Rejections>(parsed));
        txn.commit();
    }
    EXPECT_EQ(text("SELECT order_id FROM rejections"), "ORD-7");
    Event e = lastEvent();
    EXPECT_EQ(e.topic, "mto/v1/f1/events/ORD-7");
    EXPECT_EQ(e.orderId, "ORD-7");
    auto data = dataOf(e);
    EXPECT_EQ(data.at("reason").as_string(), "unknown_sku");
    EXPECT_EQ(data.at("revision").as_int64(), 3);
    EXPECT_EQ(data.at("command").as_string(), "change");
    EXPECT_EQ(data.at("command_id").as_string(), "c-1");
    ASSERT_EQ(data.at("errors").as_array().size(), 2u);
    EXPECT_EQ(data.at("errors").as_array()[1].at("path").as_string(), "order.items[0].qty");
}

TEST_F(OrderStoreTest, SequenceNumbersGrowByExactlyOneOverAThousandMixedOperations) {
    std::mt19937 rng(7);
    auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
    int orders = 0;
    for (int batch = 0; batch < 10; ++batch) {
        Transaction txn(db_);
        for (int i = 0; i < 100; ++i) {
            const std::string id = "ORD-" + std::to_string(orders ? pick(orders) : 0);
            const std::string cid = "c-" + std::to_string(batch) + "-" + std::to_string(i);
            Rejection r;
            switch (orders == 0 ? 0 : pick(8)) {
            case 0:
            case 1: store_.storeOrder(parse(orderJson("ORD-" + std::to_string(orders++), 1)), "", r); break;
            case 2: store_.storeOrder(parse(orderJson(id, 1)), "", r); break;
            case 3: store_.storeOrder(parse(orderJson(id, 1 + pick(3), cid)), "", r); break;
            case 4: store_.applyCommand(command(pick(2) ? "hold" : "resume", cid, id)); break;
            case 5: store_.applyCommand(command("cancel", cid, id)); break;
            case 6: {
                Rejections rej;
                rej.list.push_back({"invalid_json", "", "not JSON"});
                store_.recordRejection("mto/v1/f1/orders", "garbage", rej);
                break;
            }
            default: store_.applyCommand(command("resync", cid, pick(2) ? id : "")); break;
            }
            clock_.now += 1;
        }
        txn.commit();
    }
    auto events = store_.eventsAfter(0, 1000000);
    ASSERT_GT(events.size(), 500u) << "most operations emit at least one event";
    std::set<std::string> ids;
    for (std::size_t i = 0; i < events.size(); ++i) {
        ASSERT_EQ(events[i].seq, static_cast<std::int64_t>(i + 1));
        EXPECT_EQ(json::parse(events[i].payload).at("seq").as_int64(), events[i].seq);
        ids.insert(events[i].eventId);
    }
    EXPECT_EQ(ids.size(), events.size()) << "event ids are unique";
    EXPECT_EQ(store_.lastSeq(), static_cast<std::int64_t>(events.size()));
}

TEST_F(OrderStoreTest, EventsAfterPagesThroughTheOutboxInOrder) {
    {
        Transaction txn(db_);
        Rejection r;
        for (int i = 0; i < 23; ++i) store_.storeOrder(parse(orderJson("ORD-" + std::to_string(i), 1)), "", r);
        txn.commit();
    }
    std::vector<std::int64_t> seen;
    std::int64_t after = 0;
    for (;;) {
        auto page = store_.eventsAfter(after, 5);
        if (page.empty()) break;
        EXPECT_LE(page.size(), 5u);
        for (const auto& e : page) seen.push_back(e.seq);
        after = page.back().seq;
    }
    ASSERT_EQ(seen.size(), 23u);
    for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(store_.eventsAfter(20, 5).size(), 3u);
    EXPECT_TRUE(store_.eventsAfter(23, 5).empty());
}

TEST_F(OrderStoreTest, AckedSequenceNeverMovesBackwards) {
    EXPECT_EQ(store_.ackedSeq(), 0);
    store_.setAckedSeq(10);
    EXPECT_EQ(store_.ackedSeq(), 10);
    store_.setAckedSeq(4);
    EXPECT_EQ(store_.ackedSeq(), 10);
    store_.setAckedSeq(10);
    EXPECT_EQ(store_.ackedSeq(), 10);
    store_.setAckedSeq(11);
    EXPECT_EQ(store_.ackedSeq(), 11);
}

TEST_F(OrderStoreTest, OutboxStatsCountUnsentEventsAndTheOldestUnsentTime) {
    OutboxStats empty = store_.outboxStats();
    EXPECT_EQ(empty.lastSeq, 0);
    EXPECT_EQ(empty.unsent, 0);
    EXPECT_EQ(empty.oldestUnsentAtMs, 0);

    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(store(orderJson("ORD-" + std::to_string(i), 1)), OrderOutcome::Stored);
        clock_.now += 1000;
    }
    ASSERT_FALSE(apply(command("cancel", "c-1", "ORD-0")));

    OutboxStats s = store_.outboxStats();
    EXPECT_EQ(s.lastSeq, 4);
    EXPECT_EQ(s.unsent, 4);
    EXPECT_EQ(s.oldestUnsentAtMs, kStart);
    EXPECT_EQ(s.openOrders, 2);

    store_.setAckedSeq(2);
    s = store_.outboxStats();
    EXPECT_EQ(s.ackedSeq, 2);
    EXPECT_EQ(s.unsent, 2);
    EXPECT_EQ(s.oldestUnsentAtMs, kStart + 2000);

    store_.setAckedSeq(4);
    s = store_.outboxStats();
    EXPECT_EQ(s.unsent, 0);
    EXPECT_EQ(s.oldestUnsentAtMs, 0);
}

TEST_F(OrderStoreTest, WorkUndoneBySavepointLeavesNoEventAndNoSequenceGap) {
    Transaction txn(db_);
    Rejection r;
    store_.storeOrder(parse(orderJson("ORD-1", 1)), "", r);
    {
        Savepoint sp(db_);
        store_.storeOrder(parse(orderJson("ORD-2", 1)), "", r);
        store_.applyCommand(command("hold", "c-1", "ORD-1"));
        EXPECT_EQ(store_.lastSeq(), 3);
    }
    store_.storeOrder(parse(orderJson("ORD-3", 1)), "", r);
    txn.commit();

    auto events = store_.eventsAfter(0, 10);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].orderId, "ORD-1");
    EXPECT_EQ(events[1].orderId, "ORD-3");
    EXPECT_EQ(events[1].seq, 2);
    EXPECT_FALSE(store_.order("ORD-2"));
    EXPECT_EQ(state("ORD-1"), "received");
    EXPECT_EQ(count("SELECT COUNT(*) FROM commands"), 0);
}

TEST_F(OrderStoreTest, EventPayloadCarriesEveryContractField) {
    ASSERT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Stored);
    Event e = lastEvent();
    auto o = json::parse(e.payload).as_object();
    static const std::regex uuid("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
    ASSERT_TRUE(o.at("event_id").is_string());
    EXPECT_TRUE(std::regex_match(std::string(o.at("event_id").as_string()), uuid)) << o.at("event_id");
    EXPECT_EQ(o.at("event_id").as_string(), e.eventId);
    EXPECT_EQ(o.at("seq").as_int64(), 1);
    EXPECT_EQ(o.at("factory").as_string(), "f1");
    EXPECT_EQ(o.at("order_id").as_string(), "ORD-1");
    ASSERT_TRUE(o.contains("item_id"));
    EXPECT_TRUE(o.at("item_id").is_null());
    EXPECT_EQ(o.at("milestone").as_string(), "received");
    EXPECT_EQ(o.at("at").as_string(), "2026-11-26T05:30:00.123Z");
    ASSERT_TRUE(o.at("data").is_object());
    EXPECT_EQ(o.at("data").at("revision").as_int64(), 1);
    EXPECT_EQ(e.atMs, kStart);
}

TEST_F(OrderStoreTest, SqlLookingTextIsStoredVerbatim) {
    ASSERT_EQ(store(orderJson("ORD-1", 1, "'; DROP TABLE orders; --")), OrderOutcome::Stored);
    EXPECT_EQ(json::parse(text("SELECT personalization FROM items")).at("text").as_string(),
              "'; DROP TABLE orders; --");
    EXPECT_EQ(count("SELECT COUNT(*) FROM orders"), 1);
}

// The payload with every string, true, false and null taken out: what is left are the numbers and punctuation.
std::string numbersAndPunctuation(const std::string& payload) {
    std::string out;
    for (std::size_t i = 0; i < payload.size(); ++i) {
        if (payload[i] == '"') {
            for (++i; i < payload.size() && payload[i] != '"'; ++i)
                if (payload[i] == '\\') ++i;
            continue;
        }
        out.push_back(payload[i]);
    }
    for (const char* word : {"true", "false", "null"})
        for (auto at = out.find(word); at != std::string::npos; at = out.find(word)) out.erase(at, std::string(word).size());
    return out;
}

TEST_F(OrderStoreTest, AcceptedEventWritesEstimatesAsPlainDecimalsWithoutExponents) {
    ASSERT_EQ(store(orderJson("ORD-1", 1, "Ada", 2)), OrderOutcome::Stored);
    auto input = store_.compileInput("ORD-1");
    ASSERT_TRUE(input);
    {
        Transaction txn(db_);
        store_.recordCompiled(*input, {{"it-0", "laser_engrave", 0, "laser", "a1", "p1", 150.96, 5},
                                       {"it-1", "laser_engrave", 0, "laser", "a2", "p2", 1738.8654791701515, 5},
                                       {"it-1", "cnc_cut", 1, "cnc", "a3", "p3", 0.04, 5}});
        txn.commit();
    }
    Event accepted;
    for (const auto& e : store_.eventsForOrder("ORD-1"))
        if (e.milestone == "accepted") accepted = e;
    ASSERT_EQ(accepted.milestone, "accepted");
    const std::string numbers = numbersAndPunctuation(accepted.payload);
    EXPECT_EQ(numbers.find_first_of("eE"), std::string::npos) << accepted.payload;
    auto data = dataOf(accepted);
    EXPECT_DOUBLE_EQ(data.at("estimated_s").to_number<double>(), 1889.9);
    EXPECT_DOUBLE_EQ(data.at("estimated_s_by_capability").at("laser").to_number<double>(), 1889.8);
    EXPECT_DOUBLE_EQ(data.at("items").at(0).at("estimated_s").to_number<double>(), 151.0);
    EXPECT_NE(accepted.payload.find("\"estimated_s\":1889.9"), std::string::npos) << accepted.payload;
}

TEST_F(OrderStoreTest, HeldOrderRefusedAtCompileIsResumedIntoItsRefusal) {
    ASSERT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Stored);
    auto input = store_.compileInput("ORD-1");
    ASSERT_TRUE(input);
    ASSERT_FALSE(apply(command("hold", "c-1", "ORD-1")));
    {
        Transaction txn(db_);
        store_.recordCompileFailure(*input, {{"too_long", "items[0].personalization.text", "does not fit"}});
        txn.commit();
    }
    EXPECT_EQ(lastEvent().milestone, "rejected");
    EXPECT_EQ(state("ORD-1"), "on_hold");

    auto refusal = apply(command("resume", "c-2", "ORD-1"));
    EXPECT_FALSE(refusal) << refusal->reason << ": " << refusal->message;
    EXPECT_EQ(state("ORD-1"), "rejected");
    EXPECT_EQ(dataOf(lastEvent()).at("state").as_string(), "rejected");
    // And it is not stuck: a new revision brings it back to be compiled.
    EXPECT_EQ(store(orderJson("ORD-1", 2, "Grace")), OrderOutcome::Revised);
    EXPECT_EQ(state("ORD-1"), "received");
}

TEST_F(OrderStoreTest, HeldOrderRefusedAtCompileCanStillBeCancelled) {
    ASSERT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Stored);
    auto input = store_.compileInput("ORD-1");
    ASSERT_FALSE(apply(command("hold", "c-1", "ORD-1")));
    {
        Transaction txn(db_);
        store_.recordCompileFailure(*input, {{"too_long", "items[0].personalization.text", "does not fit"}});
        txn.commit();
    }
    EXPECT_FALSE(apply(command("cancel", "c-2", "ORD-1")));
    EXPECT_EQ(state("ORD-1"), "cancelled");
}

TEST_F(OrderStoreTest, CommandIdReusedForAnotherCommandIsRefusedInsteadOfReplayingTheOldOne) {
    ASSERT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Stored);
    ASSERT_EQ(store(orderJson("ORD-2", 1)), OrderOutcome::Stored);
    ASSERT_FALSE(apply(command("hold", "c-1", "ORD-1")));

    auto otherKind = apply(command("cancel", "c-1", "ORD-1"));
    ASSERT_TRUE(otherKind);
    EXPECT_EQ(otherKind->reason, "command_id_reused");
    EXPECT_EQ(otherKind->path, "command_id");
    EXPECT_NE(otherKind->message.find("hold"), std::string::npos) << otherKind->message;
    EXPECT_EQ(state("ORD-1"), "on_hold");

    auto otherOrder = apply(command("hold", "c-1", "ORD-2"));
    ASSERT_TRUE(otherOrder);
    EXPECT_EQ(otherOrder->reason, "command_id_reused");
    EXPECT_EQ(state("ORD-2"), "received");

    auto resync = apply(command("resync", "c-1", ""));
    ASSERT_TRUE(resync);
    EXPECT_EQ(resync->reason, "command_id_reused");

    // A re-send of the same command is still answered again.
    store_.setAckedSeq(store_.lastSeq());
    EXPECT_FALSE(apply(command("hold", "c-1", "ORD-1")));
    EXPECT_TRUE(dataOf(lastEvent()).at("duplicate").as_bool());

    ASSERT_FALSE(apply(command(R"({"command":"change","command_id":"c-9","order":)" + orderJson("ORD-2", 2, "x") + "}")));
    auto otherRevision =
        apply(command(R"({"command":"change","command_id":"c-9","order":)" + orderJson("ORD-2", 3, "y") + "}"));
    ASSERT_TRUE(otherRevision);
    EXPECT_EQ(otherRevision->reason, "command_id_reused");
    EXPECT_EQ(store_.order("ORD-2")->revision, 2);
    EXPECT_FALSE(apply(command(R"({"command":"change","command_id":"c-9","order":)" + orderJson("ORD-2", 2, "x") + "}")));
}

TEST_F(OrderStoreTest, InternalFailureRefusesTheOrderAtCompileForHqAndOnlyWhileItAwaitsCompiling) {
    ASSERT_EQ(store(orderJson("ORD-1", 3)), OrderOutcome::Stored);
    ASSERT_EQ(store(orderJson("ORD-2", 1)), OrderOutcome::Stored);
    ASSERT_EQ(store(orderJson("ORD-3", 1)), OrderOutcome::Stored);
    ASSERT_FALSE(apply(command("hold", "c-1", "ORD-2")));
    ASSERT_FALSE(apply(command("cancel", "c-2", "ORD-3")));
    {
        Transaction txn(db_);
        EXPECT_TRUE(store_.recordInternalFailure("ORD-1", "stored body is not JSON"));
        EXPECT_TRUE(store_.recordInternalFailure("ORD-2", "stored body is not JSON"));
        EXPECT_FALSE(store_.recordInternalFailure("ORD-3", "too late"));
        EXPECT_FALSE(store_.recordInternalFailure("NOPE", "no such order"));
        txn.commit();
    }
    EXPECT_EQ(state("ORD-1"), "rejected");
    EXPECT_EQ(state("ORD-2"), "on_hold");
    EXPECT_EQ(state("ORD-3"), "cancelled");
    auto events = store_.eventsForOrder("ORD-1");
    ASSERT_EQ(events.back().milestone, "rejected");
    auto data = dataOf(events.back());
    EXPECT_EQ(data.at("reason").as_string(), "internal_error");
    EXPECT_EQ(data.at("stage").as_string(), "compile");
    EXPECT_EQ(data.at("revision").as_int64(), 3);
    EXPECT_NE(std::string(data.at("message").as_string()).find("not JSON"), std::string::npos);
    EXPECT_FALSE(apply(command("resume", "c-3", "ORD-2")));
    EXPECT_EQ(state("ORD-2"), "rejected");
}

TEST_F(OrderStoreTest, CompileInputOfAnOrderWhoseStoredBodyIsNotJsonThrowsAnError) {
    ASSERT_EQ(store(orderJson("ORD-1", 1)), OrderOutcome::Stored);
    db_.prepare("UPDATE orders SET body = 'Infinity' WHERE order_id = 'ORD-1'").run();
    EXPECT_THROW(store_.compileInput("ORD-1"), Error);
}

TEST_F(OrderStoreTest, ResyncOfEveryOpenOrderGoesPageByPageEachPageInItsOwnTransaction) {
    constexpr int kOrders = 57;
    constexpr std::size_t kPage = 10;
    for (int i = 0; i < kOrders; ++i) {
        ASSERT_EQ(store(orderJson("ORD-" + std::to_string(i), 1)), OrderOutcome::Stored);
        if (i % 3) clock_.now += 1;   // some orders share their arrival time; the page key tells them apart
    }
    ASSERT_FALSE(apply(command("cancel", "c-0", "ORD-5")));
    const auto before = store_.lastSeq();

    boost::asio::io_context io;
    CommitQueue commits(io, db_);
    store_.setResyncPageSize(kPage);
    store_.onFollowUp([&](std::function<void()> work) { commits.submit(std::move(work), {}); });
    std::vector<std::int64_t> eventsPerCommit;
    std::int64_t seen = before;
    commits.onCommitted([&] {
        eventsPerCommit.push_back(store_.lastSeq() - seen);
        seen = store_.lastSeq();
    });
    std::optional<bool> committed;
    commits.submit([&] { EXPECT_FALSE(store_.applyCommand(command("resync", "c-1", ""))); },
                   [&](bool ok) { committed = ok; });
    io.run();

    ASSERT_TRUE(committed.value_or(false));
    std::set<std::string> answered;
    for (const auto& e : store_.eventsAfter(before, 1000)) {
        EXPECT_EQ(e.milestone, "state");
        EXPECT_TRUE(answered.insert(e.orderId).second) << e.orderId << " answered twice";
    }
    EXPECT_EQ(answered.size(), static_cast<std::size_t>(kOrders - 1));
    EXPECT_FALSE(answered.count("ORD-5"));
    ASSERT_GE(eventsPerCommit.size(), 6u);
    for (auto n : eventsPerCommit) EXPECT_LE(n, static_cast<std::int64_t>(kPage));
}

TEST_F(OrderStoreTest, ResyncWhoseFirstPageWasUndoneSendsNoFurtherPages) {
    for (int i = 0; i < 5; ++i) ASSERT_EQ(store(orderJson("ORD-" + std::to_string(i), 1)), OrderOutcome::Stored);
    const auto before = store_.lastSeq();
    std::vector<std::function<void()>> later;
    store_.setResyncPageSize(2);
    store_.onFollowUp([&](std::function<void()> work) { later.push_back(std::move(work)); });
    {
        Transaction txn(db_);
        EXPECT_FALSE(store_.applyCommand(command("resync", "c-1", "")));
    }   // rolled back
    ASSERT_EQ(later.size(), 1u);
    {
        Transaction txn(db_);
        later.front()();
        txn.commit();
    }
    EXPECT_EQ(store_.lastSeq(), before);
}

}   // namespace
}   // namespace mto
