// SPDX-License-Identifier: Apache-2.0
// The MQTT side of the agent: Paho async client, outbox drain in seq order, status, reconnects.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <mqtt/async_client.h>
#include <random>
#include <set>

#include "commit_queue.hpp"
#include "intake.hpp"
#include "mto/config.hpp"
#include "order_store.hpp"
#include "paho_call_queue.hpp"

namespace mto {

// Thread-bound to the io_context. Paho's own threads only post to the loop, except inbound
// orders, which wait in Intake::submitAndWait so the PUBACK follows the commit.
// Paho holds its internal lock while an inbound message is delivered, and an inbound order waits
// for the loop; so the loop never calls Paho itself: every Paho call goes through a PahoCallQueue.
class Uplink {
public:
    Uplink(boost::asio::io_context& io, const Config& config, OrderStore& store, CommitQueue& commits,
           Intake& intake);
    ~Uplink();

    void start();
    // New events were committed: publish what the window allows.
    void poke();
    // Publishes the retained status now (after a health change, say).
    void publishStatus();
    // Waits for in-flight events (up to `grace`), stores the delivery mark, says offline, disconnects.
    void stop(std::chrono::milliseconds grace, std::function<void()> done);

    bool connected() const { return connected_; }
    std::int64_t ackedSeq() const { return ackedSeq_; }

private:
    class PahoCallbacks;

    // Queues a call into Paho (see PahoCallQueue).
    void onPahoThread(std::function<void()> f);
    void connect();
    void scheduleReconnect();
    void onConnected();
    void onConnectionLost(const std::string& cause);
    void onAcked(std::int64_t seq);
    mqtt::const_message_ptr proofMessage(const Event& e);
    void onPublishFailed(std::int64_t seq, std::uint64_t epoch);
    void persistAcked();
    void scheduleStatus();
    std::string statusTopic() const;
    std::string statusText(const std::string& state);
    void finishStop();
    void disconnectNow();
    void completeStop();

    boost::asio::io_context& io_;
    const Config& config_;
    OrderStore& store_;
    CommitQueue& commits_;
    Intake& intake_;
    PahoCallQueue pahoCalls_;
    std::unique_ptr<mqtt::async_client> client_;
    std::unique_ptr<PahoCallbacks> callbacks_;
    mqtt::connect_options connectOptions_;

    bool connected_ = false;
    bool connecting_ = false;
    bool stopping_ = false;
    int attempts_ = 0;
    std::int64_t ackedSeq_ = 0;          // every event up to here has its PUBACK
    std::int64_t persistedAcked_ = 0;
    std::int64_t nextSeq_ = 1;           // next event to publish
    std::set<std::int64_t> inflight_;
    std::uint64_t epoch_ = 0;                   // connection count: reports from an older one are stale
    std::atomic<std::uint64_t> generation_{0};  // bumped when a publish fails: later queued ones hold back
    std::set<std::int64_t> ackedAbove_;  // PUBACKs that arrived ahead of a missing one
    bool persistScheduled_ = false;
    bool retryScheduled_ = false;
    boost::asio::steady_timer reconnectTimer_;
    boost::asio::steady_timer retryTimer_;
    boost::asio::steady_timer persistTimer_;
    boost::asio::steady_timer statusTimer_;
    boost::asio::steady_timer stopTimer_;
    enum class StopPhase { Running, Draining, Closing, Done };
    StopPhase stopPhase_ = StopPhase::Running;
    std::function<void()> stopDone_;
    std::mt19937 rng_{std::random_device{}()};
};

} // namespace mto
