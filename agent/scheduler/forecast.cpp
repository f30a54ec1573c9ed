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

Forecaster::Forecaster(std::vector<ForecastMachine> machines, std::map<UnitKey, double> runningFinishInS,
                       const ForecastOptions& options, Settled settled)
    : machines_(std::move(machines)), running_(std::move(runningFinishInS)), options_(options),
      settled_(std::move(settled)), runs_(machines_.size()) {}

Forecaster::JigRun* Forecaster::joins(std::size_t machine, const PendingJob& job, double ready) {
    auto& run = runs_[machine];
    if (!run) return nullptr;
    const bool same = run->sku == job.sku && run->operation == job.operation && run->material == job.material;
    return same && run->slotsLeft > 0 && ready <= run->start ? &*run : nullptr;
}

void Forecaster::close(std::size_t machine) {
    auto& run = runs_[machine];
    if (!run) return;
    for (const PlannedUnit& p : run->planned) settled_(p);
    run.reset();
}

double Forecaster::finishOfStepBefore(const PendingJob& job, std::int64_t unit) const {
    // Not planned and not running: the step before is done (or cannot be planned, and then this one is planned as
    // if it were; the earlier step's own plan says it has no machine).
    if (auto planned = itemFinishes_.find({job.step - 1, unit}); planned != itemFinishes_.end()) return planned->second;
    if (auto running = running_.find({job.orderId, job.itemId, job.step - 1, unit}); running != running_.end())
        return running->second;
    return 0;
}

void Forecaster::add(const PendingJob& job) {
    if (job.orderId != itemOrder_ || job.itemId != item_) {
        itemOrder_ = job.orderId;
        item_ = job.itemId;
        itemFinishes_.clear();
    }
    able_.clear();
    for (std::size_t i = 0; i < machines_.size(); ++i) {
        const ForecastMachine& m = machines_[i];
        if (!canRun(m.slot, job)) continue;
        if (m.refused) {
            auto refused = m.refused->find(JobKey{job.orderId, job.itemId, job.operation});
            if (refused != m.refused->end() && refused->second == job.artifactSha) continue;
        }
        able_.push_back(i);
    }
    for (std::int64_t unit : job.units) {
        PlannedUnit p{job.orderId, job.itemId, job.operation, job.step, unit, "", 0, 0, seq_++};
        const double ready = job.step > 0 ? finishOfStepBefore(job, unit) : 0;
        std::size_t best = machines_.size();
        double bestStart = std::numeric_limits<double>::infinity();
        for (std::size_t i : able_) {
            const JigRun* run = joins(i, job, ready);
            const double start = run ? run->start : std::max(machines_[i].freeInS, ready);
            if (start < bestStart) {
                bestStart = start;
                best = i;
            }
        }
        if (best == machines_.size()) {
            settled_(p);
            continue;
        }
        ForecastMachine& m = machines_[best];
        const double seconds = std::max(0.0, job.estimatedSeconds);
        p.machineId = m.slot.machineId;
        p.startInS = bestStart;
        if (JigRun* run = joins(best, job, ready)) {
            // In the same program: the run ends later by this unit's time.
            run->finish += seconds;
            --run->slotsLeft;
            p.finishInS = run->finish;
            for (PlannedUnit& q : run->planned) {
                q.finishInS = run->finish;
                if (q.orderId == itemOrder_ && q.itemId == item_) itemFinishes_[{q.step, q.unit}] = run->finish;
            }
            run->planned.push_back(p);
        } else {
            close(best);
            p.finishInS = bestStart + seconds;
            auto slots = job.sku.empty() ? m.jigSlots.end() : m.jigSlots.find(job.sku);
            if (slots != m.jigSlots.end() && slots->second > 0)
                runs_[best] =
                    JigRun{job.sku, job.operation, job.material, slots->second - 1, bestStart, p.finishInS, {p}};
            else
                settled_(p);
        }
        m.freeInS = p.finishInS + options_.bedClearS;
        itemFinishes_[{job.step, unit}] = p.finishInS;
    }
}

void Forecaster::finish() {
    for (std::size_t i = 0; i < runs_.size(); ++i) close(i);
}

std::vector<PlannedUnit> forecastQueue(std::vector<ForecastMachine> machines, const std::vector<PendingJob>& jobs,
                                       const std::map<UnitKey, double>& runningFinishInS,
                                       const ForecastOptions& options) {
    std::vector<PlannedUnit> out;
    Forecaster f(std::move(machines), runningFinishInS, options, [&out](const PlannedUnit& p) { out.push_back(p); });
    for (const PendingJob& job : jobs) f.add(job);
    f.finish();
    std::sort(out.begin(), out.end(), [](const PlannedUnit& a, const PlannedUnit& b) { return a.seq < b.seq; });
    return out;
}

} // namespace mto
