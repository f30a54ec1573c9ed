// SPDX-License-Identifier: Apache-2.0
// Wall clock and RFC 3339 formatting/checking.
#include "util/clock.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

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
    // Checked by hand rather than with std::regex: this runs for every order, in series with its commit.
    // Shape: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), T and Z in either case, leap second 60 allowed.
    if (s.size() < 20 || s.size() > 40) return false;
    std::size_t i = 0;
    auto digits = [&](int n, int& value) {
        value = 0;
        for (int k = 0; k < n; ++k, ++i) {
            if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
            value = value * 10 + (s[i] - '0');
        }
        return true;
    };
    auto expect = [&](char c) { return i < s.size() && s[i++] == c; };
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!digits(4, year) || !expect('-') || !digits(2, month) || !expect('-') || !digits(2, day)) return false;
    if (i >= s.size() || (s[i] != 'T' && s[i] != 't')) return false;
    ++i;
    if (!digits(2, hour) || !expect(':') || !digits(2, minute) || !expect(':') || !digits(2, second)) return false;
    if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return false;
    if (i < s.size() && s[i] == '.') {
        std::size_t start = ++i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        if (i == start || i - start > 9) return false;
    }
    if (i >= s.size()) return false;
    if (s[i] == 'Z' || s[i] == 'z') {
        ++i;
    } else if (s[i] == '+' || s[i] == '-') {
        ++i;
        int offH = 0, offM = 0;
        if (!digits(2, offH) || !expect(':') || !digits(2, offM) || offH > 23 || offM > 59) return false;
    } else {
        return false;
    }
    if (i != s.size()) return false;
    // RFC 3339 (5.7) wants a day that exists in that month and year.
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return day <= (month == 2 && leap ? 29 : kDays[month - 1]);
}

} // namespace mto
