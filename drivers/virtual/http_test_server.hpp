// SPDX-License-Identifier: Apache-2.0
// A loopback HTTP/1.1 server for the print-host test servers: answers each request through one handler, and can
// stop and start again on the same port (a host restart).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace mto::virt {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpReply = boost::beast::http::response<boost::beast::http::string_body>;

// A JSON answer with the given status.
HttpReply jsonReply(unsigned status, std::string body);

// The fields and files of a multipart/form-data body.
struct FormData {
    std::map<std::string, std::string> fields;   // by name
    std::map<std::string, std::string> files;    // by field name: contents
    std::map<std::string, std::string> fileNames;// by field name: the filename given
};
// nullopt-like: returns false when the body is not multipart/form-data with a boundary.
bool parseFormData(const HttpRequest& req, FormData& out);

// Thread-bound to the io_context. stop() closes the listener and every open connection at once, as a host
// process that dies would.
class HttpTestServer {
public:
    using Handler = std::function<HttpReply(const HttpRequest&)>;
    // Takes over a connection whose request asks for a WebSocket upgrade (none set: such requests get 404).
    using UpgradeHandler = std::function<void(boost::beast::tcp_stream stream, HttpRequest req)>;

    HttpTestServer(boost::asio::io_context& io, Handler handler);
    ~HttpTestServer();

    // Listens on 127.0.0.1:port (0 = a free port); returns the port.
    std::uint16_t start(std::uint16_t port = 0);
    void stop();
    void setUpgradeHandler(UpgradeHandler h) { upgrade_ = std::move(h); }
    bool running() const { return acceptor_ != nullptr; }
    std::uint16_t port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

    struct Connection;

private:
    void accept();

    boost::asio::io_context& io_;
    Handler handler_;
    UpgradeHandler upgrade_;
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
    std::uint16_t port_ = 0;
    std::list<std::weak_ptr<Connection>> connections_;
    std::shared_ptr<bool> alive_;
};

} // namespace mto::virt
