// SPDX-License-Identifier: Apache-2.0
// GRBL streaming: how much of the serial line a job uses, character counting against send-and-wait.
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <functional>

#include "bench_support.hpp"
#include "benchmarks.hpp"
#include "grbl/grbl_driver.hpp"
#include "test_env.hpp"
#include "virtual/grbl_emulator.hpp"

namespace mto::bench {

namespace {

const std::string kGrblBench = "grbl";
constexpr unsigned kGrblBaud = 115200;

struct GrblOutcome final : DriverListener {
    bool finished = false;
    std::string interrupted;
    void machineState(MachineState, const std::string&) override {}
    void jobProgress(const std::string&, const JobProgress&) override {}
    void jobFinished(const std::string&) override { finished = true; }
    void jobInterrupted(const std::string&, const MachineFault& why, std::uint64_t) override {
        interrupted = why.reason + ": " + why.message;
    }
    void machineFault(const MachineFault&) override {}
};

// Short engraving strokes, as text and photo engraving make: many lines of ~20 bytes.
JobArtifact laserJob(int segments, std::size_t& wireBytes) {
    JobArtifact job;
    job.capability = "laser";
    job.format = "gcode-grbl";
    std::string p = "G21 G90 G17 G94\nM5\nG0 X0 Y0\nM4 S400\n";
    for (int i = 0; i < segments; ++i) {
        char line[64];
        std::snprintf(line, sizeof line, "G1 X%.2f Y%.2f F6000\n", 10 + (i % 200) * 0.25, 10 + (i / 200) * 0.1);
        p += line;
    }
    p += "M5\nM2\n";
    wireBytes = 0;
    std::size_t start = 0;
    while (start < p.size()) {
        auto end = p.find('\n', start);
        wireBytes += grbl::wireForm(std::string_view(p).substr(start, end - start)).size() + 1;
        start = end + 1;
    }
    job.program = std::move(p);
    job.bbox = {0, 0, 0, 70, 30, 0};
    return job;
}

// Seconds from submit to the job's end, streamed to a fresh emulator whose motion is fast enough that only
// the serial line limits the run.
double grblStreamSeconds(const JobArtifact& job, bool characterCounting, std::uint64_t& lostBytes) {
    test::TempDir dir;
    boost::asio::io_context io;
    virt::GrblEmulatorOptions eo;
    eo.linkPath = (dir.path() / "laser").string();
    eo.baud = kGrblBaud;
    eo.laserMode = true;
    eo.speedFactor = 1000;
    virt::GrblEmulator emulator(io, eo);
    GrblOutcome outcome;
    grbl::GrblDriverOptions o;
    o.machineId = "bench-laser";
    o.port = emulator.devicePath();
    o.baud = kGrblBaud;
    o.profile.capability = "laser";
    o.profile.sizeX = 400;
    o.profile.sizeY = 400;
    o.characterCounting = characterCounting;
    o.statusWhileRunning = std::chrono::milliseconds(200);
    grbl::GrblDriver driver(io, o, outcome);
    driver.start();
    auto runUntil = [&](const std::function<bool()>& done, std::chrono::seconds limit, const std::string& what) {
        const auto deadline = Clock::now() + limit;
        while (!done()) {
            throwIfInterrupted();
            if (Clock::now() > deadline) throw BenchError("timed out waiting for " + what);
            io.restart();
            io.run_for(std::chrono::milliseconds(5));
        }
    };
    runUntil([&] { return driver.state() == MachineState::Idle; }, std::chrono::seconds(10), "the emulator to be idle");
    const auto started = Clock::now();
    driver.submit("bench", job);
    runUntil([&] { return outcome.finished || !outcome.interrupted.empty(); }, std::chrono::seconds(600),
             "the job to end");
    const double seconds = secondsBetween(started, Clock::now());
    if (!outcome.interrupted.empty()) throw BenchError("the job was interrupted: " + outcome.interrupted);
    lostBytes = emulator.bytesLost();
    bool stopped = false;
    driver.stop([&] { stopped = true; });
    runUntil([&] { return stopped; }, std::chrono::seconds(5), "the driver to stop");
    return seconds;
}

} // namespace

void runGrblStreamBench(const BenchOptions& o, BenchReport& report) {
    const int segments = o.quick ? 2000 : 20000;
    std::size_t wireBytes = 0;
    const auto job = laserJob(segments, wireBytes);
    const double lineSeconds = static_cast<double>(wireBytes) * 10.0 / kGrblBaud;
    report.figure(kGrblBench, "workload",
                  formatCount(segments) + "-segment laser job, " + formatCount(static_cast<std::int64_t>(wireBytes)) +
                      " bytes on the wire; at " + std::to_string(kGrblBaud) + " baud (10 bits a byte) the line alone needs " +
                      fixed(lineSeconds, 2) + " s");
    std::uint64_t lostCounting = 0, lostWaiting = 0;
    const double counting = grblStreamSeconds(job, true, lostCounting);
    report.figure(kGrblBench, "character counting (128-byte receive buffer)",
                  fixed(counting, 2) + " s, " + std::to_string(lostCounting) + " bytes lost to overrun");
    report.goal(kGrblBench, "character counting: share of the line rate", lineSeconds / counting, "", 0.95, Better::Higher);
    const double waiting = grblStreamSeconds(job, false, lostWaiting);
    report.figure(kGrblBench, "send-and-wait (one line, then its ok)",
                  fixed(waiting, 2) + " s, " + std::to_string(lostWaiting) + " bytes lost to overrun");
    report.info(kGrblBench, "send-and-wait: share of the line rate", fixed(lineSeconds / waiting, 2));
    report.info(kGrblBench, "ratio character counting / send-and-wait (speed-up)", fixed(waiting / counting, 2));
    report.check(kGrblBench, "no byte lost to receive-buffer overrun", lostCounting == 0 && lostWaiting == 0,
                 std::to_string(lostCounting + lostWaiting) + " bytes lost");
}

} // namespace mto::bench
