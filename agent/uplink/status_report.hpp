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
#include "store/order_store.hpp"

namespace mto {

struct StatusInputs {
    std::string state;            // online | degraded | offline
    std::string factory;
    std::int64_t nowMs = 0;
    OutboxStats outbox;
    std::uint64_t diskFreeBytes = 0;
    std::string degradedReason;   // empty when healthy
    std::map<std::string, double> queuedWorkSeconds;   // per capability
    std::vector<FloorMachine> machines;
    boost::json::array cameras;        // the QC cameras, each with its state and alert
    std::vector<std::string> alerts;   // what needs a person (a camera that does not answer)
    boost::json::array shed;           // what the media quota shed
    std::vector<ScannerStatus> scanners;
};

std::string statusPayload(const StatusInputs& in);

// Bytes available to the agent on the filesystem holding `dir` (0 when unknown).
std::uint64_t diskFreeBytes(const std::filesystem::path& dir);

} // namespace mto
