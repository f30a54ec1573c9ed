// SPDX-License-Identifier: Apache-2.0
// A small asynchronous HTTP/1.1 client for print hosts: one connection per request, deadlines on every step.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mto::http {

// http://host:port[/prefix], split. Throws std::invalid_argument saying what is wrong with it.
struct HttpUrl {
    std::string host;
    std::string port = "80";
    std::string basePath;   // without a trailing '/', "" for the root
};
HttpUrl parseHttpUrl(const std::string& url);

struct HttpResponse {
    int status = 0;
    std::string body;
    std::string contentType;
};

// One part of a multipart/form-data body.
struct FormPart {
    std::string name;
    std::string value;
    std::string filename;      // non-empty: a file part
    std::string contentType;   // for file parts; application/octet-stream when empty
};

// The body and its Content-Type (with the boundary) of a multipart/form-data request.
std::pair<std::string, std::string> multipartBody(const std::vector<FormPart>& parts);

// Thread-bound to the io_context. Each request opens its own connection and closes it after the answer, so a
// host restart never leaves a stale keep-alive socket behind. cancelAll() drops every request in flight: their
// handlers are not called (the owner may be going away).
class HttpClient {
public:
    using Handler = std::function<void(const boost::system::error_code&, HttpResponse)>;
    using Headers = std::vector<std::pair<std::string, std::string>>;

    HttpClient(boost::asio::io_context& io, HttpUrl url);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // `target` is appended to the URL's base path. `timeout` bounds connect, write and read, each.
    void request(boost::beast::http::verb method, const std::string& target, std::string body,
                 const std::string& contentType, const Headers& headers, std::chrono::milliseconds timeout,
                 Handler handler);
    void cancelAll();
    const HttpUrl& url() const { return url_; }
    std::string describe() const;

    struct Session;

private:
    boost::asio::io_context& io_;
    HttpUrl url_;
    std::list<std::weak_ptr<Session>> live_;
};

// "the host answered 409: <its words>", with the JSON error text when the body carries one.
std::string errorText(const HttpResponse& r);

} // namespace mto::http
