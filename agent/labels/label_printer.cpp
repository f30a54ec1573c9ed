// SPDX-License-Identifier: Apache-2.0
// Label printers: CUPS through `lp`, a raw TCP port (9100) of a networked label printer, or none.
#include "labels/label_printer.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fstream>
#include <sstream>

#include "compiler/subprocess.hpp"

namespace mto {

namespace {

std::string oneLine(std::string s, std::size_t max = 300) {
    for (char& c : s)
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    while (!s.empty() && s.back() == ' ') s.pop_back();
    if (s.size() > max) s = s.substr(0, max) + "...";
    return s;
}

} // namespace

LpPrinter::LpPrinter(boost::asio::io_context& io, std::filesystem::path command, std::string queue,
                     std::chrono::milliseconds timeout)
    : io_(io), command_(std::move(command)), queue_(std::move(queue)), timeout_(timeout),
      cancelled_(std::make_shared<bool>(false)) {}

LpPrinter::~LpPrinter() {
    *cancelled_ = true;
    worker_.join();
}

void LpPrinter::print(const std::filesystem::path& file, Done done) {
    *cancelled_ = false;
    auto cancelled = cancelled_;
    // "--" keeps a file name from being read as an option; the queue name was checked at config load.
    Subprocess lp({command_.string(), "-d", queue_, "--", file.string()});
    lp.timeout(timeout_).outputLimit(4096);
    boost::asio::post(worker_, [this, lp = std::move(lp), cancelled, done = std::move(done)]() mutable {
        std::string error;
        try {
            const SubprocessResult r = lp.run();
            if (!r.succeeded()) error = command_.string() + " " + r.describe() + ": " + oneLine(r.err.empty() ? r.out : r.err);
        } catch (const std::exception& e) {
            error = e.what();
        }
        boost::asio::post(io_, [cancelled, done = std::move(done), error] {
            if (!*cancelled) done(error);
        });
    });
}

void LpPrinter::cancel() { *cancelled_ = true; }

std::string LpPrinter::describe() const { return "cups queue " + queue_ + " (" + command_.string() + ")"; }

// One connection: resolve, connect, write the bytes, close; the timer bounds all of it.
struct RawTcpPrinter::Attempt : std::enable_shared_from_this<RawTcpPrinter::Attempt> {
    Attempt(boost::asio::io_context& io, Done d) : resolver(io), socket(io), timer(io), done(std::move(d)) {}
    void finish(const std::string& error) {
        if (finished) return;
        finished = true;
        timer.cancel();
        boost::system::error_code ignored;
        socket.close(ignored);
        resolver.cancel();
        if (!cancelled) done(error);
    }
    boost::asio::ip::tcp::resolver resolver;
    boost::asio::ip::tcp::socket socket;
    boost::asio::steady_timer timer;
    Done done;
    std::string bytes;
    bool finished = false;
    bool cancelled = false;
    bool timedOut = false;
};

RawTcpPrinter::RawTcpPrinter(boost::asio::io_context& io, std::string host, std::uint16_t port,
                             std::chrono::milliseconds timeout)
    : io_(io), host_(std::move(host)), port_(port), timeout_(timeout) {}

RawTcpPrinter::~RawTcpPrinter() { cancel(); }

void RawTcpPrinter::print(const std::filesystem::path& file, Done done) {
    auto a = std::make_shared<Attempt>(io_, std::move(done));
    current_ = a;
    std::ifstream in(file, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    if (!in) {
        boost::asio::post(io_, [a, file] { a->finish("cannot read " + file.string()); });
        return;
    }
    a->bytes = content.str();
    const std::string where = describe();
    a->timer.expires_after(timeout_);
    a->timer.async_wait([a, where, t = timeout_](const boost::system::error_code& ec) {
        if (ec) return;
        a->finish(where + ": no answer within " + std::to_string(t.count() / 1000.0).substr(0, 4) + " s");
    });
    a->resolver.async_resolve(host_, std::to_string(port_), [a, where](const boost::system::error_code& ec,
                                                                       boost::asio::ip::tcp::resolver::results_type r) {
        if (a->finished) return;
        if (ec) return a->finish(where + ": " + ec.message());
        boost::asio::async_connect(a->socket, r, [a, where](const boost::system::error_code& ec2, const auto&) {
            if (a->finished) return;
            if (ec2) return a->finish(where + ": " + ec2.message());
            boost::asio::async_write(a->socket, boost::asio::buffer(a->bytes),
                                     [a, where](const boost::system::error_code& ec3, std::size_t) {
                                         if (a->finished) return;
                                         if (ec3) return a->finish(where + ": " + ec3.message());
                                         // A clean close tells the printer the job is complete.
                                         boost::system::error_code ignored;
                                         a->socket.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
                                         a->finish("");
                                     });
        });
    });
}

void RawTcpPrinter::cancel() {
    if (!current_) return;
    current_->cancelled = true;
    current_->finish("cancelled");
    current_.reset();
}

std::string RawTcpPrinter::describe() const {
    const bool v6 = host_.find(':') != std::string::npos;
    return "printer " + (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
}

std::unique_ptr<LabelPrinter> makeLabelPrinter(boost::asio::io_context& io, const LabelsConfig& c) {
    switch (c.printer) {
    case LabelsConfig::PrinterKind::None: return nullptr;
    case LabelsConfig::PrinterKind::Cups: return std::make_unique<LpPrinter>(io, c.lpCommand, c.cupsQueue, c.printTimeout);
    case LabelsConfig::PrinterKind::RawTcp: return std::make_unique<RawTcpPrinter>(io, c.host, c.port, c.printTimeout);
    }
    return nullptr;
}

} // namespace mto
