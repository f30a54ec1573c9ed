// SPDX-License-Identifier: Apache-2.0
// Barcode scanners on the agent's loop: evdev keyboard wedges, serial scanners and the TCP line input.
#include "scan/scanner.hpp"

#include <fcntl.h>
#include <linux/input.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <list>
#include <memory>
#include <utility>
#include <spdlog/spdlog.h>

#include "link/byte_link.hpp"
#include "mto/error.hpp"
#include "scan/evdev_decoder.hpp"
#include "scan/line_splitter.hpp"

namespace mto {

namespace asio = boost::asio;

Scanner::Scanner(asio::io_context& io, ScannerConfig config, ScanHandler onScan, ChangeHandler onChange)
    : io_(io), config_(std::move(config)), onScan_(std::move(onScan)), onChange_(std::move(onChange)), retry_(io) {}

void Scanner::start() {
    stopped_ = false;
    detail_ = "opening";
    open();
}

void Scanner::stop() {
    stopped_ = true;
    retry_.cancel();
    close();
    connected_ = false;
    detail_ = "stopped";
}

ScannerStatus Scanner::status() const {
    ScannerStatus s;
    s.id = config_.id;
    s.kind = config_.kind;
    s.station = config_.station;
    s.where = where();
    s.connected = connected_;
    s.detail = detail_;
    s.scans = scans_;
    return s;
}

void Scanner::connected(const std::string& detail) {
    const bool changed = !connected_;
    connected_ = true;
    detail_ = detail;
    backoff_ = kRetryMin;
    if (changed) {
        spdlog::info("scanner {}: connected ({})", config_.id, detail);
        if (onChange_) onChange_();
    }
}

void Scanner::retryLater(const std::string& why) {
    close();
    if (stopped_) return;
    const bool changed = connected_ || detail_ != why;
    if (connected_ || detail_ == "opening")
        spdlog::warn("scanner {}: disconnected: {}; trying {} again until it is back", config_.id, why, where());
    else if (changed)
        spdlog::warn("scanner {}: still not connected: {}", config_.id, why);
    connected_ = false;
    detail_ = why;
    if (changed && onChange_) onChange_();
    retry_.expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(kRetryMax));
    retry_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopped_) return;
        open();
    });
}

void Scanner::deliver(const std::string& raw, Reply reply) {
    ++scans_;
    // Answered once at most: by the handler, or here when the handler failed before it could.
    auto answered = std::make_shared<bool>(false);
    Reply once;
    if (reply)
        once = [reply, answered](const std::string& line) {
            if (std::exchange(*answered, true)) return;
            reply(line);
        };
    // One bad scan must never take a scanner (or the agent) down: the workflow reports its own failures.
    try {
        if (onScan_) onScan_(config_.id, raw, once);
        else if (once) once("refused not_stored no scan handler");
    } catch (const std::exception& e) {
        spdlog::error("scanner {}: scan '{}' could not be handled: {}", config_.id, raw, e.what());
        if (once) once("refused not_stored the scan could not be handled; scan it again");
    }
}

namespace {

std::string errnoText(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// A keyboard-wedge scanner as Linux sees it: /dev/input/eventN, grabbed so its keys reach only the agent.
// A FIFO of recorded input_event records is read the same way (its grab fails, which is fine); a regular
// file of records is replayed once.
class EvdevScanner final : public Scanner {
public:
    using Scanner::Scanner;
    ~EvdevScanner() override { close(); }

protected:
    std::string where() const override { return config_.path; }

    void open() override {
        const int fd = ::open(config_.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) return retryLater(errnoText("cannot open"));
        struct stat st {};
        if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) return replay(fd);
        std::string how = "evdev, grabbed";
        if (::ioctl(fd, EVIOCGRAB, 1) != 0) {
            // ENOTTY/EINVAL: not an evdev device (a FIFO of recorded events). EBUSY: someone else holds the
            // grab, and would get the keys: say so, but read anyway.
            if (errno == EBUSY)
                spdlog::warn("scanner {}: {} is grabbed by another program; scans may not arrive", config_.id,
                             config_.path);
            how = S_ISFIFO(st.st_mode) ? "pipe of recorded events" : "not grabbed: " + std::string(std::strerror(errno));
        }
        boost::system::error_code ec;
        desc_.assign(fd, ec);
        if (ec) {
            ::close(fd);
            return retryLater("cannot watch " + config_.path + ": " + ec.message());
        }
        decoder_.reset();
        connected(how);
        waitForInput();
    }

    void close() override {
        boost::system::error_code ignored;
        if (desc_.is_open()) desc_.close(ignored);   // closing also drops the grab
    }

private:
    // async_wait, then read: a read attempted before the first writer of a FIFO would see EOF.
    void waitForInput() {
        desc_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
            if (ec == asio::error::operation_aborted || stopped()) return;
            if (ec) return retryLater("wait failed: " + ec.message());
            for (;;) {
                const ssize_t n = ::read(desc_.native_handle(), buf_, sizeof buf_);
                if (n > 0) {
                    for (auto& scan : decoder_.feed(std::string_view(buf_, static_cast<std::size_t>(n))))
                        deliver(scan);
                    if (!desc_.is_open()) return;
                    continue;
                }
                if (n == 0) return retryLater("end of stream (device removed)");
                if (errno == EINTR) continue;
                if (errno == EAGAIN) break;
                return retryLater(errno == ENODEV ? "device removed" : errnoText("read failed"));
            }
            waitForInput();
        });
    }

    void replay(int fd) {
        // A recording on disk: read it once (capped, so a wrong path to a huge file cannot fill memory).
        std::size_t total = 0;
        for (;;) {
            const ssize_t n = ::read(fd, buf_, sizeof buf_);
            if (n <= 0 || (total += static_cast<std::size_t>(n)) > (1u << 20)) break;
            for (auto& scan : decoder_.feed(std::string_view(buf_, static_cast<std::size_t>(n)))) deliver(scan);
        }
        ::close(fd);
        connected("recording replayed once");
    }

    asio::posix::stream_descriptor desc_{io_};
    EvdevDecoder decoder_;
    char buf_[sizeof(input_event) * 64];
};

// A scanner on a serial port (or a serial-to-network bridge): one scan per line, CR or LF.
class SerialScanner final : public Scanner {
public:
    using Scanner::Scanner;
    ~SerialScanner() override { close(); }

protected:
    std::string where() const override { return config_.port; }

    void open() override {
        try {
            link_ = link::makeLink(io_, config_.port, config_.baud);
        } catch (const std::exception& e) {
            return retryLater(e.what());
        }
        splitter_.reset();
        link_->open(
            [this](const boost::system::error_code& ec) {
                if (stopped()) return;
                if (ec) return retryLater("cannot open: " + ec.message());
                connected(link_->describe());
            },
            [this](std::string_view bytes) {
                for (auto& line : splitter_.feed(bytes)) deliver(line);
            },
            [this](const boost::system::error_code& ec) {
                if (!stopped()) retryLater("link lost: " + ec.message());
            });
    }

    void close() override {
        if (link_) link_->close();
    }

private:
    std::unique_ptr<link::ByteLink> link_;
    LineSplitter splitter_;
};

// The line input: a TCP listener (loopback by default) taking one scan per line, for tests, the demo and
// any program that wants to act as a scanner. A few clients at once, each with its own line buffer. Each
// scan's outcome goes back to the client that sent it as one line, in the order it sent them; a client
// that ends its side (shutdown for writing) still gets the answers to what it sent, then the connection
// closes. A client that sends faster than it reads its answers is read no further while kMaxBacklog of
// its scans wait for their answer or for the answer to be written, so it cannot fill the agent's memory.
class LineScanner final : public Scanner {
public:
    static constexpr std::size_t kMaxClients = 16;
    static constexpr std::size_t kMaxBacklog = 64;
    using Scanner::Scanner;
    ~LineScanner() override { close(); }

protected:
    std::string where() const override { return config_.listen; }

    void open() override {
        const auto colon = config_.listen.rfind(':');
        boost::system::error_code ec;
        const auto address = asio::ip::make_address(config_.listen.substr(0, colon), ec);
        if (colon == std::string::npos || ec)
            return retryLater("listen address '" + config_.listen + "' is not host:port");
        const auto port = static_cast<unsigned short>(std::stoul(config_.listen.substr(colon + 1)));
        asio::ip::tcp::endpoint ep(address, port);
        acceptor_.open(ep.protocol(), ec);
        if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) acceptor_.bind(ep, ec);
        if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) return retryLater("cannot listen on " + config_.listen + ": " + ec.message());
        connected("listening on " + config_.listen);
        accept();
    }

    void close() override {
        boost::system::error_code ignored;
        if (acceptor_.is_open()) acceptor_.close(ignored);
        for (auto& c : clients_) {
            c->resume = nullptr;
            c->socket.close(ignored);
        }
        clients_.clear();
    }

private:
    // Shared by the reader and by the answers still to come (they hold it until they are sent), so a
    // client that has stopped sending still gets them.
    struct Client : std::enable_shared_from_this<Client> {
        explicit Client(asio::io_context& io) : socket(io) {}
        asio::ip::tcp::socket socket;
        LineSplitter splitter;
        char buf[1024];
        std::size_t unanswered = 0;       // scans delivered whose answer has not been queued yet
        bool readDone = false;            // the client ended its side: close once every answer is out
        std::deque<std::string> outbox;   // answers queued; the front one is being written
        std::function<void()> resume;     // reads again after a pause for backlog (empty once the scanner closed)
        bool paused = false;              // not reading: kMaxBacklog answers are owed or unwritten
        std::size_t backlog() const { return unanswered + outbox.size(); }
        Reply replyForNextScan() {
            ++unanswered;
            return [self = shared_from_this()](const std::string& line) {
                --self->unanswered;
                if (!self->socket.is_open()) return;
                self->outbox.push_back(line + "\n");
                if (self->outbox.size() == 1) self->writeFront();
            };
        }
        void resumeIfDrained() {
            if (!paused || backlog() >= kMaxBacklog / 2 || !resume) return;
            paused = false;
            resume();
        }
        void writeFront() {
            asio::async_write(socket, asio::buffer(outbox.front()),
                              [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                self->outbox.pop_front();
                if (ec) {
                    boost::system::error_code ignored;
                    self->socket.close(ignored);
                    self->outbox.clear();
                    return;
                }
                self->resumeIfDrained();
                if (!self->outbox.empty()) return self->writeFront();
                self->closeWhenAnswered();
            });
        }
        void closeWhenAnswered() {
            if (!readDone || unanswered > 0 || !outbox.empty()) return;
            boost::system::error_code ignored;
            socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
            socket.close(ignored);
        }
    };

    void accept() {
        acceptor_.async_accept([this](const boost::system::error_code& ec, asio::ip::tcp::socket socket) {
            if (ec == asio::error::operation_aborted || stopped()) return;
            if (ec) return retryLater("accept failed: " + ec.message());
            if (clients_.size() >= kMaxClients) {
                spdlog::warn("scanner {}: refusing a line-input client, {} are connected", config_.id, kMaxClients);
            } else {
                auto client = std::make_shared<Client>(io_);
                client->socket = std::move(socket);
                client->resume = [this, weak = std::weak_ptr<Client>(client)] {
                    if (auto c = weak.lock()) read(c);
                };
                clients_.push_back(client);
                read(client);
            }
            accept();
        });
    }

    void read(const std::shared_ptr<Client>& client) {
        client->socket.async_read_some(asio::buffer(client->buf),
                                       [this, client](const boost::system::error_code& ec, std::size_t n) {
            if (ec == asio::error::operation_aborted || stopped()) return;
            if (n > 0)
                for (auto& line : client->splitter.feed(std::string_view(client->buf, n)))
                    deliver(line, client->replyForNextScan());
            if (ec) {
                // The client ended its side or went away; an unfinished last line still counts as a scan.
                for (auto& line : client->splitter.feed("\n")) deliver(line, client->replyForNextScan());
                clients_.remove(client);
                client->readDone = true;
                if (ec != asio::error::eof) {
                    boost::system::error_code ignored;
                    client->socket.close(ignored);
                }
                client->closeWhenAnswered();
                return;
            }
            if (client->backlog() >= kMaxBacklog) {
                client->paused = true;   // its answers, once written, read on (resumeIfDrained)
                return;
            }
            read(client);
        });
    }

    asio::ip::tcp::acceptor acceptor_{io_};
    std::list<std::shared_ptr<Client>> clients_;
};

} // namespace

std::unique_ptr<Scanner> makeScanner(asio::io_context& io, const ScannerConfig& config, Scanner::ScanHandler onScan,
                                     Scanner::ChangeHandler onChange) {
    if (config.kind == "evdev") return std::make_unique<EvdevScanner>(io, config, std::move(onScan), std::move(onChange));
    if (config.kind == "serial") return std::make_unique<SerialScanner>(io, config, std::move(onScan), std::move(onChange));
    if (config.kind == "line") return std::make_unique<LineScanner>(io, config, std::move(onScan), std::move(onChange));
    throw Error("scanner " + config.id + ": unknown kind '" + config.kind + "' (evdev, serial or line)");
}

} // namespace mto
