// SPDX-License-Identifier: Apache-2.0
// The GRBL driver against the GRBL emulator over a real pseudo-terminal: connect, checks, streaming, faults.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "grbl/grbl_driver.hpp"
#include "grbl_options.hpp"
#include "test_env.hpp"
#include "virtual/grbl_emulator.hpp"

namespace mto {
namespace {

using namespace std::chrono_literals;

// Everything the driver told its owner, in order.
struct GrblRecorder final : DriverListener {
    std::vector<MachineState> states;
    std::vector<std::string> finished;
    struct Interruption {
        std::string jobId;
        MachineFault why;
        std::uint64_t lastDoneLine;
    };
    std::vector<Interruption> interrupted;
    std::vector<MachineFault> faults;
    std::vector<JobProgress> progress;

    void machineState(MachineState s, const std::string&) override { states.push_back(s); }
    void jobProgress(const std::string&, const JobProgress& p) override { progress.push_back(p); }
    void jobFinished(const std::string& id) override { finished.push_back(id); }
    void jobInterrupted(const std::string& id, const MachineFault& why, std::uint64_t last) override {
        interrupted.push_back({id, why, last});
    }
    void machineFault(const MachineFault& f) override { faults.push_back(f); }
};

// A laser program of `segments` short burns inside `size` mm, modal state set at the top, ended with M2.
JobArtifact laserJob(int segments, double power = 500, double size = 40) {
    JobArtifact job;
    job.capability = "laser";
    job.format = "gcode-grbl";
    std::string p = "G21 G90 G17 G94\nM5\nG0 X0 Y0\nM4 S" + std::to_string(static_cast<int>(power)) + "\n";
    for (int i = 0; i < segments; ++i) {
        char line[64];
        const double x = 1 + (i * 7 % 97) * (size - 2) / 97.0;
        const double y = 1 + (i * 13 % 89) * (size - 2) / 89.0;
        std::snprintf(line, sizeof line, "G1 X%.3f Y%.3f F6000\n", x, y);
        p += line;
    }
    p += "M5\nG0 X0 Y0\nM2\n";
    job.program = p;
    job.bbox = {0, 0, 0, size, size, 0};
    job.lines = static_cast<std::uint64_t>(segments + 7);
    job.estimatedSeconds = 1;
    return job;
}

// A router program: the spindle at `rpm`, a spin-up dwell of `dwellSeconds` (none when 0), then a 20 mm square
// cut `depth` mm deep, ended with M2.
JobArtifact cncJob(double rpm, double depth, double dwellSeconds = 0) {
    JobArtifact job;
    job.capability = "cnc";
    job.format = "gcode-grbl";
    char text[512];
    std::snprintf(text, sizeof text,
                  "G21 G90 G17 G94\nG0 Z5\nG0 X10 Y10\nM3 S%g\n%sG1 Z%g F300\nG1 X30 F1200\nG1 Y30\nG1 X10\n"
                  "G1 Y10\nG0 Z5\nM5\nG0 X0 Y0\nM2\n",
                  rpm, dwellSeconds > 0 ? ("G4 P" + std::to_string(dwellSeconds) + "\n").c_str() : "", -depth);
    job.program = text;
    job.bbox = {0, 0, -depth, 30, 30, 5};
    job.lines = 14;
    job.estimatedSeconds = 1 + dwellSeconds;
    return job;
}

class GrblDriverTest : public ::testing::Test {
protected:
    void SetUp() override { dir_ = std::make_unique<test::TempDir>(); }

    void startMachine(virt::GrblEmulatorOptions o = {}) {
        if (o.linkPath.empty()) o.linkPath = (dir_->path() / "laser").string();
        if (o.speedFactor == 1.0) o.speedFactor = 50;
        emulatorOptions_ = o;
        emulator_ = std::make_unique<virt::GrblEmulator>(io_, o);
    }
    static virt::GrblEmulatorOptions laserMachine() {
        virt::GrblEmulatorOptions o;
        o.laserMode = true;
        return o;
    }
    // A router the size of the catalog's cnc-600: $32=0, a spindle of 24,000 rpm, 600 x 400 x 50 mm of travel.
    static virt::GrblEmulatorOptions cncMachine() {
        virt::GrblEmulatorOptions o;
        o.maxSpindle = 24000;
        o.maxTravel[0] = 600;
        return o;
    }
    void startCncDriver(std::function<void(grbl::GrblDriverOptions&)> tweak = {}) {
        auto o = test::cncDriverOptions("cnc-1", emulator_->devicePath());
        if (tweak) tweak(o);
        driver_ = std::make_unique<grbl::GrblDriver>(io_, o, rec_);
        driver_->start();
    }
    void startDriver(std::function<void(grbl::GrblDriverOptions&)> tweak = {}) {
        auto o = test::laserDriverOptions("laser-1", emulator_->devicePath());
        if (tweak) tweak(o);
        driver_ = std::make_unique<grbl::GrblDriver>(io_, o, rec_);
        driver_->start();
    }
    bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
        return test::runLoopUntil(io_, done, limit);
    }
    bool idle() const { return driver_->state() == MachineState::Idle; }

    void TearDown() override {
        if (driver_) {
            bool stopped = false;
            driver_->stop([&] { stopped = true; });
            runUntil([&] { return stopped; }, 2s);
        }
        driver_.reset();
        emulator_.reset();
    }

    boost::asio::io_context io_;
    std::unique_ptr<test::TempDir> dir_;
    virt::GrblEmulatorOptions emulatorOptions_;
    std::unique_ptr<virt::GrblEmulator> emulator_;
    GrblRecorder rec_;
    std::unique_ptr<grbl::GrblDriver> driver_;
};

TEST_F(GrblDriverTest, ConnectsReadsTheSettingsAndGoesIdle) {
    startMachine(laserMachine());
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); })) << toString(driver_->state());
    EXPECT_EQ(driver_->identity().firmware, "Grbl");
    EXPECT_EQ(driver_->identity().version, "1.1h");
    EXPECT_TRUE(driver_->settings().laserMode());
    ASSERT_TRUE(driver_->settings().maxTravel());
    EXPECT_DOUBLE_EQ(driver_->settings().maxTravel()->x, 400);
    EXPECT_TRUE(rec_.faults.empty());
}

TEST_F(GrblDriverTest, ANetworkBridgeThatDoesNotGreetGetsASoftResetAndThenConnects) {
    auto o = laserMachine();
    o.resetOnOpen = false;
    startMachine(o);
    const auto started = std::chrono::steady_clock::now();
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); })) << toString(driver_->state());
    EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms) << "the reset comes only after the banner wait";
    EXPECT_GE(emulator_->resets(), 1u);
}

TEST_F(GrblDriverTest, ALaserJobStreamsToTheEndWithoutOverflowingTheReceiveBuffer) {
    startMachine(laserMachine());
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    const auto before = emulator_->linesReceived();
    const auto job = laserJob(600);
    ASSERT_FALSE(driver_->check(job)) << driver_->check(job)->message;
    driver_->submit("job-1", job);
    ASSERT_TRUE(runUntil([&] { return !rec_.finished.empty() || !rec_.interrupted.empty(); }, 30s));
    ASSERT_EQ(rec_.finished, std::vector<std::string>{"job-1"});
    EXPECT_EQ(emulator_->bytesLost(), 0u) << "character counting never sends more than the buffer holds";
    EXPECT_EQ(emulator_->linesReceived() - before, 607u) << "every program line reached the controller once";
    EXPECT_EQ(emulator_->state(), "Idle");
    EXPECT_FALSE(emulator_->laserOnDuringRapid());
    ASSERT_FALSE(rec_.progress.empty());
    EXPECT_DOUBLE_EQ(rec_.progress.back().fraction, 1.0);
    EXPECT_TRUE(idle());
}

TEST_F(GrblDriverTest, SendAndWaitModeRunsTheSameJob) {
    startMachine(laserMachine());
    startDriver([](auto& o) { o.characterCounting = false; });
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    driver_->submit("job-1", laserJob(100));
    ASSERT_TRUE(runUntil([&] { return !rec_.finished.empty() || !rec_.interrupted.empty(); }, 30s));
    EXPECT_EQ(rec_.finished, std::vector<std::string>{"job-1"});
    EXPECT_EQ(emulator_->bytesLost(), 0u);
}

TEST_F(GrblDriverTest, ALaserProfileOnAControllerWithoutLaserModeIsRefusedWithTheSetting) {
    startMachine();   // $32=0
    startDriver();
    ASSERT_TRUE(runUntil([&] { return driver_->state() == MachineState::Refused; }));
    ASSERT_FALSE(rec_.faults.empty());
    EXPECT_EQ(rec_.faults.back().reason, "settings_mismatch");
    EXPECT_NE(rec_.faults.back().message.find("$32"), std::string::npos) << rec_.faults.back().message;
    driver_->submit("job-1", laserJob(10));
    ASSERT_TRUE(runUntil([&] { return !rec_.interrupted.empty(); }));
    EXPECT_EQ(rec_.interrupted.back().why.reason, "busy");
    EXPECT_EQ(emulator_->position()[0], 0) << "nothing moved";
}

TEST_F(GrblDriverTest, AWorkAreaSmallerThanTheProfileIsRefused) {
    auto o = laserMachine();
    o.maxTravel[0] = 300;
    startMachine(o);
    startDriver();
    ASSERT_TRUE(runUntil([&] { return driver_->state() == MachineState::Refused; }));
    EXPECT_NE(rec_.faults.back().message.find("$130"), std::string::npos) << rec_.faults.back().message;
}

TEST_F(GrblDriverTest, PowerAboveTheSpindleRangeAndABoxOutsideTheTravelAreRefusedBeforeSending) {
    auto o = laserMachine();
    o.maxSpindle = 255;
    startMachine(o);
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    auto tooStrong = driver_->check(laserJob(5, 800));
    ASSERT_TRUE(tooStrong);
    EXPECT_EQ(tooStrong->reason, "spindle_range");
    EXPECT_NE(tooStrong->message.find("$30"), std::string::npos);
    auto tooBig = laserJob(5, 200);
    tooBig.bbox.maxX = 450;
    auto outside = driver_->check(tooBig);
    ASSERT_TRUE(outside);
    EXPECT_EQ(outside->reason, "envelope");
    const auto before = emulator_->linesReceived();
    driver_->submit("job-1", laserJob(5, 800));
    ASSERT_TRUE(runUntil([&] { return !rec_.interrupted.empty(); }));
    EXPECT_EQ(rec_.interrupted.back().why.reason, "spindle_range");
    runUntil([] { return false; }, 100ms);
    EXPECT_EQ(emulator_->linesReceived(), before) << "a refused job sends nothing";
}

TEST_F(GrblDriverTest, AnErrorOnALineInterruptsTheJobWithTheDecodedReasonAndResetsTheController) {
    startMachine(laserMachine());
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    const auto before = emulator_->linesReceived();
    emulator_->failLine(before + 50, 20);
    driver_->submit("job-1", laserJob(400));
    ASSERT_TRUE(runUntil([&] { return !rec_.interrupted.empty(); }, 20s));
    const auto& i = rec_.interrupted.back();
    EXPECT_EQ(i.why.reason, "error");
    EXPECT_EQ(i.why.code, "error:20");
    EXPECT_NE(i.why.message.find("program line 50"), std::string::npos) << i.why.message;
    EXPECT_TRUE(rec_.finished.empty());
    EXPECT_LT(emulator_->linesReceived() - before, 400u) << "the stream stopped at the error";
}

TEST_F(GrblDriverTest, AnAlarmMidJobInterruptsItAndOnlyTheOperatorsUnlockFreesTheMachine) {
    startMachine(laserMachine());
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    driver_->submit("job-1", laserJob(2000));
    ASSERT_TRUE(runUntil([&] { return emulator_->linesReceived() > 100; }, 20s));
    emulator_->injectAlarm(1);
    ASSERT_TRUE(runUntil([&] { return !rec_.interrupted.empty(); }));
    EXPECT_EQ(rec_.interrupted.back().why.reason, "alarm");
    EXPECT_EQ(rec_.interrupted.back().why.code, "ALARM:1");
    EXPECT_NE(rec_.interrupted.back().why.message.find("imit"), std::string::npos)
        << rec_.interrupted.back().why.message;
    ASSERT_TRUE(runUntil([&] { return driver_->state() == MachineState::Alarm; }));
    runUntil([] { return false; }, 500ms);
    EXPECT_EQ(driver_->state(), MachineState::Alarm) << "never unlocked by the driver itself";
    driver_->unlock();
    ASSERT_TRUE(runUntil([&] { return idle(); })) << toString(driver_->state());
}

TEST_F(GrblDriverTest, UnpluggingMidJobInterruptsItAndTheMachineComesBackWithoutResending) {
    startMachine(laserMachine());
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    driver_->submit("job-1", laserJob(2000));
    ASSERT_TRUE(runUntil([&] { return emulator_->linesReceived() > 100; }, 20s));
    emulator_->disconnect();
    ASSERT_TRUE(runUntil([&] { return !rec_.interrupted.empty(); }));
    EXPECT_EQ(rec_.interrupted.back().why.reason, "disconnected");
    EXPECT_GT(rec_.interrupted.back().lastDoneLine, 0u);
    EXPECT_EQ(driver_->state(), MachineState::Disconnected);
    runUntil([] { return false; }, 300ms);
    const auto before = emulator_->linesReceived();
    emulator_->reconnect();
    ASSERT_TRUE(runUntil([&] { return idle(); })) << toString(driver_->state());
    runUntil([] { return false; }, 300ms);
    EXPECT_LE(emulator_->linesReceived() - before, 2u) << "only $I and $$ after the reconnect; no job line";
    EXPECT_TRUE(rec_.finished.empty());
}

TEST_F(GrblDriverTest, AControllerThatStopsAnsweringIsDetectedAndTheJobInterrupted) {
    startMachine(laserMachine());
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    driver_->submit("job-1", laserJob(2000));
    ASSERT_TRUE(runUntil([&] { return emulator_->linesReceived() > 50; }, 20s));
    emulator_->stall(true);
    ASSERT_TRUE(runUntil([&] { return !rec_.interrupted.empty(); }, 10s));
    EXPECT_EQ(rec_.interrupted.back().why.reason, "timeout");
    emulator_->stall(false);
}

TEST_F(GrblDriverTest, ALostOkStopsTheJobInsteadOfHangingForever) {
    startMachine(laserMachine());
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    emulator_->loseOk(emulator_->linesReceived() + 20);
    driver_->submit("job-1", laserJob(30));
    ASSERT_TRUE(runUntil([&] { return !rec_.interrupted.empty() || !rec_.finished.empty(); }, 15s));
    ASSERT_FALSE(rec_.interrupted.empty()) << "finished although an answer never came";
    EXPECT_EQ(rec_.interrupted.back().why.reason, "lost_answer");
    // The count is lost, so the controller is reset (nothing it holds runs on) and comes back idle for the next job.
    ASSERT_TRUE(runUntil([&] { return idle(); })) << toString(driver_->state());
    driver_->submit("job-2", laserJob(30));
    ASSERT_TRUE(runUntil([&] { return !rec_.finished.empty() || rec_.interrupted.size() > 1; }, 15s));
    EXPECT_EQ(rec_.finished, std::vector<std::string>{"job-2"});
}

TEST_F(GrblDriverTest, FeedHoldPausesAndCycleStartResumes) {
    startMachine(laserMachine());
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    driver_->submit("job-1", laserJob(600));
    ASSERT_TRUE(runUntil([&] { return emulator_->linesReceived() > 50; }, 20s));
    driver_->pause();
    ASSERT_TRUE(runUntil([&] { return driver_->state() == MachineState::Paused; }));
    const auto held = emulator_->position();
    runUntil([] { return false; }, 300ms);
    EXPECT_EQ(emulator_->position(), held) << "nothing moves during a hold";
    driver_->resume();
    ASSERT_TRUE(runUntil([&] { return !rec_.finished.empty(); }, 30s));
    EXPECT_TRUE(rec_.interrupted.empty());
}

TEST_F(GrblDriverTest, CancelResetsTheControllerWhichStaysLockedUntilUnlocked) {
    startMachine(laserMachine());
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    driver_->submit("job-1", laserJob(2000));
    ASSERT_TRUE(runUntil([&] { return emulator_->state() == "Run"; }, 20s));
    driver_->cancel();
    ASSERT_FALSE(rec_.interrupted.empty());
    EXPECT_EQ(rec_.interrupted.back().why.reason, "cancelled");
    ASSERT_TRUE(runUntil([&] { return driver_->state() == MachineState::Alarm; })) << toString(driver_->state());
    EXPECT_TRUE(runUntil([&] { return emulator_->plannerBlocks() == 0; }, 2s)) << "the reset emptied the planner";
    runUntil([] { return false; }, 300ms);
    EXPECT_EQ(driver_->state(), MachineState::Alarm) << "the reset leaves it locked";
    driver_->unlock();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
}

TEST_F(GrblDriverTest, DryRunInCheckModeCatchesABadLineBeforeAnythingMoves) {
    startMachine(laserMachine());
    startDriver([](auto& o) { o.dryRun = true; });
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    auto job = laserJob(50);
    job.program.replace(job.program.find("G1 X"), 2, "G5");   // not a G-code GRBL knows: error:20
    driver_->submit("job-1", job);
    ASSERT_TRUE(runUntil([&] { return !rec_.interrupted.empty() || !rec_.finished.empty(); }, 20s));
    ASSERT_FALSE(rec_.interrupted.empty());
    EXPECT_EQ(rec_.interrupted.back().why.reason, "dry_run_failed");
    EXPECT_EQ(emulator_->position()[0], 0);
    EXPECT_EQ(emulator_->position()[1], 0);
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    driver_->submit("job-2", laserJob(50));
    ASSERT_TRUE(runUntil([&] { return !rec_.finished.empty(); }, 20s));
    EXPECT_EQ(rec_.finished.back(), "job-2") << "a good program passes the check and then runs";
}

TEST_F(GrblDriverTest, AMachineThatIsNotThereYetIsWaitedForAndUsedWhenItAppears) {
    const auto path = dir_->path() / "laser";
    // The driver starts first, against a port that does not exist.
    auto o = laserMachine();
    o.linkPath = path.string();
    o.speedFactor = 50;
    auto d = test::laserDriverOptions("laser-1", path.string());
    driver_ = std::make_unique<grbl::GrblDriver>(io_, d, rec_);
    driver_->start();
    runUntil([] { return false; }, 300ms);
    EXPECT_EQ(driver_->state(), MachineState::Disconnected);
    emulator_ = std::make_unique<virt::GrblEmulator>(io_, o);
    ASSERT_TRUE(runUntil([&] { return idle(); }, 5s)) << toString(driver_->state());
}

TEST_F(GrblDriverTest, TheSimulatorBinaryServesAMachineOverTcpLikeASerialBridge) {
    const auto sim = std::filesystem::path(test::agentBinary()).parent_path() / "mto-machine-sim";
    ASSERT_TRUE(std::filesystem::exists(sim)) << sim;
    const int port = test::freeTcpPort();
    test::Process process;
    process.start({sim.string(), "--grbl", (dir_->path() / "laser").string(), "--laser", "--speed", "50", "--tcp",
                   std::to_string(port)},
                  dir_->path() / "sim.log");
    ASSERT_TRUE(test::waitUntil([&] { return std::filesystem::exists(dir_->path() / "laser"); }, 10s));
    auto d = test::laserDriverOptions("laser-1", "tcp://127.0.0.1:" + std::to_string(port));
    driver_ = std::make_unique<grbl::GrblDriver>(io_, d, rec_);
    driver_->start();
    ASSERT_TRUE(runUntil([&] { return idle(); }, 10s)) << toString(driver_->state());
    driver_->submit("job-1", laserJob(100));
    ASSERT_TRUE(runUntil([&] { return !rec_.finished.empty() || !rec_.interrupted.empty(); }, 30s));
    EXPECT_EQ(rec_.finished, std::vector<std::string>{"job-1"});
    process.signal(SIGTERM);
    EXPECT_EQ(process.wait(5s), 0) << "the simulator exits cleanly on SIGTERM";
    EXPECT_FALSE(std::filesystem::exists(dir_->path() / "laser")) << "and removes its symlink";
}

TEST_F(GrblDriverTest, ARouterProgramBelowTheMinimumSpindleSpeedIsRefusedWithTheSetting) {
    auto o = cncMachine();
    o.minSpindle = 8000;   // $31: GRBL would run an S5000 at 8000 rpm
    startMachine(o);
    startCncDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); })) << toString(driver_->state());
    EXPECT_FALSE(driver_->check(cncJob(12000, 2))) << "a speed inside $31..$30 passes";
    auto tooSlow = driver_->check(cncJob(5000, 2));
    ASSERT_TRUE(tooSlow);
    EXPECT_EQ(tooSlow->reason, "spindle_range");
    EXPECT_NE(tooSlow->message.find("S5000 but $31 is 8000"), std::string::npos) << tooSlow->message;
    const auto before = emulator_->linesReceived();
    driver_->submit("job-1", cncJob(5000, 2));
    ASSERT_TRUE(runUntil([&] { return !rec_.interrupted.empty(); }));
    EXPECT_EQ(rec_.interrupted.back().why.reason, "spindle_range");
    runUntil([] { return false; }, 100ms);
    EXPECT_EQ(emulator_->linesReceived(), before) << "a refused job sends nothing";
}

TEST_F(GrblDriverTest, ARouterWhoseControllerIsInLaserModeIsRefusedWithTheSetting) {
    auto o = cncMachine();
    o.laserMode = true;   // $32=1 would skip the spindle's spin-up waits and fire at every motion
    startMachine(o);
    startCncDriver();
    ASSERT_TRUE(runUntil([&] { return driver_->state() == MachineState::Refused; })) << toString(driver_->state());
    ASSERT_FALSE(rec_.faults.empty());
    EXPECT_EQ(rec_.faults.back().reason, "settings_mismatch");
    EXPECT_NE(rec_.faults.back().message.find("$32 (laser mode) is on"), std::string::npos) << rec_.faults.back().message;
    auto refused = driver_->check(cncJob(12000, 2));
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->reason, "settings_mismatch");
    driver_->submit("job-1", cncJob(12000, 2));
    ASSERT_TRUE(runUntil([&] { return !rec_.interrupted.empty(); }));
    EXPECT_EQ(emulator_->position()[2], 0) << "nothing moved";
}

TEST_F(GrblDriverTest, AZTravelShorterThanTheRoutersProfileIsRefusedWithTheSetting) {
    auto o = cncMachine();
    o.maxTravel[2] = 30;   // $132: the profile spans Z -20..30, 50 mm
    startMachine(o);
    startCncDriver();
    ASSERT_TRUE(runUntil([&] { return driver_->state() == MachineState::Refused; })) << toString(driver_->state());
    ASSERT_FALSE(rec_.faults.empty());
    EXPECT_EQ(rec_.faults.back().reason, "settings_mismatch");
    EXPECT_NE(rec_.faults.back().message.find("Z travel $132 is 30 mm but the profile cnc-600 needs 50 mm"),
              std::string::npos)
        << rec_.faults.back().message;
}

TEST_F(GrblDriverTest, AProgramDeeperThanTheZTravelIsRefusedBeforeSending) {
    auto o = cncMachine();
    o.maxTravel[2] = 20;   // $132, and a profile that fits it
    startMachine(o);
    startCncDriver([](auto& d) {
        d.profile.minZ = -10;
        d.profile.maxZ = 10;
    });
    ASSERT_TRUE(runUntil([&] { return idle(); })) << toString(driver_->state());
    EXPECT_FALSE(driver_->check(cncJob(12000, 10))) << "Z -10..5 fits in 20 mm";
    auto tooDeep = driver_->check(cncJob(12000, 25));
    ASSERT_TRUE(tooDeep);
    EXPECT_EQ(tooDeep->reason, "envelope");
    EXPECT_NE(tooDeep->message.find("Z -25..5 mm"), std::string::npos) << tooDeep->message;
    EXPECT_NE(tooDeep->message.find("x 20 mm"), std::string::npos) << tooDeep->message;
    const auto before = emulator_->linesReceived();
    driver_->submit("job-1", cncJob(12000, 25));
    ASSERT_TRUE(runUntil([&] { return !rec_.interrupted.empty(); }));
    EXPECT_EQ(rec_.interrupted.back().why.reason, "envelope");
    runUntil([] { return false; }, 100ms);
    EXPECT_EQ(emulator_->linesReceived(), before) << "a refused job sends nothing";
}

TEST_F(GrblDriverTest, StatusIsAskedForAtTheIdleRateWhileIdleAndAtTheRunningRateDuringAJob) {
    auto o = laserMachine();
    o.speedFactor = 5;   // the job below runs far longer than the window counted
    startMachine(o);
    startDriver([](auto& d) {
        d.statusWhileIdle = 500ms;
        d.statusWhileRunning = 100ms;
    });
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    // Timers only fire late on a loaded machine, never early: the upper bounds hold anywhere and catch busy
    // polling or swapped rates; the lower ones leave room for a late timer at every tick.
    const auto idleFrom = emulator_->statusQueries();
    runUntil([] { return false; }, 2s);
    const auto whileIdle = emulator_->statusQueries() - idleFrom;
    EXPECT_GE(whileIdle, 2u) << "about two a second while idle";
    EXPECT_LE(whileIdle, 6u) << "about two a second while idle";

    driver_->submit("job-1", laserJob(2000));
    ASSERT_TRUE(runUntil([&] { return emulator_->state() == "Run"; }));
    const auto runFrom = emulator_->statusQueries();
    runUntil([] { return false; }, 2s);
    const auto whileRunning = emulator_->statusQueries() - runFrom;
    RecordProperty("status_queries_idle_2s", static_cast<int>(whileIdle));
    RecordProperty("status_queries_running_2s", static_cast<int>(whileRunning));
    ASSERT_TRUE(rec_.finished.empty() && rec_.interrupted.empty()) << "the job ran through the whole window";
    EXPECT_GE(whileRunning, 10u) << "about ten a second while running";
    EXPECT_LE(whileRunning, 25u) << "about ten a second while running";
    driver_->cancel();
}

// GRBL 1.1 reports Idle during a G4 dwell (the planner is empty), with the G4 line unanswered until the dwell
// ends: the same picture as a lost ok. A spin-up dwell longer than the silence limit must still be waited out.
TEST_F(GrblDriverTest, ASpinUpDwellLongerThanTheSilenceLimitIsWaitedOutWhileTheControllerSaysIdle) {
    auto o = cncMachine();
    o.speedFactor = 4;   // G4 P8 dwells 2 s here, past the 1 s silence limit below
    startMachine(o);
    startCncDriver([](auto& d) { d.silenceLimit = 1000ms; });
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    driver_->submit("job-1", cncJob(12000, 1, 8));
    std::chrono::steady_clock::duration longestIdle{}, idleStretch{};
    auto idleSince = std::chrono::steady_clock::now();
    bool wasIdle = false;
    ASSERT_TRUE(runUntil(
        [&] {
            const bool idleNow = emulator_->state() == "Idle";
            const auto now = std::chrono::steady_clock::now();
            if (idleNow && !wasIdle) idleSince = now;
            if (idleNow) idleStretch = now - idleSince;
            longestIdle = std::max(longestIdle, idleStretch);
            wasIdle = idleNow;
            return !rec_.finished.empty() || !rec_.interrupted.empty();
        },
        20s));
    EXPECT_GT(longestIdle, 1500ms) << "the controller said Idle through the dwell, longer than the silence limit";
    EXPECT_TRUE(rec_.interrupted.empty()) << rec_.interrupted.back().why.reason << ": " << rec_.interrupted.back().why.message;
    EXPECT_EQ(rec_.finished, std::vector<std::string>{"job-1"});
}

} // namespace
} // namespace mto
