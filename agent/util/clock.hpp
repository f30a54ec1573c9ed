// SPDX-License-Identifier: Apache-2.0
// Wall clock behind an interface so tests can fix time; timestamps formatted as RFC 3339.
#pragma once

#include <cstdint>
#include <string>

namespace mto {

// Thread-safe.
class Clock {
public:
    virtual ~Clock() = default;
    virtual std::int64_t nowMs() const = 0;   // ms since the Unix epoch, UTC
};

class SystemClock final : public Clock {
public:
    std::int64_t nowMs() const override;
};

// "2026-11-26T05:30:00.123Z"
std::string formatRfc3339Ms(std::int64_t ms);

// True for an RFC 3339 date-time such as 2026-12-01T12:00:00Z or 2026-12-01T12:00:00.5+01:00.
bool isRfc3339(const std::string& s);

} // namespace mto
