// SPDX-License-Identifier: Apache-2.0
// Fills a stopped agent's database with stored orders and their pending `received` events, without MQTT.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace mto::bench {

struct FillResult {
    std::int64_t events = 0;
    double averagePayloadBytes = 0;
    double averageTopicBytes = 0;
    double seconds = 0;
};

// Writes `count` one-item orders named ord-0000001… through the agent's own store code, so the rows are
// exactly what intake would have written. The agent must not be running; the directory must exist.
FillResult fillOutbox(const std::filesystem::path& databasePath, const std::string& factory, int count);

} // namespace mto::bench
