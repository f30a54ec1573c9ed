// SPDX-License-Identifier: Apache-2.0
// The station display's web server: read-only pages per station, live over server-sent events, on the agent's loop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "mto/config.hpp"
#include "station/station_feed.hpp"

namespace mto {

class StationEventClient;

// How much a page may hold up, and how often pages are refreshed.
struct StationServerLimits {
    std::size_t maxEventClients = 64;
    std::size_t clientQueueMessages = 16;
    std::size_t clientQueueBytes = 1 << 20;
    std::chrono::milliseconds writeTimeout{10000};
    std::chrono::milliseconds readTimeout{30000};
    std::chrono::milliseconds minPushInterval{300};
    std::chrono::milliseconds progressTick{1000};   // while a shown machine runs
    std::chrono::milliseconds keepAlive{15000};
    std::uintmax_t maxMediaBytes = 32u << 20;
};

// Thread-bound to the io_context: every handler, the feed's providers and changed() run on it.
//
// Invariants:
// - The server owns the event clients (clients_); a client leaves the list when its socket fails, its write
//   takes longer than limits_.writeTimeout, or its queue would pass limits_.clientQueue* (a slow
//   or stuck browser is dropped, it never holds the loop or memory). It reconnects by itself.
// - At most one push is armed (pushArmed_), and pushes are at least limits_.minPushInterval apart; lastSent_[i]
//   is the snapshot last pushed to station i's clients, so an unchanged station sends nothing.
// - Nothing runs when no page is open except the accept: the progress tick and keep-alive are armed
//   only while clients are connected.
// Destroy it after the loop stopped running (its pending handlers refer to it).
class StationServer {
public:
    using Request = boost::beast::http::request<boost::beast::http::string_body>;
    using Response = boost::beast::http::response<boost::beast::http::string_body>;

    using Limits = StationServerLimits;

    StationServer(boost::asio::io_context& io, StationDisplayConfig config, std::string factory,
                  std::filesystem::path mediaDir, StationFeed& feed, Limits limits = {});
    ~StationServer();

    // Listens on the configured address. When it cannot (the port is taken), it says so in the log and tries
    // again every 10 s: production never waits for the display.
    void start();
    void stop();
    // The bound port (0 before it listens).
    unsigned short port() const { return port_; }
    std::size_t eventClients() const { return clients_.size(); }

    // The answer to one request other than an event stream (404, 405, pages, JSON, media).
    Response answer(const Request& req) const;
    // The snapshot JSON of one station, as pushed to its pages (with the time it was made).
    std::string snapshotJson(const StationConfig& station) const;

private:
    friend class StationHttpSession;
    friend class StationEventClient;

    void listen();
    void accept();
    const StationConfig* station(const std::string& id, std::size_t* index = nullptr) const;
    // Takes over a connection whose request asked for a station's events.
    void addEventClient(boost::asio::ip::tcp::socket socket, std::size_t stationIndex);
    void removeEventClient(const StationEventClient* client);
    void schedulePush();
    void push();
    void armProgressTick();
    void armKeepAlive();

    boost::asio::io_context& io_;
    StationDisplayConfig config_;
    Limits limits_;
    std::string factory_;
    std::filesystem::path mediaDir_;
    StationFeed& feed_;
    boost::asio::ip::tcp::acceptor acceptor_;
    boost::asio::steady_timer retryTimer_;
    boost::asio::steady_timer pushTimer_;
    boost::asio::steady_timer progressTimer_;
    boost::asio::steady_timer keepAliveTimer_;
    unsigned short port_ = 0;
    bool stopped_ = false;
    bool pushArmed_ = false;
    bool progressArmed_ = false;
    bool keepAliveArmed_ = false;
    std::chrono::steady_clock::time_point lastPush_{};
    std::vector<std::string> lastSent_;   // per station, without its time
    std::list<std::shared_ptr<StationEventClient>> clients_;
};

} // namespace mto
