// SPDX-License-Identifier: Apache-2.0
// Marlin streaming: how much of a 115200-baud line a print uses with 4 commands in flight against
// send-and-wait, the same program to the same emulated printer pacing bytes at the line rate.
#include <boost/asio/io_context.hpp>
#include <cstdio>

#include "bench_support.hpp"
#include "benchmarks.hpp"
#include "marlin/marlin_driver.hpp"
#include "test_env.hpp"
#include "virtual/marlin_emulator.hpp"

namespace mto::bench {

namespace {

const std::string kMarlinBench = "marlin";
constexpr unsigned kMarlinBaud = 115200;

struct MarlinOutcome final : DriverListener {
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

// Short extruding moves, as curved perimeters and small infill make: many lines of ~35 bytes.
JobArtifact printJob(int moves, std::size_t& wireBytes) {
    JobArtifact job;
    job.capability = "fdm";
    job.format = "gcode-marlin";
    std::string p = "G90\nM83\nG92 E0\nG1 Z0.2 F3000\n";
    for (int i = 0; i < moves; ++i) {
        char line[80];
        std::snprintf(line, sizeof line, "G1 X%.3f Y%.3f E0.0123 F1800\n", 50 + (i % 400) * 0.25, 50 + (i / 400) * 0.2);
        p += line;
    }
    p += "M84\n";
    wireBytes = 0;
    std::size_t start = 0;
    std::uint64_t n = 1;
    while (start < p.size()) {
        auto end = p.find('\n', start);
        // On the wire each line carries its number and checksum: "N<n> <line>*<cs>\n".
        wireBytes += marlin::numberedLine(++n, marlin::wireForm(std::string_view(p).substr(start, end - start))).size() + 1;
        start = end + 1;
    }
    job.program = std::move(p);
    job.bbox = {0, 0, 0, 200, 200, 1};
    return job;
}

// Seconds from submit to the job's end on a fresh emulator whose motion is fast enough that only the serial
// line and the protocol limit the run.
double marlinStreamSeconds(const JobArtifact& job, unsigned inFlight, std::uint64_t& resends) {
    test::TempDir dir;
    boost::asio::io_context io;
    virt::MarlinEmulatorOptions eo;
    eo.linkPath = (dir.path() / "printer").string();
    eo.baud = kMarlinBaud;
    eo.pacing = true;
    eo.speedFactor = 100000;
    virt::MarlinEmulator emulator(io, eo);
    MarlinOutcome outcome;
    marlin::MarlinDriverOptions o;
    o.machineId = "bench-printer";
    o.port = emulator.devicePath();
    o.baud = kMarlinBaud;
    o.profile.capability = "fdm";
    o.profile.sizeX = 250;
    o.profile.sizeY = 210;
    o.profile.maxZ = 210;
    o.inFlight = inFlight;
    o.greetingWait = std::chrono::milliseconds(500);
    marlin::MarlinDriver driver(io, o, outcome);
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
    runUntil([&] { return driver.state() == MachineState::Idle; }, std::chrono::seconds(10), "the printer to be idle");
    const auto started = Clock::now();
    driver.submit("bench", job);
    runUntil([&] { return outcome.finished || !outcome.interrupted.empty(); }, std::chrono::seconds(900),
             "the job to end");
    const double seconds = secondsBetween(started, Clock::now());
    if (!outcome.interrupted.empty()) throw BenchError("the job was interrupted: " + outcome.interrupted);
    resends = emulator.resendsRequested();
    bool stopped = false;
    driver.stop([&] { stopped = true; });
    runUntil([&] { return stopped; }, std::chrono::seconds(5), "the driver to stop");
    return seconds;
}

} // namespace

void runMarlinStreamBench(const BenchOptions& o, BenchReport& report) {
    const int moves = o.quick ? 2000 : 10000;
    std::size_t wireBytes = 0;
    const auto job = printJob(moves, wireBytes);
    const double lineSeconds = static_cast<double>(wireBytes) * 10.0 / kMarlinBaud;
    report.figure(kMarlinBench, "workload",
                  formatCount(moves) + "-move print, " + formatCount(static_cast<std::int64_t>(wireBytes)) +
                      " bytes on the wire with line numbers and checksums; at " + std::to_string(kMarlinBaud) +
                      " baud (10 bits a byte) the line alone needs " + fixed(lineSeconds, 2) + " s");
    std::uint64_t resendsWindow = 0, resendsWaiting = 0;
    const double window = marlinStreamSeconds(job, 4, resendsWindow);
    report.figure(kMarlinBench, "4 commands in flight", fixed(window, 2) + " s, " + std::to_string(resendsWindow) + " resends");
    report.goal(kMarlinBench, "4 in flight: share of the line rate", lineSeconds / window, "", 0.9, Better::Higher);
    const double waiting = marlinStreamSeconds(job, 1, resendsWaiting);
    report.figure(kMarlinBench, "send-and-wait (in_flight = 1)",
                  fixed(waiting, 2) + " s, " + std::to_string(resendsWaiting) + " resends");
    report.info(kMarlinBench, "send-and-wait: share of the line rate", fixed(lineSeconds / waiting, 2));
    report.info(kMarlinBench, "ratio 4 in flight / send-and-wait (speed-up)", fixed(waiting / window, 2));
    report.check(kMarlinBench, "no resend on a clean line", resendsWindow == 0 && resendsWaiting == 0,
                 std::to_string(resendsWindow + resendsWaiting) + " resends");
}

} // namespace mto::bench
