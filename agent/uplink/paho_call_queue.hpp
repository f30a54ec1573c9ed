// SPDX-License-Identifier: Apache-2.0
// Serialises every call into Paho, in order, without ever waiting on Paho's delivery thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace mto {

// Thread-safe. Paho holds a process-wide lock while it delivers an inbound message, and our
// delivery callback waits for a disk commit; a thread calling into Paho meanwhile waits for that
// lock and, under a steady stream of orders, may lose the race for it every time. So calls run
// either on this queue's own thread while no delivery is in progress, or on Paho's delivery thread
// itself at the end of a delivery (Paho allows calls from its callbacks). One call at a time, in
// the order they were posted, which keeps events in seq order on the wire. While deliveries keep
// coming, the delivery thread runs the calls; our own thread steps in only after a short quiet
// spell, so it seldom ends up waiting on Paho's lock while deliveries (which could run the calls) stall.
class PahoCallQueue {
public:
    PahoCallQueue();
    ~PahoCallQueue();
    PahoCallQueue(const PahoCallQueue&) = delete;
    PahoCallQueue& operator=(const PahoCallQueue&) = delete;

    void post(std::function<void()> call);
    // Like post(), but the call never runs on a delivery thread: it waits for the queue's own thread
    // (creating or destroying a client must not happen inside that client's callback).
    void postOffDelivery(std::function<void()> call);

    // Called by Paho's delivery thread around each inbound message.
    void enterDelivery();
    void leaveDelivery();

    // Runs what is queued (when no delivery is in progress) and ends the thread.
    void stop();

private:
    void run();

    std::mutex mutex_;
    std::condition_variable changed_;
    struct Call {
        std::function<void()> fn;
        bool offDelivery = false;
    };
    std::deque<Call> calls_;
    bool delivering_ = false;
    bool running_ = false;
    bool stopping_ = false;
    std::chrono::steady_clock::time_point lastDelivery_{};
    std::thread thread_;
};

} // namespace mto
