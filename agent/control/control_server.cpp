// SPDX-License-Identifier: Apache-2.0
// The agent's local control channel: a Unix socket only its owner can use, one command line per connection.
#include "control/control_server.hpp"

#include <sys/stat.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <spdlog/spdlog.h>
#include <sstream>

#include "mto/error.hpp"

namespace mto {

namespace {

using boost::asio::local::stream_protocol;
constexpr std::size_t kMaxLine = 4096;
// Answers may be long (the status of a hundred machines and the head of the queue), commands may not.
constexpr std::size_t kMaxAnswer = 8 * 1024 * 1024;

std::vector<std::string> splitWords(const std::string& line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

// One client: read a line, answer it, close.
struct Session : std::enable_shared_from_this<Session> {
    Session(stream_protocol::socket s, ControlServer::Handler& h) : socket(std::move(s)), handler(h), buffer(kMaxLine) {}
    void run() {
        auto self = shared_from_this();
        boost::asio::async_read_until(socket, buffer, '\n', [self](const boost::system::error_code& ec, std::size_t n) {
            std::string answer;
            if (ec) {
                answer = "error: " + std::string(ec == boost::asio::error::not_found ? "line too long" : "no command");
            } else {
                std::string line(boost::asio::buffers_begin(self->buffer.data()),
                                 boost::asio::buffers_begin(self->buffer.data()) + static_cast<std::ptrdiff_t>(n));
                try {
                    answer = self->handler(splitWords(line));
                } catch (const std::exception& e) {
                    answer = std::string("error: ") + e.what();
                }
            }
            self->reply = answer + "\n";
            boost::asio::async_write(self->socket, boost::asio::buffer(self->reply),
                                     [self](const boost::system::error_code&, std::size_t) {
                                         boost::system::error_code ignored;
                                         self->socket.close(ignored);
                                     });
        });
    }
    stream_protocol::socket socket;
    ControlServer::Handler& handler;
    boost::asio::streambuf buffer;
    std::string reply;
};

} // namespace

ControlServer::ControlServer(boost::asio::io_context& io, std::filesystem::path socketPath, Handler handler)
    : io_(io), path_(std::move(socketPath)), handler_(std::move(handler)), acceptor_(io) {}

ControlServer::~ControlServer() { stop(); }

void ControlServer::start() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);   // a socket left by a crash; the state dir is the agent's own
    boost::system::error_code ec;
    // Created owner-only from the start, so no other user can connect between bind and chmod.
    const mode_t old = ::umask(0077);
    acceptor_.open(stream_protocol(), ec);
    if (!ec) acceptor_.bind(stream_protocol::endpoint(path_.string()), ec);
    ::umask(old);
    if (!ec) acceptor_.listen(16, ec);
    if (ec) throw Error("control socket " + path_.string() + ": " + ec.message());
    ::chmod(path_.c_str(), 0600);
    accept();
}

void ControlServer::stop() {
    if (!acceptor_.is_open()) return;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    std::error_code ec;
    std::filesystem::remove(path_, ec);
}

void ControlServer::accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, stream_protocol::socket socket) {
        if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open()) return;
        if (!ec) std::make_shared<Session>(std::move(socket), handler_)->run();
        accept();
    });
}

std::string describeTimeout(std::chrono::milliseconds timeout) {
    const auto ms = timeout.count();
    std::string text = std::to_string(ms / 1000);
    if (ms % 1000 != 0) {
        std::string frac = std::to_string(1000 + ms % 1000).substr(1);
        while (frac.back() == '0') frac.pop_back();
        text += "." + frac;
    }
    return text + " s";
}

std::string controlRequest(const std::filesystem::path& socketPath, const std::string& command,
                           std::chrono::milliseconds timeout) {
    boost::asio::io_context io;
    stream_protocol::socket socket(io);
    boost::asio::streambuf answer(kMaxAnswer);
    const std::string line = command + "\n";
    // Each step starts the next from its handler; the whole exchange runs under one deadline.
    enum class Step { Connecting, Sending, Waiting, Answered } step = Step::Connecting;
    boost::system::error_code failed;
    std::size_t length = 0;
    const stream_protocol::endpoint endpoint(socketPath.string());
    socket.async_connect(endpoint, [&](const boost::system::error_code& connectEc) {
        if (connectEc) return void(failed = connectEc);
        step = Step::Sending;
        boost::asio::async_write(socket, boost::asio::buffer(line), [&](const boost::system::error_code& writeEc,
                                                                        std::size_t) {
            if (writeEc) return void(failed = writeEc);
            step = Step::Waiting;
            boost::asio::async_read_until(socket, answer, '\n', [&](const boost::system::error_code& ec, std::size_t n) {
                if (ec) return void(failed = ec);
                length = n;
                step = Step::Answered;
            });
        });
    });
    io.run_for(timeout);
    if (step != Step::Answered && !failed) {
        // Out of time: let the pending operation end (aborted) before its buffers go.
        const Step reached = step;
        boost::system::error_code ignored;
        socket.close(ignored);
        io.restart();
        io.run();
        throw Error("the agent at " + socketPath.string() + " did not " +
                    (reached == Step::Connecting ? "take the connection" : "answer") + " within " +
                    describeTimeout(timeout) +
                    " (it may be stuck: see journalctl -u mto-agent; --timeout waits longer)");
    }
    if (failed && step == Step::Connecting)
        throw Error("cannot reach the agent at " + socketPath.string() + ": " + failed.message() + " (is it running?)");
    if (failed && step == Step::Sending) throw Error("sending to the agent failed: " + failed.message());
    if (failed) throw Error("no answer from the agent: " + failed.message());
    return std::string(boost::asio::buffers_begin(answer.data()),
                       boost::asio::buffers_begin(answer.data()) + static_cast<std::ptrdiff_t>(length) - 1);
}

} // namespace mto
