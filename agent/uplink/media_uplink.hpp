// SPDX-License-Identifier: Apache-2.0
// The media lane: proofs and QC snapshots go to HQ on `media/<sha256>` over a broker connection of their
// own, so a milestone never waits behind a megabyte of picture on the events connection's socket.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mqtt/async_client.h>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "media/media_store.hpp"
#include "mto/config.hpp"
#include "store/commit_queue.hpp"
#include "store/order_store.hpp"
#include "uplink/paho_call_queue.hpp"

namespace mto {

// Thread-bound to the io_context; Paho's threads only post reports to the loop.
//
// Invariants:
// - One connection at a time, client id `<mqtt.client_id>-media`, clean session: what the broker had not
//   acknowledged is simply sent again (the media table says what is still to send). No will: the events
//   connection's status speaks for the agent.
// - In flight: at most kMaxInflight media and kMaxInflightBytes bytes (kMaxInflightBytesBehindEvents while events
//   wait behind the events lane's window), one media always, whatever its size.
//   `inflight_` holds the ids handed to Paho on the live connection and not yet acknowledged; `next_` is
//   the highest id handed to it, the cursor of the next read of the table. A refused or failed media moves
//   the cursor back below it, so it is read (and sent) again.
// - A media larger than kMediaPartBytes goes out in parts (see media/media_parts.hpp). Its entry in
//   `inflight_` counts the parts handed to Paho (`parts`, known once the file is read) against their PUBACKs;
//   the media is acknowledged when every part is, and a failed part sends the whole media again. Each hand-over
//   has a send number of its own (in the requests' tags, `sendIds_` maps it back): reports of a send given up
//   change nothing, so a late PUBACK of a failed attempt never counts for the next one.
// - Every connection gets a fresh Paho client; reports of an older connection (its number in the token's
//   context) change nothing: what they were about is sent again on the live one.
// - States are written in batches (sent, acked), never one commit per media: a state lost in a crash
//   only means the media goes again (HQ takes media by hash, so twice is harmless).
// - Files are read on the Paho call sequence, never on the loop.
class MediaUplink {
public:
    static constexpr std::size_t kMaxInflight = 16;
    static constexpr std::int64_t kMaxInflightBytes = 1 << 20;
    // While the events lane works through a backlog (see setEventsWaiting): media still flow, at a share that lets the
    // two lanes end about together (docs/media-lane.md).
    static constexpr std::int64_t kMaxInflightBytesBehindEvents = 512 << 10;
    static constexpr std::chrono::milliseconds kBurst{250};

    MediaUplink(boost::asio::io_context& io, const Config& config, OrderStore& store, CommitQueue& commits,
                MediaStore& media);
    ~MediaUplink();
    MediaUplink(const MediaUplink&) = delete;
    MediaUplink& operator=(const MediaUplink&) = delete;

    void start();
    // New media were committed (or a state changed): send what the window allows.
    void poke();
    // Writes the pending states and closes the connection; `done` runs after.
    void stop(std::function<void()> done);

    // While `waiting` says events wait behind the events lane's window, at most kMaxInflightBytesBehindEvents of
    // media are in flight; poke() when it stops saying so, and the whole window fills.
    void setEventsWaiting(std::function<bool()> waiting) { eventsWaiting_ = std::move(waiting); }

    bool connected() const { return connected_; }
    std::size_t inflight() const { return inflight_.size(); }
    std::string clientId() const { return config_.mqtt.clientId + "-media"; }

private:
    class Callbacks;

    void connect();
    void scheduleReconnect();
    void onConnected(std::uint64_t conn);
    void onConnectFailed(std::uint64_t conn, const std::string& cause);
    void onConnectionLost(std::uint64_t conn, const std::string& cause);
    struct Inflight {
        std::int64_t bytes = 0;
        std::uint64_t send = 0;   // its number in the requests' tags
        std::size_t parts = 0;    // 0 until the file is read
        std::size_t acked = 0;
    };
    // The media a report is about, if it still counts: a live connection's send not given up.
    Inflight* findSend(std::uint64_t conn, std::uint64_t send, std::int64_t& id);
    // The file of a send was read on the Paho call sequence: `parts` messages go out for it.
    void onParts(std::uint64_t conn, std::uint64_t send, std::size_t parts);
    void onAcked(std::uint64_t conn, std::uint64_t send);
    // Paho refused or failed it: sent again later on this connection (or after the next connect).
    void onNotSent(std::uint64_t conn, std::uint64_t send, const std::string& why);
    void onMissing(const MediaRecord& m);
    void forget(std::int64_t id);
    // Within the media rate? Then the bytes are counted as sent; else a poke is timed for when they may go.
    bool paid(std::int64_t bytes);
    void recordState(std::int64_t id, const char* state);
    void flushStates(std::function<void()> after);

    boost::asio::io_context& io_;
    const Config& config_;
    OrderStore& store_;
    CommitQueue& commits_;
    MediaStore& media_;
    PahoCallQueue pahoCalls_;
    std::unique_ptr<Callbacks> callbacks_;          // before the client: its destruction reports into them
    std::unique_ptr<mqtt::async_client> client_;    // touched on the Paho call sequence only
    mqtt::connect_options connectOptions_;

    bool connected_ = false;
    bool connecting_ = false;
    bool pahoUp_ = false;
    bool stopping_ = false;
    int attempts_ = 0;
    std::uint64_t conn_ = 0;
    std::int64_t next_ = 0;
    std::map<std::int64_t, Inflight> inflight_;   // media id -> what is on the wire of it
    std::map<std::uint64_t, std::int64_t> sendIds_;   // send number -> media id, for the sends in inflight_
    std::uint64_t lastSend_ = 0;
    std::int64_t inflightBytes_ = 0;
    std::vector<std::pair<std::int64_t, std::string>> states_;
    bool statesArmed_ = false;
    boost::asio::steady_timer reconnectTimer_;
    boost::asio::steady_timer statesTimer_;
    boost::asio::steady_timer rateTimer_;
    bool rateArmed_ = false;
    std::chrono::steady_clock::time_point paidUntil_{};
    std::mt19937 rng_{std::random_device{}()};
    std::function<bool()> eventsWaiting_;
};

} // namespace mto
