// SPDX-License-Identifier: Apache-2.0
// The queue's forecast: which machine runs each unit and when, from the estimates, as the scheduler would.
#include <gtest/gtest.h>

#include "scheduler/forecast.hpp"

namespace mto {
namespace {

PendingJob job(const std::string& order, std::vector<std::int64_t> units, double seconds,
               const std::string& capability = "laser", const std::string& material = "oak", int step = 0,
               const std::string& operation = "laser_engrave") {
    PendingJob j;
    j.orderId = order;
    j.itemId = "1";
    j.operation = operation;
    j.step = step;
    j.capability = capability;
    j.profile = capability == "laser" ? "laser-400" : "cnc-600";
    j.material = material;
    j.units = std::move(units);
    j.estimatedSeconds = seconds;
    return j;
}

ForecastMachine laserMachine(const std::string& id, double freeIn) {
    return {{id, "laser-400", "laser", {"oak", "steel"}}, freeIn, {}};
}

TEST(Forecast, EachUnitGoesToTheMachineThatCanStartItFirst) {
    ForecastOptions o;
    o.bedClearS = 10;
    const auto plan = forecastQueue({laserMachine("a", 0), laserMachine("b", 100)},
                                    {job("o1", {1}, 60), job("o2", {1}, 60), job("o3", {1}, 60)}, {}, o);
    ASSERT_EQ(plan.size(), 3u);
    EXPECT_EQ(plan[0].machineId, "a");
    EXPECT_DOUBLE_EQ(plan[0].startInS, 0);
    EXPECT_DOUBLE_EQ(plan[0].finishInS, 60);
    EXPECT_EQ(plan[1].machineId, "a") << "a is free again at 70 (60 + bed clear), before b at 100";
    EXPECT_DOUBLE_EQ(plan[1].startInS, 70);
    EXPECT_EQ(plan[2].machineId, "b");
    EXPECT_DOUBLE_EQ(plan[2].startInS, 100);
    EXPECT_DOUBLE_EQ(plan[2].finishInS, 160);
}

TEST(Forecast, UnitsOfAQuantityFollowEachOtherWithABedClearBetween) {
    ForecastOptions o;
    o.bedClearS = 5;
    const auto plan = forecastQueue({laserMachine("a", 0)}, {job("o1", {1, 2, 3}, 10)}, {}, o);
    ASSERT_EQ(plan.size(), 3u);
    EXPECT_EQ(plan[2].unit, 3);
    EXPECT_DOUBLE_EQ(plan[0].finishInS, 10);
    EXPECT_DOUBLE_EQ(plan[1].finishInS, 25);
    EXPECT_DOUBLE_EQ(plan[2].finishInS, 40);
}

TEST(Forecast, WorkNoListedMachineCanRunHasNoMachine) {
    const auto plan = forecastQueue({laserMachine("a", 0)}, {job("acrylic", {1}, 10, "laser", "acrylic"),
                                                      job("cnc", {1}, 10, "cnc", "oak")},
                                    {});
    ASSERT_EQ(plan.size(), 2u);
    EXPECT_TRUE(plan[0].machineId.empty());
    EXPECT_TRUE(plan[1].machineId.empty());
}

TEST(Forecast, ALaterRouteStepStartsAfterTheSameUnitOfTheStepBefore) {
    ForecastOptions o;
    o.bedClearS = 10;
    ForecastMachine cnc1{{"cnc-1", "cnc-600", "cnc", {}}, 0, {}};
    ForecastMachine cnc2{{"cnc-2", "cnc-600", "cnc", {}}, 0, {}};
    const auto plan = forecastQueue(
        {cnc1, cnc2},
        {job("sign", {1}, 50, "cnc", "pine", 0, "cnc_engrave"), job("sign", {1}, 20, "cnc", "pine", 1, "cnc_profile")},
        {}, o);
    ASSERT_EQ(plan.size(), 2u);
    EXPECT_EQ(plan[1].machineId, "cnc-2");
    EXPECT_DOUBLE_EQ(plan[1].startInS, 50)
        << "cnc-2 is free at once (cnc-1 only after its bed clear), but the cut waits for the engraving";
    // The step before is running now, 30 s from its end.
    const auto next = forecastQueue({cnc2}, {job("sign", {1}, 20, "cnc", "pine", 1, "cnc_profile")},
                                    {{{"sign", "1", 0, 1}, 30.0}}, o);
    ASSERT_EQ(next.size(), 1u);
    EXPECT_DOUBLE_EQ(next[0].startInS, 30);
}

TEST(Forecast, UnitsOfASkuOnAJigShareOneRunAndOneBedClearUntilItsSlotsAreFull) {
    ForecastOptions o;
    o.bedClearS = 60;
    ForecastMachine m = laserMachine("a", 0);
    m.jigSlots["TAG"] = 3;
    std::vector<PendingJob> jobs;
    for (const char* id : {"t1", "t2", "t3", "t4"}) {
        jobs.push_back(job(id, {1}, 10));
        jobs.back().sku = "TAG";
    }
    jobs.push_back(job("coaster", {1}, 10));
    jobs.back().sku = "COASTER";
    const auto plan = forecastQueue({m}, jobs, {}, o);
    ASSERT_EQ(plan.size(), 5u);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_DOUBLE_EQ(plan[i].startInS, 0) << i;
        EXPECT_DOUBLE_EQ(plan[i].finishInS, 30) << i << ": every unit of the run ends with it";
    }
    EXPECT_DOUBLE_EQ(plan[3].startInS, 90) << "the jig is full: the next run starts after one bed clear";
    EXPECT_DOUBLE_EQ(plan[3].finishInS, 100);
    EXPECT_DOUBLE_EQ(plan[4].startInS, 160) << "a SKU the jig does not hold runs on its own";
    EXPECT_DOUBLE_EQ(plan[4].finishInS, 170);

    // Without the jig, each unit has its own run and bed clear.
    const auto alone = forecastQueue({laserMachine("a", 0)}, jobs, {}, o);
    EXPECT_DOUBLE_EQ(alone[2].startInS, 140);
    EXPECT_DOUBLE_EQ(alone[4].finishInS, 290);
}

TEST(Forecast, PlatesOfASkuThatDidNotFitArePlannedWithThePartsThatFitted) {
    ForecastOptions o;
    o.bedClearS = 60;
    PlateFits fits;
    EXPECT_EQ(fits.partsFor("KEY", 3), 3u) << "plate_max_parts until a plate does not fit";
    // A plate of three did not fit; the slicer's fall-back printed two.
    fits.record("KEY", 3, 2);
    EXPECT_EQ(fits.partsFor("KEY", 3), 2u);
    EXPECT_EQ(fits.partsFor("OTHER", 3), 3u) << "another SKU's parts are another size";
    fits.record("KEY", 2, 2);
    EXPECT_EQ(fits.partsFor("KEY", 3), 2u) << "a plate of two fitting says nothing about three";

    ForecastMachine printer{{"p", "mk3s", "fdm", {"pla"}}, 0, {{"KEY", fits.partsFor("KEY", 3)}}};
    std::vector<PendingJob> jobs;
    for (const char* id : {"k1", "k2", "k3", "k4", "k5"}) {
        jobs.push_back(job(id, {1}, 10, "fdm", "pla", 0, "print"));
        jobs.back().profile = "mk3s";
        jobs.back().sku = "KEY";
    }
    const auto plan = forecastQueue({printer}, jobs, {}, o);
    ASSERT_EQ(plan.size(), 5u);
    // Plates of two, as the scheduler runs them now: (k1, k2), (k3, k4), then k5.
    EXPECT_DOUBLE_EQ(plan[1].startInS, 0);
    EXPECT_DOUBLE_EQ(plan[1].finishInS, 20);
    EXPECT_DOUBLE_EQ(plan[2].startInS, 80);
    EXPECT_DOUBLE_EQ(plan[3].finishInS, 100);
    EXPECT_DOUBLE_EQ(plan[4].startInS, 160);

    // Not even two fitted: each unit prints alone.
    fits.record("KEY", 2, 1);
    printer.jigSlots["KEY"] = fits.partsFor("KEY", 3);
    const auto alone = forecastQueue({printer}, jobs, {}, o);
    EXPECT_DOUBLE_EQ(alone[1].startInS, 70);
    EXPECT_DOUBLE_EQ(alone[4].startInS, 280);
    // Three fitted again (smaller parts): plates of three.
    fits.record("KEY", 3, 3);
    EXPECT_EQ(fits.partsFor("KEY", 3), 3u);
}

TEST(Forecast, AMachinePassesOverAJobItsDriverRefusedButNotTheSameJobCompiledAgain) {
    ForecastOptions o;
    o.bedClearS = 10;
    RefusedJobs refused;
    refused[JobKey{"o1", "1", "laser_engrave"}] = "sha-refused";
    ForecastMachine a = laserMachine("a", 0);
    a.refused = &refused;
    std::vector<PendingJob> jobs{job("o1", {1}, 60), job("o2", {1}, 60)};
    jobs[0].artifactSha = "sha-refused";

    auto plan = forecastQueue({a, laserMachine("b", 500)}, jobs, {}, o);
    ASSERT_EQ(plan.size(), 2u);
    EXPECT_EQ(plan[0].machineId, "b") << "a refuses o1's program: only b runs it, later";
    EXPECT_DOUBLE_EQ(plan[0].startInS, 500);
    EXPECT_EQ(plan[1].machineId, "a") << "a takes the work behind the refused job at once";
    EXPECT_DOUBLE_EQ(plan[1].startInS, 0);

    plan = forecastQueue({a}, jobs, {}, o);
    EXPECT_TRUE(plan[0].machineId.empty()) << "no machine that will run it";

    jobs[0].artifactSha = "sha-compiled-again";
    plan = forecastQueue({a}, jobs, {}, o);
    EXPECT_EQ(plan[0].machineId, "a") << "another program of the job is not refused";
}

TEST(Forecaster, UnitsSettleAsTheyArePlannedExceptAJigRunsWhichSettleTogetherWhenTheRunCloses) {
    ForecastOptions o;
    o.bedClearS = 60;
    ForecastMachine m = laserMachine("a", 0);
    m.jigSlots["TAG"] = 3;
    std::vector<PlannedUnit> settled;
    Forecaster f({m}, {}, o, [&](const PlannedUnit& p) { settled.push_back(p); });
    auto tag = [](const std::string& id) {
        PendingJob j = job(id, {1}, 10);
        j.sku = "TAG";
        return j;
    };
    f.add(tag("t1"));
    f.add(tag("t2"));
    EXPECT_TRUE(settled.empty()) << "the run still has a free slot: its finish may move";
    PendingJob coaster = job("coaster", {1, 2}, 10);
    coaster.sku = "COASTER";
    f.add(coaster);
    ASSERT_EQ(settled.size(), 4u) << "the coaster closed the run: its two tags settle, then the coaster's units";
    EXPECT_EQ(settled[0].orderId, "t1");
    EXPECT_DOUBLE_EQ(settled[0].finishInS, 20) << "the final finish of the run, with t2 in it";
    EXPECT_EQ(settled[1].orderId, "t2");
    EXPECT_EQ(settled[2].orderId, "coaster");
    EXPECT_EQ(settled[2].seq, 2u);
    EXPECT_EQ(settled[3].seq, 3u);
    f.add(tag("t3"));
    EXPECT_EQ(settled.size(), 4u);
    f.finish();
    ASSERT_EQ(settled.size(), 5u) << "finish closes every open run";
    EXPECT_EQ(settled[4].orderId, "t3");
    EXPECT_EQ(f.units(), 5u);
}

TEST(Forecaster, ALaterStepWaitsOnlyForItsOwnItemsStepBefore) {
    // The forecaster keeps the finishes of the item being read only; another item's step 1 with the same unit
    // index must not wait for this item's step 0.
    ForecastOptions o;
    o.bedClearS = 0;
    ForecastMachine cnc1{{"cnc-1", "cnc-600", "cnc", {}}, 0, {}};
    ForecastMachine cnc2{{"cnc-2", "cnc-600", "cnc", {}}, 0, {}};
    PendingJob engrave = job("sign", {1}, 100, "cnc", "pine", 0, "cnc_engrave");
    PendingJob cut = job("sign", {1}, 20, "cnc", "pine", 1, "cnc_profile");
    PendingJob otherCut = job("other", {1}, 20, "cnc", "pine", 1, "cnc_profile");   // its engraving is done
    const auto plan = forecastQueue({cnc1, cnc2}, {engrave, cut, otherCut}, {}, o);
    ASSERT_EQ(plan.size(), 3u);
    EXPECT_DOUBLE_EQ(plan[1].startInS, 100) << "sign's cut waits for sign's engraving";
    EXPECT_EQ(plan[2].machineId, "cnc-2");
    EXPECT_DOUBLE_EQ(plan[2].startInS, 0) << "other's cut waits for nothing planned here";
}

} // namespace
} // namespace mto
