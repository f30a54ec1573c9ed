// SPDX-License-Identifier: Apache-2.0
// The station display's web server: read-only pages per station, live over server-sent events, on the agent's loop.
#include "station/station_server.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <deque>
#include <fstream>
#include <iterator>
#include <optional>
#include <spdlog/spdlog.h>

#include "station/station_page.hpp"
#include "station/station_route.hpp"
#include "station/station_snapshot.hpp"
#include "util/clock.hpp"

namespace mto {

namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr std::string_view kEventStreamHead =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream; charset=utf-8\r\n"
    "Cache-Control: no-store\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Connection: close\r\n"
    "\r\n"
    "retry: 3000\n\n";

// Inline style and script only, nothing from elsewhere; the page reads its own events and media.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

std::string nowRfc3339() { return formatRfc3339Ms(SystemClock().nowMs()); }

} // namespace

// One browser following a station's events. Thread-bound to the loop; owned by the server's list.
class StationEventClient : public std::enable_shared_from_this<StationEventClient> {
public:
    StationEventClient(StationServer& server, tcp::socket socket, std::size_t station)
        : server_(server), stream_(std::move(socket)), station_(station) {}

    std::size_t station() const { return station_; }

    void start(std::shared_ptr<const std::string> first) {
        push(std::make_shared<const std::string>(kEventStreamHead));
        push(std::move(first));
        read();
    }

    // Queues a message; a client whose queue is full is too slow and is dropped.
    void push(std::shared_ptr<const std::string> message) {
        if (closed_) return;
        if (queue_.size() >= server_.limits_.clientQueueMessages ||
            bytes_ + message->size() > server_.limits_.clientQueueBytes) {
            spdlog::warn("station display: dropping a page that does not keep up ({} messages, {} bytes waiting)",
                         queue_.size(), bytes_);
            close();
            return;
        }
        bytes_ += message->size();
        queue_.push_back(std::move(message));
        if (!writing_) write();
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        auto self = shared_from_this();   // the server's list may hold the last reference
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.close();
        server_.removeEventClient(this);
    }

private:
    void write() {
        writing_ = true;
        stream_.expires_after(server_.limits_.writeTimeout);
        boost::asio::async_write(stream_, boost::asio::buffer(*queue_.front()),
                                 [self = shared_from_this()](const beast::error_code& ec, std::size_t) {
                                     self->writing_ = false;
                                     if (self->closed_) return;
                                     if (ec) {
                                         self->close();
                                         return;
                                     }
                                     self->bytes_ -= self->queue_.front()->size();
                                     self->queue_.pop_front();
                                     if (!self->queue_.empty()) self->write();
                                     else self->stream_.expires_never();
                                 });
    }

    // A browser says nothing after its request; a read that ends means it went away.
    void read() {
        stream_.async_read_some(boost::asio::buffer(in_), [self = shared_from_this()](const beast::error_code& ec,
                                                                                      std::size_t) {
            if (self->closed_) return;
            if (ec) {
                self->close();
                return;
            }
            self->read();
        });
    }

    StationServer& server_;
    beast::tcp_stream stream_;
    std::size_t station_;
    std::deque<std::shared_ptr<const std::string>> queue_;
    std::size_t bytes_ = 0;
    bool writing_ = false;
    bool closed_ = false;
    std::array<char, 512> in_{};
};

// One HTTP connection: requests in turn (keep-alive) until it asks for an event stream or closes.
class StationHttpSession : public std::enable_shared_from_this<StationHttpSession> {
public:
    StationHttpSession(StationServer& server, tcp::socket socket) : server_(server), stream_(std::move(socket)) {}

    void read() {
        parser_.emplace();
        parser_->header_limit(8 * 1024);
        parser_->body_limit(64 * 1024);
        stream_.expires_after(server_.limits_.readTimeout);
        http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](const beast::error_code& ec, std::size_t) {
            self->onRead(ec);
        });
    }

private:
    void onRead(const beast::error_code& ec) {
        if (ec == http::error::end_of_stream) {
            beast::error_code ignored;
            stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
            return;
        }
        if (ec == http::error::body_limit || ec == http::error::header_limit) {
            StationServer::Response res{http::status::payload_too_large, 11};
            res.set(http::field::content_type, "text/plain; charset=utf-8");
            res.body() = "request too large\n";
            res.prepare_payload();
            res.keep_alive(false);
            send(std::move(res));
            return;
        }
        if (ec) return;   // timeout, reset, garbage: the connection just closes
        StationServer::Request req = parser_->release();
        const auto route = routeStationRequest(req.method_string(), req.target());
        if (route.kind == StationRoute::Kind::StationEvents) {
            std::size_t index = 0;
            if (server_.station(route.stationId, &index) &&
                server_.clients_.size() < server_.limits_.maxEventClients && !server_.stopped_) {
                stream_.expires_never();
                server_.addEventClient(stream_.release_socket(), index);
                return;
            }
        }
        StationServer::Response res;
        try {
            res = server_.answer(req);
        } catch (const std::exception& e) {
            spdlog::error("station display: {} {}: {}", std::string(req.method_string()), std::string(req.target()),
                          e.what());
            res = StationServer::Response{http::status::internal_server_error, 11};
            res.set(http::field::content_type, "text/plain; charset=utf-8");
            res.body() = "internal error\n";
            res.prepare_payload();
        }
        res.keep_alive(req.keep_alive() && req.method() == http::verb::get);
        send(std::move(res));
    }

    void send(StationServer::Response res) {
        res_ = std::move(res);
        stream_.expires_after(server_.limits_.writeTimeout);
        http::async_write(stream_, res_, [self = shared_from_this()](const beast::error_code& ec, std::size_t) {
            if (ec) return;
            if (!self->res_.keep_alive()) {
                beast::error_code ignored;
                self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                return;
            }
            self->read();
        });
    }

    StationServer& server_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_{16 * 1024};
    std::optional<http::request_parser<http::string_body>> parser_;
    StationServer::Response res_;
};

StationServer::StationServer(boost::asio::io_context& io, StationDisplayConfig config, std::string factory,
                             std::filesystem::path mediaDir, StationFeed& feed, Limits limits)
    : io_(io), config_(std::move(config)), limits_(limits), factory_(std::move(factory)), mediaDir_(std::move(mediaDir)), feed_(feed),
      acceptor_(io), retryTimer_(io), pushTimer_(io), progressTimer_(io), keepAliveTimer_(io),
      lastSent_(config_.stations.size()) {
    feed_.onChanged([this] { schedulePush(); });
}

StationServer::~StationServer() = default;

void StationServer::start() {
    stopped_ = false;
    listen();
}

void StationServer::listen() {
    if (stopped_) return;
    beast::error_code ec;
    const tcp::endpoint endpoint(boost::asio::ip::make_address(config_.host, ec), config_.port);
    if (!ec) acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
    if (ec) {
        spdlog::error("station display: cannot listen on {}:{} (station.listen): {}; trying again in 10 s",
                      config_.host, config_.port, ec.message());
        beast::error_code ignored;
        acceptor_.close(ignored);
        retryTimer_.expires_after(std::chrono::seconds(10));
        retryTimer_.async_wait([this](const beast::error_code& e) {
            if (!e) listen();
        });
        return;
    }
    port_ = acceptor_.local_endpoint().port();
    spdlog::info("station display on http://{}:{}/ ({} station{})", config_.host, port_, config_.stations.size(),
                 config_.stations.size() == 1 ? "" : "s");
    accept();
}

void StationServer::accept() {
    acceptor_.async_accept([this](const beast::error_code& ec, tcp::socket socket) {
        if (ec == boost::asio::error::operation_aborted || stopped_) return;
        if (ec) {
            // Out of descriptors and the like: wait a little rather than spin.
            spdlog::warn("station display: accept failed: {}", ec.message());
            retryTimer_.expires_after(std::chrono::milliseconds(200));
            retryTimer_.async_wait([this](const beast::error_code& e) {
                if (!e && !stopped_) accept();
            });
            return;
        }
        std::make_shared<StationHttpSession>(*this, std::move(socket))->read();
        accept();
    });
}

void StationServer::stop() {
    stopped_ = true;
    beast::error_code ignored;
    acceptor_.close(ignored);
    retryTimer_.cancel();
    pushTimer_.cancel();
    progressTimer_.cancel();
    keepAliveTimer_.cancel();
    auto clients = std::move(clients_);
    clients_.clear();
    for (auto& c : clients) c->close();
}

const StationConfig* StationServer::station(const std::string& id, std::size_t* index) const {
    for (std::size_t i = 0; i < config_.stations.size(); ++i)
        if (config_.stations[i].id == id) {
            if (index) *index = i;
            return &config_.stations[i];
        }
    return nullptr;
}

std::string StationServer::snapshotJson(const StationConfig& station) const {
    json::object snap = stationSnapshot(station, feed_);
    snap["at"] = nowRfc3339();
    return json::serialize(snap);
}

StationServer::Response StationServer::answer(const Request& req) const {
    const auto route = routeStationRequest(req.method_string(), req.target());
    Response res{http::status::ok, req.version()};
    res.set(http::field::server, "mto-agent station display");
    res.set("X-Content-Type-Options", "nosniff");
    auto page = [&](http::status status, std::string body) {
        res.result(status);
        res.set(http::field::content_type, "text/html; charset=utf-8");
        res.set(http::field::cache_control, "no-store");
        res.set("Content-Security-Policy", kContentSecurityPolicy);
        res.body() = std::move(body);
    };
    auto error = [&](http::status status, std::string_view detail) {
        page(status, errorPageHtml(static_cast<int>(status), http::obsolete_reason(status), detail));
    };
    auto unknownStation = [&](const std::string& id) {
        std::string known;
        for (const auto& s : config_.stations) known += (known.empty() ? "" : ", ") + s.id;
        error(http::status::not_found, "There is no station '" + id + "'. Stations: " + known + ".");
    };

    switch (route.kind) {
    case StationRoute::Kind::MethodNotAllowed:
        error(http::status::method_not_allowed, "The station display only shows; it takes no actions (GET only).");
        res.set(http::field::allow, "GET");
        break;
    case StationRoute::Kind::NotFound:
        error(http::status::not_found, "Nothing at " + std::string(req.target()) + ": " + route.why + ".");
        break;
    case StationRoute::Kind::StationList:
        page(http::status::ok, stationListHtml(factory_, config_.stations));
        break;
    case StationRoute::Kind::StationPage:
        if (const auto* s = station(route.stationId)) page(http::status::ok, stationPageHtml(*s, snapshotJson(*s)));
        else unknownStation(route.stationId);
        break;
    case StationRoute::Kind::StationState:
        if (const auto* s = station(route.stationId)) {
            res.set(http::field::content_type, "application/json");
            res.set(http::field::cache_control, "no-store");
            res.body() = snapshotJson(*s) + "\n";
        } else {
            unknownStation(route.stationId);
        }
        break;
    case StationRoute::Kind::StationEvents:
        // The session takes a known station's stream over itself; what reaches here is refused.
        if (!station(route.stationId)) unknownStation(route.stationId);
        else error(http::status::service_unavailable,
                   "Too many pages follow this agent live (at most " + std::to_string(limits_.maxEventClients) +
                       "); close one and reload.");
        break;
    case StationRoute::Kind::Media: {
        const auto path = feed_.mediaFile ? feed_.mediaFile(route.sha256) : mediaDir_ / (route.sha256 + ".jpg");
        std::error_code ec;
        const bool regular = std::filesystem::is_regular_file(path, ec);
        const auto size = regular ? std::filesystem::file_size(path, ec) : 0;
        std::ifstream in;
        if (regular && !ec && size <= limits_.maxMediaBytes) in.open(path, std::ios::binary);
        if (!in.is_open() || !in) {
            error(http::status::not_found, "No snapshot " + route.sha256 + " on this agent (or no longer: media is shed when the disk runs short).");
            break;
        }
        std::string body(size, '\0');
        in.read(body.data(), static_cast<std::streamsize>(size));
        body.resize(static_cast<std::size_t>(in.gcount()));
        res.set(http::field::content_type, "image/jpeg");
        // Content-addressed: the same name never holds other bytes.
        res.set(http::field::cache_control, "public, max-age=31536000, immutable");
        res.body() = std::move(body);
        break;
    }
    }
    res.prepare_payload();
    return res;
}

void StationServer::addEventClient(tcp::socket socket, std::size_t stationIndex) {
    auto client = std::make_shared<StationEventClient>(*this, std::move(socket), stationIndex);
    clients_.push_back(client);
    json::object snap = stationSnapshot(config_.stations[stationIndex], feed_);
    std::string key = json::serialize(snap);
    snap["at"] = nowRfc3339();
    auto message = std::make_shared<const std::string>("data: " + json::serialize(snap) + "\n\n");
    client->start(message);
    // The others on this station get it too when it is news to them.
    if (key != lastSent_[stationIndex]) {
        lastSent_[stationIndex] = std::move(key);
        std::vector<std::shared_ptr<StationEventClient>> others(clients_.begin(), clients_.end());
        for (auto& c : others)
            if (c != client && c->station() == stationIndex) c->push(message);
    }
    if (anyRunning(snap)) armProgressTick();
    armKeepAlive();
}

void StationServer::removeEventClient(const StationEventClient* client) {
    clients_.remove_if([client](const std::shared_ptr<StationEventClient>& c) { return c.get() == client; });
}

void StationServer::schedulePush() {
    if (stopped_ || pushArmed_ || clients_.empty()) return;
    pushArmed_ = true;
    pushTimer_.expires_at(std::max(std::chrono::steady_clock::now(), lastPush_ + limits_.minPushInterval));
    pushTimer_.async_wait([this](const beast::error_code& ec) {
        pushArmed_ = false;
        if (!ec && !stopped_) push();
    });
}

void StationServer::push() {
    lastPush_ = std::chrono::steady_clock::now();
    std::vector<bool> watched(config_.stations.size(), false);
    for (const auto& c : clients_) watched[c->station()] = true;
    bool running = false;
    const std::string at = nowRfc3339();
    for (std::size_t i = 0; i < config_.stations.size(); ++i) {
        if (!watched[i]) continue;
        json::object snap = stationSnapshot(config_.stations[i], feed_);
        running = running || anyRunning(snap);
        std::string key = json::serialize(snap);
        if (key == lastSent_[i]) continue;
        lastSent_[i] = std::move(key);
        snap["at"] = at;
        auto message = std::make_shared<const std::string>("data: " + json::serialize(snap) + "\n\n");
        std::vector<std::shared_ptr<StationEventClient>> targets(clients_.begin(), clients_.end());
        for (auto& c : targets)
            if (c->station() == i) c->push(message);
    }
    if (running) armProgressTick();
}

void StationServer::armProgressTick() {
    if (progressArmed_ || stopped_) return;
    progressArmed_ = true;
    progressTimer_.expires_after(limits_.progressTick);
    progressTimer_.async_wait([this](const beast::error_code& ec) {
        progressArmed_ = false;
        if (!ec) schedulePush();
    });
}

void StationServer::armKeepAlive() {
    if (keepAliveArmed_ || stopped_) return;
    keepAliveArmed_ = true;
    keepAliveTimer_.expires_after(limits_.keepAlive);
    keepAliveTimer_.async_wait([this](const beast::error_code& ec) {
        keepAliveArmed_ = false;
        if (ec || stopped_ || clients_.empty()) return;
        static const auto ping = std::make_shared<const std::string>(": keep-alive\n\n");
        std::vector<std::shared_ptr<StationEventClient>> all(clients_.begin(), clients_.end());
        for (auto& c : all) c->push(ping);
        armKeepAlive();
    });
}

} // namespace mto
