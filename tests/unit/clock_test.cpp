// SPDX-License-Identifier: Apache-2.0
// RFC 3339 timestamps: the event `at` format and the check applied to `due_by`.
#include <gtest/gtest.h>

#include <random>
#include <regex>
#include <string>
#include <vector>

#include "util/clock.hpp"

namespace mto {
namespace {

TEST(Clock, EpochIsFormattedWithMilliseconds) { EXPECT_EQ(formatRfc3339Ms(0), "1970-01-01T00:00:00.000Z"); }

TEST(Clock, MillisecondsArePaddedToThreeDigits) {
    EXPECT_EQ(formatRfc3339Ms(1), "1970-01-01T00:00:00.001Z");
    EXPECT_EQ(formatRfc3339Ms(1010), "1970-01-01T00:00:01.010Z");
    EXPECT_EQ(formatRfc3339Ms(59999), "1970-01-01T00:00:59.999Z");
}

TEST(Clock, LeapDayIsFormattedCorrectly) {
    EXPECT_EQ(formatRfc3339Ms(1709251199007), "2024-02-29T23:59:59.007Z");
    EXPECT_EQ(formatRfc3339Ms(1709251200000), "2024-03-01T00:00:00.000Z");
    EXPECT_EQ(formatRfc3339Ms(951782400000), "2000-02-29T00:00:00.000Z") << "2000 is a leap year despite the 100 rule";
}

TEST(Clock, ContractExampleTimeIsFormattedAsDocumented) {
    EXPECT_EQ(formatRfc3339Ms(1795671000123), "2026-11-26T05:30:00.123Z");
}

TEST(Clock, TimesBeforeTheEpochKeepAPositiveMillisecondPart) {
    EXPECT_EQ(formatRfc3339Ms(-1), "1969-12-31T23:59:59.999Z");
    EXPECT_EQ(formatRfc3339Ms(-1000), "1969-12-31T23:59:59.000Z");
    EXPECT_EQ(formatRfc3339Ms(-1500), "1969-12-31T23:59:58.500Z");
}

TEST(Clock, FormattedTimesPassTheirOwnCheck) {
    for (std::int64_t ms : {0LL, 1LL, 1709251199007LL, 1795671000123LL, 4102444799999LL})
        EXPECT_TRUE(isRfc3339(formatRfc3339Ms(ms))) << formatRfc3339Ms(ms);
}

TEST(Clock, SystemClockIsNearTheRealTime) {
    SystemClock clock;
    const std::int64_t now = clock.nowMs();
    EXPECT_GT(now, 1735689600000) << "after 2025-01-01";
    EXPECT_LE(now, clock.nowMs());
}

TEST(Clock, Rfc3339AcceptsTheFormsHqSends) {
    for (const char* s : {
             "2026-12-01T12:00:00Z",
             "2026-12-01T12:00:00.5Z",
             "2026-12-01T12:00:00.123456789Z",
             "2026-12-01T12:00:00+01:00",
             "2026-12-01T12:00:00.250-05:30",
             "2026-12-01t12:00:00z",
             "2028-02-29T00:00:00Z",
             "2000-02-29T00:00:00Z",
             "2026-04-30T23:59:59Z",
             "2026-12-31T23:59:60Z",   // a leap second
             "0001-01-01T00:00:00Z",
         }) {
        EXPECT_TRUE(isRfc3339(s)) << s;
    }
}

TEST(Clock, Rfc3339RefusesMalformedTimes) {
    for (const char* s : {
             "",
             "2026-12-01",
             "12:00:00Z",
             "2026-12-01T12:00:00",    // no zone
             "2026-12-01 12:00:00Z",   // space instead of T
             "2026-12-01T12:00Z",      // no seconds
             "2026-13-01T12:00:00Z",
             "2026-00-01T12:00:00Z",
             "2026-12-00T12:00:00Z",
             "2026-12-32T12:00:00Z",
             "2026-12-01T24:00:00Z",
             "2026-12-01T12:60:00Z",
             "2026-12-01T12:00:61Z",
             "2026-12-01T12:00:00.Z",
             "2026-12-01T12:00:00.1234567890Z",
             "2026-12-01T12:00:00+1:00",
             "2026-12-01T12:00:00+24:00",
             "26-12-01T12:00:00Z",
             " 2026-12-01T12:00:00Z",
             "2026-12-01T12:00:00Z ",
             "2026-12-01T12:00:00Zjunk",
             "tomorrow",
         }) {
        EXPECT_FALSE(isRfc3339(s)) << s;
    }
}

TEST(Clock, Rfc3339RefusesDaysThatDoNotExistInTheirMonth) {
    for (const char* s : {
             "2026-02-29T00:00:00Z",   // 2026 is not a leap year
             "2026-02-30T00:00:00Z",
             "2026-02-31T00:00:00Z",
             "1900-02-29T00:00:00Z",   // divisible by 100, not by 400
             "2026-04-31T00:00:00Z",
             "2026-06-31T00:00:00Z",
             "2026-09-31T00:00:00Z",
             "2026-11-31T00:00:00Z",
         }) {
        EXPECT_FALSE(isRfc3339(s)) << s;
    }
    EXPECT_TRUE(isRfc3339("2026-01-31T00:00:00Z"));
    EXPECT_TRUE(isRfc3339("2026-12-31T00:00:00Z"));
}

}   // namespace
}   // namespace mto

namespace mto {
namespace {

// The RFC 3339 grammar as a regular expression, kept here as the oracle for the hand-written check.
bool rfc3339ByRegex(const std::string& s) {
    static const std::regex re(
        R"(^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):([0-5]\d):([0-5]\d|60)(\.\d{1,9})?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$)");
    std::smatch m;
    if (s.size() > 40 || !std::regex_match(s, m, re)) return false;
    int year = std::stoi(m[1].str()), month = std::stoi(m[2].str()), day = std::stoi(m[3].str());
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return day <= (month == 2 && leap ? 29 : kDays[month - 1]);
}

TEST(Clock, Rfc3339CheckAgreesWithTheGrammarOnKnownAndMutatedTimestamps) {
    const std::vector<std::string> seeds = {
        "2026-12-24T12:00:00Z", "2026-12-24t12:00:00z", "2024-02-29T23:59:60.123456789+01:00",
        "2023-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-24T24:00:00Z",
        "2026-12-24T12:00:00.Z", "2026-12-24T12:00:00.1234567890Z", "2026-12-24T12:00:00+24:00",
        "2026-12-24 12:00:00Z", "2026-12-24T12:00:00", "1900-02-29T00:00:00Z", "2000-02-29T00:00:00-00:59"};
    std::mt19937 rng(20261201);
    const std::string alphabet = "0123456789-:.TtZz+ x";
    std::size_t accepted = 0, checked = 0;
    for (const auto& seed : seeds) {
        EXPECT_EQ(isRfc3339(seed), rfc3339ByRegex(seed)) << seed;
        for (int k = 0; k < 3000; ++k) {
            std::string s = seed;
            int edits = 1 + static_cast<int>(rng() % 3);
            for (int e = 0; e < edits; ++e) {
                std::size_t at = rng() % (s.size() + 1);
                char c = alphabet[rng() % alphabet.size()];
                switch (rng() % 3) {
                case 0: if (at < s.size()) s[at] = c; break;
                case 1: s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c); break;
                default: if (at < s.size()) s.erase(at, 1); break;
                }
            }
            bool expected = rfc3339ByRegex(s);
            ASSERT_EQ(isRfc3339(s), expected) << "'" << s << "'";
            accepted += expected;
            ++checked;
        }
    }
    EXPECT_GT(accepted, checked / 50) << "the mutations should keep some timestamps valid";
}

} // namespace
} // namespace mto
