// SPDX-License-Identifier: Apache-2.0
// The scan workflow on a real SQLite file: every action in the states where it makes sense and where it
// does not, idempotency, QC failure making an item again, machine actions, contexts and their timeout.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include "catalog.hpp"
#include "intake/order_parser.hpp"
#include "scan/scan_workflow.hpp"
#include "scheduler/job_queue.hpp"
#include "store/commit_queue.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "store/order_store.hpp"
#include "test_env.hpp"
#include "util/clock.hpp"

namespace mto {
namespace {

using namespace std::chrono_literals;
using barcode::Action;

class ScanWorkflowTest : public ::testing::Test {
protected:
    ScanWorkflowTest()
        : db_(dir_.path() / "agent.db", Database::Mode::ReadWrite), store_(db_, "f1", clock_), queue_(db_) {
        migrate(db_);
        catalog_.add({"COASTER", "Coaster"});
        laser_ = {"laser-1", "laser-400", "laser", {}};
        flow_ = std::make_unique<ScanWorkflow>(io_, commits_, store_, queue_,
                                               [this](Action a, const std::string& machine) -> std::optional<std::string> {
            machineCalls_.push_back(std::string(barcode::toString(a)) + " " + machine);
            return machineAnswer_;
        });
        flow_->addScanner("s1", "packing", 60s);
        flow_->addScanner("s2", "laser bay", 60s);
    }

    // An order of `items` items of `qty` units each, compiled into one laser job per item.
    void addOrder(const std::string& id, int items, int qty) {
        std::string p = R"({"order_id":")" + id + R"(","items":[)";
        std::vector<CompiledJob> jobs;
        for (int i = 1; i <= items; ++i) {
            p += std::string(i > 1 ? "," : "") + R"({"item_id":")" + std::to_string(i) + R"(","sku":"COASTER","qty":)" +
                 std::to_string(qty) + "}";
            jobs.push_back({std::to_string(i), "laser_engrave", 0, "laser", "sha", "proof", 60, 5, "laser-400", ""});
        }
        p += "]}";
        auto parsed = parser_.parseOrder(p, catalog_);
        ASSERT_TRUE(std::holds_alternative<Order>(parsed)) << std::get<Rejections>(parsed).first().message;
        Transaction txn(db_);
        Rejection r;
        ASSERT_EQ(store_.storeOrder(std::get<Order>(parsed), "", r), OrderOutcome::Stored);
        auto input = store_.compileInput(id);
        ASSERT_TRUE(input);
        store_.recordCompiled(*input, jobs);
        txn.commit();
    }
    // Runs up to `n` ready units to their end, as the scheduler would (milestones included).
    void produce(int n = 1000) {
        for (int i = 0; i < n; ++i) {
            auto u = queue_.nextFor(laser_);
            if (!u) return;
            Transaction txn(db_);
            queue_.markStarted(*u, "laser-1", clock_.nowMs());
            store_.recordProduction(u->orderId, u->itemId, "production_started", {});
            queue_.markDone(*u, clock_.nowMs());
            store_.recordProduction(u->orderId, u->itemId, "job_done", {});
            txn.commit();
        }
    }
    ScanRecord scan(const std::string& raw, const std::string& scanner = "s1") {
        std::optional<ScanRecord> got;
        flow_->handle(scanner, raw, [&](const ScanRecord& r) { got = r; });
        for (int i = 0; !got && i < 1000; ++i) {
            if (io_.stopped()) io_.restart();   // an earlier run_for ran out of work
            io_.run_one_for(5s);
        }
        EXPECT_TRUE(got) << raw << " was never decided";
        if (!got) return ScanRecord{};
        return *got;
    }
    std::vector<std::string> milestones(const std::string& orderId, const std::string& prefix = "") {
        std::vector<std::string> out;
        for (const auto& e : store_.eventsForOrder(orderId))
            if (e.milestone.rfind(prefix, 0) == 0) out.push_back(e.milestone);
        return out;
    }
    // The operator's milestones of an order, without the production ones.
    std::vector<std::string> scanMilestones(const std::string& orderId) {
        std::vector<std::string> out;
        for (const auto& m : milestones(orderId))
            if (m == "qc_passed" || m == "qc_failed" || m == "ready_to_ship" || m == "shipped" || m == "scan_refused")
                out.push_back(m);
        return out;
    }
    boost::json::object lastData(const std::string& orderId, const std::string& milestone) {
        boost::json::object data;
        for (const auto& e : store_.eventsForOrder(orderId))
            if (e.milestone == milestone) data = boost::json::parse(e.payload).as_object().at("data").as_object();
        return data;
    }
    std::int64_t count(const std::string& sql) {
        auto& st = db_.prepare(sql);
        st.step();
        const auto n = st.columnInt(0);
        st.reset();
        return n;
    }
    std::string state(const std::string& orderId) { return store_.orderState(orderId).value_or("?"); }
    // A refusal: its reason, a scan_refused event and no other change.
    void expectRefused(const ScanRecord& r, const std::string& reason) {
        EXPECT_FALSE(r.accepted) << r.raw << ": " << r.message;
        EXPECT_EQ(r.reason, reason) << r.raw << ": " << r.message;
        EXPECT_GT(r.eventSeq, 0) << "a refusal is told to HQ as scan_refused";
    }

    test::TempDir dir_;
    Database db_;
    SystemClock clock_;
    OrderStore store_;
    JobQueue queue_;
    boost::asio::io_context io_;
    CommitQueue commits_{io_, db_};
    Catalog catalog_;
    OrderParser parser_{ParseLimits{}};
    MachineSlot laser_;
    std::unique_ptr<ScanWorkflow> flow_;
    std::vector<std::string> machineCalls_;
    std::optional<std::string> machineAnswer_;
};

TEST_F(ScanWorkflowTest, QcPassPackedShippedAndTrackingMoveTheOrderToShippedWithOperatorAndTracking) {
    addOrder("ORD-1", 1, 2);
    produce();
    ASSERT_EQ(state("ORD-1"), "in_production");
    EXPECT_TRUE(scan("OP:ana").accepted);
    auto item = scan("MTO:I:ORD-1/1");
    EXPECT_TRUE(item.accepted) << item.message;
    EXPECT_NE(item.message.find("2 of 2 units done"), std::string::npos) << item.message;
    auto qc = scan("MTO:A:QC_PASS");
    ASSERT_TRUE(qc.accepted) << qc.message;
    EXPECT_GT(qc.eventSeq, 0);
    auto data = lastData("ORD-1", "qc_passed");
    EXPECT_EQ(data.at("operator"), "ana");
    EXPECT_TRUE(data.at("snapshot_sha256").is_null()) << "no snapshot lookup wired: null, not missing";
    EXPECT_EQ(data.at("scanner"), "s1");
    EXPECT_EQ(data.at("station"), "packing");
    ASSERT_TRUE(scan("MTO:A:PACKED").accepted);
    EXPECT_EQ(state("ORD-1"), "ready_to_ship");
    auto shipped = scan("MTO:A:SHIPPED");
    ASSERT_TRUE(shipped.accepted) << shipped.message;
    EXPECT_EQ(shipped.eventSeq, 0) << "SHIPPED waits for the tracking number";
    EXPECT_EQ(flow_->displayLine("s1")->level, "waiting");
    auto tracking = scan("1Z999AA10123456784");
    ASSERT_TRUE(tracking.accepted) << tracking.message;
    EXPECT_EQ(tracking.kind, "tracking");
    EXPECT_EQ(state("ORD-1"), "shipped");
    EXPECT_EQ(lastData("ORD-1", "shipped").at("tracking_number"), "1Z999AA10123456784");
    EXPECT_EQ(lastData("ORD-1", "shipped").at("operator"), "ana");
    EXPECT_EQ(scanMilestones("ORD-1"), (std::vector<std::string>{"qc_passed", "ready_to_ship", "shipped"}));
}

TEST_F(ScanWorkflowTest, TheSameActionTwiceEmitsOnceAndARepeatedShipmentWithTheSameTrackingIsAccepted) {
    addOrder("ORD-1", 1, 1);
    produce();
    scan("OP:ana");
    scan("MTO:I:ORD-1/1");
    ASSERT_TRUE(scan("MTO:A:QC_PASS").accepted);
    auto again = scan("MTO:A:QC_PASS");
    EXPECT_TRUE(again.accepted);
    EXPECT_EQ(again.reason, "duplicate");
    EXPECT_EQ(again.eventSeq, 0);
    ASSERT_TRUE(scan("MTO:A:PACKED").accepted);
    EXPECT_EQ(scan("MTO:A:PACKED").reason, "duplicate");
    scan("MTO:A:SHIPPED");
    ASSERT_TRUE(scan("TRACK-0001").accepted);
    scan("MTO:A:SHIPPED");
    auto repeat = scan("TRACK-0001");
    EXPECT_TRUE(repeat.accepted) << repeat.message;
    EXPECT_EQ(repeat.reason, "duplicate");
    scan("MTO:A:SHIPPED");
    expectRefused(scan("TRACK-0002"), "already_shipped");
    EXPECT_EQ(lastData("ORD-1", "shipped").at("tracking_number"), "TRACK-0001");
    EXPECT_EQ(scanMilestones("ORD-1"),
              (std::vector<std::string>{"qc_passed", "ready_to_ship", "shipped", "scan_refused"}));
    EXPECT_TRUE(scan("MTO:A:QC_PASS").accepted) << "a passed item stays passed, whatever came after";
}

TEST_F(ScanWorkflowTest, ScansThatMakeNoSenseAreRefusedWithAReasonAndChangeNothing) {
    addOrder("ORD-1", 2, 1);
    produce(1);   // item 1 done, item 2 not yet
    expectRefused(scan("MTO:A:QC_PASS"), "no_operator");
    expectRefused(scan("MTO:I:ORD-1/7"), "unknown_item");
    expectRefused(scan("MTO:I:ORD-404/1"), "unknown_item");
    expectRefused(scan("MTO:I:ORD-1"), "malformed");
    expectRefused(scan("MTO:A:QC_FAIL:smudge"), "malformed");
    expectRefused(scan("HELLO WORLD"), "unknown_code");
    expectRefused(scan(std::string(200, '7')), "malformed");
    scan("OP:ana");
    expectRefused(scan("MTO:A:PACKED"), "no_item");
    scan("MTO:I:ORD-1/2");
    expectRefused(scan("MTO:A:QC_PASS"), "not_done");
    expectRefused(scan("MTO:A:SHIPPED"), "not_packed");
    scan("MTO:I:ORD-1/1");
    ASSERT_TRUE(scan("MTO:A:QC_PASS").accepted);
    auto packed = scan("MTO:A:PACKED");
    expectRefused(packed, "qc_missing");
    EXPECT_NE(packed.message.find("(2)"), std::string::npos) << packed.message;
    EXPECT_EQ(state("ORD-1"), "in_production");
    EXPECT_EQ(store_.rejectionCount(), 0);
    // Every refusal that named a known order went to it; the others to _invalid with a null order.
    EXPECT_EQ(milestones("ORD-1", "scan_refused").size(), 4u);
    EXPECT_EQ(count("SELECT COUNT(*) FROM events WHERE order_id IS NULL AND milestone = 'scan_refused'"), 7);
    auto data = lastData("ORD-1", "scan_refused");
    EXPECT_EQ(data.at("reason"), "qc_missing");
    EXPECT_EQ(data.at("raw"), "MTO:A:PACKED");
    EXPECT_EQ(data.at("operator"), "ana");
    EXPECT_EQ(count("SELECT COUNT(*) FROM scans WHERE outcome = 'refused'"), 11);
    EXPECT_EQ(count("SELECT COUNT(*) FROM scans"), 15);
}

TEST_F(ScanWorkflowTest, AHeldOrCancelledOrderTakesNoQcAndNoPacking) {
    addOrder("ORD-1", 1, 1);
    addOrder("ORD-2", 1, 1);
    produce();
    Command hold;
    hold.kind = CommandKind::Hold;
    hold.commandId = "c1";
    hold.orderId = "ORD-1";
    Command cancel = hold;
    cancel.kind = CommandKind::Cancel;
    cancel.commandId = "c2";
    cancel.orderId = "ORD-2";
    {
        Transaction txn(db_);
        ASSERT_FALSE(store_.applyCommand(hold));
        ASSERT_FALSE(store_.applyCommand(cancel));
        txn.commit();
    }
    scan("OP:ana");
    scan("MTO:I:ORD-1/1");
    expectRefused(scan("MTO:A:QC_PASS"), "order_on_hold");
    scan("MTO:I:ORD-2/1");
    expectRefused(scan("MTO:A:QC_FAIL:damaged"), "order_closed");
    expectRefused(scan("MTO:A:PACKED"), "order_closed");
    EXPECT_TRUE(milestones("ORD-1", "qc_").empty());
    EXPECT_EQ(state("ORD-2"), "cancelled");
}

TEST_F(ScanWorkflowTest, AQcFailureQueuesTheItemsUnitsAgainAndTheRemadeItemNeedsItsOwnQc) {
    addOrder("ORD-1", 1, 2);
    produce();
    scan("OP:ana");
    scan("MTO:I:ORD-1/1");
    auto fail = scan("MTO:A:QC_FAIL:burn_marks");
    ASSERT_TRUE(fail.accepted) << fail.message;
    auto data = lastData("ORD-1", "qc_failed");
    EXPECT_EQ(data.at("reason"), "burn_marks");
    EXPECT_EQ(data.at("requeued_units"), 2);
    EXPECT_EQ(data.at("operator"), "ana");
    EXPECT_EQ(count("SELECT COUNT(*) FROM units WHERE state = 'requeued'"), 2);
    EXPECT_EQ(scan("MTO:A:QC_FAIL:burn_marks").reason, "duplicate") << "the same failure again changes nothing";
    expectRefused(scan("MTO:A:QC_PASS"), "not_done");
    expectRefused(scan("MTO:A:PACKED"), "qc_missing");
    produce();   // made again
    auto pass = scan("MTO:A:QC_PASS");
    ASSERT_TRUE(pass.accepted) << pass.message;
    EXPECT_TRUE(scan("MTO:A:PACKED").accepted);
    EXPECT_EQ(milestones("ORD-1", "production_started").size(), 4u);
    EXPECT_EQ(scanMilestones("ORD-1"),
              (std::vector<std::string>{"qc_failed", "scan_refused", "scan_refused", "qc_passed", "ready_to_ship"}));
}

TEST_F(ScanWorkflowTest, TheQcMilestoneCarriesTheSnapshotTheLookupNames) {
    addOrder("ORD-1", 1, 1);
    produce();
    flow_->setSnapshotLookup([](const std::string& o, const std::string& i) -> std::optional<std::string> {
        return o == "ORD-1" && i == "1" ? std::optional<std::string>(std::string(64, 'a')) : std::nullopt;
    });
    scan("OP:ana");
    scan("MTO:I:ORD-1/1");
    ASSERT_TRUE(scan("MTO:A:QC_PASS").accepted);
    EXPECT_EQ(lastData("ORD-1", "qc_passed").at("snapshot_sha256"), boost::json::value(std::string(64, 'a')));
}

TEST_F(ScanWorkflowTest, MachineActionsGoToTheSchedulerOnlyWithAnOperatorAndItsRefusalIsShown) {
    expectRefused(scan("MTO:A:CLEAR:laser-1"), "no_operator");
    EXPECT_TRUE(machineCalls_.empty());
    scan("OP:ana");
    auto clear = scan("MTO:A:CLEAR:laser-1");
    EXPECT_TRUE(clear.accepted) << clear.message;
    EXPECT_EQ(clear.message, "laser-1: bed cleared");
    machineAnswer_ = "machine laser-1 is ready, not awaiting a bed clear";
    auto again = scan("MTO:A:CLEAR:laser-1");
    expectRefused(again, "machine_refused");
    EXPECT_EQ(again.message, *machineAnswer_);
    scan("MTO:A:SCRAP:cnc-1");
    scan("MTO:A:RESTART:laser-1");
    scan("MTO:A:RESUME:laser-1");
    EXPECT_EQ(machineCalls_, (std::vector<std::string>{"clear_bed laser-1", "clear_bed laser-1", "scrap cnc-1",
                                                       "restart laser-1", "resume laser-1"}));
    EXPECT_EQ(flow_->displayLine("s1")->level, "refused");
    EXPECT_EQ(flow_->displayLine("s1")->text, "REFUSED: " + *machineAnswer_);
}

TEST_F(ScanWorkflowTest, EachScannerHasItsOwnContextAndCancelForgetsIt) {
    addOrder("ORD-1", 1, 1);
    produce();
    scan("OP:ana", "s1");
    scan("MTO:I:ORD-1/1", "s1");
    scan("MTO:I:ORD-1/1", "s2");
    expectRefused(scan("MTO:A:QC_PASS", "s2"), "no_operator");
    EXPECT_TRUE(scan("MTO:A:CANCEL", "s1").accepted);
    expectRefused(scan("MTO:A:QC_PASS", "s1"), "no_operator");
    scan("OP:bo", "s1");
    expectRefused(scan("MTO:A:QC_PASS", "s1"), "no_item");   // a new badge starts a new context
    EXPECT_EQ(flow_->displayLine("s1")->operatorId, "bo");
}

TEST_F(ScanWorkflowTest, ARefusalGoesToTheOrderItIsAboutAndAMachineRefusalToNoOrder) {
    addOrder("ORD-1", 1, 1);
    produce();
    auto item = scan("MTO:I:ORD-1/1");   // before the badge: selected, the operator is asked for
    EXPECT_TRUE(item.accepted);
    EXPECT_NE(item.message.find("scan your badge"), std::string::npos) << item.message;
    expectRefused(scan("MTO:A:QC_PASS"), "no_operator");
    EXPECT_EQ(milestones("ORD-1", "scan_refused").size(), 1u);
    scan("OP:ana");
    scan("MTO:I:ORD-1/1");
    machineAnswer_ = "no machine laser-9";
    auto clear = scan("MTO:A:CLEAR:laser-9");
    expectRefused(clear, "machine_refused");
    EXPECT_EQ(milestones("ORD-1", "scan_refused").size(), 1u) << "a machine is no part of the selected order";
    auto unknown = scan("MTO:I:ORD-404/1");
    EXPECT_EQ(unknown.orderId, "ORD-404") << "the row names the item the scan was about";
    EXPECT_EQ(flow_->displayLine("s1")->orderId, "ORD-1") << "a refused item keeps the selected one";
}

TEST_F(ScanWorkflowTest, AContextEndsAfterItsTimeout) {
    addOrder("ORD-1", 1, 1);
    produce();
    flow_->addScanner("quick", "bench", 50ms);
    scan("OP:ana", "quick");
    scan("MTO:I:ORD-1/1", "quick");
    io_.run_for(150ms);
    EXPECT_EQ(flow_->displayLine("quick")->text, "Timed out: scan your badge");
    expectRefused(scan("MTO:A:QC_PASS", "quick"), "no_operator");
}

TEST_F(ScanWorkflowTest, TheStationReadsTheLastScansNewestFirstWithWhy) {
    scan("OP:ana");
    scan("MTO:A:PACKED");
    auto last = flow_->recent(5);
    ASSERT_EQ(last.size(), 2u);
    EXPECT_EQ(last[0].raw, "MTO:A:PACKED");
    EXPECT_FALSE(last[0].accepted);
    EXPECT_EQ(last[0].reason, "no_item");
    EXPECT_EQ(last[0].message, "scan an item first");
    EXPECT_EQ(last[0].operatorId, "ana");
    EXPECT_EQ(last[0].station, "packing");
    EXPECT_GT(last[0].eventSeq, 0);
    EXPECT_EQ(last[1].raw, "OP:ana");
    EXPECT_TRUE(last[1].accepted);
    EXPECT_EQ(last[1].eventSeq, 0);
    EXPECT_EQ(flow_->recent(1).size(), 1u);
}

TEST_F(ScanWorkflowTest, EveryScanGetsOneAnswerLineEvenWhenTooManyWaitAndItIsDropped) {
    std::vector<std::string> answers;
    // Nothing is decided until the loop runs: the scanner's queue fills and the scan beyond it is dropped.
    // The first is being decided; kMaxWaiting more wait behind it.
    for (std::size_t i = 0; i <= ScanWorkflow::kMaxWaiting + 1; ++i)
        flow_->handle("s1", i == 0 ? "OP:ana" : "LOREM", [&](const ScanRecord& r) { answers.push_back(scanReplyLine(r)); });
    ASSERT_EQ(answers.size(), 1u) << "the dropped one is answered at once";
    EXPECT_EQ(answers[0], "refused too_many_waiting 64 scans wait already; scan it again in a moment");
    for (int i = 0; answers.size() < ScanWorkflow::kMaxWaiting + 2 && i < 10000; ++i) {
        if (io_.stopped()) io_.restart();
        io_.run_one_for(5s);
    }
    ASSERT_EQ(answers.size(), ScanWorkflow::kMaxWaiting + 2);
    EXPECT_EQ(answers[1], "ok ana: scan an item");
    EXPECT_EQ(answers[2], "refused unknown_code 'LOREM' is not a code of this factory");
}

TEST(ScanReplyLine, IsOneLineWhateverTheMessageHolds) {
    ScanRecord r;
    r.accepted = false;
    r.reason = "malformed";
    r.message = "two\r\nlines";
    EXPECT_EQ(scanReplyLine(r), "refused malformed two  lines");
    r.accepted = true;
    r.reason = "duplicate";
    r.message = "ORD-1/1 passed QC already";
    EXPECT_EQ(scanReplyLine(r), "ok ORD-1/1 passed QC already");
}

} // namespace
} // namespace mto
