// SPDX-License-Identifier: Apache-2.0
// A test Moonraker: the HTTP endpoints the Moonraker driver uses, answered as Moonraker's API documents them, over
// a simulated Klipper print, with injected faults (bad key, Klippy shutdown, printer busy, print error, restart).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>

#include "virtual/http_test_server.hpp"
#include "virtual/simulated_print.hpp"

namespace mto::virt {

struct MoonrakerServerOptions {
    std::string apiKey;                    // empty: no key needed (Moonraker's trusted clients)
    std::uint16_t port = 0;                // 0: a free port
    SimulatedPrintOptions print;
    bool keepJobOnRestart = true;          // Klipper goes on printing while Moonraker restarts
};

// Thread-bound to the io_context. Faults are set by the owner at any time.
class MoonrakerServer {
public:
    MoonrakerServer(boost::asio::io_context& io, MoonrakerServerOptions options);
    ~MoonrakerServer();

    std::uint16_t start();
    std::string url() const { return http_.url(); }
    void restart(std::chrono::milliseconds down);
    void stopHost();
    void startHost();

    void setApiKey(const std::string& key) { options_.apiKey = key; }
    void setKeepJobOnRestart(bool keep) { options_.keepJobOnRestart = keep; }
    // Klippy shuts down (as after "Heater extruder not heating at expected rate"): a running print fails with it.
    void shutdownKlippy(const std::string& message);
    void klippyReady();
    SimulatedPrint& print() { return print_; }
    const std::map<std::string, std::string>& files() const { return files_; }
    // WebSocket clients connected now, and notify_status_update messages sent so far.
    std::size_t socketClients();
    std::uint64_t statusNotifications() const { return notifications_; }

    struct Client;

private:
    HttpReply handle(const HttpRequest& req);
    HttpReply serverInfo();
    HttpReply printerInfo();
    HttpReply query();
    HttpReply uploadFile(const HttpRequest& req);
    HttpReply startPrint(const std::string& file);
    std::string statusJson();   // {"print_stats":{...},"virtual_sdcard":{...},"display_status":{...}}
    void accept(boost::beast::tcp_stream stream, HttpRequest req);
    void onRpc(const std::shared_ptr<Client>& c, const std::string& text);
    void broadcast(const std::string& text);
    void armPush();
    void push();
    bool klippyReady_() const { return klippyState_ == "ready"; }

    MoonrakerServerOptions options_;
    HttpTestServer http_;
    boost::asio::steady_timer restartTimer_;
    SimulatedPrint print_;
    std::string klippyState_ = "ready";
    std::string klippyMessage_ = "Printer is ready";
    std::map<std::string, std::string> files_;
    std::list<std::weak_ptr<Client>> clients_;
    boost::asio::steady_timer pushTimer_;
    bool pushing_ = false;
    std::uint64_t notifications_ = 0;
};

} // namespace mto::virt
