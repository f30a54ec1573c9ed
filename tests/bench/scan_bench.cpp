// SPDX-License-Identifier: Apache-2.0
// Scan -> milestone: a QC_PASS scan on the line input until HQ holds its qc_passed, against a plain order's
// publish -> receipt at HQ through the same agent and broker in the same run.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <utility>
#include <vector>

#include "agent_rig.hpp"
#include "bench_support.hpp"
#include "benchmarks.hpp"
#include "store/database.hpp"

namespace mto::bench {

namespace {

const std::string kScanBench = "scan";
constexpr auto kScanTripTimeout = std::chrono::seconds(5);

// Every item of every stored order made: one done job and its done units, the order in production. What the
// scheduler and a machine would leave behind, written while the agent is stopped.
std::vector<std::pair<std::string, std::string>> finishEverything(const std::filesystem::path& dbPath) {
    Database db(dbPath, Database::Mode::ReadWrite);
    std::vector<std::pair<std::string, std::string>> items;
    {
        auto& st = db.prepare("SELECT order_id, item_id FROM items ORDER BY order_id, item_id");
        while (st.step()) items.emplace_back(st.columnText(0), st.columnText(1));
        st.reset();
    }
    Transaction txn(db);
    db.exec("DELETE FROM jobs; DELETE FROM units; UPDATE orders SET state = 'in_production'");
    for (const auto& [order, item] : items) {
        db.prepare("INSERT INTO jobs (order_id, item_id, operation, step, revision, capability, artifact_sha, "
                   "proof_sha, estimated_s, rush, state, qty, started_units) "
                   "VALUES (?, ?, 'laser_engrave', 0, 1, 'laser', 'sha', 'proof', 60, 0, 'done', 1, 1)")
            .bind(1, order)
            .bind(2, item)
            .run();
        db.prepare("INSERT INTO units (order_id, item_id, operation, unit, step, machine_id, state, started_at, ended_at) "
                   "VALUES (?, ?, 'laser_engrave', 1, 0, 'laser-1', 'done', 0, 0)")
            .bind(1, order)
            .bind(2, item)
            .run();
    }
    txn.commit();
    return items;
}

} // namespace

void runScanBench(const BenchOptions& o, BenchReport& report) {
    const int trips = o.roundTrips;
    const int total = o.warmup + trips;
    const int linePort = test::freeTcpPort();
    AgentRig rig(o, "[[scanners]]\nid = \"bench\"\nkind = \"line\"\nlisten = \"127.0.0.1:" + std::to_string(linePort) +
                        "\"\n");
    rig.startAgentOnline();
    auto& hq = rig.hq();

    // Baseline, same agent and broker: an order published by HQ until its receipt is at HQ (an inbound hop,
    // a durable commit, an outbound hop). These orders are then the ones scanned.
    std::vector<double> orderMs;
    std::vector<std::string> ids;
    for (int i = 0; i < total; ++i) {
        throwIfInterrupted();
        char id[32];
        std::snprintf(id, sizeof id, "scan-%07d", i);
        ids.push_back(id);
        const auto sent = Clock::now();
        hq.sendOrder(id, test::makeOrder(id));
        if (!hq.waitForEvents(static_cast<std::size_t>(i) + 1, kScanTripTimeout))
            throw BenchError(std::string("no receipt for ") + id + " within 5 s; agent log:\n" + rig.agentLogTail());
        auto receipt = hq.lastEventFor(id);
        if (!receipt || receipt->milestone != "received")
            throw BenchError(std::string("the event that arrived for ") + id + " is not a receipt");
        if (i >= o.warmup) orderMs.push_back(millisBetween(sent, receipt->arrived));
    }
    rig.stopAgent();
    const auto items = finishEverything(rig.agent().databasePath());
    if (items.size() < ids.size()) throw BenchError("the stored orders hold fewer items than were sent");
    rig.startAgentOnline();

    boost::asio::io_context io;
    boost::asio::ip::tcp::socket line(io);
    line.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(linePort)});
    line.set_option(boost::asio::ip::tcp::no_delay(true));
    auto type = [&](const std::string& scan) { boost::asio::write(line, boost::asio::buffer(scan + "\n")); };
    type("OP:bench");
    std::vector<double> scanMs;
    for (int i = 0; i < total; ++i) {
        throwIfInterrupted();
        const auto& [order, item] = items[static_cast<std::size_t>(i)];
        // The item is selected first, outside the measured window, as an operator scans the traveler label.
        type("MTO:I:" + order + "/" + item);
        sleepFor(std::chrono::milliseconds(5));
        const auto sent = Clock::now();
        type("MTO:A:QC_PASS");
        std::optional<test::SeenEvent> seen;
        waitFor([&] {
            seen = hq.lastEventFor(order);
            return seen && (seen->milestone == "qc_passed" || seen->milestone == "scan_refused");
        }, kScanTripTimeout, "qc_passed of " + order, std::chrono::milliseconds(1));
        if (seen->milestone != "qc_passed")
            throw BenchError("the QC scan of " + order + " was refused: " + boost::json::serialize(seen->data));
        if (i >= o.warmup) scanMs.push_back(millisBetween(sent, seen->arrived));
    }
    report.figure(kScanBench, "agent, QC_PASS scan on the line input -> qc_passed at HQ",
                  spread(scanMs) + " over " + formatCount(trips) + " scans after " + std::to_string(o.warmup) +
                      " warm-up: line read + context + durable commit + outbound event hop; the QC snapshot is "
                      "looked up, never grabbed, in this path");
    report.figure(kScanBench, "baseline, order publish -> receipt at HQ, same agent and broker",
                  spread(orderMs) + " over " + formatCount(trips) + " orders");
    const double scanP99 = percentile(scanMs, 99);
    report.goal(kScanBench, "scan -> milestone p99", scanP99, "ms", 50.0, Better::Lower);
    report.info(kScanBench, "ratio scan p99 / order receipt p99", fixed(scanP99 / percentile(orderMs, 99), 2));
    report.info(kScanBench, "ratio scan p50 / order receipt p50",
                fixed(percentile(scanMs, 50) / percentile(orderMs, 50), 2));
    if (auto why = abnormalExit(rig.stopAgent()); !why.empty())
        report.figure(kScanBench, "note", "the agent did not exit cleanly on SIGTERM: " + why + "\n" + rig.agentLogTail(3));
}

} // namespace mto::bench
