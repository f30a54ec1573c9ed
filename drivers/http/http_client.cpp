// SPDX-License-Identifier: Apache-2.0
// A small asynchronous HTTP/1.1 client for print hosts: one connection per request, deadlines on every step.
#include "http/http_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <random>
#include <stdexcept>

namespace mto::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

HttpUrl parseHttpUrl(const std::string& url) {
    const std::string scheme = "http://";
    if (url.rfind(scheme, 0) != 0)
        throw std::invalid_argument("'" + url + "' is not an http:// URL (https is not supported; put the host on the LAN)");
    std::string rest = url.substr(scheme.size());
    HttpUrl u;
    const auto slash = rest.find('/');
    if (slash != std::string::npos) {
        u.basePath = rest.substr(slash);
        rest = rest.substr(0, slash);
        while (!u.basePath.empty() && u.basePath.back() == '/') u.basePath.pop_back();
    }
    const auto colon = rest.rfind(':');
    if (colon != std::string::npos && rest.find(']') == std::string::npos) {
        u.port = rest.substr(colon + 1);
        rest = rest.substr(0, colon);
        if (u.port.empty() || u.port.find_first_not_of("0123456789") != std::string::npos || std::stoul(u.port) == 0 ||
            std::stoul(u.port) > 65535)
            throw std::invalid_argument("'" + url + "': the port must be a number 1..65535");
    }
    if (rest.empty()) throw std::invalid_argument("'" + url + "' names no host");
    u.host = rest;
    return u;
}

std::pair<std::string, std::string> multipartBody(const std::vector<FormPart>& parts) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    const std::string boundary = "----mto" + std::to_string(rng()) + std::to_string(rng());
    std::string body;
    for (const auto& p : parts) {
        body += "--" + boundary + "\r\n";
        body += "Content-Disposition: form-data; name=\"" + p.name + "\"";
        if (!p.filename.empty()) {
            body += "; filename=\"" + p.filename + "\"\r\n";
            body += "Content-Type: " + (p.contentType.empty() ? std::string("application/octet-stream") : p.contentType);
        }
        body += "\r\n\r\n";
        body += p.value;
        body += "\r\n";
    }
    body += "--" + boundary + "--\r\n";
    return {std::move(body), "multipart/form-data; boundary=" + boundary};
}

std::string errorText(const HttpResponse& r) {
    std::string words;
    boost::system::error_code ec;
    const auto v = boost::json::parse(r.body, ec);
    if (!ec && v.is_object()) {
        const auto& o = v.as_object();
        if (const auto* e = o.if_contains("error")) {
            if (e->is_string()) words = std::string(e->as_string());
            else if (e->is_object() && e->as_object().contains("message") && e->as_object().at("message").is_string())
                words = std::string(e->as_object().at("message").as_string());
        }
    }
    if (words.empty()) {
        words = r.body.substr(0, 300);
        while (!words.empty() && (words.back() == '\n' || words.back() == '\r')) words.pop_back();
    }
    return "the host answered " + std::to_string(r.status) + (words.empty() ? "" : ": " + words);
}

struct HttpClient::Session : std::enable_shared_from_this<HttpClient::Session> {
    Session(boost::asio::io_context& io) : resolver(io), stream(io) {}

    tcp::resolver resolver;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> req;
    bhttp::response_parser<bhttp::string_body> parser;
    std::chrono::milliseconds timeout{};
    Handler handler;
    bool cancelled = false;

    void finish(const boost::system::error_code& ec, HttpResponse r = {}) {
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream.close();
        if (cancelled || !handler) return;
        auto h = std::move(handler);
        handler = nullptr;
        h(ec, std::move(r));
    }

    void run(const std::string& host, const std::string& port) {
        auto self = shared_from_this();
        resolver.async_resolve(host, port, [self](const beast::error_code& ec, tcp::resolver::results_type results) {
            if (ec) return self->finish(ec);
            if (self->cancelled) return self->finish(boost::asio::error::operation_aborted);
            self->stream.expires_after(self->timeout);
            self->stream.async_connect(results, [self](const beast::error_code& ec2, const tcp::endpoint&) {
                if (ec2) return self->finish(ec2);
                self->stream.expires_after(self->timeout);
                bhttp::async_write(self->stream, self->req, [self](const beast::error_code& ec3, std::size_t) {
                    if (ec3) return self->finish(ec3);
                    self->stream.expires_after(self->timeout);
                    bhttp::async_read(self->stream, self->buffer, self->parser,
                                      [self](const beast::error_code& ec4, std::size_t) {
                                          if (ec4) return self->finish(ec4);
                                          auto& res = self->parser.get();
                                          HttpResponse r;
                                          r.status = static_cast<int>(res.result_int());
                                          r.contentType = std::string(res[bhttp::field::content_type]);
                                          r.body = std::move(res.body());
                                          self->finish({}, std::move(r));
                                      });
                });
            });
        });
    }
};

HttpClient::HttpClient(boost::asio::io_context& io, HttpUrl url) : io_(io), url_(std::move(url)) {}

HttpClient::~HttpClient() { cancelAll(); }

std::string HttpClient::describe() const { return "http://" + url_.host + ":" + url_.port + url_.basePath; }

void HttpClient::request(bhttp::verb method, const std::string& target, std::string body,
                         const std::string& contentType, const Headers& headers, std::chrono::milliseconds timeout,
                         Handler handler) {
    live_.remove_if([](const std::weak_ptr<Session>& w) { return w.expired(); });
    auto s = std::make_shared<Session>(io_);
    s->timeout = timeout;
    s->handler = std::move(handler);
    s->parser.body_limit(64u << 20);
    s->req.method(method);
    s->req.target(url_.basePath + target);
    s->req.version(11);
    s->req.set(bhttp::field::host, url_.host + ":" + url_.port);
    s->req.set(bhttp::field::user_agent, "mto-agent");
    s->req.set(bhttp::field::connection, "close");
    for (const auto& [k, v] : headers) s->req.set(k, v);
    if (!contentType.empty()) s->req.set(bhttp::field::content_type, contentType);
    if (!body.empty() || method == bhttp::verb::post) {
        s->req.body() = std::move(body);
        s->req.prepare_payload();
    }
    live_.push_back(s);
    s->run(url_.host, url_.port);
}

void HttpClient::cancelAll() {
    for (auto& w : live_) {
        if (auto s = w.lock()) {
            s->cancelled = true;
            s->resolver.cancel();
            beast::error_code ignored;
            s->stream.socket().cancel(ignored);
            s->stream.close();
        }
    }
    live_.clear();
}

} // namespace mto::http
