// SPDX-License-Identifier: Apache-2.0
// PahoCallQueue: calls into Paho run one at a time, in order, and client replacement never on a delivery thread.
#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

#include "uplink/paho_call_queue.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

struct Ran {
    std::mutex mutex;
    std::vector<std::pair<char, std::thread::id>> calls;
    void add(char c) {
        std::lock_guard lock(mutex);
        calls.emplace_back(c, std::this_thread::get_id());
    }
    std::size_t size() {
        std::lock_guard lock(mutex);
        return calls.size();
    }
};

TEST(PahoCallQueue, CallsPostedDuringADeliveryRunOnItsThreadOnTheWayOutInOrder) {
    PahoCallQueue queue;
    Ran ran;
    queue.enterDelivery();
    queue.post([&] { ran.add('a'); });
    queue.post([&] { ran.add('b'); });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(ran.size(), 0u) << "nothing runs while a delivery holds Paho's lock";
    queue.leaveDelivery();
    ASSERT_EQ(ran.size(), 2u);
    EXPECT_EQ(ran.calls[0].first, 'a');
    EXPECT_EQ(ran.calls[1].first, 'b');
    EXPECT_EQ(ran.calls[0].second, std::this_thread::get_id());
}

TEST(PahoCallQueue, AnOffDeliveryCallWaitsForTheQueueThreadAndHoldsBackTheCallsBehindIt) {
    PahoCallQueue queue;
    Ran ran;
    queue.enterDelivery();
    queue.post([&] { ran.add('a'); });
    queue.postOffDelivery([&] { ran.add('B'); });   // say, replacing the client
    queue.post([&] { ran.add('c'); });
    queue.leaveDelivery();
    ASSERT_TRUE(test::waitUntil([&] { return ran.size() == 3; }, std::chrono::seconds(5)));
    const auto delivery = std::this_thread::get_id();
    EXPECT_EQ(ran.calls[0].first, 'a');
    EXPECT_EQ(ran.calls[0].second, delivery);
    EXPECT_EQ(ran.calls[1].first, 'B');
    EXPECT_NE(ran.calls[1].second, delivery) << "the off-delivery call ran inside a delivery";
    EXPECT_EQ(ran.calls[2].first, 'c') << "a call posted after it overtook it";
}

TEST(PahoCallQueue, StopRunsWhatIsQueuedThenNothingMore) {
    Ran ran;
    {
        PahoCallQueue queue;
        for (char c = 'a'; c <= 'e'; ++c) queue.post([&ran, c] { ran.add(c); });
        queue.stop();
        EXPECT_EQ(ran.size(), 5u);
    }
    for (std::size_t i = 0; i < ran.calls.size(); ++i) EXPECT_EQ(ran.calls[i].first, static_cast<char>('a' + i));
}

} // namespace
} // namespace mto
