// SPDX-License-Identifier: Apache-2.0
// The MQTT side of the agent: Paho async client, outbox drain in seq order, status, reconnects.
#include "uplink/uplink.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <fstream>
#include <mutex>
#include <vector>

#include "util/clock.hpp"

#include "compiler/compile_queue.hpp"
#include "store/event_json.hpp"
#include "uplink/paho_support.hpp"
#include "uplink/socket_tuning.hpp"
#include "uplink/status_report.hpp"

namespace mto {

namespace asio = boost::asio;

namespace {

// A Paho action listener that forwards to two functions (they run on Paho's thread).
using Listener = PahoListener;

// A request's user context carries the connection attempt or publish epoch it was made for and, for
// an event, its seq (0 otherwise): the report then says what it belongs to, whenever it runs.
constexpr int kSeqBits = 40;
constexpr std::uint64_t kSeqMask = (std::uint64_t{1} << kSeqBits) - 1;

void* publishTagOf(std::uint64_t number, std::int64_t seq) {
    auto bits = (number << kSeqBits) | (static_cast<std::uint64_t>(seq) & kSeqMask);
    return reinterpret_cast<void*>(static_cast<std::uintptr_t>(bits));
}
std::uint64_t numberOf(const mqtt::token& t) {
    return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(t.get_user_context())) >> kSeqBits;
}
std::int64_t seqOf(const mqtt::token& t) {
    return static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(t.get_user_context()) & kSeqMask);
}
// A connection or epoch number as it fits in a tag, for comparing with one read back from a token.

std::uint64_t tagNumber(std::uint64_t number) { return number & ((std::uint64_t{1} << (64 - kSeqBits)) - 1); }

} // namespace

// Runs on Paho's threads: reports are posted to the loop; inbound messages wait for their commit so
// that the PUBACK Paho sends after we return follows the commit, and cut the connection if there is none.
class Uplink::PahoCallbacks final : public mqtt::callback {
public:
    explicit PahoCallbacks(Uplink& up)
        : up_(up),
          connect_([this](const mqtt::token& t) { asio::post(up_.io_, [this, c = numberOf(t)] { up_.onConnected(c); }); },
                   [this](const mqtt::token& t) {
                       std::string why = "connect failed (code " + std::to_string(t.get_return_code()) + ")";
                       asio::post(up_.io_, [this, c = numberOf(t), why] { up_.onConnectFailed(c, why); });
                   }),
          publish_([this](const mqtt::token& t) { acked(seqOf(t)); },
                   [this](const mqtt::token& t) {
                       asio::post(up_.io_, [this, c = numberOf(t), s = seqOf(t)] { up_.onPublishFailed(c, s); });
                   }),
          quiet_([](const mqtt::token&) {},
                 [](const mqtt::token& t) { spdlog::debug("MQTT request failed (code {})", t.get_return_code()); }) {}

    void connection_lost(const std::string& cause) override {
        asio::post(up_.io_, [this, cause] { up_.onConnectionLost(cause.empty() ? "connection lost" : cause); });
    }

    void message_arrived(mqtt::const_message_ptr msg) override {
        up_.pahoCalls_.enterDelivery();
        if (!up_.intake_.submitAndWait(msg->get_topic(), msg->get_payload_str())) {
            // Not on disk: the broker must not get a PUBACK. Paho writes it as soon as we return, so the
            // socket goes now; the broker keeps the message in our session and delivers it again.
            int cut = shutdownTowards(up_.config_.mqtt.uri);
            spdlog::warn("inbound message on {} not stored; broker connection cut ({} socket(s)) so it is "
                         "not acknowledged and comes again after the reconnect",
                         msg->get_topic(), cut);
        }
        up_.pahoCalls_.leaveDelivery();
    }

    // PUBACKs of events go to the loop in batches: one post (one wakeup of the loop) carries every PUBACK
    // that arrives while the previous one waits to be handled. A PUBACK counts whichever epoch it came
    // in, so handling it sooner than a report posted before it changes nothing.
    void acked(std::int64_t seq) {
        {
            std::lock_guard lock(ackMutex_);
            acks_.push_back(seq);
            if (acksPosted_) return;
            acksPosted_ = true;
        }
        asio::post(up_.io_, [this] {
            {
                std::lock_guard lock(ackMutex_);
                handling_.swap(acks_);
                acksPosted_ = false;
            }
            up_.onAcked(handling_);
            handling_.clear();
        });
    }

    Listener& connectListener() { return connect_; }
    Listener& publishListener() { return publish_; }
    Listener& quietListener() { return quiet_; }

private:
    Uplink& up_;
    Listener connect_, publish_, quiet_;
    std::mutex ackMutex_;
    std::vector<std::int64_t> acks_;       // guarded by ackMutex_
    bool acksPosted_ = false;              // guarded by ackMutex_
    std::vector<std::int64_t> handling_;   // the loop's: the batch being handled
};

Uplink::Uplink(asio::io_context& io, const Config& config, OrderStore& store, JobQueue& queue, CommitQueue& commits,
               Intake& intake)
    : io_(io), config_(config), store_(store), queue_(queue), commits_(commits), intake_(intake),
      reconnectTimer_(io), retryTimer_(io), persistTimer_(io), statusTimer_(io), machinesTimer_(io), stopTimer_(io) {
    callbacks_ = std::make_unique<PahoCallbacks>(*this);
    connectOptions_ = brokerConnectOptions(config_);
    connectOptions_.set_clean_session(false);   // the broker keeps orders for us while we are away
    // Room for the event window (twice: a cut connection's window may still be reported) and status messages;
    // media go on a connection of their own (MediaUplink).
    connectOptions_.set_max_inflight(std::min(2 * config_.mqtt.inflightWindow + 8, 65535));
    connectOptions_.set_will(mqtt::will_options(statusTopic(), statusText("offline"), 1, true));
    ackedSeq_ = persistedAcked_ = store_.ackedSeq();
    nextSeq_ = ackedSeq_ + 1;
}

Uplink::~Uplink() {
    // From here on an inbound delivery is refused (and its connection cut) instead of waiting for a
    // loop that no longer runs. Paho's disable_callbacks() is not used: its stand-in callback would
    // acknowledge whatever arrives.
    intake_.stop();
    liveEpoch_ = 0;
    pahoCalls_.stop();
    try {
        if (client_ && client_->is_connected()) client_->disconnect(0)->wait_for(std::chrono::seconds(2));
    } catch (const std::exception& e) {
        spdlog::debug("MQTT client shutdown: {}", e.what());
    }
    // Destroying the client fails its pending requests into our listeners: they must still exist.
    client_.reset();
    callbacks_.reset();
}

void Uplink::onPahoThread(std::function<void()> f) { pahoCalls_.post(std::move(f)); }

void Uplink::newClient() {
    // A fresh client for every connection: Paho then carries nothing from the last one (queued or
    // half-written publishes it would send again on the new socket before the window restarts; a
    // resend of that kind was seen to reach mosquitto as a malformed packet after a cut mid-write).
    // The broker keeps the session (clean_session false), so inbound orders still wait for us there.
    // Destroying the old client fails its pending requests into our listeners, with stale tags.
    client_.reset();
    // No client-side persistence: the outbox in SQLite is the durable queue. No sending while
    // disconnected. Paho's queue cap also applies while connected, so it has room for the window, a
    // proof image per event and status messages; reaching it anyway pauses the window (see poke()).
    mqtt::create_options createOptions(MQTTVERSION_DEFAULT);
    createOptions.set_send_while_disconnected(false);
    createOptions.set_max_buffered_messages(2 * config_.mqtt.inflightWindow + 64);
    client_ = std::make_unique<mqtt::async_client>(config_.mqtt.uri, config_.mqtt.clientId, createOptions, nullptr);
    client_->set_callback(*callbacks_);
}

std::string Uplink::statusTopic() const { return topicPrefix(config_.factoryId) + "/status"; }

std::string Uplink::statusText(const std::string& state) {
    StatusInputs in;
    in.state = state;
    in.factory = config_.factoryId;
    in.nowMs = SystemClock().nowMs();
    if (state != "offline") {
        in.diskFreeBytes = diskFreeBytes(config_.stateDir);
        in.degradedReason = commits_.problem();
        try {
            readStoredStatus(in, store_, queue_);
            // Not in a will: it is published later, when these would be stale.
            if (state == "online" && machines_) in.machines = machines_();
            if (statusExtras_) statusExtras_(in);
            if (state == "online" && scanners_) in.scanners = scanners_();
        } catch (const std::exception& e) {
            // The status still goes out, saying what it could not read, rather than taking the loop down.
            spdlog::error("uplink: status figures cannot be read from the database: {}", e.what());
            if (in.degradedReason.empty()) in.degradedReason = "io_error";
        }
        if (!in.degradedReason.empty()) in.state = "degraded";
    }
    return statusPayload(in);
}

void Uplink::start() {
    spdlog::info("uplink: broker {} as client id {}, {} event(s) waiting, window {}", config_.mqtt.uri,
                 config_.mqtt.clientId, store_.lastSeq() - ackedSeq_, config_.mqtt.inflightWindow);
    connect();
    scheduleStatus();
}

void Uplink::connect() {
    // A new attempt only once Paho has given up the previous connection (it reported the loss):
    // connecting a client that still holds a live one would have Paho replace it behind our back.
    if (stopping_ || connecting_ || connected_ || pahoUp_) return;
    connecting_ = true;
    const std::uint64_t conn = ++conn_;
    // While storage refuses commits, the agent cuts this connection itself after every order it could
    // not store, and the broker then publishes the will: let it say why (degraded, with the reason).
    auto options = connectOptions_;
    const std::string willState = commits_.problem().empty() ? "offline" : "degraded";
    options.set_will(mqtt::will_options(statusTopic(), statusText(willState), 1, true));
    pahoCalls_.postOffDelivery([this, conn, options] {
        try {
            newClient();
            client_->connect(options, publishTagOf(conn, 0), callbacks_->connectListener());
        } catch (const mqtt::exception& e) {
            std::string why = std::string("cannot start connecting: ") + e.what();
            asio::post(io_, [this, conn, why] { onConnectFailed(tagNumber(conn), why); });
        }
    });
}

void Uplink::scheduleReconnect() {
    if (stopping_) return;
    using namespace std::chrono;
    auto base = config_.mqtt.reconnectMin * (1LL << std::min(attempts_, 16));
    auto capped = std::min<milliseconds>(duration_cast<milliseconds>(base), config_.mqtt.reconnectMax);
    // Jitter keeps a thousand factories from reconnecting in the same instant after an HQ outage.
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    auto delay = milliseconds(static_cast<long>(static_cast<double>(capped.count()) * jitter(rng_)));
    ++attempts_;
    reconnectTimer_.expires_after(delay);
    reconnectTimer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) connect();
    });
}

void Uplink::onConnected(std::uint64_t conn) {
    if (!connecting_ || conn != tagNumber(conn_)) return;   // a stale attempt
    connecting_ = false;
    pahoUp_ = true;
    if (stopping_) return;   // the stop has not waited for this attempt; the destructor closes it
    connected_ = true;
    // While storage refuses commits, inbound orders cut the connection again: keep backing off.
    if (commits_.problem().empty()) attempts_ = 0;
    int tuned = enableNoDelayTowards(config_.mqtt.uri);
    spdlog::info("uplink: connected to {} ({} socket(s) set to TCP_NODELAY)", config_.mqtt.uri, tuned);
    onPahoThread([this] {
        try {
            client_->subscribe(intake_.ordersTopic(), 1, nullptr, callbacks_->quietListener());
            client_->subscribe(intake_.commandsTopic(), 1, nullptr, callbacks_->quietListener());
        } catch (const mqtt::exception& e) {
            spdlog::warn("uplink: subscribe failed: {}", e.what());
        }
    });
    publishStatus();
    // Everything above the mark goes out again, in order, on this connection.
    inflight_.clear();
    nextSeq_ = ackedSeq_ + 1;
    atTail_ = false;
    openEpoch();
    poke();
}

void Uplink::onConnectFailed(std::uint64_t conn, const std::string& cause) {
    if (!connecting_ || conn != tagNumber(conn_)) return;
    connecting_ = false;
    if (stopping_) return;
    if (attempts_ % 10 == 0) spdlog::warn("uplink: cannot connect to {}: {}; retrying", config_.mqtt.uri, cause);
    scheduleReconnect();
}

void Uplink::onConnectionLost(const std::string& cause) {
    pahoUp_ = false;
    if (connected_) {
        spdlog::warn("uplink: lost connection to {}: {}; reconnecting", config_.mqtt.uri, cause);
        closeWindow();
    }
    if (stopping_) return finishStop();   // no PUBACK can come any more
    if (!connecting_) scheduleReconnect();
}

void Uplink::dropConnection(const std::string& cause) {
    if (!connected_) return;
    spdlog::warn("uplink: {}; closing the connection to {} and sending again from seq {} after the reconnect",
                 cause, config_.mqtt.uri, ackedSeq_ + 1);
    closeWindow();
    // Cut at the socket rather than through Paho: a disconnect request could wait behind a delivery
    // that holds Paho's lock. Paho notices the dead socket and reports the loss; the reconnect waits for that.
    shutdownTowards(config_.mqtt.uri);
}

void Uplink::closeWindow() {
    const bool wasBacklogged = backlogged();
    connected_ = false;
    if (wasBacklogged && backlogEnd_) asio::post(io_, backlogEnd_);
    liveEpoch_ = 0;
    inflight_.clear();
    paused_ = false;
    retryTimer_.cancel();
}

void Uplink::openEpoch() {
    ++epoch_;
    liveEpoch_ = epoch_;
}

void Uplink::onPublishRefused(std::uint64_t epoch, std::int64_t firstUnsent, const std::string& why) {
    if (epoch != epoch_ || !connected_) return;
    // Nothing from firstUnsent on reached Paho in this epoch (the gate held everything queued behind
    // the refusal), so sending again from there keeps seqs ascending on the wire.
    spdlog::debug("uplink: {}; sending again from seq {} shortly", why, firstUnsent);
    nextSeq_ = std::min(nextSeq_, firstUnsent);
    inflight_.erase(inflight_.lower_bound(firstUnsent), inflight_.end());
    atTail_ = false;
    openEpoch();
    // Paho's queue is full or the connection just went: give it a moment rather than spin.
    pauseThenPoke(std::chrono::milliseconds(50));
}

void Uplink::pauseThenPoke(std::chrono::milliseconds delay) {
    paused_ = true;
    retryTimer_.expires_after(delay);
    retryTimer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        paused_ = false;
        poke();
    });
}

void Uplink::poke() {
    if (!connected_ || stopping_ || paused_) return;
    const auto window = static_cast<std::size_t>(config_.mqtt.inflightWindow);
    while (inflight_.size() < window) {
        // Working through a backlog, refill only once half the window is free: one read of the outbox
        // then serves many publishes. At the outbox's tail, new events go out as soon as they are committed.
        if (inflight_.size() * 2 > window && !atTail_) return;
        const std::size_t want = window - inflight_.size();
        std::vector<Event> batch;
        try {
            batch = store_.eventsAfter(nextSeq_ - 1, want);
        } catch (const std::exception& ex) {
            // Nothing of the window changed yet; the same read is tried again in a second.
            spdlog::error("uplink: cannot read the outbox after seq {}: {}; trying again in 1 s", nextSeq_ - 1,
                          ex.what());
            pauseThenPoke(std::chrono::seconds(1));
            return;
        }
        noteTail(batch.size() < want);
        if (batch.empty()) return;
        std::vector<mqtt::const_message_ptr> messages;
        std::vector<std::int64_t> seqs;
        for (const auto& e : batch) {
            nextSeq_ = e.seq + 1;
            if (ackedAbove_.count(e.seq)) continue;
            messages.push_back(mqtt::make_message(e.topic, e.payload, 1, false));
            seqs.push_back(e.seq);
            inflight_.insert(e.seq);
        }
        onPahoThread([this, epoch = epoch_, messages = std::move(messages), seqs = std::move(seqs)] {
            for (std::size_t i = 0; i < messages.size(); ++i) {
                // The publish gate (see the invariants in uplink.hpp).
                if (liveEpoch_.load() != epoch || refusedEpoch_.load() == epoch) return;
                try {
                    client_->publish(messages[i], publishTagOf(epoch, seqs[i]), callbacks_->publishListener());
                } catch (const mqtt::exception& ex) {
                    refusedEpoch_ = epoch;
                    std::string why = "publish of seq " + std::to_string(seqs[i]) + " refused: " + ex.what();
                    asio::post(io_, [this, epoch, first = seqs[i], why] { onPublishRefused(epoch, first, why); });
                    return;
                }
            }
        });
    }
}

void Uplink::noteTail(bool atTail) {
    const bool ended = atTail && !atTail_;
    atTail_ = atTail;
    if (ended && backlogEnd_) asio::post(io_, backlogEnd_);
}

void Uplink::onAcked(const std::vector<std::int64_t>& seqs) {
    for (std::int64_t seq : seqs) noteAcked(seq);
    if (stopping_) {
        if (inflight_.empty()) finishStop();
        return;
    }
    poke();
}

void Uplink::noteAcked(std::int64_t seq) {
    inflight_.erase(seq);
    if (seq > ackedSeq_) {
        ackedAbove_.insert(seq);
        while (!ackedAbove_.empty() && *ackedAbove_.begin() == ackedSeq_ + 1) {
            ackedAbove_.erase(ackedAbove_.begin());
            ++ackedSeq_;
        }
        store_.noteDelivered(ackedSeq_);
        if (!persistScheduled_) {
            // The mark only saves re-sending after a restart, so it is stored in batches, not per PUBACK.
            persistScheduled_ = true;
            persistTimer_.expires_after(std::chrono::milliseconds(100));
            persistTimer_.async_wait([this](const boost::system::error_code& ec) {
                persistScheduled_ = false;
                if (!ec) persistAcked();
            });
        }
    }
}

void Uplink::onPublishFailed(std::uint64_t epoch, std::int64_t seq) {
    // A failure reported for an older epoch changes nothing: that window is gone. In the current one
    // later seqs may already be on the wire, so only a new connection can send this one again.
    if (epoch != tagNumber(epoch_) || !connected_) return;
    dropConnection("publish of seq " + std::to_string(seq) + " failed");
}

void Uplink::persistAcked() {
    if (ackedSeq_ <= persistedAcked_) return;
    std::int64_t mark = ackedSeq_;
    commits_.submit([this, mark] { store_.setAckedSeq(mark); },
                    [this, mark](bool ok) {
                        if (ok) persistedAcked_ = std::max(persistedAcked_, mark);
                    });
}

void Uplink::publishStatus() {
    if (!connected_) return;
    lastStatusAt_ = std::chrono::steady_clock::now();
    auto msg = mqtt::make_message(statusTopic(), statusText("online"), 1, true);
    onPahoThread([this, msg] {
        try {
            client_->publish(msg, nullptr, callbacks_->quietListener());
        } catch (const mqtt::exception& e) {
            spdlog::debug("uplink: status publish failed: {}", e.what());
        }
    });
}

void Uplink::machinesChanged() {
    if (stopping_ || machinesTimerArmed_) return;
    machinesTimerArmed_ = true;
    // Right away after a quiet spell, else once the gap since the last status has passed; changes that
    // come meanwhile ride along.
    machinesTimer_.expires_at(std::max(std::chrono::steady_clock::now(), lastStatusAt_ + kMachineStatusGap));
    machinesTimer_.async_wait([this](const boost::system::error_code& ec) {
        machinesTimerArmed_ = false;
        if (ec || stopping_) return;
        publishStatus();
    });
}

void Uplink::scheduleStatus() {
    statusTimer_.expires_after(config_.statusInterval);
    statusTimer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopping_) return;
        publishStatus();
        scheduleStatus();
    });
}

void Uplink::stop(std::chrono::milliseconds grace, std::function<void()> done) {
    if (stopping_) return;
    stopping_ = true;
    stopPhase_ = StopPhase::Draining;
    stopDone_ = std::move(done);
    reconnectTimer_.cancel();
    retryTimer_.cancel();
    statusTimer_.cancel();
    machinesTimer_.cancel();
    spdlog::info("uplink: stopping; {} event(s) in flight", inflight_.size());
    if (!connected_ || inflight_.empty()) return finishStop();
    stopTimer_.expires_after(grace);
    stopTimer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) finishStop();
    });
}

void Uplink::finishStop() {
    if (stopPhase_ != StopPhase::Draining) return;
    stopPhase_ = StopPhase::Closing;
    stopTimer_.cancel();
    persistTimer_.cancel();
    // Store the delivery mark first, so a restart re-sends as little as possible.
    std::int64_t mark = ackedSeq_;
    commits_.submit([this, mark] { store_.setAckedSeq(mark); }, [this](bool) { disconnectNow(); });
}

void Uplink::disconnectNow() {
    if (!connected_) return completeStop();
    auto offline = mqtt::make_message(statusTopic(), statusText("offline"), 1, true);
    // Off any delivery thread: waiting there for the PUBACK would hold up the very thread that reads it.
    pahoCalls_.postOffDelivery([this, offline] {
        try {
            // A clean disconnect does not trigger the will, so say offline ourselves, then let Paho
            // flush it (and anything still in flight) for up to a second. This thread may block; the loop does not.
            client_->publish(offline)->wait_for(std::chrono::seconds(1));
            client_->disconnect(1000)->wait_for(std::chrono::seconds(2));
        } catch (const std::exception& e) {
            spdlog::warn("uplink: clean disconnect failed: {}", e.what());
        }
        asio::post(io_, [this] { completeStop(); });
    });
}

void Uplink::completeStop() {
    if (stopPhase_ == StopPhase::Done) return;
    stopPhase_ = StopPhase::Done;
    stopTimer_.cancel();
    connected_ = false;
    spdlog::info("uplink: stopped; events acknowledged up to seq {}", ackedSeq_);
    if (stopDone_) stopDone_();
}

} // namespace mto
