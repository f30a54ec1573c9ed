// SPDX-License-Identifier: Apache-2.0
// The retained status's queued hours read from a real store: each unit not yet started of an order that may run.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <variant>

#include "store_rig.hpp"
#include "uplink/status_report.hpp"

namespace mto {
namespace {

class StatusQueuedWork : public ::testing::Test, protected test::StoreRig {
protected:
    StatusQueuedWork() { catalog_.add({"COASTER", "Coaster"}); }

    // An accepted order of one item of `qty` units with one compiled job, as intake and the compile room leave it.
    void addOrder(const std::string& id, std::int64_t qty, const std::string& capability, double secondsPerUnit) {
        const std::string p = R"({"order_id":")" + id + R"(","items":[{"item_id":"1","sku":"COASTER","qty":)" +
                              std::to_string(qty) + "}]}";
        storeCompiled(p, {{"1", capability + "_engrave", 0, capability, "sha-" + id, "proof", secondsPerUnit, 5,
                           capability + "-1", ""}});
    }
    // Starts the next unit of the order's job as the scheduler does (the order goes in_production).
    QueuedUnit startNext(const MachineSlot& machine) {
        auto u = queue_.nextFor(machine);
        EXPECT_TRUE(u);
        if (!u) return {};
        Transaction txn(db_);
        queue_.markStarted(*u, machine.machineId, clock_.nowMs());
        store_.recordProduction(u->orderId, u->itemId, "production_started", {});
        txn.commit();
        return *u;
    }
    void finish(const QueuedUnit& u) {
        Transaction txn(db_);
        queue_.markDone(u, clock_.nowMs());
        store_.recordProduction(u.orderId, u.itemId, "job_done", {});
        txn.commit();
    }
    void command(CommandKind kind, const std::string& orderId) {
        Transaction txn(db_);
        auto refused = store_.applyCommand({kind, "cmd-" + std::to_string(++commands_), orderId, "test", std::nullopt});
        ASSERT_FALSE(refused) << refused->message;
        txn.commit();
    }
    // The status as the uplink builds it, online, with one idle printer on the floor.
    boost::json::object queuedHours() {
        StatusInputs in;
        in.state = "online";
        in.factory = "f1";
        readStoredStatus(in, store_, queue_);
        in.machines.push_back({"mk3s-1", "mk3s", "fdm", "ready", "idle", "", std::nullopt, ""});
        return boost::json::parse(statusPayload(in)).as_object().at("queued_hours").as_object();
    }
    int commands_ = 0;
};

TEST_F(StatusQueuedWork, QueuedHoursCountEachUnitNotYetStartedOfOrdersThatMayRunAndNothingHeldOrCancelled) {
    const MachineSlot laser{"laser-1", "laser-1", "laser", {}};
    addOrder("BIG", 200, "laser", 60);   // 200 units of a minute
    addOrder("SMALL", 2, "laser", 30);   // finished below: counts nothing, though its order is in production
    addOrder("ROUTER", 3, "cnc", 120);   // nothing started
    addOrder("HELD", 5, "laser", 600);
    addOrder("GONE", 10, "laser", 600);
    command(CommandKind::Hold, "HELD");
    command(CommandKind::Cancel, "GONE");

    // BIG: units 1 and 2 done, unit 3 running. SMALL (behind BIG in the queue): both units run and done.
    const auto big1 = startNext(laser);
    const auto big2 = startNext(laser);
    finish(big1);
    finish(big2);
    const auto big3 = startNext(laser);
    ASSERT_EQ(big3.orderId, "BIG");
    ASSERT_EQ(big3.unit, 3);
    ASSERT_EQ(store_.orderState("BIG"), "in_production");
    for (int i = 0; i < 2; ++i) {
        auto u = queue_.unitOf("SMALL", "1", "laser_engrave", i + 1);
        ASSERT_TRUE(u);
        Transaction txn(db_);
        queue_.markStarted(*u, "laser-2", clock_.nowMs());
        store_.recordProduction("SMALL", "1", "production_started", {});
        queue_.markDone(*u, clock_.nowMs());
        txn.commit();
    }
    ASSERT_EQ(store_.orderState("SMALL"), "in_production");
    ASSERT_EQ(store_.orderState("HELD"), "on_hold");
    ASSERT_EQ(store_.orderState("GONE"), "cancelled");

    const auto hours = queuedHours();
    // BIG: 200 - 3 started = 197 units x 60 s = 11,820 s = 3.28 h. ROUTER: 3 x 120 s = 0.1 h.
    EXPECT_DOUBLE_EQ(hours.at("laser").to_number<double>(), 3.28) << boost::json::serialize(hours);
    EXPECT_DOUBLE_EQ(hours.at("cnc").to_number<double>(), 0.1) << boost::json::serialize(hours);
    EXPECT_DOUBLE_EQ(hours.at("fdm").to_number<double>(), 0) << "a machine's capability with nothing queued";
    EXPECT_EQ(hours.size(), 3u) << boost::json::serialize(hours);

    // Resumed, the held order's units count again; the running unit finishing changes nothing.
    command(CommandKind::Resume, "HELD");
    finish(big3);
    EXPECT_DOUBLE_EQ(queuedHours().at("laser").to_number<double>(), 4.12) << "11,820 s + 5 x 600 s";
}

} // namespace
} // namespace mto
