// SPDX-License-Identifier: Apache-2.0
// Serial and TCP byte links on Boost.Asio: raw 8N1 serial ports (ptys included) and serial-to-network bridges.
#include "link/byte_link.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/serial_port.hpp>
#include <boost/asio/write.hpp>
#include <array>

namespace mto::link {

namespace {

// The shared part: one write in flight at a time, reads re-armed until an error or close().
// `Stream` is boost::asio::serial_port or ip::tcp::socket. A generation number keeps handlers of a closed
// stream from reaching the owner: close() bumps it, and late completions of the old one are ignored.
template <typename Stream>
class StreamLink : public ByteLink {
public:
    explicit StreamLink(boost::asio::io_context& io) : io_(io), stream_(io) {}
    ~StreamLink() override { closeStream(); }

    void close() override { closeStream(); }
    bool isOpen() const override { return open_; }
    std::size_t pendingBytes() const override {
        std::size_t n = 0;
        for (const auto& chunk : queue_) n += chunk.size();
        return n;
    }

    void write(std::string bytes) override {
        if (!open_ || bytes.empty()) return;
        queue_.push_back(std::move(bytes));
        if (!writing_) writeNext();
    }

protected:
    void started(DataHandler data, ErrorHandler error) {
        open_ = true;
        data_ = std::move(data);
        error_ = std::move(error);
        readNext();
    }

    void closeStream() {
        ++generation_;
        open_ = false;
        writing_ = false;
        queue_.clear();
        boost::system::error_code ignored;
        stream_.close(ignored);
    }

    void fail(const boost::system::error_code& ec) {
        if (!open_) return;
        auto handler = error_;
        closeStream();
        if (handler) handler(ec);
    }

    void readNext() {
        stream_.async_read_some(boost::asio::buffer(buffer_),
                                [this, gen = generation_](const boost::system::error_code& ec, std::size_t n) {
                                    if (gen != generation_) return;
                                    if (ec) return fail(ec);
                                    if (data_) data_(std::string_view(buffer_.data(), n));
                                    if (gen == generation_ && open_) readNext();
                                });
    }

    void writeNext() {
        if (queue_.empty()) {
            writing_ = false;
            return;
        }
        writing_ = true;
        boost::asio::async_write(stream_, boost::asio::buffer(queue_.front()),
                                 [this, gen = generation_](const boost::system::error_code& ec, std::size_t) {
                                     if (gen != generation_) return;
                                     if (ec) return fail(ec);
                                     queue_.pop_front();
                                     writeNext();
                                 });
    }

    boost::asio::io_context& io_;
    Stream stream_;
    bool open_ = false;
    bool writing_ = false;
    std::uint64_t generation_ = 0;
    std::deque<std::string> queue_;
    std::array<char, 4096> buffer_{};
    DataHandler data_;
    ErrorHandler error_;
};

class SerialLink final : public StreamLink<boost::asio::serial_port> {
public:
    SerialLink(boost::asio::io_context& io, std::string device, unsigned baud)
        : StreamLink(io), device_(std::move(device)), baud_(baud) {}

    void open(OpenHandler opened, DataHandler data, ErrorHandler error) override {
        closeStream();
        boost::system::error_code ec;
        stream_.open(device_, ec);
        using sp = boost::asio::serial_port_base;
        if (!ec) stream_.set_option(sp::baud_rate(baud_), ec);
        if (!ec) stream_.set_option(sp::character_size(8), ec);
        if (!ec) stream_.set_option(sp::parity(sp::parity::none), ec);
        if (!ec) stream_.set_option(sp::stop_bits(sp::stop_bits::one), ec);
        if (!ec) stream_.set_option(sp::flow_control(sp::flow_control::none), ec);
        if (ec) {
            boost::system::error_code ignored;
            stream_.close(ignored);
        } else {
            started(std::move(data), std::move(error));
        }
        // Always asynchronous, like the TCP link, so callers have one code path.
        boost::asio::post(io_, [opened = std::move(opened), ec] { opened(ec); });
    }

    std::string describe() const override { return "serial " + device_ + " @" + std::to_string(baud_); }

private:
    std::string device_;
    unsigned baud_;
};

class TcpLink final : public StreamLink<boost::asio::ip::tcp::socket> {
public:
    TcpLink(boost::asio::io_context& io, std::string host, std::string port)
        : StreamLink(io), resolver_(io), host_(std::move(host)), port_(std::move(port)) {}

    void open(OpenHandler opened, DataHandler data, ErrorHandler error) override {
        closeStream();
        const auto gen = generation_;
        resolver_.async_resolve(
            host_, port_,
            [this, gen, opened = std::move(opened), data = std::move(data), error = std::move(error)](
                const boost::system::error_code& ec, boost::asio::ip::tcp::resolver::results_type results) mutable {
                if (gen != generation_) return;
                if (ec) return opened(ec);
                boost::asio::async_connect(
                    stream_, results,
                    [this, gen, opened = std::move(opened), data = std::move(data), error = std::move(error)](
                        const boost::system::error_code& cec, const boost::asio::ip::tcp::endpoint&) mutable {
                        if (gen != generation_) return;
                        if (cec) return opened(cec);
                        boost::system::error_code ignored;
                        stream_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
                        started(std::move(data), std::move(error));
                        opened(cec);
                    });
            });
    }

    std::string describe() const override { return "tcp " + host_ + ":" + port_; }

private:
    boost::asio::ip::tcp::resolver resolver_;
    std::string host_;
    std::string port_;
};

} // namespace

std::unique_ptr<ByteLink> makeLink(boost::asio::io_context& io, const std::string& where, unsigned baud) {
    const std::string tcp = "tcp://";
    if (where.compare(0, tcp.size(), tcp) == 0) {
        const auto rest = where.substr(tcp.size());
        const auto colon = rest.rfind(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size())
            throw std::invalid_argument("machine address '" + where + "' needs a host and a port: tcp://HOST:PORT");
        return std::make_unique<TcpLink>(io, rest.substr(0, colon), rest.substr(colon + 1));
    }
    return std::make_unique<SerialLink>(io, where, baud);
}

} // namespace mto::link
