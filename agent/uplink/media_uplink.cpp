// SPDX-License-Identifier: Apache-2.0
#include "uplink/media_uplink.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <atomic>
#include <filesystem>
#include <optional>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include "media/media_parts.hpp"

#include "store/event_json.hpp"
#include "uplink/paho_support.hpp"
#include "uplink/socket_tuning.hpp"
#include "util/clock.hpp"

namespace mto {

namespace asio = boost::asio;

namespace {

// A request's user context: the connection number in the high bits, the send number (one per media handed to
// Paho, see MediaUplink::sends_) in the low 40.
constexpr int kIdBits = 40;
constexpr std::uint64_t kIdMask = (std::uint64_t{1} << kIdBits) - 1;

void* mediaTagOf(std::uint64_t conn, std::uint64_t id) {
    return reinterpret_cast<void*>(static_cast<std::uintptr_t>((conn << kIdBits) | (static_cast<std::uint64_t>(id) & kIdMask)));
}
std::uint64_t connOf(const mqtt::token& t) {
    return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(t.get_user_context())) >> kIdBits;
}
std::uint64_t sendOf(const mqtt::token& t) {
    return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(t.get_user_context())) & kIdMask;
}
std::uint64_t connBits(std::uint64_t conn) { return conn & ((std::uint64_t{1} << (64 - kIdBits)) - 1); }

// The file cut into its parts (media/media_parts.hpp), each read straight into the buffer its message then takes
// over: one copy from the page cache, none of the whole image; nullopt when it cannot be opened (the media is
// missing on disk) or read.
std::optional<std::vector<std::string>> readParts(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    struct stat st {};
    std::optional<std::vector<std::string>> out;
    if (::fstat(fd, &st) == 0) {
        const auto size = static_cast<std::size_t>(st.st_size);
        std::vector<std::string> parts(mediaPartCount(size));
        bool whole = true;
        for (std::size_t i = 0; i < parts.size() && whole; ++i) {
            auto& part = parts[i];
            part.resize(std::min(kMediaPartBytes, size - i * kMediaPartBytes));
            std::size_t got = 0;
            while (got < part.size()) {
                const ssize_t n = ::read(fd, part.data() + got, part.size() - got);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                got += static_cast<std::size_t>(n);
            }
            whole = got == part.size();
        }
        if (whole) out = std::move(parts);
    }
    ::close(fd);
    return out;
}

} // namespace

class MediaUplink::Callbacks final : public mqtt::callback {
public:
    explicit Callbacks(MediaUplink& up)
        : up_(up),
          connect_([this](const mqtt::token& t) { asio::post(up_.io_, [this, c = connOf(t)] { up_.onConnected(c); }); },
                   [this](const mqtt::token& t) {
                       std::string why = "connect failed (code " + std::to_string(t.get_return_code()) + ")";
                       asio::post(up_.io_, [this, c = connOf(t), why] { up_.onConnectFailed(c, why); });
                   }),
          publish_([this](const mqtt::token& t) {
                       asio::post(up_.io_, [this, c = connOf(t), send = sendOf(t)] { up_.onAcked(c, send); });
                   },
                   [this](const mqtt::token& t) {
                       std::string why = "publish failed (code " + std::to_string(t.get_return_code()) + ")";
                       asio::post(up_.io_, [this, c = connOf(t), send = sendOf(t), why] { up_.onNotSent(c, send, why); });
                   }) {}

    void connection_lost(const std::string& cause) override {
        asio::post(up_.io_, [this, cause, c = conn.load()] { up_.onConnectionLost(c, cause.empty() ? "connection lost" : cause); });
    }
    // Nothing is subscribed on this connection.
    void message_arrived(mqtt::const_message_ptr) override {}

    PahoListener& connectListener() { return connect_; }
    PahoListener& publishListener() { return publish_; }
    std::atomic<std::uint64_t> conn{0};   // the connection of the client these callbacks are set on

private:
    MediaUplink& up_;
    PahoListener connect_, publish_;
};

MediaUplink::MediaUplink(asio::io_context& io, const Config& config, OrderStore& store, CommitQueue& commits,
                         MediaStore& media)
    : io_(io), config_(config), store_(store), commits_(commits), media_(media), reconnectTimer_(io), statesTimer_(io), rateTimer_(io) {
    callbacks_ = std::make_unique<Callbacks>(*this);
    connectOptions_ = brokerConnectOptions(config_);
    connectOptions_.set_clean_session(true);
    // Parts of what the window lets out: kMaxInflightBytes in whole parts, plus a part-filling tail per media.
    connectOptions_.set_max_inflight(static_cast<int>(kMaxInflightBytes / kMediaPartBytes + kMaxInflight) + 4);
}

MediaUplink::~MediaUplink() {
    stopping_ = true;
    pahoCalls_.stop();
    try {
        if (client_ && client_->is_connected()) client_->disconnect(0)->wait_for(std::chrono::seconds(2));
    } catch (const std::exception& e) {
        spdlog::debug("media uplink: client shutdown: {}", e.what());
    }
    client_.reset();
    callbacks_.reset();
}

void MediaUplink::start() { connect(); }

void MediaUplink::connect() {
    if (stopping_ || connecting_ || connected_ || pahoUp_) return;
    connecting_ = true;
    const std::uint64_t conn = ++conn_;
    pahoCalls_.postOffDelivery([this, conn] {
        try {
            client_.reset();   // fails the old client's requests into our listeners, with stale tags
            mqtt::create_options createOptions(MQTTVERSION_DEFAULT);
            createOptions.set_send_while_disconnected(false);
            // One media always goes, whatever its size: its parts may exceed the in-flight count and wait in Paho.
            createOptions.set_max_buffered_messages(1 << 16);
            client_ = std::make_unique<mqtt::async_client>(config_.mqtt.uri, clientId(), createOptions, nullptr);
            callbacks_->conn = conn;
            client_->set_callback(*callbacks_);
            client_->connect(connectOptions_, mediaTagOf(conn, 0), callbacks_->connectListener());
        } catch (const mqtt::exception& e) {
            std::string why = std::string("cannot start connecting: ") + e.what();
            asio::post(io_, [this, conn, why] { onConnectFailed(connBits(conn), why); });
        }
    });
}

void MediaUplink::scheduleReconnect() {
    if (stopping_) return;
    using namespace std::chrono;
    auto base = config_.mqtt.reconnectMin * (1LL << std::min(attempts_, 16));
    auto capped = std::min<milliseconds>(duration_cast<milliseconds>(base), config_.mqtt.reconnectMax);
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    ++attempts_;
    reconnectTimer_.expires_after(milliseconds(static_cast<long>(static_cast<double>(capped.count()) * jitter(rng_))));
    reconnectTimer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) connect();
    });
}

void MediaUplink::onConnected(std::uint64_t conn) {
    if (!connecting_ || conn != connBits(conn_)) return;
    connecting_ = false;
    pahoUp_ = true;
    if (stopping_) return;
    connected_ = true;
    attempts_ = 0;
    const int tuned = enableNoDelayTowards(config_.mqtt.uri);
    spdlog::info("media uplink: connected to {} as {} ({} socket(s) set to TCP_NODELAY)", config_.mqtt.uri, clientId(),
                 tuned);
    inflight_.clear();
    sendIds_.clear();
    inflightBytes_ = 0;
    next_ = 0;   // everything not acknowledged goes again on this connection
    poke();
}

void MediaUplink::onConnectFailed(std::uint64_t conn, const std::string& cause) {
    if (!connecting_ || conn != connBits(conn_)) return;
    connecting_ = false;
    if (stopping_) return;
    if (attempts_ % 10 == 0) spdlog::warn("media uplink: cannot connect to {}: {}; retrying", config_.mqtt.uri, cause);
    scheduleReconnect();
}

void MediaUplink::onConnectionLost(std::uint64_t conn, const std::string& cause) {
    if (connBits(conn) != connBits(conn_)) return;   // an older client, replaced already
    pahoUp_ = false;
    if (connected_) spdlog::warn("media uplink: lost connection to {}: {}; reconnecting", config_.mqtt.uri, cause);
    connected_ = false;
    inflight_.clear();
    sendIds_.clear();
    inflightBytes_ = 0;
    if (!connecting_) scheduleReconnect();
}

void MediaUplink::poke() {
    // While over the rate nothing may go before the rate timer fires (and pokes): no read of the table per commit.
    if (!connected_ || stopping_ || rateArmed_) return;
    // Behind a backlog of events the media take a smaller share of the broker, so both lanes end together.
    const std::int64_t budget = eventsWaiting_ && eventsWaiting_() ? kMaxInflightBytesBehindEvents : kMaxInflightBytes;
    if (inflight_.size() >= kMaxInflight || (!inflight_.empty() && inflightBytes_ >= budget)) return;
    std::vector<MediaRecord> batch;
    try {
        batch = media_.toSend(next_, kMaxInflight);
    } catch (const std::exception& ex) {
        spdlog::error("media uplink: cannot read the media table: {}", ex.what());
        return;
    }
    for (auto& m : batch) {
        if (inflight_.size() >= kMaxInflight) break;
        if (inflight_.count(m.id)) {
            next_ = std::max(next_, m.id);
            continue;
        }
        if (!inflight_.empty() && inflightBytes_ + m.bytes > budget) break;
        if (!paid(m.bytes)) break;
        next_ = std::max(next_, m.id);
        const std::uint64_t send = ++lastSend_ & kIdMask;
        inflight_.emplace(m.id, Inflight{m.bytes, send, 0, 0});
        sendIds_[send] = m.id;
        inflightBytes_ += m.bytes;
        recordState(m.id, "sent");
        auto path = media_.filePath(m);
        pahoCalls_.post([this, conn = conn_, send, m = std::move(m), path = std::move(path)] {
            if (callbacks_->conn != conn || !client_) return;   // that connection is gone; the next one sends it
            auto bytes = readParts(path);
            if (!bytes) {
                asio::post(io_, [this, m] { onMissing(m); });
                return;
            }
            const std::size_t parts = bytes->size();
            // Posted before the first publish, so the loop knows the count before any PUBACK of its parts.
            asio::post(io_, [this, conn, send, parts] { onParts(connBits(conn), send, parts); });
            const std::string prefix = topicPrefix(config_.factoryId);
            try {
                for (std::size_t i = 0; i < parts; ++i)
                    client_->publish(mqtt::make_message(mediaPartTopic(prefix, m.sha256, i, parts), std::move((*bytes)[i]), 1, false),
                                     mediaTagOf(conn, send), callbacks_->publishListener());
            } catch (const mqtt::exception& ex) {
                std::string why = std::string("publish refused: ") + ex.what();
                asio::post(io_, [this, conn, send, why] { onNotSent(connBits(conn), send, why); });
            }
        });
    }
}

bool MediaUplink::paid(std::int64_t bytes) {
    const std::int64_t rate = config_.mqtt.mediaRateBytesPerSecond;
    if (rate <= 0) return true;
    const auto now = std::chrono::steady_clock::now();
    paidUntil_ = std::max(paidUntil_, now);
    if (paidUntil_ - now > kBurst) {
        if (!rateArmed_) {
            rateArmed_ = true;
            rateTimer_.expires_at(paidUntil_ - kBurst);
            rateTimer_.async_wait([this](const boost::system::error_code& ec) {
                rateArmed_ = false;
                if (!ec) poke();
            });
        }
        return false;
    }
    paidUntil_ += std::chrono::microseconds(bytes * 1'000'000 / rate);
    return true;
}

void MediaUplink::forget(std::int64_t id) {
    auto it = inflight_.find(id);
    if (it == inflight_.end()) return;
    inflightBytes_ -= it->second.bytes;
    sendIds_.erase(it->second.send);
    inflight_.erase(it);
}

MediaUplink::Inflight* MediaUplink::findSend(std::uint64_t conn, std::uint64_t send, std::int64_t& id) {
    if (conn != connBits(conn_)) return nullptr;   // that connection's media went again on this one
    auto s = sendIds_.find(send);
    if (s == sendIds_.end()) return nullptr;       // a send given up already (a part failed): the media goes again
    id = s->second;
    auto it = inflight_.find(id);
    return it == inflight_.end() ? nullptr : &it->second;
}

void MediaUplink::onParts(std::uint64_t conn, std::uint64_t send, std::size_t parts) {
    std::int64_t id = 0;
    if (auto* f = findSend(conn, send, id)) f->parts = parts;
}

void MediaUplink::onAcked(std::uint64_t conn, std::uint64_t send) {
    std::int64_t id = 0;
    auto* f = findSend(conn, send, id);
    if (!f) return;
    ++f->acked;
    if (f->parts == 0 || f->acked < f->parts) return;
    forget(id);
    recordState(id, "acked");
    poke();
}

void MediaUplink::onNotSent(std::uint64_t conn, std::uint64_t send, const std::string& why) {
    std::int64_t id = 0;
    if (!connected_ || !findSend(conn, send, id)) return;   // after a reconnect it goes again anyway
    spdlog::debug("media uplink: media {}: {}; sent again", id, why);
    forget(id);
    next_ = std::min(next_, id - 1);
}

void MediaUplink::onMissing(const MediaRecord& m) {
    forget(m.id);
    spdlog::warn("media uplink: media {} ({}) is missing on disk; HQ is told it will not come", m.sha256, m.kind);
    commits_.submit(
        [this, m] {
            ShedMedia shed{m.id, m.sha256, m.contentType, m.bytes, m.orderId, m.itemId, true};
            media_.markShed({shed}, SystemClock().nowMs());
            store_.recordMediaShed(m.orderId, m.itemId,
                                   boost::json::object{{"media_sha256s", boost::json::array{boost::json::string(m.sha256)}},
                                                       {"reason", "missing_on_disk"}});
        },
        {});
    poke();
}

void MediaUplink::recordState(std::int64_t id, const char* state) {
    states_.emplace_back(id, state);
    if (statesArmed_) return;
    statesArmed_ = true;
    statesTimer_.expires_after(std::chrono::milliseconds(250));
    statesTimer_.async_wait([this](const boost::system::error_code& ec) {
        statesArmed_ = false;
        if (!ec) flushStates({});
    });
}

void MediaUplink::flushStates(std::function<void()> after) {
    if (states_.empty()) {
        if (after) after();
        return;
    }
    commits_.submit(
        [this, states = std::move(states_)] {
            for (const auto& [id, state] : states) media_.setState(id, state);
        },
        [after = std::move(after)](bool) {
            if (after) after();
        });
    states_.clear();
}

void MediaUplink::stop(std::function<void()> done) {
    if (stopping_) return;
    stopping_ = true;
    reconnectTimer_.cancel();
    statesTimer_.cancel();
    rateTimer_.cancel();
    statesArmed_ = false;
    flushStates([this, done = std::move(done)]() mutable {
        const bool up = pahoUp_;
        connected_ = false;
        if (!up) {
            if (done) done();
            return;
        }
        pahoCalls_.postOffDelivery([this, done = std::move(done)]() mutable {
            try {
                if (client_) client_->disconnect(500)->wait_for(std::chrono::seconds(1));
            } catch (const std::exception& e) {
                spdlog::debug("media uplink: disconnect: {}", e.what());
            }
            asio::post(io_, [done = std::move(done)] {
                if (done) done();
            });
        });
    });
}

} // namespace mto
