// SPDX-License-Identifier: Apache-2.0
// The Moonraker driver: a Klipper printer behind Moonraker's HTTP API, jobs uploaded to the gcodes root with
// print=true and watched through printer/objects/query (print_stats, virtual_sdcard, display_status).
#include "moonraker/moonraker_driver.hpp"
#include "http/json_fields.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <deque>
#include <spdlog/spdlog.h>

namespace mto::moonraker {

namespace json = boost::json;
using boost::beast::http::verb;
using http::HostJobStatus;
using http::HostResult;
using http::jsonNumber;
using http::jsonObject;
using http::jsonString;

namespace {

// Moonraker wraps every answer in {"result": ...}.
const json::object* result(const json::value& v) {
    return v.is_object() ? jsonObject(v.as_object(), "result") : nullptr;
}

} // namespace

HostJobStatus parseMoonrakerStatus(const std::string& body) {
    boost::system::error_code ec;
    const auto v = json::parse(body, ec);
    const json::object* res = ec ? nullptr : result(v);
    const json::object* status = res ? jsonObject(*res, "status") : nullptr;
    if (!status) throw std::runtime_error("printer/objects/query answered no result.status");
    HostJobStatus s;
    double printDuration = 0;
    if (const auto* ps = jsonObject(*status, "print_stats")) {
        const std::string state = jsonString(*ps, "state");
        s.file = jsonString(*ps, "filename");
        s.message = jsonString(*ps, "message");
        printDuration = jsonNumber(*ps, "print_duration", 0);
        if (state == "printing") s.state = HostJobStatus::State::Printing;
        else if (state == "paused") s.state = HostJobStatus::State::Paused;
        else if (state == "complete") s.state = HostJobStatus::State::Complete;
        else if (state == "cancelled") s.state = HostJobStatus::State::Cancelled;
        else if (state == "error") s.state = HostJobStatus::State::Error;
        else s.state = HostJobStatus::State::Standby;
    } else {
        throw std::runtime_error("printer/objects/query answered without print_stats");
    }
    double progress = -1;
    if (const auto* vs = jsonObject(*status, "virtual_sdcard")) progress = jsonNumber(*vs, "progress", -1);
    if (progress < 0)
        if (const auto* ds = jsonObject(*status, "display_status")) progress = jsonNumber(*ds, "progress", -1);
    s.fraction = progress > 0 ? progress : 0;
    if (progress > 0.01 && printDuration > 0) s.secondsLeft = printDuration / progress - printDuration;
    return s;
}

// The WebSocket to /websocket: JSON-RPC text frames in both directions. Thread-bound to the io_context; kept alive
// by its own handlers, so close() from inside a callback is safe. After close() no callback runs.
struct MoonrakerDriver::Socket : std::enable_shared_from_this<MoonrakerDriver::Socket> {
    using tcp = boost::asio::ip::tcp;
    explicit Socket(boost::asio::io_context& io) : resolver(io), ws(io) {}

    tcp::resolver resolver;
    boost::beast::websocket::stream<boost::beast::tcp_stream> ws;
    boost::beast::flat_buffer buffer;
    std::deque<std::string> outbox;
    bool open = false;
    bool writing = false;
    bool closed = false;
    std::function<void(const std::string&)> onMessage;
    std::function<void(const std::string&)> onClosed;

    void start(const http::HttpUrl& url, const std::string& apiKey, std::chrono::milliseconds timeout) {
        auto self = shared_from_this();
        const std::string host = url.host + ":" + url.port;
        const std::string path = url.basePath + "/websocket";
        resolver.async_resolve(url.host, url.port, [self, host, path, apiKey, timeout](
                                                       const boost::system::error_code& ec,
                                                       tcp::resolver::results_type results) {
            if (ec || self->closed) return self->fail(ec);
            boost::beast::get_lowest_layer(self->ws).expires_after(timeout);
            boost::beast::get_lowest_layer(self->ws).async_connect(
                results, [self, host, path, apiKey](const boost::system::error_code& ec2, const tcp::endpoint&) {
                    if (ec2 || self->closed) return self->fail(ec2);
                    boost::beast::get_lowest_layer(self->ws).expires_never();
                    self->ws.set_option(boost::beast::websocket::stream_base::timeout::suggested(
                        boost::beast::role_type::client));
                    self->ws.set_option(boost::beast::websocket::stream_base::decorator(
                        [apiKey](boost::beast::websocket::request_type& req) {
                            req.set(boost::beast::http::field::user_agent, "mto-agent");
                            if (!apiKey.empty()) req.set("X-Api-Key", apiKey);
                        }));
                    self->ws.async_handshake(host, path, [self](const boost::system::error_code& ec3) {
                        if (ec3 || self->closed) return self->fail(ec3);
                        self->open = true;
                        self->flush();
                        self->read();
                    });
                });
        });
    }
    void send(std::string text) {
        outbox.push_back(std::move(text));
        flush();
    }
    void flush() {
        if (!open || writing || closed || outbox.empty()) return;
        writing = true;
        ws.text(true);
        auto self = shared_from_this();
        ws.async_write(boost::asio::buffer(outbox.front()), [self](const boost::system::error_code& ec, std::size_t) {
            self->writing = false;
            if (ec) return self->fail(ec);
            self->outbox.pop_front();
            self->flush();
        });
    }
    void read() {
        auto self = shared_from_this();
        ws.async_read(buffer, [self](const boost::system::error_code& ec, std::size_t) {
            if (ec || self->closed) return self->fail(ec);
            std::string text = boost::beast::buffers_to_string(self->buffer.data());
            self->buffer.consume(self->buffer.size());
            if (auto cb = self->onMessage) cb(text);
            if (!self->closed) self->read();
        });
    }
    void fail(const boost::system::error_code& ec) {
        if (closed) return;
        auto cb = onClosed;
        close();
        if (cb) cb(ec ? ec.message() : "closed");
    }
    void close() {
        if (closed) return;
        closed = true;
        open = false;
        onMessage = nullptr;
        onClosed = nullptr;
        resolver.cancel();
        boost::system::error_code ignored;
        boost::beast::get_lowest_layer(ws).socket().close(ignored);
    }
};

MoonrakerDriver::MoonrakerDriver(boost::asio::io_context& io, http::PrintHostOptions options, DriverListener& listener)
    : PrintHostDriver(io, std::move(options), listener) {}

MoonrakerDriver::~MoonrakerDriver() { linkDown(); }

bool MoonrakerDriver::socketOpen() const { return socket_ && socket_->open && !socket_->closed; }

void MoonrakerDriver::linkUp() {
    if (socket_ && !socket_->closed) return;
    cache_.clear();
    socket_ = std::make_shared<Socket>(io_);
    socket_->onMessage = [this](const std::string& text) { onSocketMessage(text); };
    socket_->onClosed = [this](const std::string& why) {
        // The HTTP poll goes on; the socket is opened again at the next (re)connect.
        spdlog::info("machine {}: Moonraker websocket closed ({}); polling goes on", options_.machineId, why);
        socket_.reset();
    };
    socket_->start(http::parseHttpUrl(options_.url), options_.apiKey, options_.requestTimeout);
    json::object params;
    json::object objects;
    objects["print_stats"] = nullptr;
    objects["virtual_sdcard"] = nullptr;
    objects["display_status"] = nullptr;
    params["objects"] = std::move(objects);
    json::object req;
    req["jsonrpc"] = "2.0";
    req["method"] = "printer.objects.subscribe";
    req["params"] = std::move(params);
    req["id"] = 1;
    socket_->send(json::serialize(req));
}

void MoonrakerDriver::linkDown() {
    if (socket_) socket_->close();
    socket_.reset();
    cache_.clear();
}

void MoonrakerDriver::onSocketMessage(const std::string& text) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object()) return;
    auto& msg = v.as_object();
    const std::string method = jsonString(msg, "method");
    json::object status;
    if (!cache_.empty()) {
        auto c = json::parse(cache_, ec);
        if (!ec && c.is_object()) status = std::move(c.as_object());
    }
    if (const auto* res = jsonObject(msg, "result"); res && msg.contains("id")) {
        const auto* st = jsonObject(*res, "status");
        if (!st) return;
        status = *st;
    } else if (method == "notify_status_update") {
        const auto* params = msg.if_contains("params");
        if (!params || !params->is_array() || params->as_array().empty() || !params->as_array()[0].is_object()) return;
        if (cache_.empty()) return;   // deltas before the subscription's full answer mean nothing yet
        for (const auto& [name, fields] : params->as_array()[0].as_object()) {
            if (!fields.is_object()) continue;
            auto& target = status[name];
            if (!target.is_object()) target = json::object{};
            for (const auto& [field, value] : fields.as_object()) target.as_object()[field] = value;
        }
    } else if (method == "notify_klippy_shutdown" || method == "notify_klippy_disconnected") {
        // Klippy's own words come from /server/info and /printer/info.
        const auto gen = generation_;
        checkKlippy([this, gen](HostResult r) {
            if (gen == generation_ && r.kind != HostResult::Kind::Ok) faultPushed(r);
        });
        return;
    } else {
        return;
    }
    cache_ = json::serialize(status);
    json::object wrapped;
    json::object result;
    result["status"] = std::move(status);
    wrapped["result"] = std::move(result);
    try {
        auto s = parseMoonrakerStatus(json::serialize(wrapped));
        ++pushed_;
        statusPushed(s);
    } catch (const std::exception&) {
        // Not every object is there yet: the poll fills the gap.
    }
}

void MoonrakerDriver::checkKlippy(Done done) {
    send(verb::get, "/server/info", {}, {}, options_.requestTimeout,
         [this, done = std::move(done)](const boost::system::error_code& ec, http::HttpResponse r) mutable {
             auto res = httpResult(ec, r);
             if (res.kind != HostResult::Kind::Ok) return done(res);
             boost::system::error_code jec;
             const auto v = json::parse(r.body, jec);
             const json::object* info = jec ? nullptr : result(v);
             if (!info || !info->contains("klippy_state"))
                 return done(HostResult::refused({"not_moonraker", "",
                                                  "/server/info did not answer as Moonraker does: is " + options_.url +
                                                      " a Moonraker server?"}));
             identity_.firmware = "Moonraker";
             identity_.version = jsonString(*info, "moonraker_version");
             identity_.detail = "api " + jsonString(*info, "api_version_string");
             const std::string state = jsonString(*info, "klippy_state");
             if (state == "ready") return done(HostResult::ok());
             // Klippy's own words are in printer/info's state_message (answered while Klippy is connected).
             send(verb::get, "/printer/info", {}, {}, options_.requestTimeout,
                  [state, done = std::move(done)](const boost::system::error_code& ec2, http::HttpResponse r2) {
                      std::string message;
                      boost::system::error_code jec2;
                      if (!ec2 && r2.status == 200) {
                          const auto v2 = json::parse(r2.body, jec2);
                          if (const json::object* pi = jec2 ? nullptr : result(v2)) message = jsonString(*pi, "state_message");
                      }
                      const std::string reason = state == "shutdown" ? "klippy_shutdown"
                                                 : state == "error"  ? "klippy_error"
                                                                     : "klippy_not_ready";
                      done(HostResult::alarm({reason, state,
                                              "Klippy " + (state == "shutdown" ? std::string("shutdown") : "not ready (" + state + ")") +
                                                  (message.empty() ? "" : ": " + message)}));
                  });
         });
}

void MoonrakerDriver::identify(Done done) { checkKlippy(std::move(done)); }

void MoonrakerDriver::queryStatus(StatusDone done) {
    send(verb::get, "/printer/objects/query?print_stats&virtual_sdcard&display_status", {}, {}, options_.requestTimeout,
         [this, done = std::move(done)](const boost::system::error_code& ec, http::HttpResponse r) mutable {
             auto res = httpResult(ec, r);
             if (res.kind == HostResult::Kind::LinkDown) return done(res, {});
             if (res.kind == HostResult::Kind::Fault) {
                 // Printer objects fail while Klippy is down: say why in Klippy's words when it can be read.
                 return checkKlippy([res, done = std::move(done)](HostResult k) {
                     done(k.kind == HostResult::Kind::Ok ? res : k, {});
                 });
             }
             try {
                 done(HostResult::ok(), parseMoonrakerStatus(r.body));
             } catch (const std::exception& e) {
                 done(HostResult::alarm({"host_error", "", e.what()}), {});
             }
         });
}

void MoonrakerDriver::upload(const std::string& fileName, const std::string& program, Done done) {
    auto [body, type] = http::multipartBody({{"file", program, fileName, "text/x.gcode"},
                                             {"root", "gcodes", {}, {}},
                                             {"print", "true", {}, {}}});
    send(verb::post, "/server/files/upload", std::move(body), type, options_.uploadTimeout,
         [this, fileName, done = std::move(done)](const boost::system::error_code& ec, http::HttpResponse r) mutable {
             auto res = httpResult(ec, r);
             if (res.kind != HostResult::Kind::Ok) return done(res);
             boost::system::error_code jec;
             const auto v = json::parse(r.body, jec);
             const json::object* o = jec || !v.is_object() ? nullptr : &v.as_object();
             // Older Moonraker answers the upload without the result wrapper.
             const json::object* rr = o ? (jsonObject(*o, "result") ? jsonObject(*o, "result") : o) : nullptr;
             const bool started = rr && rr->contains("print_started") && (*rr).at("print_started").is_bool() &&
                                  (*rr).at("print_started").as_bool();
             const bool queued = rr && rr->contains("print_queued") && (*rr).at("print_queued").is_bool() &&
                                 (*rr).at("print_queued").as_bool();
             if (started || queued) return done(HostResult::ok());
             startPrint(fileName, std::move(done));
         });
}

void MoonrakerDriver::startPrint(const std::string& fileName, Done done) {
    send(verb::post, "/printer/print/start?filename=" + fileName, {}, {}, options_.requestTimeout,
         [done = std::move(done)](const boost::system::error_code& ec, http::HttpResponse r) { done(httpResult(ec, r)); });
}

void MoonrakerDriver::command(Command c, Done done) {
    const char* what = c == Command::Pause ? "pause" : c == Command::Resume ? "resume" : "cancel";
    send(verb::post, std::string("/printer/print/") + what, {}, {}, options_.requestTimeout,
         [done = std::move(done)](const boost::system::error_code& ec, http::HttpResponse r) { done(httpResult(ec, r)); });
}

} // namespace mto::moonraker
