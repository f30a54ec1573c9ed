// SPDX-License-Identifier: Apache-2.0
// UTF-8 well-formedness (RFC 3629) and the sanitized copies stored in the audit and written to logs.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "util/utf8.hpp"

namespace mto {
namespace {

constexpr auto npos = std::string_view::npos;

TEST(Utf8, AsciiIncludingNulAndDelIsValid) {
    EXPECT_EQ(findInvalidUtf8(""), npos);
    EXPECT_EQ(findInvalidUtf8("plain ascii ~"), npos);
    EXPECT_EQ(findInvalidUtf8(std::string_view("a\0b\x7f", 4)), npos);
}

TEST(Utf8, WellFormedMultiByteSequencesAreValidAtTheirBoundaries) {
    for (const char* s : {
             "\xc2\x80",           // U+0080, smallest two-byte
             "\xc3\xa9",           // é
             "\xdf\xbf",           // U+07FF, largest two-byte
             "\xe0\xa0\x80",       // U+0800, smallest three-byte
             "\xe2\x99\xa5",       // ♥
             "\xed\x9f\xbf",       // U+D7FF, just below the surrogates
             "\xee\x80\x80",       // U+E000, just above them
             "\xef\xbf\xbf",       // U+FFFF
             "\xf0\x90\x80\x80",   // U+10000, smallest four-byte
             "\xf0\x9f\x8e\x89",   // 🎉
             "\xf4\x8f\xbf\xbf",   // U+10FFFF, the last code point
         }) {
        EXPECT_EQ(findInvalidUtf8(s), npos) << testing::PrintToString(s);
    }
}

TEST(Utf8, OverlongEncodingsAreInvalid) {
    EXPECT_EQ(findInvalidUtf8("\xc0\x80"), 0u);   // NUL in two bytes
    EXPECT_EQ(findInvalidUtf8("\xc1\xbf"), 0u);
    EXPECT_EQ(findInvalidUtf8("\xe0\x80\xaf"), 0u);       // '/' in three bytes
    EXPECT_EQ(findInvalidUtf8("\xe0\x9f\xbf"), 0u);       // U+07FF in three bytes
    EXPECT_EQ(findInvalidUtf8("\xf0\x80\x80\xaf"), 0u);   // '/' in four bytes
    EXPECT_EQ(findInvalidUtf8("\xf0\x8f\xbf\xbf"), 0u);   // U+FFFF in four bytes
}

TEST(Utf8, EncodedUtf16SurrogatesAreInvalid) {
    EXPECT_EQ(findInvalidUtf8("\xed\xa0\x80"), 0u);   // U+D800
    EXPECT_EQ(findInvalidUtf8("\xed\xbf\xbf"), 0u);   // U+DFFF
    EXPECT_EQ(findInvalidUtf8("ok\xed\xa0\xbd\xed\xb8\x80"), 2u) << "a CESU-8 pair is two surrogates, not one emoji";
}

TEST(Utf8, CodePointsAboveTheUnicodeRangeAreInvalid) {
    EXPECT_EQ(findInvalidUtf8("\xf4\x90\x80\x80"), 0u);   // U+110000
    EXPECT_EQ(findInvalidUtf8("\xf5\x80\x80\x80"), 0u);
    EXPECT_EQ(findInvalidUtf8("\xf8\x88\x80\x80\x80"), 0u);   // old five-byte form
    EXPECT_EQ(findInvalidUtf8("\xff"), 0u);
    EXPECT_EQ(findInvalidUtf8("\xfe"), 0u);
}

TEST(Utf8, LoneContinuationBytesAreInvalid) {
    EXPECT_EQ(findInvalidUtf8("\x80"), 0u);
    EXPECT_EQ(findInvalidUtf8("abc\xbf"), 3u);
    EXPECT_EQ(findInvalidUtf8("\xc3\xa9\xa9"), 2u) << "one continuation byte too many";
}

TEST(Utf8, TruncatedSequencesAreInvalidAtTheirFirstByte) {
    EXPECT_EQ(findInvalidUtf8("\xc3"), 0u);
    EXPECT_EQ(findInvalidUtf8("ab\xe2\x99"), 2u);
    EXPECT_EQ(findInvalidUtf8("\xf0\x9f\x8e"), 0u);
    EXPECT_EQ(findInvalidUtf8("\xe2\x99x"), 0u) << "a sequence cut short by an ASCII byte";
    EXPECT_EQ(findInvalidUtf8("\xf0\x9f\x8e\x89\xf0\x9f"), 4u);
}

TEST(Utf8, OffsetPointsAtTheFirstBadByteAfterValidText) {
    EXPECT_EQ(findInvalidUtf8("caf\xc3\xa9 \xe2\x99\xa5 \xff"), 10u);
}

TEST(Utf8, SanitizeKeepsValidTextUnchanged) {
    const std::string s = "Ada \xe2\x99\xa5 \xf0\x9f\x8e\x89 \xe5\xb1\xb1";
    EXPECT_EQ(sanitizeUtf8(s, 1000), s);
    EXPECT_EQ(sanitizeUtf8("", 10), "");
}

TEST(Utf8, SanitizeReplacesEachInvalidByteWithTheReplacementCharacter) {
    EXPECT_EQ(sanitizeUtf8("a\xff"
                           "b",
                           100),
              "a\xef\xbf\xbd"
              "b");
    EXPECT_EQ(sanitizeUtf8("\xc0\xaf", 100), "\xef\xbf\xbd\xef\xbf\xbd");
    EXPECT_EQ(sanitizeUtf8("x\xe2\x99", 100), "x\xef\xbf\xbd\xef\xbf\xbd");
    EXPECT_EQ(sanitizeUtf8("\xed\xa0\x80!", 100), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!");
    EXPECT_EQ(findInvalidUtf8(sanitizeUtf8("\x80\x81\xfe\xff\xc3", 100)), npos);
}

TEST(Utf8, SanitizeCapNeverSplitsACharacter) {
    const std::string hearts = "\xe2\x99\xa5\xe2\x99\xa5\xe2\x99\xa5";   // three bytes each
    EXPECT_EQ(sanitizeUtf8(hearts, 9), hearts);
    EXPECT_EQ(sanitizeUtf8(hearts, 8), "\xe2\x99\xa5\xe2\x99\xa5");
    EXPECT_EQ(sanitizeUtf8(hearts, 3), "\xe2\x99\xa5");
    EXPECT_EQ(sanitizeUtf8(hearts, 2), "");
    EXPECT_EQ(sanitizeUtf8("ab\xff", 4), "ab") << "the three-byte replacement does not fit in the last two bytes";
    EXPECT_EQ(sanitizeUtf8("abcdef", 0), "");

    // Every cap over a mixed string gives well-formed text no longer than the cap.
    const std::string mixed = "a\xc3\xa9\xff\xf0\x9f\x8e\x89\xe2\x99"
                              "b\xed\xa0\x80z";
    for (std::size_t cap = 0; cap <= 40; ++cap) {
        const std::string out = sanitizeUtf8(mixed, cap);
        EXPECT_LE(out.size(), cap);
        EXPECT_EQ(findInvalidUtf8(out), npos) << "cap " << cap;
    }
}

}   // namespace
}   // namespace mto
