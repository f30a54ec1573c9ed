// SPDX-License-Identifier: Apache-2.0
// The Moonraker driver: a Klipper printer behind Moonraker's HTTP API, jobs uploaded to the gcodes root with
// print=true and watched through the WebSocket's notify_status_update stream (printer.objects.subscribe), with
// printer/objects/query (print_stats, virtual_sdcard, display_status) polled as the safety net.
#pragma once

#include <memory>

#include "http/print_host_driver.hpp"

namespace mto::moonraker {

// Thread-bound to the io_context (see PrintHostDriver for the invariants).
class MoonrakerDriver final : public http::PrintHostDriver {
public:
    MoonrakerDriver(boost::asio::io_context& io, http::PrintHostOptions options, DriverListener& listener);
    ~MoonrakerDriver() override;

    // Status updates received over the WebSocket so far (for tests and diagnostics).
    std::uint64_t pushedUpdates() const { return pushed_; }
    bool socketOpen() const;

protected:
    void identify(Done done) override;
    void queryStatus(StatusDone done) override;
    void upload(const std::string& fileName, const std::string& program, Done done) override;
    void command(Command c, Done done) override;
    const char* hostKind() const override { return "Moonraker"; }
    void linkUp() override;
    void linkDown() override;

private:
    struct Socket;
    void onSocketMessage(const std::string& text);
    // /server/info: Ok when Klippy is ready, else a fault with Klippy's state and message.
    void checkKlippy(Done done);
    void startPrint(const std::string& fileName, Done done);

    std::shared_ptr<Socket> socket_;
    std::string cache_;            // the subscribed objects as last known, JSON {"print_stats":{...},...}
    std::uint64_t pushed_ = 0;
};

// printer/objects/query's answer in the driver's terms (exposed for tests of the mapping).
http::HostJobStatus parseMoonrakerStatus(const std::string& body);

} // namespace mto::moonraker
