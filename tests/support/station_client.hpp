// SPDX-License-Identifier: Apache-2.0
// Test clients of the station display: one HTTP request, and a page following a station's server-sent events.
#pragma once

#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

namespace mto::test {

struct HttpAnswer {
    int status = 0;
    std::string contentType;
    std::string allow;
    std::string body;
};

// One request on a fresh connection; throws on a transport error.
inline HttpAnswer httpRequest(int port, const std::string& method, const std::string& target) {
    namespace http = boost::beast::http;
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket socket(io);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    if (req.method() == http::verb::unknown) req.method_string(method);
    req.set(http::field::host, "127.0.0.1");
    if (method == "POST" || method == "PUT") req.body() = "{}";
    req.prepare_payload();
    http::write(socket, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    return {static_cast<int>(res.result_int()), std::string(res[http::field::content_type]),
            std::string(res[http::field::allow]), res.body()};
}

inline HttpAnswer httpGet(int port, const std::string& target) { return httpRequest(port, "GET", target); }

// A page following /station/<id>/events: next() returns each `data:` payload as it comes.
class EventStreamClient {
public:
    EventStreamClient(int port, const std::string& target) : socket_(io_) {
        socket_.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
        const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
        boost::asio::write(socket_, boost::asio::buffer(req));
        while (pending_.find("\r\n\r\n") == std::string::npos)
            if (!fill(std::chrono::seconds(10))) throw std::runtime_error("no answer head: " + pending_);
        const auto end = pending_.find("\r\n\r\n");
        head_ = pending_.substr(0, end);
        pending_.erase(0, end + 4);
    }

    // The status line and headers.
    const std::string& head() const { return head_; }

    // The next event's data, or nullopt when none came in time or the server closed.
    std::optional<std::string> next(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            for (auto end = pending_.find("\n\n"); end != std::string::npos; end = pending_.find("\n\n")) {
                const std::string block = pending_.substr(0, end);
                pending_.erase(0, end + 2);
                if (block.rfind("data: ", 0) == 0) return block.substr(6);
                if (block.rfind(": ", 0) == 0) ++comments_;   // keep-alive
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || !fill(left)) return std::nullopt;
        }
    }

    int comments() const { return comments_; }
    bool closed() const { return closed_; }

private:
    bool fill(std::chrono::milliseconds timeout) {
        pollfd p{socket_.native_handle(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
        char buf[65536];
        boost::system::error_code ec;
        const auto n = socket_.read_some(boost::asio::buffer(buf), ec);
        if (ec) {
            closed_ = true;
            return false;
        }
        pending_.append(buf, n);
        return true;
    }

    boost::asio::io_context io_;
    boost::asio::ip::tcp::socket socket_;
    std::string head_;
    std::string pending_;
    int comments_ = 0;
    bool closed_ = false;
};

} // namespace mto::test
