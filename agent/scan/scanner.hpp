// SPDX-License-Identifier: Apache-2.0
// Barcode scanners on the agent's loop: evdev keyboard wedges, serial scanners and the TCP line input.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "mto/config.hpp"

namespace mto {

// What the retained status and the station page say about a scanner.
struct ScannerStatus {
    std::string id;
    std::string kind;        // evdev | serial | line
    std::string station;
    std::string where;       // device path, port or listen address
    bool connected = false;
    std::string detail;      // why it is not connected, or how it is connected
    std::int64_t scans = 0;  // scans read since the agent started
};

// Thread-bound to the loop. A scanner owns its device: it opens it, reads scans and hands each to the
// scan handler, and when the device goes away (unplugged, EOF, read error) it closes it and tries again
// after a growing pause (kRetryMin doubling to kRetryMax), forever, logging each change of state once.
// Nothing it meets stops the agent: every failure ends in a retry.
class Scanner {
public:
    // Sends one line back to where the scan came from (no newline in it). Only scanners that can show an
    // answer give one (the line input's client); for the others it is empty and the outcome shows on the
    // station page alone.
    using Reply = std::function<void(const std::string& line)>;
    using ScanHandler = std::function<void(const std::string& scannerId, const std::string& raw, Reply reply)>;
    using ChangeHandler = std::function<void()>;

    static constexpr std::chrono::milliseconds kRetryMin{250};
    static constexpr std::chrono::milliseconds kRetryMax{5000};

    Scanner(boost::asio::io_context& io, ScannerConfig config, ScanHandler onScan, ChangeHandler onChange);
    virtual ~Scanner() = default;
    Scanner(const Scanner&) = delete;
    Scanner& operator=(const Scanner&) = delete;

    void start();
    void stop();
    ScannerStatus status() const;
    const ScannerConfig& config() const { return config_; }

protected:
    // Opens the device and starts reading; on failure calls retryLater().
    virtual void open() = 0;
    // Closes the device without calling any handler again.
    virtual void close() = 0;
    virtual std::string where() const = 0;

    void connected(const std::string& detail);
    // The device is gone or could not be opened: close it and open it again later.
    void retryLater(const std::string& why);
    void deliver(const std::string& raw, Reply reply = {});
    bool stopped() const { return stopped_; }

    boost::asio::io_context& io_;
    ScannerConfig config_;

private:
    ScanHandler onScan_;
    ChangeHandler onChange_;
    boost::asio::steady_timer retry_;
    std::chrono::milliseconds backoff_{kRetryMin};
    bool connected_ = false;
    bool stopped_ = true;
    std::string detail_ = "not started";
    std::int64_t scans_ = 0;
};

// Builds the scanner the config names; throws mto::Error for a kind it does not know.
std::unique_ptr<Scanner> makeScanner(boost::asio::io_context& io, const ScannerConfig& config,
                                     Scanner::ScanHandler onScan, Scanner::ChangeHandler onChange);

} // namespace mto
