// SPDX-License-Identifier: Apache-2.0
// The agent's local control channel: a Unix socket only its owner can use, one command line per connection.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace mto {

// Thread-bound to the io_context. The protocol is one line each way: the client sends words separated by
// spaces and a newline ("clear laser-1"); the agent answers "ok[ detail]" or "error: reason" and closes.
// A command line is at most 4 KiB; an answer may be up to 8 MiB (`status` answers with a line of JSON).
class ControlServer {
public:
    using Handler = std::function<std::string(const std::vector<std::string>& words)>;

    ControlServer(boost::asio::io_context& io, std::filesystem::path socketPath, Handler handler);
    ~ControlServer();
    // Binds the socket (mode 0600; a stale one left by a crash is replaced); throws mto::Error when it cannot.
    void start();
    void stop();

private:
    void accept();

    boost::asio::io_context& io_;
    std::filesystem::path path_;
    Handler handler_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
};

// How long mtoctl waits for the agent to take a command and answer it, unless told otherwise (--timeout).
inline constexpr std::chrono::milliseconds kControlTimeout{10000};

// The client side, for mtoctl: sends one command, returns the answer line. Throws mto::Error when the agent
// cannot be reached, or has not answered within `timeout` from the start (connect, send and reply together):
// an agent that is stuck does not hang an operator's terminal or a script.
std::string controlRequest(const std::filesystem::path& socketPath, const std::string& command,
                           std::chrono::milliseconds timeout = kControlTimeout);

// "10 s", "0.5 s": a timeout as the messages above say it.
std::string describeTimeout(std::chrono::milliseconds timeout);

} // namespace mto
