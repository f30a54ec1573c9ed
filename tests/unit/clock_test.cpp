// SPDX-License-Identifier: Apache-2.0
// RFC 3339 timestamps: the event `at` format and the check applied to `due_by`.
#include <gtest/gtest.h>

#include <string>

#include "clock.hpp"

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
