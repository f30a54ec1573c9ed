// SPDX-License-Identifier: Apache-2.0
// The retained status message: online/degraded/offline, machines, backlog and disk.
#pragma once

#include <boost/json/array.hpp>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "control/floor_view.hpp"
#include "scan/scanner.hpp"
#include "scheduler/job_queue.hpp"
#include "store/order_store.hpp"

namespace mto {

struct StatusInputs {
    std::string state;            // online | degraded | offline
    std::string factory;
    std::int64_t nowMs = 0;
    OutboxStats outbox;
    std::uint64_t diskFreeBytes = 0;
    std::string degradedReason;   // empty when healthy
    std::map<std::string, double> queuedWorkSeconds;   // per capability (JobQueue::queuedSeconds)
    std::vector<FloorMachine> machines;
    boost::json::array cameras;        // the QC cameras, each with its state and alert
    std::vector<std::string> alerts;   // what needs a person (a camera that does not answer)
    boost::json::array shed;           // what the media quota shed
    std::vector<ScannerStatus> scanners;
};

std::string statusPayload(const StatusInputs& in);

// Fills what the status reads from the store: open orders and the outbox, and the queued work per capability
// from the scheduler's queue (the figure `mtoctl watch` shows too). Throws DbError when the store cannot be read.
void readStoredStatus(StatusInputs& in, OrderStore& store, JobQueue& queue);

// Bytes available to the agent on the filesystem holding `dir` (0 when unknown).
std::uint64_t diskFreeBytes(const std::filesystem::path& dir);

} // namespace mto
