// SPDX-License-Identifier: Apache-2.0
// The media table as the media uplink reads it: what is still to send, oldest first, across states.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "media/media_store.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

class MediaToSend : public ::testing::Test {
protected:
    MediaToSend() : db_(dir_.path() / "agent.db", Database::Mode::ReadWrite), media_(db_, dir_.path()) {}

    void SetUp() override {
        migrate(db_);
        // States interleaved by id, so a read that took one state after the other would come out of order.
        const std::vector<std::string> states = {"acked", "sent",  "queued", "shed",  "sent",   "queued",
                                                 "queued", "sent", "acked",  "queued", "sent", "shed"};
        for (std::size_t i = 0; i < states.size(); ++i) {
            MediaRecord m;
            m.sha256 = "sha-" + std::to_string(i);
            m.kind = "proof";
            m.contentType = "image/png";
            m.bytes = 100;
            media_.enqueue(m);
            const auto stored = media_.find(m.sha256);
            ASSERT_TRUE(stored);
            ids_.push_back(stored->id);
            if (states[i] == "shed")
                db_.prepare("UPDATE media SET state = 'shed' WHERE id = ?").bind(1, stored->id).run();
            else if (states[i] != "queued")
                media_.setState(stored->id, states[i]);
        }
    }

    // The positions (0-based, in insertion order) of what toSend returns.
    std::vector<std::size_t> positions(std::int64_t afterId, std::size_t limit) {
        std::vector<std::size_t> out;
        for (const auto& m : media_.toSend(afterId, limit)) {
            std::size_t p = 0;
            while (p < ids_.size() && ids_[p] != m.id) ++p;
            out.push_back(p);
        }
        return out;
    }

    test::TempDir dir_;
    Database db_;
    MediaStore media_;
    std::vector<std::int64_t> ids_;
};

TEST_F(MediaToSend, QueuedAndSentComeTogetherOldestFirstWithoutAckedOrShed) {
    EXPECT_EQ(positions(0, 100), (std::vector<std::size_t>{1, 2, 4, 5, 6, 7, 9, 10}));
}

TEST_F(MediaToSend, TheLimitCountsBothStatesTogether) {
    EXPECT_EQ(positions(0, 2), (std::vector<std::size_t>{1, 2}));
    EXPECT_EQ(positions(ids_[4], 3), (std::vector<std::size_t>{5, 6, 7}));
    EXPECT_EQ(positions(0, 5), (std::vector<std::size_t>{1, 2, 4, 5, 6}));
}

TEST_F(MediaToSend, OnlyMediaAfterTheGivenIdAreRead) {
    EXPECT_EQ(positions(ids_[6], 100), (std::vector<std::size_t>{7, 9, 10}));
    EXPECT_EQ(positions(ids_[9], 100), (std::vector<std::size_t>{10}));
    EXPECT_TRUE(positions(ids_[10], 100).empty());
}

} // namespace
} // namespace mto
