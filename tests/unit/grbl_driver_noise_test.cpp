// SPDX-License-Identifier: Apache-2.0
// The GRBL driver fed with what a noisy serial line delivers: answers, reports, resets and garbage in any
// split, against a fake link: it must never crash, never overfill the receive buffer, and end a job once.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "grbl/grbl_driver.hpp"
#include "grbl_options.hpp"

namespace mto {
namespace {

// A link whose far end is the test: it records what the driver writes and lets the test push bytes in.
class FakeLink final : public link::ByteLink {
public:
    explicit FakeLink(boost::asio::io_context& io) : io_(io) {}
    void open(OpenHandler opened, DataHandler data, ErrorHandler error) override {
        open_ = true;
        data_ = std::move(data);
        error_ = std::move(error);
        boost::asio::post(io_, [opened = std::move(opened)] { opened({}); });
    }
    void close() override { open_ = false; }
    bool isOpen() const override { return open_; }
    void write(std::string bytes) override {
        if (!open_) return;
        for (char c : bytes) {
            if (c == '?' || c == '!' || c == '~' || c == 0x18) {
                realtime.push_back(c);
                continue;
            }
            pending_.push_back(c);
            if (c == '\n') {
                lines.push_back(pending_);
                pending_.clear();
            }
        }
    }
    std::size_t pendingBytes() const override { return 0; }
    std::string describe() const override { return "fake"; }
    void push(std::string_view bytes) {
        if (open_ && data_) data_(bytes);
    }
    void fail() {
        if (!open_) return;
        open_ = false;
        if (error_) error_(boost::asio::error::eof);
    }

    std::vector<std::string> lines;   // every line the driver sent, with its '\n'
    std::string realtime;             // realtime bytes, in order

private:
    boost::asio::io_context& io_;
    bool open_ = false;
    std::string pending_;
    DataHandler data_;
    ErrorHandler error_;
};

struct Outcomes final : DriverListener {
    std::vector<std::string> ended;   // job ids, once per end
    void machineState(MachineState, const std::string&) override {}
    void jobProgress(const std::string&, const JobProgress& p) override {
        EXPECT_LE(p.linesDone, p.linesTotal);
        EXPECT_GE(p.fraction, 0.0);
        EXPECT_LE(p.fraction, 1.0);
    }
    void jobFinished(const std::string& id) override { ended.push_back(id); }
    void jobInterrupted(const std::string& id, const MachineFault& why, std::uint64_t) override {
        EXPECT_FALSE(why.reason.empty());
        ended.push_back(id);
    }
    void machineFault(const MachineFault& f) override { EXPECT_FALSE(f.reason.empty()); }
};

JobArtifact noiseJob(int lines) {
    JobArtifact job;
    job.capability = "laser";
    job.format = "gcode-grbl";
    job.program = "G21 G90 G17 G94\nM4 S300\n";
    for (int i = 0; i < lines; ++i) job.program += "G1 X" + std::to_string(i % 50) + " Y" + std::to_string(i % 7) + " F3000\n";
    job.program += "M5\nM2\n";
    job.bbox = {0, 0, 0, 50, 7, 0};
    return job;
}

const char* const kSettings =
    "$0=10\r\n$30=1000\r\n$31=0\r\n$32=1\r\n$130=400.000\r\n$131=400.000\r\n$132=50.000\r\nok\r\n";

// What a controller (or a bad cable) might say next.
std::string noise(std::mt19937& rng) {
    static const std::vector<std::string> says{
        "ok\r\n", "ok\r\n", "ok\r\n", "ok\r\n", "error:20\r\n", "error:9\r\n", "ALARM:1\r\n", "ALARM:3\r\n",
        "<Idle|MPos:0.000,0.000,0.000|FS:0,0>\r\n", "<Run|MPos:1.000,2.000,0.000|Bf:3,100|FS:3000,300>\r\n",
        "<Hold:0|MPos:1.000,2.000,0.000|FS:0,0>\r\n", "<Alarm|MPos:0.000,0.000,0.000|FS:0,0>\r\n",
        "\r\nGrbl 1.1h ['$' for help]\r\n", "[MSG:'$H'|'$X' to unlock]\r\n", "[MSG:Reset to continue]\r\n",
        "[MSG:Caution: Unlocked]\r\n", "[VER:1.1h.20190830:]\r\n", "[OPT:V,15,128]\r\n", "$32=0\r\n",
        "<Idle|MPos:", "0.000,0.000>\r\n", "\r\n", ">G54:ok\r\n", "Grbl 0.9j ['$' for help]\r\n"};
    if (rng() % 8 == 0) {
        std::string junk(rng() % 40, '\0');
        for (auto& c : junk) c = static_cast<char>(rng() % 256);
        return junk;
    }
    return says[rng() % says.size()];
}

// Starts the driver and answers its connect as a healthy controller does: banner, build info, settings.
void greetAndIdentify(boost::asio::io_context& io, grbl::GrblDriver& driver, FakeLink& link) {
    driver.start();
    io.run_for(std::chrono::milliseconds(1));
    link.push("\r\nGrbl 1.1h ['$' for help]\r\n[VER:1.1h.20190830:]\r\n[OPT:V,15,128]\r\nok\r\n");
    link.push(kSettings);
    io.restart();
    io.run_for(std::chrono::milliseconds(2));
}

// A driver connected to a healthy controller on a fake link, ready for a job.
struct ConnectedDriver {
    boost::asio::io_context io;
    FakeLink* link = nullptr;
    Outcomes outcomes;
    std::unique_ptr<grbl::GrblDriver> driver;

    ConnectedDriver() {
        auto fake = std::make_unique<FakeLink>(io);
        link = fake.get();
        driver = std::make_unique<grbl::GrblDriver>(io, test::laserDriverOptions("counting", "fake"), outcomes,
                                                     std::move(fake));
        greetAndIdentify(io, *driver, *link);
    }
    std::tuple<boost::asio::io_context&, FakeLink&, Outcomes&, grbl::GrblDriver&> parts() {
        return {io, *link, outcomes, *driver};
    }
};

class GrblDriverNoise : public ::testing::TestWithParam<unsigned> {};

TEST_P(GrblDriverNoise, SurvivesAnyMixOfAnswersResetsAndGarbageAndEndsEachJobOnce) {
    std::mt19937 rng(GetParam());
    boost::asio::io_context io;
    auto fake = std::make_unique<FakeLink>(io);
    FakeLink& link = *fake;
    Outcomes outcomes;
    auto o = test::laserDriverOptions("noisy", "fake");
    o.statusWhileRunning = std::chrono::milliseconds(1);
    o.statusWhileIdle = std::chrono::milliseconds(2);
    o.bannerWait = std::chrono::milliseconds(5);
    o.silenceLimit = std::chrono::milliseconds(50);
    o.reconnectMin = std::chrono::milliseconds(1);
    o.reconnectMax = std::chrono::milliseconds(2);
    o.dryRun = GetParam() % 2 == 0;
    grbl::GrblDriver driver(io, o, outcomes, std::move(fake));
    greetAndIdentify(io, driver, link);
    ASSERT_EQ(driver.state(), MachineState::Idle);

    int submitted = 0;
    for (int step = 0; step < 1000; ++step) {
        if (driver.state() == MachineState::Idle && rng() % 4 == 0) driver.submit("job-" + std::to_string(submitted++), noiseJob(40));
        if (driver.state() == MachineState::Alarm && rng() % 3 == 0) driver.unlock();
        if (rng() % 200 == 0) link.fail();
        std::string bytes = noise(rng);
        // Split what arrives at random points, as reads from a serial port do.
        while (!bytes.empty()) {
            const std::size_t n = 1 + rng() % bytes.size();
            link.push(std::string_view(bytes).substr(0, n));
            bytes.erase(0, n);
        }
        io.restart();
        io.run_for(std::chrono::microseconds(100));
    }
    // Whatever happened, each job ended at most once, and the driver still answers calls.
    std::vector<std::string> sorted = outcomes.ended;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end()) << "a job was reported twice";
    EXPECT_LE(outcomes.ended.size(), static_cast<std::size_t>(submitted));
    bool stopped = false;
    driver.stop([&] { stopped = true; });
    io.restart();
    io.run_for(std::chrono::milliseconds(200));
    EXPECT_TRUE(stopped);
}

TEST(GrblDriverStreaming, UnansweredBytesNeverExceedTheReceiveBuffer) {
    ConnectedDriver c;
    auto [io, link, outcomes, driver] = c.parts();
    ASSERT_EQ(driver.state(), MachineState::Idle);
    const std::size_t before = link.lines.size();
    driver.submit("job", noiseJob(500));
    std::mt19937 rng(3);
    std::size_t answered = before;
    std::size_t maxInFlight = 0;
    for (int i = 0; i < 5000 && outcomes.ended.empty(); ++i) {
        io.restart();
        io.run_for(std::chrono::microseconds(100));
        std::size_t inFlight = 0;
        for (std::size_t l = answered; l < link.lines.size(); ++l) inFlight += link.lines[l].size();
        maxInFlight = std::max(maxInFlight, inFlight);
        ASSERT_LE(inFlight, grbl::kRxBufferBytes) << "after " << answered - before << " answers";
        // Answer a random number of the oldest lines, sometimes none (the planner is full).
        for (auto k = rng() % 4; k > 0 && answered < link.lines.size(); --k, ++answered) link.push("ok\r\n");
        if (answered == link.lines.size() && rng() % 2) link.push("<Idle|MPos:0.000,0.000,0.000|FS:0,0>\r\n");
    }
    ASSERT_EQ(outcomes.ended, std::vector<std::string>{"job"});
    EXPECT_GT(maxInFlight, grbl::kRxBufferBytes - 24) << "character counting fills the buffer, not one line at a time";
    EXPECT_EQ(link.lines.size() - before, 504u) << "every program line once";
}

// After a hard limit GRBL ignores $X until it is reset. An operator who unlocks at once (before the
// "[MSG:Reset to continue]" line has arrived) must get a reset, not a $X that is never answered.
TEST(GrblDriverUnlock, AnUnlockRightAfterAHardLimitResetsFirstThenUnlocks) {
    ConnectedDriver c;
    auto [io, link, outcomes, driver] = c.parts();
    ASSERT_EQ(driver.state(), MachineState::Idle);
    link.push("ALARM:1\r\n");
    ASSERT_EQ(driver.state(), MachineState::Alarm);
    const std::size_t linesBefore = link.lines.size();
    driver.unlock();
    EXPECT_EQ(link.lines.size(), linesBefore) << "no $X to a controller that only serves a reset";
    ASSERT_FALSE(link.realtime.empty());
    EXPECT_EQ(link.realtime.back(), '\x18');
    link.push("[MSG:Reset to continue]\r\n\r\nGrbl 1.1h ['$' for help]\r\n[MSG:'$H'|'$X' to unlock]\r\n");
    io.restart();
    io.run_for(std::chrono::milliseconds(2));
    link.push("[VER:1.1h.20190830:]\r\n[OPT:V,15,128]\r\nok\r\n");
    link.push(kSettings);
    ASSERT_FALSE(link.lines.empty());
    EXPECT_EQ(link.lines.back(), "$X\n") << "the unlock follows the reset";
    link.push("[MSG:Caution: Unlocked]\r\nok\r\n");
    EXPECT_EQ(driver.state(), MachineState::Idle);
}

// The other order: the $X is already on the wire when the controller says it needs a reset.
TEST(GrblDriverUnlock, AnUnlockIgnoredByACriticalLockTurnsIntoAReset) {
    ConnectedDriver c;
    auto [io, link, outcomes, driver] = c.parts();
    link.push("ALARM:9\r\n");   // homing fail: a plain lock that $X clears
    driver.unlock();
    ASSERT_EQ(link.lines.back(), "$X\n");
    const auto resetsBefore = std::count(link.realtime.begin(), link.realtime.end(), '\x18');
    link.push("[MSG:Reset to continue]\r\n");
    EXPECT_EQ(std::count(link.realtime.begin(), link.realtime.end(), '\x18'), resetsBefore + 1);
    link.push("\r\nGrbl 1.1h ['$' for help]\r\n[MSG:'$H'|'$X' to unlock]\r\n");
    io.restart();
    io.run_for(std::chrono::milliseconds(2));
    link.push("[VER:1.1h.20190830:]\r\n[OPT:V,15,128]\r\nok\r\n");
    link.push(kSettings);
    link.push("ok\r\n");
    EXPECT_EQ(driver.state(), MachineState::Idle);
}

INSTANTIATE_TEST_SUITE_P(Seeds, GrblDriverNoise, ::testing::Range(1u, 7u));

} // namespace
} // namespace mto
