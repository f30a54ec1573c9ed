// SPDX-License-Identifier: Apache-2.0
// A milestone event as stored in the outbox and published to HQ.
#pragma once

#include <cstdint>
#include <string>

namespace mto {

struct Event {
    std::int64_t seq = 0;        // per factory, strictly increasing, no gaps
    std::string eventId;         // UUID; HQ de-duplicates by it
    std::string orderId;         // empty when the input carried no usable order id
    std::string itemId;
    std::string milestone;
    std::int64_t atMs = 0;       // commit time, ms since the Unix epoch
    std::string payload;         // the JSON published to HQ
    std::string topic;
};

} // namespace mto
