// SPDX-License-Identifier: Apache-2.0
// The Marlin driver against the Marlin emulator over a real pseudo-terminal: connect, print, resends, faults.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "grbl_options.hpp"   // runLoopUntil
#include "marlin/marlin_driver.hpp"
#include "test_env.hpp"
#include "virtual/marlin_emulator.hpp"

namespace mto {
namespace {

using namespace std::chrono_literals;

struct MarlinRecorder final : DriverListener {
    std::vector<MachineState> states;
    std::vector<std::string> details;
    std::vector<std::string> finished;
    struct Interruption {
        std::string jobId;
        MachineFault why;
        std::uint64_t lastDoneLine;
    };
    std::vector<Interruption> interrupted;
    std::vector<MachineFault> faults;
    std::vector<JobProgress> progress;

    void machineState(MachineState s, const std::string& d) override {
        states.push_back(s);
        details.push_back(d);
    }
    void jobProgress(const std::string&, const JobProgress& p) override { progress.push_back(p); }
    void jobFinished(const std::string& id) override { finished.push_back(id); }
    void jobInterrupted(const std::string& id, const MachineFault& why, std::uint64_t last) override {
        interrupted.push_back({id, why, last});
    }
    void machineFault(const MachineFault& f) override { faults.push_back(f); }
};

// A small print as a slicer writes it: heat, home, wait for heat, then `moves` extruding moves with comments
// and blank lines between, then cool down.
JobArtifact marlinPrintJob(int moves, double feed = 1800) {
    JobArtifact job;
    job.capability = "fdm";
    job.format = "gcode-marlin";
    std::string p = "; generated for a test\nM140 S60\nM104 S215\nG28 ; home all axes\nM190 S60\nM109 S215\n\nG90\nM83\n"
                    "G92 E0\nG1 Z0.2 F3000\n";
    for (int i = 0; i < moves; ++i) {
        char line[96];
        std::snprintf(line, sizeof line, "G1 X%.3f Y%.3f E0.0421 F%g%s\n", 20 + (i * 7 % 150) * 0.9,
                      20 + (i * 13 % 120) * 0.9, feed, i % 50 == 0 ? " ; perimeter" : "");
        p += line;
        if (i % 100 == 99) p += ";LAYER_CHANGE\n\n";
    }
    p += "M104 S0\nM140 S0\nM107\nM84\n";
    job.program = p;
    job.bbox = {0, 0, 0, 160, 130, 5};
    job.estimatedSeconds = 60;
    return job;
}

// The program's lines as they go on the wire.
std::vector<std::string> wireLines(const std::string& program) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < program.size()) {
        auto end = program.find('\n', start);
        if (end == std::string::npos) end = program.size();
        auto w = marlin::wireForm(std::string_view(program).substr(start, end - start));
        if (!w.empty()) out.push_back(w);
        start = end + 1;
    }
    return out;
}

// What the emulator ran, without the driver's own commands (handshake, temperature polls, the final M400).
std::vector<std::string> programRun(const std::vector<std::string>& executed) {
    std::vector<std::string> out;
    for (const auto& l : executed) {
        if (l == "M110 N0" || l == "M115" || l.rfind("M155", 0) == 0 || l == "M105" || l == "M400") continue;
        out.push_back(l);
    }
    return out;
}

class MarlinDriverTest : public ::testing::Test {
protected:
    void startPrinter(virt::MarlinEmulatorOptions o = {}) {
        if (o.linkPath.empty()) o.linkPath = (dir_.path() / "printer").string();
        if (o.speedFactor == 1.0) o.speedFactor = 400;
        emulator_ = std::make_unique<virt::MarlinEmulator>(io_, o);
    }
    void startDriver(std::function<void(marlin::MarlinDriverOptions&)> tweak = {}) {
        marlin::MarlinDriverOptions o;
        o.machineId = "printer-1";
        o.port = emulator_->devicePath();
        o.profile.name = "mk3s";
        o.profile.capability = "fdm";
        o.profile.sizeX = 250;
        o.profile.sizeY = 210;
        o.profile.maxZ = 210;
        o.greetingWait = 300ms;
        o.answerTimeout = 400ms;
        o.silenceLimit = 1500ms;
        o.reconnectMin = 50ms;
        o.reconnectMax = 200ms;
        o.progressEvery = 50ms;
        if (tweak) tweak(o);
        driver_ = std::make_unique<marlin::MarlinDriver>(io_, o, rec_);
        driver_->start();
    }
    bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
        return test::runLoopUntil(io_, done, limit);
    }
    bool idle() const { return driver_->state() == MachineState::Idle; }
    bool ended() const { return !rec_.finished.empty() || !rec_.interrupted.empty(); }
    std::string lastInterruption() const {
        return rec_.interrupted.empty() ? "none"
                                        : rec_.interrupted.back().why.reason + ": " + rec_.interrupted.back().why.message;
    }

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
    test::TempDir dir_;
    std::unique_ptr<virt::MarlinEmulator> emulator_;
    MarlinRecorder rec_;
    std::unique_ptr<marlin::MarlinDriver> driver_;
};

TEST_F(MarlinDriverTest, ConnectsIdentifiesMarlinAndReadsTheTemperatures) {
    startPrinter();
    startDriver([](auto& o) { o.temperatureReportS = 1; });
    ASSERT_TRUE(runUntil([&] { return idle(); })) << toString(driver_->state());
    EXPECT_EQ(driver_->identity().firmware, "Marlin");
    EXPECT_EQ(driver_->identity().version, "2.1.2");
    EXPECT_EQ(driver_->identity().detail, "Prusa i3 MK3S (emulated)");
    EXPECT_TRUE(rec_.faults.empty());
    ASSERT_TRUE(runUntil([&] { return driver_->temperatures().has_value(); }, 3s)) << "M155 auto-report never came";
    ASSERT_TRUE(driver_->temperatures()->hotend);
    EXPECT_NEAR(driver_->temperatures()->hotend->actual, 25, 1);
}

TEST_F(MarlinDriverTest, AFullPrintFinishesAndThePrinterRanEveryLineAsSent) {
    startPrinter();
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    const auto job = marlinPrintJob(600);
    driver_->submit("job-1", job);
    ASSERT_TRUE(runUntil([&] { return ended(); }, 30s)) << "never ended";
    ASSERT_EQ(rec_.finished.size(), 1u) << lastInterruption();
    EXPECT_EQ(programRun(emulator_->executed()), wireLines(job.program));
    EXPECT_TRUE(idle());
    ASSERT_FALSE(rec_.progress.empty());
    EXPECT_EQ(rec_.progress.back().linesDone, rec_.progress.back().linesTotal);
    EXPECT_DOUBLE_EQ(rec_.progress.back().fraction, 1.0);
}

TEST_F(MarlinDriverTest, OnePercentChecksumErrorsStillPrintEveryLineOnceAndInOrder) {
    virt::MarlinEmulatorOptions o;
    o.checksumErrorRate = 0.01;
    o.randomSeed = 7;
    o.speedFactor = 2000;
    startPrinter(o);
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    const auto job = marlinPrintJob(3000);
    driver_->submit("job-1", job);
    ASSERT_TRUE(runUntil([&] { return ended(); }, 60s)) << "never ended";
    ASSERT_EQ(rec_.finished.size(), 1u) << lastInterruption();
    EXPECT_GT(emulator_->resendsRequested(), 10u) << "the error rate was not applied";
    EXPECT_GT(driver_->resendsServed(), 10u);
    EXPECT_EQ(programRun(emulator_->executed()), wireLines(job.program)) << "byte-identical, nothing twice";
}

TEST_F(MarlinDriverTest, ALostLineIsAskedForAndSentAgain) {
    startPrinter();
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    emulator_->loseLine(emulator_->linesReceived() + 200);
    const auto job = marlinPrintJob(400);
    driver_->submit("job-1", job);
    ASSERT_TRUE(runUntil([&] { return ended(); }, 30s));
    ASSERT_EQ(rec_.finished.size(), 1u) << lastInterruption();
    EXPECT_GE(emulator_->resendsRequested(), 1u);
    EXPECT_EQ(programRun(emulator_->executed()), wireLines(job.program));
}

// Marlin asks for a line again as soon as it reads a bad one, while the lines before it still wait in its command
// buffer; their oks come after the Resend. Those oks belong to lines the printer already had, not to the lines
// sent again, so the end of the job (M400's ok) is not taken before the printer ran its last line.
TEST_F(MarlinDriverTest, OksOfBufferedLinesArrivingAfterAResendDoNotEndTheJobEarly) {
    virt::MarlinEmulatorOptions o;
    o.speedFactor = 2;   // a G4 P600 dwell holds the command buffer for 300 ms
    startPrinter(o);
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    JobArtifact job;
    job.capability = "fdm";
    job.format = "gcode-marlin";
    job.program = "G4 P600\nG1 X1 F3000\nG1 X2\nG1 X3\nG1 X4\nG1 X5\nG1 X6\nG4 P600\nG1 X7\n";
    job.bbox = {0, 0, 0, 10, 10, 1};
    job.estimatedSeconds = 1;
    emulator_->loseLine(emulator_->linesReceived() + 3);   // read while the first dwell runs
    driver_->submit("job-1", job);
    ASSERT_TRUE(runUntil([&] { return ended(); }, 10s)) << "never ended";
    ASSERT_EQ(rec_.finished.size(), 1u) << lastInterruption();
    EXPECT_GE(emulator_->resendsRequested(), 1u);
    // At the moment the job was reported done, the printer had run every line and the M400 after them.
    EXPECT_EQ(programRun(emulator_->executed()), wireLines(job.program));
    ASSERT_FALSE(emulator_->executed().empty());
    EXPECT_EQ(emulator_->executed().back(), "M400");
}

TEST_F(MarlinDriverTest, ALostLastLineIsSentAgainAfterTheAnswerTimeoutWhenSendingAndWaiting) {
    startPrinter();
    startDriver([](auto& o) { o.inFlight = 1; });
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    // With one line in flight every lost line is the last one sent: nothing after it makes the firmware ask.
    emulator_->loseLine(emulator_->linesReceived() + 30);
    const auto job = marlinPrintJob(60);
    driver_->submit("job-1", job);
    ASSERT_TRUE(runUntil([&] { return ended(); }, 30s));
    ASSERT_EQ(rec_.finished.size(), 1u) << lastInterruption();
    EXPECT_EQ(programRun(emulator_->executed()), wireLines(job.program));
}

TEST_F(MarlinDriverTest, ThermalRunawayStopsThePrintWithTheFirmwaresWordsUntilTheOperatorUnlocks) {
    startPrinter();
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    driver_->submit("job-1", marlinPrintJob(3000, 600));
    ASSERT_TRUE(runUntil([&] { return emulator_->linesReceived() > 200; }, 20s));
    emulator_->thermalRunaway();
    ASSERT_TRUE(runUntil([&] { return !rec_.interrupted.empty(); }));
    EXPECT_EQ(rec_.interrupted.back().why.reason, "thermal_runaway");
    EXPECT_NE(rec_.interrupted.back().why.message.find("Thermal Runaway, system stopped! Heater_ID: 0"), std::string::npos)
        << rec_.interrupted.back().why.message;
    EXPECT_GT(rec_.interrupted.back().lastDoneLine, 0u);
    ASSERT_FALSE(rec_.faults.empty());
    EXPECT_EQ(rec_.faults.back().reason, "thermal_runaway");
    EXPECT_EQ(driver_->state(), MachineState::Alarm);
    runUntil([] { return false; }, 1000ms);
    EXPECT_EQ(driver_->state(), MachineState::Alarm) << "a halted printer stays in alarm; no timeout, no reconnect";
    EXPECT_TRUE(rec_.finished.empty());
    const auto resets = emulator_->resets();
    driver_->unlock();
    ASSERT_TRUE(runUntil([&] { return idle(); })) << toString(driver_->state());
    EXPECT_GT(emulator_->resets(), resets) << "reopening the port reset the board";
    EXPECT_FALSE(emulator_->halted());
}

TEST_F(MarlinDriverTest, PrinterHaltedWhileIdleIsAMachineFault) {
    startPrinter();
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    emulator_->halt();
    ASSERT_TRUE(runUntil([&] { return !rec_.faults.empty(); }));
    EXPECT_EQ(rec_.faults.back().reason, "halted");
    EXPECT_NE(rec_.faults.back().message.find("Printer halted. kill() called!"), std::string::npos);
    EXPECT_EQ(driver_->state(), MachineState::Alarm);
    EXPECT_TRUE(driver_->check(marlinPrintJob(10)).has_value()) << "no job on a halted printer";
}

TEST_F(MarlinDriverTest, UnpluggingMidPrintInterruptsItAndThePrinterComesBackWithoutResending) {
    startPrinter();
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    emulator_->disconnectAfterLines(150);
    driver_->submit("job-1", marlinPrintJob(2000, 600));
    ASSERT_TRUE(runUntil([&] { return !rec_.interrupted.empty(); }, 20s));
    EXPECT_EQ(rec_.interrupted.back().why.reason, "disconnected");
    EXPECT_GT(rec_.interrupted.back().lastDoneLine, 0u);
    EXPECT_EQ(driver_->state(), MachineState::Disconnected);
    const auto ran = programRun(emulator_->executed()).size();
    emulator_->reconnect();
    ASSERT_TRUE(runUntil([&] { return idle(); })) << toString(driver_->state());
    runUntil([] { return false; }, 300ms);
    EXPECT_EQ(programRun(emulator_->executed()).size(), ran) << "no job line after the reconnect";
    EXPECT_TRUE(rec_.finished.empty());
}

// Long moves fill the planner and M109 heats for about two seconds: the firmware answers nothing meanwhile
// but "busy: processing". With keep-alives the driver waits; without them the same silence is a hang.
JobArtifact slowJob() {
    JobArtifact job;
    job.capability = "fdm";
    job.format = "gcode-marlin";
    job.program = "M104 S215\nM109 S215\nG90\n";
    for (int i = 0; i < 12; ++i) job.program += i % 2 ? "G1 X10 Y10 F600\n" : "G1 X110 Y10 F600\n";
    job.bbox = {0, 0, 0, 110, 10, 0};
    return job;
}

virt::MarlinEmulatorOptions slowPrinter(unsigned busyMs) {
    virt::MarlinEmulatorOptions o;
    o.speedFactor = 100;         // a 100 mm move at 600 mm/min: 0.1 s; heating 190 °C at 2.5 °C/s: 0.76 s
    o.hotendRate = 0.5;          // ... at 0.5 °C/s: 3.8 s
    o.plannerBlocks = 1;
    o.busyIntervalMs = busyMs;
    return o;
}

TEST_F(MarlinDriverTest, BusyKeepAliveDuringALongHeatAndFullPlannerIsNoTimeout) {
    startPrinter(slowPrinter(100));
    startDriver([](auto& o) {
        o.answerTimeout = 250ms;
        o.silenceLimit = 600ms;
        o.temperatureReportS = 5;
    });
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    const auto job = slowJob();
    driver_->submit("job-1", job);
    ASSERT_TRUE(runUntil([&] { return ended(); }, 20s));
    ASSERT_EQ(rec_.finished.size(), 1u) << lastInterruption();
    EXPECT_EQ(programRun(emulator_->executed()), wireLines(job.program));
    EXPECT_GE(emulator_->hotend(), 214) << "M109 waited for the heat";
    bool heatingShown = false;
    for (const auto& d : rec_.details) heatingShown |= d.rfind("waiting: hotend", 0) == 0;
    EXPECT_TRUE(heatingShown) << "the temperatures while M109 waits are in the state detail";
}

TEST_F(MarlinDriverTest, WithoutKeepAliveTheSameSilenceIsAHang) {
    startPrinter(slowPrinter(60000));
    startDriver([](auto& o) {
        o.answerTimeout = 250ms;
        o.silenceLimit = 600ms;
        o.temperatureReportS = 5;
    });
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    driver_->submit("job-1", slowJob());
    ASSERT_TRUE(runUntil([&] { return ended(); }, 20s));
    ASSERT_EQ(rec_.interrupted.size(), 1u);
    EXPECT_EQ(rec_.interrupted.back().why.reason, "timeout");
}

TEST_F(MarlinDriverTest, AnotherFirmwareIsRefused) {
    virt::MarlinEmulatorOptions o;
    o.firmwareName = "RepRapFirmware";
    startPrinter(o);
    startDriver();
    ASSERT_TRUE(runUntil([&] { return driver_->state() == MachineState::Refused; })) << toString(driver_->state());
    ASSERT_FALSE(rec_.faults.empty());
    EXPECT_EQ(rec_.faults.back().reason, "firmware_mismatch");
    EXPECT_NE(rec_.faults.back().message.find("RepRapFirmware"), std::string::npos);
    driver_->submit("job-1", marlinPrintJob(10));
    ASSERT_TRUE(runUntil([&] { return !rec_.interrupted.empty(); }));
    EXPECT_TRUE(programRun(emulator_->executed()).empty());
}

TEST_F(MarlinDriverTest, CheckRefusesOtherCapabilitiesFormatsAndPartsOutsideTheBuildVolume) {
    startPrinter();
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    auto job = marlinPrintJob(10);
    EXPECT_FALSE(driver_->check(job));
    auto laser = job;
    laser.capability = "laser";
    EXPECT_EQ(driver_->check(laser)->reason, "capability");
    auto grbl = job;
    grbl.format = "gcode-grbl";
    EXPECT_EQ(driver_->check(grbl)->reason, "format");
    auto big = job;
    big.bbox.maxX = 260;
    EXPECT_EQ(driver_->check(big)->reason, "envelope");
    auto tall = job;
    tall.bbox.maxZ = 211;
    EXPECT_EQ(driver_->check(tall)->reason, "envelope");
    driver_->submit("job-2", big);
    ASSERT_TRUE(runUntil([&] { return !rec_.interrupted.empty(); }));
    EXPECT_EQ(rec_.interrupted.back().why.reason, "envelope");
}

TEST_F(MarlinDriverTest, PauseParksResumeGoesOnAndThePrintFinishes) {
    startPrinter();
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    const auto job = marlinPrintJob(1500, 1800);
    driver_->submit("job-1", job);
    ASSERT_TRUE(runUntil([&] { return emulator_->executed().size() > 200; }, 20s));
    driver_->pause();
    ASSERT_TRUE(runUntil([&] { return driver_->state() == MachineState::Paused; }));
    const auto atPause = emulator_->executed().size();
    runUntil([] { return false; }, 300ms);
    EXPECT_EQ(emulator_->executed().size(), atPause) << "nothing runs while paused";
    driver_->resume();
    ASSERT_TRUE(runUntil([&] { return ended(); }, 30s));
    ASSERT_EQ(rec_.finished.size(), 1u) << lastInterruption();
    // The program ran whole, with the pause and resume sequences between two of its lines.
    auto ran = programRun(emulator_->executed());
    const std::vector<std::string> pause = {"G91", "G1 Z5 F600", "G90"}, resume = {"G91", "G1 Z-5 F600", "G90", "M83"};
    auto at = std::search(ran.begin(), ran.end(), pause.begin(), pause.end());
    ASSERT_NE(at, ran.end());
    ran.erase(at, at + 3);
    at = std::search(ran.begin(), ran.end(), resume.begin(), resume.end());
    ASSERT_NE(at, ran.end());
    ran.erase(at, at + 4);
    EXPECT_EQ(ran, wireLines(job.program));
}

TEST_F(MarlinDriverTest, CancelStopsTheProgramAndSendsTheCancelSequence) {
    startPrinter();
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    driver_->submit("job-1", marlinPrintJob(2000, 600));
    ASSERT_TRUE(runUntil([&] { return emulator_->executed().size() > 100; }, 20s));
    driver_->cancel();
    ASSERT_FALSE(rec_.interrupted.empty());
    EXPECT_EQ(rec_.interrupted.back().why.reason, "cancelled");
    ASSERT_TRUE(runUntil([&] {
        const auto& e = emulator_->executed();
        return !e.empty() && e.back() == "M84";
    }));
    const auto& e = emulator_->executed();
    const std::vector<std::string> cancel = {"M104 S0", "M140 S0", "M107", "G91", "G1 Z5 F600", "G90", "M84"};
    EXPECT_TRUE(std::equal(cancel.begin(), cancel.end(), e.end() - 7));
    EXPECT_LT(programRun(e).size(), 1000u) << "the rest of the program was not sent";
    EXPECT_TRUE(idle());
    EXPECT_TRUE(rec_.finished.empty());
}

TEST_F(MarlinDriverTest, StoppingTheDriverMidPrintCoolsThePrinterDownBeforeClosing) {
    startPrinter();
    startDriver();
    ASSERT_TRUE(runUntil([&] { return idle(); }));
    driver_->submit("job-1", marlinPrintJob(2000, 600));
    ASSERT_TRUE(runUntil([&] { return emulator_->executed().size() > 100; }, 20s));
    bool stopped = false;
    driver_->stop([&] { stopped = true; });
    ASSERT_TRUE(runUntil([&] { return stopped; }, 5s));
    ASSERT_FALSE(rec_.interrupted.empty());
    EXPECT_EQ(rec_.interrupted.back().why.reason, "stopped");
    EXPECT_EQ(driver_->state(), MachineState::Disconnected);
    ASSERT_TRUE(runUntil([&] {
        const auto& e = emulator_->executed();
        return !e.empty() && e.back() == "M84";
    }, 3s)) << "the cancel G-code ran";
    EXPECT_NE(std::find(emulator_->executed().begin(), emulator_->executed().end(), "M104 S0"),
              emulator_->executed().end());
    driver_.reset();
}

} // namespace
} // namespace mto
