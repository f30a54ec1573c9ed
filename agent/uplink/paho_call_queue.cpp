// SPDX-License-Identifier: Apache-2.0
// Serialises every call into Paho, in order, without ever waiting on Paho's delivery thread.
#include "uplink/paho_call_queue.hpp"

namespace mto {

PahoCallQueue::PahoCallQueue() : thread_([this] { run(); }) {}

PahoCallQueue::~PahoCallQueue() { stop(); }

void PahoCallQueue::post(std::function<void()> call) {
    std::lock_guard lock(mutex_);
    calls_.push_back({std::move(call), false});
    // During a delivery the delivery thread runs it on its way out; waking ours would only cost a switch.
    if (!delivering_) changed_.notify_all();
}

void PahoCallQueue::postOffDelivery(std::function<void()> call) {
    std::lock_guard lock(mutex_);
    calls_.push_back({std::move(call), true});
    if (!delivering_) changed_.notify_all();
}

void PahoCallQueue::enterDelivery() {
    std::lock_guard lock(mutex_);
    delivering_ = true;
}

void PahoCallQueue::leaveDelivery() {
    std::unique_lock lock(mutex_);
    // If our own thread is inside a call, it is waiting for the lock this thread holds: leave the
    // rest to it (running them here would overtake it and break the order).
    // A call that must not run here stops the run: the ones behind it wait, so the order holds.
    while (!running_ && !calls_.empty() && !calls_.front().offDelivery) {
        running_ = true;
        auto call = std::move(calls_.front().fn);
        calls_.pop_front();
        lock.unlock();
        call();
        lock.lock();
        running_ = false;
    }
    delivering_ = false;
    lastDelivery_ = std::chrono::steady_clock::now();
    // Our own thread has something to do only if calls are left (or it is told to stop); with nothing
    // queued, waking it would cost two context switches per inbound message for nothing.
    if (!calls_.empty() || stopping_) changed_.notify_all();
}

void PahoCallQueue::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
        changed_.notify_all();
    }
    thread_.join();
}

void PahoCallQueue::run() {
    constexpr auto kQuiet = std::chrono::milliseconds(2);
    std::unique_lock lock(mutex_);
    for (;;) {
        changed_.wait(lock, [this] {
            return (stopping_ && calls_.empty()) || (!calls_.empty() && !delivering_ && !running_);
        });
        if (calls_.empty()) return;   // stopping, nothing left
        auto quietUntil = lastDelivery_ + kQuiet;
        if (!stopping_ && !calls_.front().offDelivery && std::chrono::steady_clock::now() < quietUntil) {
            // Deliveries are flowing: the next one will likely run these calls on its way out.
            changed_.wait_until(lock, quietUntil);
            continue;
        }
        running_ = true;
        auto call = std::move(calls_.front().fn);
        calls_.pop_front();
        lock.unlock();
        call();
        lock.lock();
        running_ = false;
        changed_.notify_all();
    }
}

} // namespace mto
