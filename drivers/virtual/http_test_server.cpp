// SPDX-License-Identifier: Apache-2.0
// A loopback HTTP/1.1 server for the print-host test servers: answers each request through one handler, and can
// stop and start again on the same port (a host restart).
#include "virtual/http_test_server.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <stdexcept>

namespace mto::virt {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

HttpReply jsonReply(unsigned status, std::string body) {
    HttpReply r{static_cast<bhttp::status>(status), 11};
    r.set(bhttp::field::content_type, "application/json");
    r.set(bhttp::field::server, "mto-machine-sim");
    r.body() = std::move(body);
    r.prepare_payload();
    return r;
}

bool parseFormData(const HttpRequest& req, FormData& out) {
    const std::string type(req[bhttp::field::content_type]);
    const auto b = type.find("boundary=");
    if (type.rfind("multipart/form-data", 0) != 0 || b == std::string::npos) return false;
    std::string boundary = type.substr(b + 9);
    if (!boundary.empty() && boundary.front() == '"') boundary = boundary.substr(1, boundary.find('"', 1) - 1);
    const std::string delim = "--" + boundary;
    const std::string& body = req.body();
    std::size_t pos = body.find(delim);
    if (pos == std::string::npos) return false;
    while (true) {
        pos += delim.size();
        if (body.compare(pos, 2, "--") == 0) return true;   // the closing delimiter
        if (body.compare(pos, 2, "\r\n") != 0) return false;
        pos += 2;
        const auto headersEnd = body.find("\r\n\r\n", pos);
        if (headersEnd == std::string::npos) return false;
        const std::string headers = body.substr(pos, headersEnd - pos);
        const auto next = body.find("\r\n" + delim, headersEnd + 4);
        if (next == std::string::npos) return false;
        std::string value = body.substr(headersEnd + 4, next - headersEnd - 4);
        auto param = [&headers](const std::string& key) -> std::optional<std::string> {
            const auto at = headers.find(key + "=\"");
            if (at == std::string::npos) return std::nullopt;
            const auto start = at + key.size() + 2;
            return headers.substr(start, headers.find('"', start) - start);
        };
        const auto name = param(" name");
        if (!name) return false;
        if (const auto filename = param("filename")) {
            out.files[*name] = std::move(value);
            out.fileNames[*name] = *filename;
        } else {
            out.fields[*name] = std::move(value);
        }
        pos = next + 2;
    }
}

struct HttpTestServer::Connection : std::enable_shared_from_this<HttpTestServer::Connection> {
    Connection(tcp::socket s, Handler& h, UpgradeHandler& u, std::shared_ptr<bool> alive)
        : stream(std::move(s)), handler(h), upgrade(u), serverAlive(std::move(alive)) {}

    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    std::unique_ptr<bhttp::request_parser<bhttp::string_body>> parser;
    HttpReply reply;
    Handler& handler;
    UpgradeHandler& upgrade;
    std::weak_ptr<bool> serverAlive;

    void read() {
        parser = std::make_unique<bhttp::request_parser<bhttp::string_body>>();
        parser->body_limit(256u << 20);
        auto self = shared_from_this();
        bhttp::async_read(stream, buffer, *parser, [self](const beast::error_code& ec, std::size_t) {
            if (ec || !self->serverAlive.lock()) return self->close();
            HttpRequest req = self->parser->release();
            if (boost::beast::websocket::is_upgrade(req) && self->upgrade) {
                auto up = self->upgrade;
                return up(std::move(self->stream), std::move(req));
            }
            try {
                self->reply = self->handler(req);
            } catch (const std::exception& e) {
                self->reply = jsonReply(500, std::string("{\"error\":\"") + e.what() + "\"}");
            }
            self->reply.keep_alive(req.keep_alive());
            const bool keep = req.keep_alive();
            bhttp::async_write(self->stream, self->reply, [self, keep](const beast::error_code& ec2, std::size_t) {
                if (ec2 || !keep) return self->close();
                self->read();
            });
        });
    }
    void close() {
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream.close();
    }
};

HttpTestServer::HttpTestServer(boost::asio::io_context& io, Handler handler)
    : io_(io), handler_(std::move(handler)), alive_(std::make_shared<bool>(true)) {}

HttpTestServer::~HttpTestServer() { stop(); }

std::uint16_t HttpTestServer::start(std::uint16_t port) {
    if (acceptor_) return port_;
    auto a = std::make_unique<tcp::acceptor>(io_);
    const tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"), port);
    a->open(ep.protocol());
    a->set_option(tcp::acceptor::reuse_address(true));
    boost::system::error_code ec;
    a->bind(ep, ec);
    if (ec) throw std::runtime_error("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + ec.message());
    a->listen();
    port_ = a->local_endpoint().port();
    acceptor_ = std::move(a);
    alive_ = std::make_shared<bool>(true);
    accept();
    return port_;
}

void HttpTestServer::stop() {
    if (acceptor_) {
        boost::system::error_code ignored;
        acceptor_->close(ignored);
        acceptor_.reset();
    }
    alive_.reset();
    for (auto& w : connections_)
        if (auto c = w.lock()) c->close();
    connections_.clear();
}

void HttpTestServer::accept() {
    acceptor_->async_accept([this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec,
                                                                         tcp::socket socket) {
        if (ec || !alive.lock() || !acceptor_) return;
        auto c = std::make_shared<Connection>(std::move(socket), handler_, upgrade_, alive_);
        connections_.remove_if([](const std::weak_ptr<Connection>& w) { return w.expired(); });
        connections_.push_back(c);
        c->read();
        accept();
    });
}

} // namespace mto::virt
