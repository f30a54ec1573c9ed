// SPDX-License-Identifier: Apache-2.0
// A test Moonraker: the HTTP endpoints the Moonraker driver uses, answered as Moonraker's API documents them, over
// a simulated Klipper print, with injected faults (bad key, Klippy shutdown, printer busy, print error, restart).
#include "virtual/moonraker_server.hpp"

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <deque>
#include <spdlog/spdlog.h>

namespace mto::virt {

namespace json = boost::json;
namespace bhttp = boost::beast::http;

namespace {

HttpReply moonrakerError(unsigned status, const std::string& message) {
    json::object e;
    e["code"] = status;
    e["message"] = message;
    json::object o;
    o["error"] = std::move(e);
    return jsonReply(status, json::serialize(o));
}

HttpReply result(json::value v, unsigned status = 200) {
    json::object o;
    o["result"] = std::move(v);
    return jsonReply(status, json::serialize(o));
}

// The query string's value for `key` ("" when absent).
std::string queryValue(const std::string& target, const std::string& key) {
    const auto q = target.find('?');
    if (q == std::string::npos) return {};
    std::size_t pos = q + 1;
    while (pos < target.size()) {
        auto end = target.find('&', pos);
        if (end == std::string::npos) end = target.size();
        const std::string pair = target.substr(pos, end - pos);
        const auto eq = pair.find('=');
        if (pair.substr(0, eq) == key) return eq == std::string::npos ? std::string() : pair.substr(eq + 1);
        pos = end + 1;
    }
    return {};
}

} // namespace

// One WebSocket client of /websocket. Thread-bound; kept alive by its own handlers.
struct MoonrakerServer::Client : std::enable_shared_from_this<MoonrakerServer::Client> {
    explicit Client(boost::beast::tcp_stream s) : ws(std::move(s)) {}
    boost::beast::websocket::stream<boost::beast::tcp_stream> ws;
    boost::beast::flat_buffer buffer;
    std::deque<std::string> outbox;
    bool writing = false;
    bool closed = false;
    bool subscribed = false;
    json::object sent;   // what this client was last told of each subscribed object

    void send(std::string text) {
        if (closed) return;
        outbox.push_back(std::move(text));
        flush();
    }
    void flush() {
        if (writing || closed || outbox.empty()) return;
        writing = true;
        ws.text(true);
        auto self = shared_from_this();
        ws.async_write(boost::asio::buffer(outbox.front()), [self](const boost::system::error_code& ec, std::size_t) {
            self->writing = false;
            if (ec) return self->close();
            self->outbox.pop_front();
            self->flush();
        });
    }
    // Reads until the client or the host goes away; every text frame is one JSON-RPC request.
    void read() {
        auto self = shared_from_this();
        ws.async_read(buffer, [self](const boost::system::error_code& ec, std::size_t) {
            if (ec || self->closed) return self->close();
            const std::string text = boost::beast::buffers_to_string(self->buffer.data());
            self->buffer.consume(self->buffer.size());
            if (auto cb = self->onText) cb(self, text);
            if (!self->closed) self->read();
        });
    }
    void close() {
        closed = true;
        onText = nullptr;
        boost::system::error_code ignored;
        boost::beast::get_lowest_layer(ws).socket().close(ignored);
    }
    std::function<void(const std::shared_ptr<Client>&, const std::string&)> onText;
};

MoonrakerServer::MoonrakerServer(boost::asio::io_context& io, MoonrakerServerOptions options)
    : options_(std::move(options)), http_(io, [this](const HttpRequest& r) { return handle(r); }), restartTimer_(io),
      print_(options_.print), pushTimer_(io) {
    http_.setUpgradeHandler([this](boost::beast::tcp_stream stream, HttpRequest req) {
        accept(std::move(stream), std::move(req));
    });
}

MoonrakerServer::~MoonrakerServer() {
    for (auto& w : clients_)
        if (auto c = w.lock()) c->close();
}

std::uint16_t MoonrakerServer::start() { return http_.start(options_.port); }

std::size_t MoonrakerServer::socketClients() {
    clients_.remove_if([](const std::weak_ptr<Client>& w) {
        auto c = w.lock();
        return !c || c->closed;
    });
    return clients_.size();
}

void MoonrakerServer::accept(boost::beast::tcp_stream stream, HttpRequest req) {
    if (!options_.apiKey.empty() && req["X-Api-Key"] != options_.apiKey) {
        boost::system::error_code ignored;
        stream.socket().close(ignored);
        return;
    }
    auto c = std::make_shared<Client>(std::move(stream));
    clients_.push_back(c);
    c->ws.set_option(boost::beast::websocket::stream_base::timeout::suggested(boost::beast::role_type::server));
    c->onText = [this](const std::shared_ptr<Client>& client, const std::string& text) { onRpc(client, text); };
    c->ws.async_accept(req, [c](const boost::system::error_code& ec) {
        if (ec || c->closed) return c->close();
        c->read();
    });
    armPush();
}

void MoonrakerServer::onRpc(const std::shared_ptr<Client>& c, const std::string& text) {
    boost::system::error_code ec;
    const auto v = json::parse(text, ec);
    if (ec || !v.is_object()) return;
    const auto& o = v.as_object();
    json::object reply;
    reply["jsonrpc"] = "2.0";
    if (o.contains("id")) reply["id"] = o.at("id");
    const std::string method = o.contains("method") && o.at("method").is_string() ? std::string(o.at("method").as_string()) : "";
    if (method == "printer.objects.subscribe") {
        if (klippyState_ != "ready") {
            reply["error"] = json::object{{"code", 503}, {"message", "Klippy Host not connected"}};
        } else {
            auto status = json::parse(statusJson()).as_object();
            c->sent = status;
            c->subscribed = true;
            json::object r;
            r["eventtime"] = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
            r["status"] = std::move(status);
            reply["result"] = std::move(r);
        }
    } else if (method == "server.info") {
        reply["result"] = json::parse(serverInfo().body()).as_object().at("result");
    } else {
        reply["error"] = json::object{{"code", -32601}, {"message", "Method not found"}};
    }
    c->send(json::serialize(reply));
}

void MoonrakerServer::broadcast(const std::string& text) {
    for (auto& w : clients_)
        if (auto c = w.lock()) c->send(text);
}

void MoonrakerServer::armPush() {
    if (pushing_) return;
    pushing_ = true;
    pushTimer_.expires_after(std::chrono::milliseconds(100));
    pushTimer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;   // cancelled: the server may be gone
        pushing_ = false;
        push();
        if (socketClients() > 0) armPush();
    });
}

// notify_status_update carries only what changed since the client was last told, as Moonraker does.
void MoonrakerServer::push() {
    if (klippyState_ != "ready") return;
    const auto now = json::parse(statusJson()).as_object();
    for (auto& w : clients_) {
        auto c = w.lock();
        if (!c || c->closed || !c->subscribed) continue;
        json::object delta;
        for (const auto& [name, fields] : now) {
            const auto* before = c->sent.if_contains(name);
            for (const auto& [field, value] : fields.as_object()) {
                const json::value* old = before && before->is_object() ? before->as_object().if_contains(field) : nullptr;
                if (!old || *old != value) {
                    if (!delta.contains(name)) delta[name] = json::object{};
                    delta[name].as_object()[field] = value;
                }
            }
        }
        if (delta.empty()) continue;
        c->sent = now;
        json::object msg;
        msg["jsonrpc"] = "2.0";
        msg["method"] = "notify_status_update";
        msg["params"] = json::array{delta, std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count()};
        c->send(json::serialize(msg));
        ++notifications_;
    }
}

void MoonrakerServer::stopHost() {
    for (auto& w : clients_)
        if (auto c = w.lock()) c->close();
    clients_.clear();
    http_.stop();
    if (!options_.keepJobOnRestart) print_.forget();
}

void MoonrakerServer::startHost() { http_.start(http_.port()); }

void MoonrakerServer::restart(std::chrono::milliseconds down) {
    spdlog::info("moonraker sim: restarting ({} ms down, job state {})", down.count(),
                 options_.keepJobOnRestart ? "kept" : "lost");
    stopHost();
    restartTimer_.expires_after(down);
    restartTimer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) startHost();
    });
}

void MoonrakerServer::shutdownKlippy(const std::string& message) {
    klippyState_ = "shutdown";
    klippyMessage_ = message + "\nOnce the underlying issue is corrected, use the \"FIRMWARE_RESTART\" command to "
                               "reset the firmware, reload the config, and restart the host software.\nPrinter is shutdown";
    print_.fail(message);
    broadcast(R"({"jsonrpc":"2.0","method":"notify_klippy_shutdown"})");
}

void MoonrakerServer::klippyReady() {
    klippyState_ = "ready";
    klippyMessage_ = "Printer is ready";
    broadcast(R"({"jsonrpc":"2.0","method":"notify_klippy_ready"})");
}

HttpReply MoonrakerServer::handle(const HttpRequest& req) {
    if (!options_.apiKey.empty() && req["X-Api-Key"] != options_.apiKey) return moonrakerError(401, "Unauthorized");
    const std::string target(req.target());
    const std::string path = target.substr(0, target.find('?'));
    const bool get = req.method() == bhttp::verb::get;
    const bool post = req.method() == bhttp::verb::post;
    if (get && path == "/server/info") return serverInfo();
    if (get && path == "/printer/info") return printerInfo();
    if (post && path == "/server/files/upload") return uploadFile(req);
    if (path.rfind("/printer/", 0) == 0 && !klippyReady_()) return moonrakerError(503, "Klippy Host not connected");
    if (get && path == "/printer/objects/query") return query();
    if (post && path == "/printer/print/start") return startPrint(queryValue(target, "filename"));
    if (post && path == "/printer/print/pause")
        return print_.pause() ? result("ok") : moonrakerError(400, "Print is not running");
    if (post && path == "/printer/print/resume")
        return print_.resume() ? result("ok") : moonrakerError(400, "Print is not paused");
    if (post && path == "/printer/print/cancel")
        return print_.cancel() ? result("ok") : moonrakerError(400, "Print is not running");
    return moonrakerError(404, "Not Found");
}

HttpReply MoonrakerServer::serverInfo() {
    json::object o;
    o["klippy_connected"] = true;
    o["klippy_state"] = klippyState_;
    o["components"] = json::array{"file_manager", "klippy_apis", "job_state"};
    o["failed_components"] = json::array{};
    o["registered_directories"] = json::array{"gcodes", "config"};
    o["warnings"] = json::array{};
    o["websocket_count"] = 0;
    o["moonraker_version"] = "v0.9.3-sim";
    o["api_version"] = json::array{1, 5, 0};
    o["api_version_string"] = "1.5.0";
    return result(std::move(o));
}

HttpReply MoonrakerServer::printerInfo() {
    json::object o;
    o["state"] = klippyState_;
    o["state_message"] = klippyMessage_;
    o["hostname"] = "mto-machine-sim";
    o["software_version"] = "v0.12.0-sim";
    o["klipper_path"] = "/home/pi/klipper";
    o["python_path"] = "/home/pi/klippy-env/bin/python";
    o["log_file"] = "/tmp/klippy.log";
    o["config_file"] = "/home/pi/printer_data/config/printer.cfg";
    return result(std::move(o));
}

std::string MoonrakerServer::statusJson() {
    const auto st = print_.state();
    const double progress = print_.progress();
    const std::size_t size = files_.count(print_.file()) ? files_.at(print_.file()).size() : 0;
    json::object ps;
    ps["filename"] = print_.file();
    ps["total_duration"] = print_.printDuration();
    ps["print_duration"] = print_.printDuration();
    ps["filament_used"] = 0.0;
    ps["state"] = toString(st);
    ps["message"] = print_.message();
    json::object info;
    info["total_layer"] = nullptr;
    info["current_layer"] = nullptr;
    ps["info"] = std::move(info);
    json::object vs;
    vs["file_path"] = print_.file().empty() ? json::value(nullptr) : json::value("/home/pi/printer_data/gcodes/" + print_.file());
    vs["progress"] = progress;
    vs["is_active"] = st == SimulatedPrint::State::Printing;
    vs["file_position"] = static_cast<std::uint64_t>(progress * static_cast<double>(size));
    vs["file_size"] = size;
    json::object ds;
    ds["progress"] = progress;
    ds["message"] = nullptr;
    json::object status;
    status["print_stats"] = std::move(ps);
    status["virtual_sdcard"] = std::move(vs);
    status["display_status"] = std::move(ds);
    return json::serialize(status);
}

HttpReply MoonrakerServer::query() {
    json::object o;
    o["eventtime"] = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    o["status"] = json::parse(statusJson());
    return result(std::move(o));
}

HttpReply MoonrakerServer::startPrint(const std::string& file) {
    if (!files_.count(file)) return moonrakerError(404, "File " + file + " does not exist");
    if (print_.busy()) return moonrakerError(409, "Printer is busy");
    print_.start(file);
    return result("ok");
}

HttpReply MoonrakerServer::uploadFile(const HttpRequest& req) {
    FormData form;
    if (!parseFormData(req, form) || !form.files.count("file")) return moonrakerError(400, "No file was uploaded");
    const std::string root = form.fields.count("root") ? form.fields["root"] : "gcodes";
    if (root != "gcodes") return moonrakerError(400, "Invalid root " + root);
    const std::string name = form.fileNames["file"];
    const bool print = form.fields["print"] == "true";
    if (print && !klippyReady_()) return moonrakerError(503, "Klippy Host not connected");
    if (print && print_.busy()) return moonrakerError(409, "Printer is busy");
    files_[name] = form.files["file"];
    if (print) print_.start(name);
    json::object item;
    item["path"] = name;
    item["root"] = "gcodes";
    item["size"] = form.files["file"].size();
    json::object o;
    o["item"] = std::move(item);
    o["print_started"] = print;
    o["print_queued"] = false;
    o["action"] = "create_file";
    return result(std::move(o), 201);
}

} // namespace mto::virt
