// SPDX-License-Identifier: Apache-2.0
// The MQTT side of the agent: Paho async client, outbox drain in seq order, status, reconnects.
#include "uplink.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <fstream>

#include "compile_queue.hpp"
#include "event_json.hpp"
#include "socket_tuning.hpp"
#include "status_report.hpp"

namespace mto {

namespace asio = boost::asio;

namespace {

// A Paho action listener that forwards to two functions (they run on Paho's thread).
class Listener final : public mqtt::iaction_listener {
public:
    using Fn = std::function<void(const mqtt::token&)>;
    Listener(Fn ok, Fn bad) : ok_(std::move(ok)), bad_(std::move(bad)) {}
    void on_success(const mqtt::token& t) override { ok_(t); }
    void on_failure(const mqtt::token& t) override { bad_(t); }

private:
    Fn ok_, bad_;
};

std::int64_t seqOf(const mqtt::token& t) {
    return static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(t.get_user_context()));
}

} // namespace

// Runs on Paho's threads: everything is posted to the loop except inbound messages, which wait
// for their commit so that the PUBACK Paho sends after we return follows the commit.
class Uplink::PahoCallbacks final : public mqtt::callback {
public:
    explicit PahoCallbacks(Uplink& up)
        : up_(up),
          connect_([this](const mqtt::token&) { asio::post(up_.io_, [this] { up_.onConnected(); }); },
                   [this](const mqtt::token& t) {
                       std::string why = "connect failed (code " + std::to_string(t.get_return_code()) + ")";
                       asio::post(up_.io_, [this, why] { up_.onConnectionLost(why); });
                   }),
          publish_([this](const mqtt::token& t) { asio::post(up_.io_, [this, s = seqOf(t)] { up_.onAcked(s); }); },
                   [this](const mqtt::token& t) {
                       asio::post(up_.io_, [this, s = seqOf(t)] { up_.onPublishFailed(s, up_.epoch_); });
                   }),
          quiet_([](const mqtt::token&) {},
                 [](const mqtt::token& t) { spdlog::warn("MQTT request failed (code {})", t.get_return_code()); }) {}

    void connection_lost(const std::string& cause) override {
        asio::post(up_.io_, [this, cause] { up_.onConnectionLost(cause.empty() ? "connection lost" : cause); });
    }

    void message_arrived(mqtt::const_message_ptr msg) override {
        up_.pahoCalls_.enterDelivery();
        up_.intake_.submitAndWait(msg->get_topic(), msg->get_payload_str());
        up_.pahoCalls_.leaveDelivery();
    }

    Listener& connectListener() { return connect_; }
    Listener& publishListener() { return publish_; }
    Listener& quietListener() { return quiet_; }

private:
    Uplink& up_;
    Listener connect_, publish_, quiet_;
};

Uplink::Uplink(asio::io_context& io, const Config& config, OrderStore& store, CommitQueue& commits, Intake& intake)
    : io_(io), config_(config), store_(store), commits_(commits), intake_(intake),
      reconnectTimer_(io), retryTimer_(io), persistTimer_(io), statusTimer_(io), stopTimer_(io) {
    // No client-side persistence: the outbox in SQLite is the durable queue.
    // Paho refuses publishes beyond its buffer (default 100) even while connected; the window bounds
    // what we hand it, so room for the window, status messages and Paho's own resends is enough.
    client_ = std::make_unique<mqtt::async_client>(config_.mqtt.uri, config_.mqtt.clientId,
                                                   2 * config_.mqtt.inflightWindow + 64, nullptr);
    callbacks_ = std::make_unique<PahoCallbacks>(*this);
    client_->set_callback(*callbacks_);

    connectOptions_.set_clean_session(false);   // the broker keeps orders for us while we are away
    connectOptions_.set_keep_alive_interval(config_.mqtt.keepAliveSeconds);
    connectOptions_.set_connect_timeout(10);
    connectOptions_.set_automatic_reconnect(false);   // reconnects are ours, with capped backoff
    // Room for the event window plus status messages.
    connectOptions_.set_max_inflight(config_.mqtt.inflightWindow + 8);
    if (!config_.mqtt.username.empty()) connectOptions_.set_user_name(config_.mqtt.username);
    if (!config_.mqtt.password.empty()) connectOptions_.set_password(config_.mqtt.password);
    if (config_.mqtt.uri.rfind("ssl://", 0) == 0) {
        mqtt::ssl_options ssl;
        if (!config_.mqtt.caFile.empty()) ssl.set_trust_store(config_.mqtt.caFile);
        if (!config_.mqtt.certFile.empty()) ssl.set_key_store(config_.mqtt.certFile);
        if (!config_.mqtt.keyFile.empty()) ssl.set_private_key(config_.mqtt.keyFile);
        ssl.set_enable_server_cert_auth(true);
        ssl.set_verify(true);
        connectOptions_.set_ssl(std::move(ssl));
    }
    connectOptions_.set_will(mqtt::will_options(statusTopic(), statusText("offline"), 1, true));
    ackedSeq_ = persistedAcked_ = store_.ackedSeq();
    nextSeq_ = ackedSeq_ + 1;
}

Uplink::~Uplink() {
    // Inbound messages still being delivered would wait for a loop that no longer runs.
    intake_.stop();
    pahoCalls_.stop();
    try {
        if (client_->is_connected()) client_->disconnect(0)->wait_for(std::chrono::seconds(2));
        client_->disable_callbacks();   // Paho refuses (throws) while a connect attempt is under way
    } catch (const std::exception& e) {
        spdlog::debug("MQTT client shutdown: {}", e.what());
    }
}

void Uplink::onPahoThread(std::function<void()> f) { pahoCalls_.post(std::move(f)); }

std::string Uplink::statusTopic() const { return topicPrefix(config_.factoryId) + "/status"; }

std::string Uplink::statusText(const std::string& state) {
    StatusInputs in;
    in.state = state;
    in.factory = config_.factoryId;
    in.nowMs = SystemClock().nowMs();
    if (state != "offline") {
        in.outbox = store_.outboxStats();
        in.diskFreeBytes = diskFreeBytes(config_.stateDir);
        in.degradedReason = commits_.problem();
        in.queuedWorkSeconds = store_.queuedWorkSeconds();
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
    if (stopping_ || connecting_ || connected_) return;
    connecting_ = true;
    onPahoThread([this] {
        try {
            client_->connect(connectOptions_, nullptr, callbacks_->connectListener());
        } catch (const mqtt::exception& e) {
            std::string why = std::string("cannot start connecting: ") + e.what();
            asio::post(io_, [this, why] { onConnectionLost(why); });
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

void Uplink::onConnected() {
    connecting_ = false;
    if (stopping_ || connected_) return;
    connected_ = true;
    attempts_ = 0;
    ++epoch_;
    ++generation_;
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
    inflight_.clear();
    nextSeq_ = ackedSeq_ + 1;
    poke();
}

void Uplink::onConnectionLost(const std::string& cause) {
    bool wasConnected = connected_;
    connected_ = false;
    ++epoch_;
    ++generation_;
    connecting_ = false;
    inflight_.clear();
    nextSeq_ = ackedSeq_ + 1;
    if (stopping_) return;
    if (wasConnected)
        spdlog::warn("uplink: lost connection to {}: {}; reconnecting", config_.mqtt.uri, cause);
    else if (attempts_ % 10 == 0)
        spdlog::warn("uplink: cannot connect to {}: {}; retrying", config_.mqtt.uri, cause);
    scheduleReconnect();
}

void Uplink::poke() {
    if (!connected_ || stopping_) return;
    const auto window = static_cast<std::size_t>(config_.mqtt.inflightWindow);
    // Refill when half the window is free: one read of the outbox serves many publishes.
    while (inflight_.size() * 2 <= window || inflight_.empty()) {
        auto batch = store_.eventsAfter(nextSeq_ - 1, window - inflight_.size());
        if (batch.empty()) return;
        std::vector<mqtt::const_message_ptr> messages;
        std::vector<std::int64_t> seqs;
        for (const auto& e : batch) {
            nextSeq_ = e.seq + 1;
            if (ackedAbove_.count(e.seq)) continue;
            if (e.milestone == "proof_ready") {
                // The picture goes out just before the event that names it, so HQ can show it at once.
                if (auto media = proofMessage(e)) {
                    messages.push_back(media);
                    seqs.push_back(0);   // not an event: its PUBACK moves no delivery mark
                }
            }
            messages.push_back(mqtt::make_message(e.topic, e.payload, 1, false));
            seqs.push_back(e.seq);
            inflight_.insert(e.seq);
        }
        const std::uint64_t generation = generation_.load();
        onPahoThread([this, generation, epoch = epoch_, messages = std::move(messages), seqs = std::move(seqs)] {
            for (std::size_t i = 0; i < messages.size(); ++i) {
                // After a failure (or a reconnect) nothing queued earlier may go out: a later seq on
                // the wire before the failed one would reach HQ out of order.
                bool sent = false;
                if (generation_.load() == generation) {
                    try {
                        client_->publish(messages[i], reinterpret_cast<void*>(static_cast<std::intptr_t>(seqs[i])),
                                         callbacks_->publishListener());
                        sent = true;
                    } catch (const mqtt::exception& ex) {
                        spdlog::debug("uplink: publish of seq {} failed: {}", seqs[i], ex.what());
                        std::uint64_t expected = generation;
                        generation_.compare_exchange_strong(expected, generation + 1);
                    }
                }
                if (!sent) asio::post(io_, [this, s = seqs[i], epoch] { onPublishFailed(s, epoch); });
            }
        });
    }
}

mqtt::const_message_ptr Uplink::proofMessage(const Event& e) {
    std::error_code ec;
    auto data = boost::json::parse(e.payload, ec);
    if (ec) return nullptr;
    const auto* sha = data.as_object().at("data").as_object().if_contains("media_sha256");
    if (!sha || !sha->is_string()) return nullptr;
    std::string hash(sha->get_string());
    std::ifstream in(CompileQueue::mediaPath(config_.stateDir, hash), std::ios::binary);
    if (!in) {
        spdlog::warn("uplink: proof {} of seq {} is missing on disk; the event goes out without it", hash, e.seq);
        return nullptr;
    }
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return mqtt::make_message(topicPrefix(config_.factoryId) + "/media/" + hash, bytes, 1, false);
}

void Uplink::onAcked(std::int64_t seq) {
    if (seq == 0) return;   // a media message
    inflight_.erase(seq);
    if (seq > ackedSeq_) {
        ackedAbove_.insert(seq);
        while (!ackedAbove_.empty() && *ackedAbove_.begin() == ackedSeq_ + 1) {
            ackedAbove_.erase(ackedAbove_.begin());
            ++ackedSeq_;
        }
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
    if (stopping_) {
        if (inflight_.empty()) finishStop();
        return;
    }
    poke();
}

void Uplink::onPublishFailed(std::int64_t seq, std::uint64_t epoch) {
    if (epoch != epoch_ || seq == 0) return;   // from before a reconnect (window reset already), or media
    inflight_.erase(seq);
    if (seq < nextSeq_ && seq > ackedSeq_ && !ackedAbove_.count(seq)) nextSeq_ = seq;
    spdlog::debug("uplink: publish of seq {} failed; it will be sent again", seq);
    if (!connected_ || retryScheduled_) return;
    // Still connected (Paho's own window was full, say): try again shortly rather than wait for a PUBACK.
    retryScheduled_ = true;
    retryTimer_.expires_after(std::chrono::milliseconds(20));
    retryTimer_.async_wait([this](const boost::system::error_code& ec) {
        retryScheduled_ = false;
        if (!ec) poke();
    });
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
    auto msg = mqtt::make_message(statusTopic(), statusText("online"), 1, true);
    onPahoThread([this, msg] {
        try {
            client_->publish(msg, nullptr, callbacks_->quietListener());
        } catch (const mqtt::exception& e) {
            spdlog::debug("uplink: status publish failed: {}", e.what());
        }
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
    onPahoThread([this, offline] {
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
