// SPDX-License-Identifier: Apache-2.0
// The Marlin emulator seen from a host that opens its pty: the reset on open says "start" once, before any answer.
#include "virtual/marlin_emulator.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <functional>
#include <string>
#include <termios.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "test_env.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The host end: opens the device as a program opens a serial port; reads without blocking.
class Host {
public:
    explicit Host(const std::string& path) {
        fd_ = mto::test::openRawSerial(path, O_NONBLOCK);
    }
    ~Host() {
        if (fd_ >= 0) ::close(fd_);
    }
    Host(const Host&) = delete;
    Host& operator=(const Host&) = delete;
    bool ok() const { return fd_ >= 0; }
    bool send(const std::string& s) { return ::write(fd_, s.data(), s.size()) == static_cast<ssize_t>(s.size()); }
    // Moves whatever has arrived into lines.
    void read() {
        char buf[4096];
        for (;;) {
            const ssize_t n = ::read(fd_, buf, sizeof buf);
            if (n <= 0) return;
            for (ssize_t i = 0; i < n; ++i) {
                if (buf[i] != '\n') {
                    partial_ += buf[i];
                    continue;
                }
                if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
                lines.push_back(partial_);
                partial_.clear();
            }
        }
    }
    std::vector<std::string> lines;

private:
    int fd_ = -1;
    std::string partial_;
};

// Runs the emulator's loop in slices until `done` holds (the host, if any, reading meanwhile), then `settle` longer.
bool runUntil(boost::asio::io_context& io, Host* host, const std::function<bool()>& done,
              std::chrono::milliseconds settle, std::chrono::milliseconds limit = 5s) {
    const auto deadline = Clock::now() + limit;
    const auto slice = [&] {
        io.run_for(5ms);
        if (host) host->read();
    };
    while (!done()) {
        if (Clock::now() > deadline) return false;
        slice();
    }
    const auto until = Clock::now() + settle;
    while (Clock::now() < until) slice();
    return true;
}

std::ptrdiff_t indexOf(const std::vector<std::string>& lines, const std::string& prefix) {
    const auto it = std::find_if(lines.begin(), lines.end(), [&](const std::string& l) { return l.rfind(prefix, 0) == 0; });
    return it == lines.end() ? -1 : it - lines.begin();
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

// The host opens the port and asks at once; the board answers after its banner.
void expectOneBannerBeforeTheAnswer(const Host& host) {
    const auto& lines = host.lines;
    EXPECT_EQ(std::count(lines.begin(), lines.end(), "start"), 1) << joined(lines);
    const auto start = indexOf(lines, "start");
    const auto answer = indexOf(lines, "FIRMWARE_NAME:");
    ASSERT_GE(answer, 0) << joined(lines);
    EXPECT_EQ(start, 0) << joined(lines);
    EXPECT_LT(start, answer) << joined(lines);
}

TEST(MarlinEmulator, OpeningThePortResetsTheBoardAndItsBannerComesBeforeAnyAnswer) {
    boost::asio::io_context io;
    mto::virt::MarlinEmulator emulator(io, {});
    Host host(emulator.devicePath());
    ASSERT_TRUE(host.ok());
    ASSERT_TRUE(host.send("M115\n"));
    const auto answered = [&] { return indexOf(host.lines, "ok") >= 0; };
    ASSERT_TRUE(runUntil(io, &host, answered, 300ms)) << joined(host.lines);
    expectOneBannerBeforeTheAnswer(host);
    EXPECT_TRUE(emulator.hostConnected());
    EXPECT_EQ(emulator.resets(), 2u) << "power-on and the reset on open";
}

// A loaded machine: the emulator's loop does not run until both the power-on boot (50 ms) and the poll that
// notices the host (20 ms) are long due. The reset on open must still be the one banner, before any answer;
// a leftover power-on boot once said "start" and answered at once, and the real reset said "start" again.
TEST(MarlinEmulator, AnOpenNoticedLateStillGetsOneBannerBeforeAnyAnswer) {
    boost::asio::io_context io;
    mto::virt::MarlinEmulator emulator(io, {});
    Host host(emulator.devicePath());
    ASSERT_TRUE(host.ok());
    ASSERT_TRUE(host.send("M115\n"));
    std::this_thread::sleep_for(150ms);   // the process held up: every timer armed so far is due at once
    const auto answered = [&] { return indexOf(host.lines, "ok") >= 0; };
    // The settle time is several boot times: a second banner would come within it.
    ASSERT_TRUE(runUntil(io, &host, answered, 300ms)) << joined(host.lines);
    expectOneBannerBeforeTheAnswer(host);
    EXPECT_EQ(emulator.resets(), 2u) << "power-on and the reset on open";
}

// The same when the host comes back after closing the port: the reopen resets the board once.
TEST(MarlinEmulator, ReopeningAfterAHaltResetsTheBoardOnceBeforeAnyAnswer) {
    boost::asio::io_context io;
    mto::virt::MarlinEmulator emulator(io, {});
    {
        Host first(emulator.devicePath());
        ASSERT_TRUE(first.ok());
        ASSERT_TRUE(runUntil(io, &first, [&] { return indexOf(first.lines, "start") >= 0; }, 0ms));
        emulator.halt();
        ASSERT_TRUE(runUntil(io, &first, [&] { return indexOf(first.lines, "Error:Printer halted") >= 0; }, 0ms));
        ASSERT_TRUE(first.send("M105\n"));
        ASSERT_TRUE(runUntil(io, &first, [] { return true; }, 200ms));
        EXPECT_EQ(indexOf(first.lines, "ok"), -1) << "a halted board answers nothing";
    }
    ASSERT_TRUE(runUntil(io, nullptr, [&] { return !emulator.hostConnected(); }, 0ms));
    const auto resets = emulator.resets();
    Host again(emulator.devicePath());
    ASSERT_TRUE(again.ok());
    ASSERT_TRUE(again.send("M115\n"));
    std::this_thread::sleep_for(150ms);
    ASSERT_TRUE(runUntil(io, &again, [&] { return indexOf(again.lines, "ok") >= 0; }, 300ms)) << joined(again.lines);
    expectOneBannerBeforeTheAnswer(again);
    EXPECT_EQ(emulator.resets(), resets + 1);
    EXPECT_FALSE(emulator.halted());
}

} // namespace
