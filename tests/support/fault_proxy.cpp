// SPDX-License-Identifier: Apache-2.0
// A TCP proxy between the agent and the broker that injects network faults into MQTT traffic.
#include "fault_proxy.hpp"

#include <boost/asio.hpp>

#include <list>
#include <optional>
#include <string>
#include <random>
#include <vector>

namespace mto::test {

namespace asio = boost::asio;
using asio::ip::tcp;

class FaultProxy::Impl {
public:
    Impl(int brokerPort, std::uint64_t seed)
        : brokerPort_(brokerPort), acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
          rng_(seed) {
        acceptor_.set_option(tcp::acceptor::reuse_address(true));
        accept();
        thread_ = std::thread([this] { io_.run(); });
    }

    ~Impl() {
        asio::post(io_, [this] {
            acceptor_.close();
            for (auto& w : sessions_)
                if (auto s = w.lock()) s->close();
        });
        work_.reset();   // the closed sockets end every pending operation, then run() returns
        thread_.join();
    }

    int port() const { return acceptor_.local_endpoint().port(); }

    void set(const FaultSettings& s) {
        std::lock_guard lock(mutex_);
        settings_ = s;
    }
    FaultSettings settings() {
        std::lock_guard lock(mutex_);
        return settings_;
    }
    FaultCounters counters() {
        std::lock_guard lock(mutex_);
        return counters_;
    }
    void refuse(bool on) { refusing_ = on; }

    void cutAll() {
        asio::post(io_, [this] {
            for (auto& w : sessions_)
                if (auto s = w.lock(); s && s->open()) {
                    s->close();
                    count([](FaultCounters& c) { ++c.cuts; });
                }
        });
    }

    void cutSoon(std::uint64_t withinBytes) {
        asio::post(io_, [this, withinBytes] {
            std::uniform_int_distribution<std::uint64_t> d(1, std::max<std::uint64_t>(withinBytes, 1));
            cutAfter_ = static_cast<std::int64_t>(d(rng_));
        });
    }

private:
    // One client connection and its broker connection. Lives on the proxy's thread only.
    class Session : public std::enable_shared_from_this<Session> {
    public:
        Session(Impl& proxy, tcp::socket client) : proxy_(proxy), client_(std::move(client)), broker_(proxy.io_) {}

        void start() {
            auto self = shared_from_this();
            broker_.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                                static_cast<unsigned short>(proxy_.brokerPort_)),
                                  [self](const boost::system::error_code& ec) {
                                      if (ec) return self->close();
                                      self->pump(self->client_, self->broker_, true);
                                      self->pump(self->broker_, self->client_, false);
                                  });
        }

        bool open() const { return open_; }

        void close() {
            if (!open_) return;
            open_ = false;
            boost::system::error_code ec;
            client_.shutdown(tcp::socket::shutdown_both, ec);
            broker_.shutdown(tcp::socket::shutdown_both, ec);
            client_.close(ec);
            broker_.close(ec);
        }

    private:
        // Reads from `from`, applies the faults, writes to `to`; `up` is client → broker.
        void pump(tcp::socket& from, tcp::socket& to, bool up) {
            auto self = shared_from_this();
            auto buf = std::make_shared<std::vector<char>>(16384);
            from.async_read_some(asio::buffer(*buf), [self, buf, &from, &to, up](const boost::system::error_code& ec,
                                                                               std::size_t n) {
                if (ec || !self->open_) return self->close();
                buf->resize(n);
                std::string bytes(buf->begin(), buf->end());
                self->proxy_.count([&](FaultCounters& c) { (up ? c.bytesUp : c.bytesDown) += n; });
                if (!up) bytes = self->filterDown(bytes);
                self->forward(std::move(bytes), from, to, up);
            });
        }

        void forward(std::string bytes, tcp::socket& from, tcp::socket& to, bool up) {
            auto self = shared_from_this();
            FaultSettings s = proxy_.settings();
            if (s.stall || s.delay.count() > 0) {
                auto timer = std::make_shared<asio::steady_timer>(proxy_.io_);
                timer->expires_after(s.stall ? std::chrono::milliseconds(10) : s.delay);
                timer->async_wait([self, timer, bytes = std::move(bytes), &from, &to, up, stalled = s.stall](
                                      const boost::system::error_code&) mutable {
                    if (!self->open_) return;
                    if (stalled)   // look again until the stall is lifted, then apply any delay
                        return self->forward(std::move(bytes), from, to, up);
                    self->write(std::move(bytes), from, to, up);
                });
                return;
            }
            write(std::move(bytes), from, to, up);
        }

        void write(std::string bytes, tcp::socket& from, tcp::socket& to, bool up) {
            auto self = shared_from_this();
            bool cutHere = false;
            if (proxy_.cutAfter_ >= 0) {
                auto left = proxy_.cutAfter_;
                if (static_cast<std::int64_t>(bytes.size()) >= left) {
                    bytes.resize(static_cast<std::size_t>(left));   // the link dies mid-stream
                    proxy_.cutAfter_ = -1;
                    cutHere = true;
                } else {
                    proxy_.cutAfter_ -= static_cast<std::int64_t>(bytes.size());
                }
            }
            auto data = std::make_shared<std::string>(std::move(bytes));
            asio::async_write(to, asio::buffer(*data),
                              [self, data, &from, &to, up, cutHere](const boost::system::error_code& ec, std::size_t) {
                                  if (cutHere) {
                                      self->proxy_.count([](FaultCounters& c) { ++c.cuts; });
                                      return self->close();
                                  }
                                  if (ec) return self->close();
                                  self->pump(from, to, up);
                              });
        }

        // Cuts broker → client bytes into MQTT packets and drops PUBACKs when told to.
        std::string filterDown(const std::string& bytes) {
            pending_ += bytes;
            std::string out;
            std::size_t pos = 0;
            const bool swallow = proxy_.settings().swallowPubacks;
            for (;;) {
                // Fixed header: one type byte, then a remaining length of 1–4 bytes, 7 bits each.
                if (pending_.size() - pos < 2) break;
                std::size_t len = 0, i = pos + 1;
                int shift = 0;
                bool complete = false;
                while (i < pending_.size() && shift <= 21) {
                    auto b = static_cast<unsigned char>(pending_[i++]);
                    len |= static_cast<std::size_t>(b & 0x7f) << shift;
                    shift += 7;
                    if (!(b & 0x80)) {
                        complete = true;
                        break;
                    }
                }
                if (!complete || pending_.size() - i < len) break;
                const std::size_t end = i + len;
                const bool puback = (static_cast<unsigned char>(pending_[pos]) & 0xf0) == 0x40;
                if (puback && swallow)
                    proxy_.count([](FaultCounters& c) { ++c.pubacksSwallowed; });
                else {
                    if (puback) proxy_.count([](FaultCounters& c) { ++c.pubacksForwarded; });
                    out.append(pending_, pos, end - pos);
                }
                pos = end;
            }
            pending_.erase(0, pos);
            return out;
        }

        Impl& proxy_;
        tcp::socket client_;
        tcp::socket broker_;
        bool open_ = true;
        std::string pending_;
    };

    template <class F>
    void count(F f) {
        std::lock_guard lock(mutex_);
        f(counters_);
    }

    void accept() {
        acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted) return;
            if (!ec) {
                if (refusing_) {
                    boost::system::error_code ignored;
                    socket.close(ignored);
                } else {
                    socket.set_option(tcp::no_delay(true));
                    auto s = std::make_shared<Session>(*this, std::move(socket));
                    sessions_.remove_if([](const std::weak_ptr<Session>& w) { return w.expired(); });
                    sessions_.push_back(s);
                    count([](FaultCounters& c) { ++c.connections; });
                    s->start();
                }
            }
            accept();
        });
    }

    int brokerPort_;
    asio::io_context io_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{io_.get_executor()};
    tcp::acceptor acceptor_;
    std::list<std::weak_ptr<Session>> sessions_;
    std::mt19937_64 rng_;
    std::int64_t cutAfter_ = -1;   // bytes until the next planned cut; proxy thread only
    std::atomic<bool> refusing_{false};
    std::mutex mutex_;
    FaultSettings settings_;
    FaultCounters counters_;
    std::thread thread_;
};

FaultProxy::FaultProxy(int brokerPort, std::uint64_t seed)
    : impl_(std::make_unique<Impl>(brokerPort, seed)), port_(impl_->port()) {}
FaultProxy::~FaultProxy() = default;
void FaultProxy::set(const FaultSettings& s) { impl_->set(s); }
FaultSettings FaultProxy::settings() { return impl_->settings(); }
void FaultProxy::cutAll() { impl_->cutAll(); }
void FaultProxy::cutSoon(std::uint64_t withinBytes) { impl_->cutSoon(withinBytes); }
void FaultProxy::refuseConnections(bool on) { impl_->refuse(on); }
FaultCounters FaultProxy::counters() { return impl_->counters(); }

} // namespace mto::test
