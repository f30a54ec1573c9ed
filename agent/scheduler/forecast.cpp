// SPDX-License-Identifier: Apache-2.0
// The queue's forecast: when and on which machine each queued unit is expected to run.
#include "scheduler/forecast.hpp"

#include <algorithm>
#include <limits>

namespace mto {

namespace {

// The same match nextFor makes in SQL: the job's profile (or, for jobs stored before profiles, its
// capability) and one of the machine's materials (none listed: any).
bool canRun(const MachineSlot& m, const PendingJob& j) {
    if (j.capability != m.capability) return false;
    if (!j.profile.empty() && j.profile != m.profile) return false;
    return m.materials.empty() || j.material.empty() || m.materials.count(j.material) > 0;
}

} // namespace

void PlateFits::record(const std::string& sku, std::size_t tried, std::size_t fitted) {
    if (fitted < tried) {
        fitted_[sku] = std::max<std::size_t>(fitted, 1);
        return;
    }
    // All fitted: a smaller plate learnt before holds no more, unless this one was larger.
    auto known = fitted_.find(sku);
    if (known != fitted_.end() && fitted > known->second) known->second = fitted;
}

std::size_t PlateFits::partsFor(const std::string& sku, std::size_t capacity) const {
    auto known = fitted_.find(sku);
    return known == fitted_.end() ? capacity : std::min(capacity, known->second);
}

std::vector<PlannedUnit> forecastQueue(std::vector<ForecastMachine> machines, const std::vector<PendingJob>& jobs,
                                       const std::map<UnitKey, double>& runningFinishInS,
                                       const ForecastOptions& options) {
    std::vector<PlannedUnit> out;
    std::map<UnitKey, double> finishes = runningFinishInS;
    std::vector<ForecastMachine*> able;
    // The last jig run planned on a machine, open while it has free slots.
    struct JigRun {
        std::string sku, operation, material;
        std::size_t slotsLeft = 0;
        double start = 0, finish = 0;
        std::vector<std::size_t> planned;   // indexes into out: every unit of the run ends with the run
    };
    std::map<const ForecastMachine*, JigRun> runs;
    auto joins = [&](const ForecastMachine* m, const PendingJob& job, double ready) -> JigRun* {
        auto it = runs.find(m);
        if (it == runs.end()) return nullptr;
        JigRun& r = it->second;
        const bool same = r.sku == job.sku && r.operation == job.operation && r.material == job.material;
        return same && r.slotsLeft > 0 && ready <= r.start ? &r : nullptr;
    };
    for (const PendingJob& job : jobs) {
        able.clear();
        for (auto& m : machines)
            if (canRun(m.slot, job)) able.push_back(&m);
        for (std::int64_t unit : job.units) {
            PlannedUnit p{job.orderId, job.itemId, job.operation, job.step, unit, "", 0, 0};
            double ready = 0;
            if (job.step > 0) {
                // Not planned and not running: the step before is done (or cannot be planned, and then this
                // one is planned as if it were; the earlier step's own plan says it has no machine).
                auto before = finishes.find({job.orderId, job.itemId, job.step - 1, unit});
                if (before != finishes.end()) ready = before->second;
            }
            ForecastMachine* best = nullptr;
            double bestStart = std::numeric_limits<double>::infinity();
            for (ForecastMachine* m : able) {
                const JigRun* run = joins(m, job, ready);
                const double start = run ? run->start : std::max(m->freeInS, ready);
                if (start < bestStart) {
                    bestStart = start;
                    best = m;
                }
            }
            if (best) {
                const double seconds = std::max(0.0, job.estimatedSeconds);
                p.machineId = best->slot.machineId;
                p.startInS = bestStart;
                if (JigRun* run = joins(best, job, ready)) {
                    // In the same program: the run ends later by this unit's time.
                    run->finish += seconds;
                    --run->slotsLeft;
                    p.finishInS = run->finish;
                    for (std::size_t i : run->planned) {
                        PlannedUnit& q = out[i];
                        q.finishInS = run->finish;
                        finishes[{q.orderId, q.itemId, q.step, q.unit}] = run->finish;
                    }
                    run->planned.push_back(out.size());
                } else {
                    p.finishInS = bestStart + seconds;
                    auto slots = job.sku.empty() ? best->jigSlots.end() : best->jigSlots.find(job.sku);
                    if (slots != best->jigSlots.end() && slots->second > 0)
                        runs[best] = {job.sku, job.operation, job.material, slots->second - 1, bestStart, p.finishInS,
                                      {out.size()}};
                    else
                        runs.erase(best);
                }
                best->freeInS = p.finishInS + options.bedClearS;
                finishes[{job.orderId, job.itemId, job.step, unit}] = p.finishInS;
            }
            out.push_back(std::move(p));
        }
    }
    return out;
}

} // namespace mto
