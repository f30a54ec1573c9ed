// SPDX-License-Identifier: Apache-2.0
// A test OctoPrint: the REST endpoints the OctoPrint driver uses, answered as OctoPrint's API documents them, over
// a simulated print, with injected faults (bad key, printer not operational, print error, host restart).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "virtual/http_test_server.hpp"
#include "virtual/simulated_print.hpp"

namespace mto::virt {

struct OctoPrintServerOptions {
    std::string apiKey = "mto-sim-key";
    std::uint16_t port = 0;                // 0: a free port
    SimulatedPrintOptions print;
    bool keepJobOnRestart = true;          // a restarted host still knows (and runs) its print
};

// Thread-bound to the io_context. Faults are set by the owner at any time.
class OctoPrintServer {
public:
    OctoPrintServer(boost::asio::io_context& io, OctoPrintServerOptions options);

    std::uint16_t start();
    std::string url() const { return http_.url(); }
    // The host process goes away now and comes back after `down` (on the same port).
    void restart(std::chrono::milliseconds down);
    void stopHost();
    void startHost();

    void setApiKey(const std::string& key) { options_.apiKey = key; }
    // The printer behind OctoPrint is gone (cable, firmware error): /api/printer answers 409.
    void setOperational(bool operational) { operational_ = operational; }
    void setKeepJobOnRestart(bool keep) { options_.keepJobOnRestart = keep; }
    SimulatedPrint& print() { return print_; }
    const std::map<std::string, std::string>& files() const { return files_; }
    int requests() const { return requests_; }

private:
    HttpReply handle(const HttpRequest& req);
    HttpReply job();
    HttpReply printer();
    HttpReply uploadFile(const HttpRequest& req);
    HttpReply jobCommand(const HttpRequest& req);

    OctoPrintServerOptions options_;
    HttpTestServer http_;
    boost::asio::steady_timer restartTimer_;
    SimulatedPrint print_;
    bool operational_ = true;
    std::map<std::string, std::string> files_;
    int requests_ = 0;
};

} // namespace mto::virt
