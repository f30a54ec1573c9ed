// SPDX-License-Identifier: Apache-2.0
// Media parts: the topics an image goes out on, and HQ's reassembly of them (repeats, any order, bad topics).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "media/media_parts.hpp"

namespace mto {
namespace {

TEST(MediaParts, AnImageTakesOneMessagePerStartedPartAndAtLeastOne) {
    EXPECT_EQ(mediaPartCount(0), 1u);
    EXPECT_EQ(mediaPartCount(1), 1u);
    EXPECT_EQ(mediaPartCount(kMediaPartBytes), 1u);
    EXPECT_EQ(mediaPartCount(kMediaPartBytes + 1), 2u);
    EXPECT_EQ(mediaPartCount(1 << 20), (1u << 20) / kMediaPartBytes);
}

TEST(MediaParts, AnImageInOnePartKeepsTheWholeImageTopicAndPartsNameTheirPlace) {
    EXPECT_EQ(mediaPartTopic("mto/v1/f1", "ab12", 0, 1), "mto/v1/f1/media/ab12");
    EXPECT_EQ(mediaPartTopic("mto/v1/f1", "ab12", 3, 16), "mto/v1/f1/media/ab12/3/16");
}

TEST(MediaParts, PartsInAnyOrderAndRepeatedMakeTheImageOnceTheLastArrives) {
    MediaReassembly r;
    EXPECT_FALSE(r.add("ab12/2/3", "CC"));
    EXPECT_FALSE(r.add("ab12/0/3", "AA"));
    EXPECT_FALSE(r.add("ab12/0/3", "AA"));   // sent again after a reconnect
    EXPECT_EQ(r.pending(), 1u);
    auto image = r.add("ab12/1/3", "BB");
    ASSERT_TRUE(image);
    EXPECT_EQ(image->sha256, "ab12");
    EXPECT_EQ(image->bytes, "AABBCC");
    EXPECT_EQ(r.pending(), 0u);
}

TEST(MediaParts, AWholeImageIsCompleteAtOnce) {
    MediaReassembly r;
    auto image = r.add("ab12", "JPEG");
    ASSERT_TRUE(image);
    EXPECT_EQ(image->sha256, "ab12");
    EXPECT_EQ(image->bytes, "JPEG");
}

TEST(MediaParts, TopicsThatMakeNoSenseAreRefusedWithTheReason) {
    MediaReassembly r;
    auto reason = [&](const std::string& tail) {
        try {
            r.add(tail, "x");
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    EXPECT_NE(reason("ab12/1").find("count of parts"), std::string::npos);
    EXPECT_NE(reason("ab12/x/3").find("part is not a number"), std::string::npos);
    EXPECT_NE(reason("ab12/3/3").find("part 3 of 3"), std::string::npos);
    EXPECT_NE(reason("ab12/0/1").find("part 0 of 1"), std::string::npos);
    EXPECT_NE(reason("/0/2").find("no sha256"), std::string::npos);
    EXPECT_FALSE(r.add("cd34/0/2", "A"));
    EXPECT_NE(reason("cd34/1/3").find("announced in 3 parts, earlier in 2"), std::string::npos);
    EXPECT_EQ(r.pending(), 0u) << "an image whose parts disagree is dropped, not left half-assembled";
}

} // namespace
} // namespace mto
