// SPDX-License-Identifier: Apache-2.0
// The Marlin driver (FDM printers on a serial line): numbered lines with checksums, ok flow control with a
// few commands in flight, resends from a kept window, busy keep-alive, temperature reports, and the
// firmware's own words when it kills itself.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "link/byte_link.hpp"
#include "marlin/marlin_protocol.hpp"
#include "mto/driver.hpp"
#include "mto/job.hpp"

namespace mto::marlin {

// Park the head 5 mm up once the queued moves are done; heaters stay on so the print can go on.
inline constexpr const char* kDefaultPauseGcode = "M400\nG91\nG1 Z5 F600\nG90";
// Back down to the part; relative extrusion again, as PrusaSlicer's programs use (G90 also sets E absolute).
inline constexpr const char* kDefaultResumeGcode = "G91\nG1 Z-5 F600\nG90\nM83";
// Heaters and fan off, head up, motors off.
inline constexpr const char* kDefaultCancelGcode = "M104 S0\nM140 S0\nM107\nG91\nG1 Z5 F600\nG90\nM84";

struct MarlinDriverOptions {
    std::string machineId;
    std::string port;                 // serial device path, or tcp://host:port
    unsigned baud = 115200;
    MachineProfile profile;           // capability fdm, build volume
    unsigned inFlight = 4;            // commands sent and not yet answered; 1 = send one line, wait for its ok
    std::string pauseGcode = kDefaultPauseGcode;
    std::string resumeGcode = kDefaultResumeGcode;
    std::string cancelGcode = kDefaultCancelGcode;
    unsigned temperatureReportS = 2;  // M155 S<n> when the firmware can auto-report, else M105 every n s
    std::chrono::milliseconds greetingWait{2000};   // after opening, for "start"; then the handshake anyway
    // No ok, Resend or busy for this long with lines in flight: a line or its answer was lost on the wire;
    // the oldest unanswered line is sent again (Marlin refuses a line it already has, so this is safe).
    std::chrono::milliseconds answerTimeout{5000};
    // Nothing at all from the firmware for this long while it owes answers (or no answer while no long
    // command runs): it hangs; the link is closed and opened again.
    std::chrono::milliseconds silenceLimit{30000};
    std::chrono::milliseconds reconnectMin{500};
    std::chrono::milliseconds reconnectMax{10000};
    std::chrono::milliseconds progressEvery{500};
    std::size_t keptLines = 256;      // sent lines kept for Resend beyond those still unanswered
};

// Thread-bound to the io_context.
//
// Invariants:
// - Every line on the wire is numbered: N runs on from the handshake's M110 N0 through driver commands and
//   job lines alike. `sent_` holds the wire text of lines N = sentBase_ .. nextN_-1; `sendPos_` is the next N
//   to write (below nextN_ after a Resend rewound it).
// - Marlin runs a numbered line only when N is its last N + 1, so every plain "ok" confirms exactly the line
//   confirmedN_ + 1; each "Resend: R" is followed by an "ok" that confirms nothing (swallowed).
// - `inFlight_` counts lines written and not answered since the last rewind, never above options.inFlight;
//   `staleLeft_` counts lines written before the last rewind whose refusals may still come.
// - A job is finished (every line confirmed and the trailing M400 answered) or interrupted, reported once.
class MarlinDriver final : public MachineDriver {
public:
    MarlinDriver(boost::asio::io_context& io, MarlinDriverOptions options, DriverListener& listener,
                 std::unique_ptr<link::ByteLink> link = nullptr);
    ~MarlinDriver() override;

    void start() override;
    void stop(std::function<void()> done) override;
    MachineState state() const override { return state_; }
    const MachineIdentity& identity() const override { return identity_; }
    DriverCapabilities capabilities() const override;
    std::optional<MachineFault> check(const JobArtifact& job) const override;
    void submit(const std::string& jobId, const JobArtifact& job, std::uint64_t fromLine = 0) override;
    void pause() override;
    void resume() override;
    void cancel() override;
    void unlock() override;

    const std::optional<Temperatures>& temperatures() const { return temperatures_; }
    const FirmwareInfo& firmware() const { return firmware_; }
    std::uint64_t resendsServed() const { return resends_; }

private:
    enum class Phase {
        Closed,        // no link; a reconnect may be scheduled
        Opening,       // waiting for the link to open
        AwaitGreeting, // link open, waiting for "start" (or the greeting timer)
        Handshake,     // M110 N0, M115, M155 in flight
        Ready,         // connected; jobs accepted when Idle
        Halted,        // the firmware killed itself: nothing is sent until the operator unlocks (reconnect)
    };
    enum class Purpose { Handshake, Identify, AutoReport, Job, JobEnd, Pause, Resume, Cancel, Poll };
    struct Command {
        std::string text;
        Purpose purpose;
        long jobLine = -1;
        std::uint64_t jobSerial = 0;   // which job a Job/JobEnd line belongs to
    };
    struct Sent {
        std::string wire;   // with "\n"
        Command command;
    };
    struct Job {
        std::string id;
        std::uint64_t serial = 0;
        std::vector<std::string> lines;
        std::vector<std::uint64_t> sourceLine;
        std::vector<std::size_t> bytesBefore;   // wire bytes of lines[0..i)
        std::size_t totalBytes = 0;
        std::size_t nextToQueue = 0;
        std::size_t done = 0;
        double estimatedSeconds = 0;
        bool paused = false;
        bool endQueued = false;
    };

    void setState(MachineState s, const std::string& detail = {});
    void finishStop(std::chrono::steady_clock::time_point deadline);
    void openLink();
    void scheduleReconnect();
    void onOpened(const boost::system::error_code& ec);
    void onData(std::string_view bytes);
    void onLine(std::string_view line);
    void startHandshake();
    void onConfirmed(const Command& c);
    void onResend(std::uint64_t n);
    void onFatal(const Response& r);
    void onFirmwareError(const Response& r);
    void stopJob(const MachineFault& why);
    void armPoll();
    void onTemperatures(const Temperatures& t);
    void enqueue(const std::string& gcode, Purpose purpose);
    void pump();
    void writeLine(std::uint64_t n);
    void armWatchdog();
    void onWatchdog();
    void checkFirmware();
    std::optional<MachineFault> checkJob(const JobArtifact& job) const;
    void finishJob();
    void interruptJob(const MachineFault& why);
    void dropLink(const MachineFault& why);
    void reportProgress(bool force);
    std::string temperatureText() const;
    bool longCommandInFlight() const;

    boost::asio::io_context& io_;
    MarlinDriverOptions options_;
    DriverListener& listener_;
    std::unique_ptr<link::ByteLink> link_;
    boost::asio::steady_timer greetingTimer_;
    boost::asio::steady_timer watchdog_;
    boost::asio::steady_timer reconnectTimer_;
    boost::asio::steady_timer pollTimer_;

    Phase phase_ = Phase::Closed;
    MachineState state_ = MachineState::Disconnected;
    MachineIdentity identity_;
    FirmwareInfo firmware_;
    std::map<std::string, bool> caps_;
    std::optional<MachineFault> refusal_;
    std::optional<Temperatures> temperatures_;
    std::string partial_;

    std::deque<Command> queue_;           // driver commands waiting for a line number, before job lines
    std::deque<Sent> sent_;               // lines sentBase_ .. nextN_-1
    std::uint64_t sentBase_ = 0;
    std::uint64_t nextN_ = 0;
    std::uint64_t sendPos_ = 0;
    std::int64_t confirmedN_ = -1;        // the last line the firmware took (0 once M110 N0 is answered)
    unsigned inFlight_ = 0;
    unsigned staleLeft_ = 0;
    unsigned lateOks_ = 0;                // oks still to come for lines counted as taken at the last Resend
    unsigned swallowOk_ = 0;
    std::optional<std::uint64_t> rewoundTo_;
    std::uint64_t resends_ = 0;
    std::uint64_t jobSerial_ = 0;
    bool watchdogArmed_ = false;
    std::chrono::steady_clock::time_point lastByte_{};
    std::chrono::steady_clock::time_point lastAnswer_{};
    std::chrono::steady_clock::time_point lastProgress_{};
    std::chrono::steady_clock::time_point lastTemperatureDetail_{};

    std::unique_ptr<Job> job_;
    bool stopping_ = false;
    bool reconnectNow_ = false;
    std::chrono::milliseconds backoff_{0};
    std::function<void()> stopped_;
};

} // namespace mto::marlin
