// SPDX-License-Identifier: Apache-2.0
// The GRBL emulator seen from a host: a real pty opened as a serial port, real timing.
#include "virtual/grbl_emulator.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <fcntl.h>
#include <filesystem>
#include <future>
#include <optional>
#include <poll.h>
#include <string>
#include <termios.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "test_env.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;

// The host end: opens the published path as a program opens a serial port and reads lines.
class Host {
public:
    explicit Host(const std::string& path)
    {
        fd_ = mto::test::openRawSerial(path);
    }
    ~Host() { close(); }
    bool ok() const { return fd_ >= 0; }
    void close()
    {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    void send(const std::string& s)
    {
        std::size_t done = 0;
        while (done < s.size()) {
            ssize_t n = ::write(fd_, s.data() + done, s.size() - done);
            if (n < 0 && errno == EINTR) continue;
            ASSERT_GT(n, 0) << "write to pty failed";
            done += static_cast<std::size_t>(n);
        }
    }
    // Next non-empty line (without CR LF), or nullopt after the timeout.
    std::optional<std::string> line(std::chrono::milliseconds timeout = 2000ms)
    {
        auto deadline = Clock::now() + timeout;
        for (;;) {
            while (!lines_.empty()) {
                std::string l = lines_.front();
                lines_.pop_front();
                if (!l.empty()) return l;
            }
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0 || !readSome(static_cast<int>(left.count()))) return std::nullopt;
        }
    }
    // Lines up to and including the first one starting with prefix; empty when it never came.
    std::vector<std::string> until(const std::string& prefix, std::chrono::milliseconds timeout = 2000ms)
    {
        std::vector<std::string> seen;
        auto deadline = Clock::now() + timeout;
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            auto l = line(std::max(left, 1ms));
            if (!l) return {};
            seen.push_back(*l);
            if (l->rfind(prefix, 0) == 0) return seen;
        }
    }
    // Sends '?' and returns the status report.
    std::string status()
    {
        send("?");
        auto l = until("<", 1000ms);
        return l.empty() ? std::string() : l.back();
    }
    // Reads until the line is quiet for `quiet`; the lines seen.
    std::vector<std::string> drain(std::chrono::milliseconds quiet)
    {
        std::vector<std::string> seen;
        while (auto l = line(quiet)) seen.push_back(*l);
        return seen;
    }
    // Result of a read once the device is gone: -1 with EIO, or 0 (end of file), or a hang-up.
    bool sawHangup(std::chrono::milliseconds timeout)
    {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
        if (p.revents & (POLLHUP | POLLERR)) return true;
        char c;
        ssize_t n = ::read(fd_, &c, 1);
        return n == 0 || (n < 0 && errno == EIO);
    }

private:
    bool readSome(int timeoutMs)
    {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, timeoutMs) <= 0) return false;
        char buf[4096];
        ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n <= 0) return false;
        for (ssize_t i = 0; i < n; ++i) {
            if (buf[i] == '\n') {
                if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
                lines_.push_back(partial_);
                partial_.clear();
            } else {
                partial_ += buf[i];
            }
        }
        return true;
    }
    int fd_ = -1;
    std::string partial_;
    std::deque<std::string> lines_;
};

// n comma-separated numbers with exactly `decimals` digits after the point (0: integers).
bool numbers(const std::string& text, int n, int decimals)
{
    std::size_t i = 0;
    for (int k = 0; k < n; ++k) {
        if (k > 0 && (i >= text.size() || text[i++] != ',')) return false;
        if (i < text.size() && text[i] == '-') ++i;
        std::size_t digits = 0;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i, ++digits;
        if (digits == 0) return false;
        if (decimals > 0) {
            if (i >= text.size() || text[i++] != '.') return false;
            for (int d = 0; d < decimals; ++d, ++i) {
                if (i >= text.size() || !std::isdigit(static_cast<unsigned char>(text[i]))) return false;
            }
        }
    }
    return i == text.size();
}

// <Idle|MPos:x,y,z|FS:f,s[|WCO:x,y,z][|Ov:f,r,s][|A:SCF]> with the fields in GRBL 1.1's order ($10=1).
bool wellFormedStatus(const std::string& r)
{
    if (r.size() < 3 || r.front() != '<' || r.back() != '>') return false;
    std::vector<std::string> fields;
    std::size_t start = 1;
    for (;;) {
        auto bar = r.find('|', start);
        fields.push_back(r.substr(start, (bar == std::string::npos ? r.size() - 1 : bar) - start));
        if (bar == std::string::npos) break;
        start = bar + 1;
    }
    if (fields.size() < 3 || (fields[0] != "Idle" && fields[0] != "Run")) return false;
    if (fields[1].rfind("MPos:", 0) != 0 || !numbers(fields[1].substr(5), 3, 3)) return false;
    if (fields[2].rfind("FS:", 0) != 0 || !numbers(fields[2].substr(3), 2, 0)) return false;
    const char* optional[] = {"WCO:", "Ov:", "A:"};
    std::size_t next = 0;
    for (std::size_t f = 3; f < fields.size(); ++f) {
        while (next < 3 && fields[f].rfind(optional[next], 0) != 0) ++next;
        if (next == 3) return false;
        std::string body = fields[f].substr(std::string(optional[next]).size());
        bool ok = next == 0 ? numbers(body, 3, 3)
                : next == 1 ? numbers(body, 3, 0)
                            : !body.empty() && body.find_first_not_of("SCF") == std::string::npos;
        if (!ok) return false;
        ++next;
    }
    return true;
}

// An emulator on its own io_context thread; calls into it are posted there and waited for.
class GrblEmulatorTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        char tmpl[] = "/tmp/mto-grbl-emu-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        link_ = dir_ + "/machine";
    }
    void TearDown() override
    {
        if (emu_) onIo([&] { emu_.reset(); });
        work_.reset();
        if (thread_.joinable()) thread_.join();
        std::filesystem::remove_all(dir_);
    }
    void start(mto::virt::GrblEmulatorOptions o)
    {
        o.linkPath = link_;
        onIoStart([&] { emu_ = std::make_unique<mto::virt::GrblEmulator>(io_, o); });
    }
    template <class F>
    auto onIo(F f) -> decltype(f())
    {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto result = task.get_future();
        asio::post(io_, [&] { task(); });
        return result.get();
    }
    // Opens a host and reads the banner a USB board sends when opened.
    std::unique_ptr<Host> openHost()
    {
        auto h = std::make_unique<Host>(link_);
        EXPECT_TRUE(h->ok());
        auto banner = h->until("Grbl");
        EXPECT_FALSE(banner.empty()) << "no banner";
        return h;
    }
    double x(const std::string& status)
    {
        auto at = status.find("Pos:");
        return at == std::string::npos ? -1 : std::stod(status.substr(at + 4));
    }

    asio::io_context io_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::thread thread_;
    std::unique_ptr<mto::virt::GrblEmulator> emu_;
    std::string dir_, link_;

private:
    template <class F>
    void onIoStart(F f)
    {
        work_.emplace(io_.get_executor());
        thread_ = std::thread([this] { io_.run(); });
        onIo(std::move(f));
    }
};

TEST_F(GrblEmulatorTest, BannerWhenHostOpensThePort)
{
    start({});
    Host h(link_);
    ASSERT_TRUE(h.ok());
    auto l = h.line();
    ASSERT_TRUE(l);
    EXPECT_EQ(*l, "Grbl 1.1h ['$' for help]");
    EXPECT_TRUE(onIo([&] { return emu_->hostConnected(); }));
}

TEST_F(GrblEmulatorTest, SettingsListShowsConfiguredValues)
{
    mto::virt::GrblEmulatorOptions o;
    o.laserMode = true;
    o.maxTravel[0] = 300;
    o.maxSpindle = 255;
    start(o);
    auto h = openHost();
    h->send("$$\n");
    auto lines = h->until("ok");
    ASSERT_FALSE(lines.empty());
    auto has = [&](const std::string& s) { return std::find(lines.begin(), lines.end(), s) != lines.end(); };
    EXPECT_TRUE(has("$32=1"));
    EXPECT_TRUE(has("$130=300.000"));
    EXPECT_TRUE(has("$30=255"));
    EXPECT_TRUE(has("$0=10"));
    EXPECT_EQ(lines.size(), 35u);   // 34 settings of a 3-axis 1.1h, then ok
}

TEST_F(GrblEmulatorTest, BuildInfoAndParserStateAnswers)
{
    mto::virt::GrblEmulatorOptions o;
    o.buildInfo = "mto-sim";
    start(o);
    auto h = openHost();
    h->send("$I\n");
    EXPECT_EQ(h->until("ok"), (std::vector<std::string>{"[VER:1.1h.20190830:mto-sim]", "[OPT:V,15,128]", "ok"}));
    h->send("$G\n");
    EXPECT_EQ(h->until("ok"), (std::vector<std::string>{"[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]", "ok"}));
    h->send("G91 G1 F500 S300 M3\n");
    EXPECT_EQ(h->line(), "ok");
    h->send("$G\n");
    EXPECT_EQ(h->line(), "[GC:G1 G54 G17 G21 G91 G94 M3 M9 T0 F500 S300]");
    EXPECT_EQ(h->line(), "ok");
    h->send("M2\n");   // program end resets the modal state as the firmware does
    EXPECT_EQ(h->until("ok"), (std::vector<std::string>{"[MSG:Pgm End]", "ok"}));
    h->send("$G\n");
    EXPECT_EQ(h->line(), "[GC:G1 G54 G17 G21 G90 G94 M5 M9 T0 F500 S300]");
}

TEST_F(GrblEmulatorTest, StatusReportIsWellFormedInIdleAndRun)
{
    mto::virt::GrblEmulatorOptions o;
    o.speedFactor = 5;
    start(o);
    auto h = openHost();
    auto idle = h->status();
    EXPECT_TRUE(wellFormedStatus(idle)) << idle;
    EXPECT_EQ(idle.rfind("<Idle|MPos:0.000,0.000,0.000|FS:0,0", 0), 0u) << idle;
    EXPECT_NE(idle.find("|WCO:"), std::string::npos) << "the first report after a reset carries WCO";
    EXPECT_NE(h->status().find("|Ov:100,100,100"), std::string::npos) << "the second one the overrides";

    h->send("G1 X100 F3000\n");   // 100 mm at 50 mm/s: about 2 s, 0.4 s at speed 5
    EXPECT_EQ(h->line(), "ok");
    std::this_thread::sleep_for(150ms);
    auto run = h->status();
    EXPECT_TRUE(wellFormedStatus(run)) << run;
    EXPECT_EQ(run.rfind("<Run|", 0), 0u) << run;
    EXPECT_GT(x(run), 0.0);
    EXPECT_LT(x(run), 100.0);
    EXPECT_NE(run.find("|FS:3000,"), std::string::npos) << run;

    // $10=2: work position and buffer state.
    std::this_thread::sleep_for(400ms);
    h->send("$10=2\n");
    EXPECT_EQ(h->line(), "ok");
    auto bf = h->status();
    EXPECT_NE(bf.find("|WPos:100.000,0.000,0.000|Bf:15,128|"), std::string::npos) << bf;
}

TEST_F(GrblEmulatorTest, SpindleStopIsAnsweredOnlyAfterTheMotionBeforeIt)
{
    mto::virt::GrblEmulatorOptions o;
    o.speedFactor = 4;
    start(o);
    auto h = openHost();
    h->send("M3 S500\n");
    ASSERT_EQ(h->line(), "ok");
    // 60 mm at 30 mm/s with 1000 mm/s^2: 2.03 s, 0.51 s at speed 4.
    auto sent = Clock::now();
    h->send("G1 X60 F1800\n");
    ASSERT_EQ(h->line(), "ok");
    EXPECT_LT(Clock::now() - sent, 150ms) << "a motion line is answered once it is in the planner";
    h->send("M5\n");
    ASSERT_EQ(h->line(3000ms), "ok");
    auto took = Clock::now() - sent;
    EXPECT_GE(took, 480ms);
    EXPECT_LT(took, 1500ms);
    EXPECT_NEAR(onIo([&] { return emu_->position()[0]; }), 60.0, 1e-6);
    EXPECT_EQ(onIo([&] { return emu_->spindleOutput(); }), 0.0);
}

TEST_F(GrblEmulatorTest, DwellIsAnsweredAfterMotionAndDwellTime)
{
    mto::virt::GrblEmulatorOptions o;
    o.speedFactor = 2;
    start(o);
    auto h = openHost();
    auto sent = Clock::now();
    h->send("G0 X10\n");   // 10 mm rapid at 100 mm/s: 0.2 s, 0.1 s at speed 2
    ASSERT_EQ(h->line(), "ok");
    h->send("G4 P0.6\n");   // 0.3 s at speed 2
    ASSERT_EQ(h->line(3000ms), "ok");
    auto took = Clock::now() - sent;
    EXPECT_GE(took, 380ms);
    EXPECT_LT(took, 1200ms);
}

TEST_F(GrblEmulatorTest, FloodingTheReceiveBufferLosesBytes)
{
    start({});
    auto h = openHost();
    // While the dwell blocks the main loop, 300 more bytes arrive: only 128 fit in the RX buffer.
    std::string burst = "G4 P0.3\n";
    int lines = 1;
    while (burst.size() < 300) {
        burst += "G1 X1 F100\n";
        ++lines;
    }
    h->send(burst);
    auto answers = h->drain(600ms);
    EXPECT_GT(onIo([&] { return emu_->bytesLost(); }), 100u);
    EXPECT_LT(static_cast<int>(answers.size()), lines) << "lost newlines merge or drop lines";
}

TEST_F(GrblEmulatorTest, CharacterCountingLosesNothingOverALongProgram)
{
    mto::virt::GrblEmulatorOptions o;
    o.speedFactor = 50;
    start(o);
    auto h = openHost();
    std::deque<std::size_t> inFlight;
    std::size_t used = 0;
    int sent = 0, oks = 0, errors = 0;
    const int total = 500;
    auto deadline = Clock::now() + 20s;
    while (oks + errors < total && Clock::now() < deadline) {
        while (sent < total) {
            std::string l = "G1 X" + std::to_string(sent % 7) + " Y" + std::to_string(sent % 5) + " F6000\n";
            if (used + l.size() > 128) break;
            h->send(l);
            inFlight.push_back(l.size());
            used += l.size();
            ++sent;
        }
        auto l = h->line(2000ms);
        ASSERT_TRUE(l) << "stream stalled after " << oks << " oks";
        if (*l == "ok" || l->rfind("error:", 0) == 0) {
            (*l == "ok" ? oks : errors)++;
            used -= inFlight.front();
            inFlight.pop_front();
        }
    }
    EXPECT_EQ(oks, total);
    EXPECT_EQ(errors, 0);
    EXPECT_EQ(onIo([&] { return emu_->bytesLost(); }), 0u);
    EXPECT_EQ(onIo([&] { return emu_->linesReceived(); }), static_cast<std::uint64_t>(total));
}

TEST_F(GrblEmulatorTest, FeedHoldStopsMotionAndCycleStartResumesIt)
{
    mto::virt::GrblEmulatorOptions o;
    o.speedFactor = 5;
    start(o);
    auto h = openHost();
    h->send("G1 X100 F3000\n");
    ASSERT_EQ(h->line(), "ok");
    std::this_thread::sleep_for(150ms);
    h->send("!");
    std::string s;
    for (int i = 0; i < 50 && s.rfind("<Hold:0", 0) != 0; ++i) {
        s = h->status();
        EXPECT_TRUE(s.rfind("<Hold:", 0) == 0) << s;
        std::this_thread::sleep_for(10ms);
    }
    ASSERT_EQ(s.rfind("<Hold:0", 0), 0u) << s;
    double held = x(s);
    EXPECT_GT(held, 0.0);
    EXPECT_LT(held, 100.0);
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(x(h->status()), held) << "nothing moves during a hold";
    h->send("~");
    EXPECT_EQ(h->status().rfind("<Run", 0), 0u);
    h->send("G4 P0\n");   // answered once the planner is empty
    ASSERT_EQ(h->line(3000ms), "ok");
    auto end = h->status();
    EXPECT_EQ(end.rfind("<Idle|MPos:100.000,", 0), 0u) << end;
}

TEST_F(GrblEmulatorTest, ResetDuringMotionAlarmsAndLocksGcodeUntilUnlock)
{
    mto::virt::GrblEmulatorOptions o;
    o.speedFactor = 5;
    start(o);
    auto h = openHost();
    h->send("G1 X100 F3000\n");
    ASSERT_EQ(h->line(), "ok");
    std::this_thread::sleep_for(100ms);
    h->send("\x18");
    EXPECT_EQ(h->line(), "ALARM:3");
    EXPECT_EQ(h->line(), "Grbl 1.1h ['$' for help]");
    EXPECT_EQ(h->line(), "[MSG:'$H'|'$X' to unlock]");
    EXPECT_EQ(h->status().rfind("<Alarm|", 0), 0u);
    h->send("G1 X1 F100\n");
    EXPECT_EQ(h->line(), "error:9");
    h->send("$X\n");
    EXPECT_EQ(h->line(), "[MSG:Caution: Unlocked]");
    EXPECT_EQ(h->line(), "ok");
    h->send("G1 X1 F100\n");
    EXPECT_EQ(h->line(), "ok");
}

TEST_F(GrblEmulatorTest, CommonErrorsUseGrblCodes)
{
    start({});
    auto h = openHost();
    auto answer = [&](const std::string& l) {
        h->send(l + "\n");
        auto r = h->line();
        return r ? *r : std::string("(none)");
    };
    EXPECT_EQ(answer("G1 X10"), "error:22");
    EXPECT_EQ(answer("G5 X1"), "error:20");
    EXPECT_EQ(answer("M7"), "error:20");   // the stock build has no M7
    EXPECT_EQ(answer("G1 X1.2.3 F100"), "error:1");
    EXPECT_EQ(answer("G1 X F100"), "error:2");
    EXPECT_EQ(answer("$10"), "error:3");
    EXPECT_EQ(answer("$H"), "error:5");
    EXPECT_EQ(answer("G17 G18"), "error:21");
    EXPECT_EQ(answer("G0 G1 X1"), "error:24");   // two axis commands, found before the modal group
    EXPECT_EQ(answer("G1 X1 X2 F100"), "error:25");
    EXPECT_EQ(answer("G4"), "error:28");
    EXPECT_EQ(answer("P5"), "error:36");
    EXPECT_EQ(answer("G0 X1 (comment) ; more"), "ok");
    EXPECT_EQ(answer("G0 X" + std::string(80, '1')), "error:11");
}

TEST_F(GrblEmulatorTest, InjectedLineFaultsAreSeenByTheHost)
{
    start({});
    auto h = openHost();
    onIo([&] {
        emu_->failLine(2, 20);
        emu_->loseOk(3);
    });
    h->send("G21\n");
    EXPECT_EQ(h->line(), "ok");
    h->send("G90\n");
    EXPECT_EQ(h->line(), "error:20");
    h->send("G91\n");
    EXPECT_EQ(h->line(300ms), std::nullopt) << "the ok of line 3 is lost";
    h->send("$G\n");
    auto modes = h->line();
    ASSERT_TRUE(modes);
    EXPECT_NE(modes->find(" G91 "), std::string::npos) << "line 3 was executed: " << *modes;
    EXPECT_EQ(h->line(), "ok");
}

TEST_F(GrblEmulatorTest, InjectedHardLimitNeedsResetThenUnlock)
{
    mto::virt::GrblEmulatorOptions o;
    o.speedFactor = 5;
    start(o);
    auto h = openHost();
    h->send("G1 X100 F3000\n");
    ASSERT_EQ(h->line(), "ok");
    std::this_thread::sleep_for(100ms);
    onIo([&] { emu_->injectAlarm(1); });
    EXPECT_EQ(h->line(), "ALARM:1");
    EXPECT_EQ(h->line(), "[MSG:Reset to continue]");
    double stopped = onIo([&] { return emu_->position()[0]; });
    EXPECT_GT(stopped, 0.0);
    EXPECT_LT(stopped, 100.0);
    h->send("?");
    EXPECT_EQ(h->line(300ms), std::nullopt) << "nothing but a reset is served after a hard limit";
    h->send("\x18");
    EXPECT_EQ(h->line(), "Grbl 1.1h ['$' for help]");
    EXPECT_EQ(h->line(), "[MSG:'$H'|'$X' to unlock]");
    EXPECT_EQ(h->status().rfind("<Alarm|MPos:", 0), 0u);
    EXPECT_EQ(onIo([&] { return emu_->position()[0]; }), stopped);
}

TEST_F(GrblEmulatorTest, StalledControllerAnswersNothingUntilItRecovers)
{
    start({});
    auto h = openHost();
    onIo([&] { emu_->stall(true); });
    h->send("?");
    h->send("G0 X1\n");
    EXPECT_EQ(h->line(400ms), std::nullopt);
    onIo([&] { emu_->stall(false); });
    auto l = h->line();
    ASSERT_TRUE(l);
    EXPECT_EQ(l->rfind("<Idle|", 0), 0u) << *l;
    EXPECT_EQ(h->line(), "ok");
}

TEST_F(GrblEmulatorTest, DisconnectRemovesTheDeviceAndReconnectBringsANewOne)
{
    start({});
    auto h = openHost();
    std::string first = std::filesystem::read_symlink(link_).string();
    onIo([&] { emu_->disconnect(); });
    EXPECT_TRUE(h->sawHangup(1000ms));
    EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(link_)));
    h->close();
    onIo([&] { emu_->reconnect(); });
    ASSERT_TRUE(std::filesystem::is_symlink(link_));
    Host again(link_);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again.line(), "Grbl 1.1h ['$' for help]");
    EXPECT_EQ(again.status().rfind("<Idle|MPos:0.000,0.000,0.000", 0), 0u);
    (void)first;
}

TEST_F(GrblEmulatorTest, HostClosingAndReopeningResetsAUsbBoard)
{
    start({});
    {
        auto h = openHost();
        h->send("G0 X5\n");
        EXPECT_EQ(h->line(), "ok");
    }
    // The close is seen through the master's hang-up; a reopen within the same few milliseconds would not be.
    std::this_thread::sleep_for(100ms);
    Host again(link_);
    EXPECT_EQ(again.line(), "Grbl 1.1h ['$' for help]");
    EXPECT_EQ(onIo([&] { return emu_->resets(); }), 3u);   // power-on, first open, second open
}

TEST_F(GrblEmulatorTest, NetworkBridgeSendsTheBannerOnlyAfterReset)
{
    mto::virt::GrblEmulatorOptions o;
    o.resetOnOpen = false;
    start(o);
    Host h(link_);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h.line(300ms), std::nullopt);
    h.send("\x18");
    EXPECT_EQ(h.line(), "Grbl 1.1h ['$' for help]");
}

TEST_F(GrblEmulatorTest, CheckModeParsesWithoutMovingAndLeavesWithAReset)
{
    start({});
    auto h = openHost();
    h->send("$C\n");
    EXPECT_EQ(h->until("ok"), (std::vector<std::string>{"[MSG:Enabled]", "ok"}));
    h->send("G1 X50 F100\n");
    EXPECT_EQ(h->line(), "ok");
    EXPECT_EQ(h->status().rfind("<Check|MPos:0.000,0.000,0.000", 0), 0u);
    h->send("$C\n");
    EXPECT_EQ(h->until("Grbl"), (std::vector<std::string>{"[MSG:Disabled]", "ok", "Grbl 1.1h ['$' for help]"}));
    EXPECT_EQ(h->status().rfind("<Idle|", 0), 0u);
}

TEST_F(GrblEmulatorTest, LaserModeFiresOnlyOnCuttingMoves)
{
    mto::virt::GrblEmulatorOptions o;
    o.laserMode = true;
    o.speedFactor = 20;
    start(o);
    auto h = openHost();
    h->send("M4 S800\nG0 X10\nG1 X20 F600\nG4 P0\n");
    EXPECT_EQ(h->until("ok", 3000ms).size(), 1u);
    EXPECT_EQ(h->until("ok", 3000ms).size(), 1u);
    EXPECT_EQ(h->until("ok", 3000ms).size(), 1u);
    EXPECT_EQ(h->until("ok", 3000ms).size(), 1u);
    EXPECT_FALSE(onIo([&] { return emu_->laserOnDuringRapid(); }));
    EXPECT_EQ(onIo([&] { return emu_->spindleOutput(); }), 0.0) << "M4 switches the beam off at rest";
}

} // namespace
