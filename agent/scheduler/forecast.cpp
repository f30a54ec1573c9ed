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

std::vector<PlannedUnit> forecastQueue(std::vector<ForecastMachine> machines, const std::vector<PendingJob>& jobs,
                                       const std::map<UnitKey, double>& runningFinishInS,
                                       const ForecastOptions& options) {
    std::vector<PlannedUnit> out;
    std::map<UnitKey, double> finishes = runningFinishInS;
    std::vector<ForecastMachine*> able;
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
                const double start = std::max(m->freeInS, ready);
                if (start < bestStart) {
                    bestStart = start;
                    best = m;
                }
            }
            if (best) {
                p.machineId = best->slot.machineId;
                p.startInS = bestStart;
                p.finishInS = bestStart + std::max(0.0, job.estimatedSeconds);
                best->freeInS = p.finishInS + options.bedClearS;
                finishes[{job.orderId, job.itemId, job.step, unit}] = p.finishInS;
            }
            out.push_back(std::move(p));
        }
    }
    return out;
}

} // namespace mto
