// SPDX-License-Identifier: Apache-2.0
// Label printers: CUPS through `lp`, a raw TCP port (9100) of a networked label printer, or none.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "mto/config.hpp"

namespace mto {

// Sends one file to a printer. Thread-bound to the io_context: print() is called on the loop and `done` runs
// on the loop, with an empty string when the printer took the file, else why not. One print at a time.
class LabelPrinter {
public:
    using Done = std::function<void(const std::string& error)>;
    virtual ~LabelPrinter() = default;
    virtual void print(const std::filesystem::path& file, Done done) = 0;
    // Gives up a print under way (its `done` is then not called); used when the agent stops.
    virtual void cancel() = 0;
    virtual std::string describe() const = 0;
};

// `lp -d QUEUE FILE` on a worker thread with a deadline (lp only hands the file to the CUPS spooler).
class LpPrinter : public LabelPrinter {
public:
    LpPrinter(boost::asio::io_context& io, std::filesystem::path command, std::string queue,
              std::chrono::milliseconds timeout);
    ~LpPrinter() override;
    void print(const std::filesystem::path& file, Done done) override;
    void cancel() override;
    std::string describe() const override;

private:
    boost::asio::io_context& io_;
    std::filesystem::path command_;
    std::string queue_;
    std::chrono::milliseconds timeout_;
    std::shared_ptr<bool> cancelled_;   // loop-owned; a finished lp whose print was cancelled is ignored
    boost::asio::thread_pool worker_{1};
};

// The file's bytes over TCP to host:port (Zebra and most label printers take ZPL, many PDF, on 9100).
class RawTcpPrinter : public LabelPrinter {
public:
    RawTcpPrinter(boost::asio::io_context& io, std::string host, std::uint16_t port, std::chrono::milliseconds timeout);
    ~RawTcpPrinter() override;
    void print(const std::filesystem::path& file, Done done) override;
    void cancel() override;
    std::string describe() const override;

private:
    struct Attempt;
    boost::asio::io_context& io_;
    std::string host_;
    std::uint16_t port_;
    std::chrono::milliseconds timeout_;
    std::shared_ptr<Attempt> current_;
};

// The configured printer, or null for printer = "none".
std::unique_ptr<LabelPrinter> makeLabelPrinter(boost::asio::io_context& io, const LabelsConfig& config);

} // namespace mto
