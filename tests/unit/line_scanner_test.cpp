// SPDX-License-Identifier: Apache-2.0
// The TCP line input over real loopback sockets: answers in order, and a client that never reads them.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>
#include <string>
#include <thread>

#include "scan/scanner.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

int connectTo(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// A client that sends far more scans than it reads answers is read no further once its backlog is full; when
// it reads, the rest of its scans are taken, each answered once and in order.
TEST(LineScanner, AClientThatDoesNotReadItsAnswersIsNotReadFurtherUntilItDoes) {
    const int port = test::freeTcpPort();
    ScannerConfig config;
    config.id = "script";
    config.kind = "line";
    config.listen = "127.0.0.1:" + std::to_string(port);
    boost::asio::io_context io;
    auto guard = boost::asio::make_work_guard(io);
    std::atomic<long> scans{0};
    // Each answer is long, so the socket buffers between the two sides fill after some thousands of them.
    const std::string padding(1000, 'x');
    auto scanner = makeScanner(
        io, config,
        [&](const std::string&, const std::string& raw, Scanner::Reply reply) {
            ++scans;
            reply("ok " + raw + " " + padding);
        },
        [] {});
    boost::asio::post(io, [&] { scanner->start(); });
    std::thread loop([&] { io.run(); });
    ASSERT_TRUE(test::waitForPort(port, std::chrono::seconds(10)));

    const int fd = connectTo(port);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    constexpr long kScans = 100000;
    // Sent from a thread of its own: once the agent stops reading, these writes block too.
    auto sent = std::async(std::launch::async, [&] {
        std::string all;
        for (long i = 0; i < kScans; ++i) all += "S" + std::to_string(i) + "\n";
        std::size_t off = 0;
        while (off < all.size()) {
            ssize_t n = ::write(fd, all.data() + off, all.size() - off);
            if (n <= 0) return false;
            off += static_cast<std::size_t>(n);
        }
        return true;
    });

    // The agent's reads stop while nobody reads the answers: the count settles far below what was sent.
    // Settled: the same count over five samples 100 ms apart.
    long settled = -1;
    int sameFor = 0;
    for (int i = 0; i < 300 && sameFor < 5; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        const long now = scans.load();
        sameFor = now == settled ? sameFor + 1 : 0;
        settled = now;
    }
    EXPECT_EQ(sameFor, 5) << "scans still being taken after 30 s";
    EXPECT_LT(settled, kScans / 4) << "the line input read on while no answer could be written";
    EXPECT_GT(settled, 0);

    // Now the client reads: every scan is taken and answered once, in order.
    std::string answers;
    char buf[65536];
    long lines = 0;
    long expected = 0;
    bool inOrder = true;
    std::size_t scanned = 0;
    while (lines < kScans) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        answers.append(buf, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = answers.find('\n', scanned)) != std::string::npos) {
            const std::string line = answers.substr(0, nl);
            if (line != "ok S" + std::to_string(expected) + " " + padding) inOrder = false;
            ++expected;
            ++lines;
            answers.erase(0, nl + 1);
            scanned = 0;
        }
        scanned = answers.size();
    }
    EXPECT_TRUE(sent.get());
    EXPECT_EQ(lines, kScans);
    EXPECT_TRUE(inOrder);
    EXPECT_EQ(scans.load(), kScans);
    ::close(fd);
    boost::asio::post(io, [&] { scanner->stop(); });
    guard.reset();
    loop.join();
}

} // namespace
} // namespace mto
