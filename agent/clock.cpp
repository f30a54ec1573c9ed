// SPDX-License-Identifier: Apache-2.0
// Wall clock and RFC 3339 formatting/checking.
#include "clock.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <regex>

namespace mto {

std::int64_t SystemClock::nowMs() const {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string formatRfc3339Ms(std::int64_t ms) {
    // Floor division: a time before the epoch is the previous second plus a positive millisecond part.
    std::int64_t secs = ms / 1000;
    std::int64_t frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[80];   // room for any int the format can produce, though real years have four digits
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(frac));
    return buf;
}

bool isRfc3339(const std::string& s) {
    static const std::regex re(
        R"(^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):([0-5]\d):([0-5]\d|60)(\.\d{1,9})?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$)");
    std::smatch m;
    if (s.size() > 40 || !std::regex_match(s, m, re)) return false;
    // The pattern allows day 31 in every month; RFC 3339 (5.7) wants a day that exists in that month and year.
    int year = std::stoi(m[1].str());
    int month = std::stoi(m[2].str());
    int day = std::stoi(m[3].str());
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return day <= (month == 2 && leap ? 29 : kDays[month - 1]);
}

} // namespace mto
