// SPDX-License-Identifier: Apache-2.0
// The GRBL 1.1 driver (lasers and CNC routers): connect and check the controller, stream jobs with
// character counting, watch them with realtime status reports, and stop safely on any doubt.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "grbl/grbl_protocol.hpp"
#include "link/byte_link.hpp"
#include "mto/driver.hpp"
#include "mto/job.hpp"

namespace mto::grbl {

struct GrblDriverOptions {
    std::string machineId;
    std::string port;                 // serial device path, or tcp://host:port for a serial-to-network bridge
    unsigned baud = 115200;
    MachineProfile profile;           // what this machine must be: capability, envelope, max power
    bool characterCounting = true;    // false: send one line, wait for its ok (slower; for odd bridges)
    bool dryRun = false;              // run every job through check mode ($C) before it moves anything
    std::chrono::milliseconds statusWhileRunning{200};
    std::chrono::milliseconds statusWhileIdle{5000};
    std::chrono::milliseconds bannerWait{2500};   // after opening; then a soft reset is sent
    // No byte from the controller for this long while it is being asked (status, a command) = it hangs; a line
    // unanswered this long while it says Idle (plus the length of a G4 being worked on) = its ok was lost.
    std::chrono::milliseconds silenceLimit{10000};
    std::chrono::milliseconds reconnectMin{500};
    std::chrono::milliseconds reconnectMax{10000};
};

// Thread-bound to the io_context.
//
// Invariants:
// - `phase_` says what the link is doing; only Ready and Streaming accept a job, only Streaming sends program
//   lines. Every phase change goes through enter().
// - Character counting: `unacked_` holds the wire size (with '\n') of every line sent and not yet answered, in
//   order; their sum `unackedBytes_` never exceeds the controller's receive buffer (128 bytes, or what [OPT:]
//   says). Every ok or error answers the oldest entry. Realtime bytes (?, !, ~, 0x18) do not count.
// - A job is either finished (every line answered ok and the controller back to Idle) or interrupted, reported
//   exactly once; after an interruption nothing of it is sent again unless the owner submits it again.
// - A soft reset or a reconnect empties `unacked_`: the controller forgot everything it had.
class GrblDriver final : public MachineDriver {
public:
    // The link is made from options.port unless one is given (tests give fakes).
    GrblDriver(boost::asio::io_context& io, GrblDriverOptions options, DriverListener& listener,
               std::unique_ptr<link::ByteLink> link = nullptr);
    ~GrblDriver() override;

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

    const Settings& settings() const { return settings_; }
    const std::optional<StatusReport>& lastStatus() const { return lastStatus_; }

private:
    enum class Phase {
        Closed,      // no link; a reconnect may be scheduled
        Opening,     // waiting for the link to open
        AwaitBanner, // link open, waiting for "Grbl 1.1x" (a soft reset is sent once if it does not come)
        Identify,    // $I sent, collecting [VER:]/[OPT:] until ok
        ReadSettings,// $$ sent, collecting $N=value until ok
        Ready,       // idle, alarm, hold or refused: no job lines in flight
        DryRun,      // check mode: streaming the job without motion
        LeaveDryRun, // $C sent to leave check mode; the controller resets after it
        Streaming,   // sending the job
        Draining,    // every line answered; waiting for the motion to end (Idle)
        Unlocking,   // $X sent
    };
    struct Job {
        std::string id;
        std::vector<std::string> lines;   // wire form, non-empty
        std::vector<std::uint64_t> sourceLine;   // program line number of each wire line (1-based)
        std::size_t nextToSend = 0;
        std::size_t answered = 0;
        double estimatedSeconds = 0;
        bool streaming = false;           // past the dry run: answered lines were executed
    };

    void enter(Phase p);
    void setState(MachineState s, const std::string& detail = {});
    void openLink();
    void scheduleReconnect();
    void onOpened(const boost::system::error_code& ec);
    void onData(std::string_view bytes);
    void onLinkError(const boost::system::error_code& ec);
    void onLine(std::string_view line);
    void onWelcome(const ResponseLine& line);
    void onAnswer(bool ok, int errorCode);
    void onAlarm(int code);
    void onStatus(const StatusReport& report);
    // The dwell of the oldest unanswered line when it is a job's G4; zero otherwise.
    std::chrono::milliseconds oldestUnansweredDwell() const;
    void sendLine(const std::string& line, long jobLine = -1);
    void sendRealtime(char c);
    void pump();
    void armBannerTimer(bool resetSent);
    void armStatusTimer();
    void checkSettings();
    // check() on the program's lines already in wire form.
    std::optional<MachineFault> checkLines(const JobArtifact& job, const std::vector<std::string>& lines) const;
    void finishJob();
    void interruptJob(const MachineFault& why);
    void dropLink(const MachineFault& why);
    void reportProgress(bool force);
    void startStreaming();

    boost::asio::io_context& io_;
    GrblDriverOptions options_;
    DriverListener& listener_;
    std::unique_ptr<link::ByteLink> link_;
    boost::asio::steady_timer bannerTimer_;
    boost::asio::steady_timer statusTimer_;
    boost::asio::steady_timer reconnectTimer_;

    Phase phase_ = Phase::Closed;
    MachineState state_ = MachineState::Disconnected;
    MachineIdentity identity_;
    BuildInfo build_;
    Settings settings_;
    std::optional<StatusReport> lastStatus_;
    std::string partial_;                 // bytes of a line not yet ended
    struct Sent {
        std::size_t bytes;                // on the wire, with '\n'
        long jobLine;                     // index into job_->lines, or -1 for a command of the driver's own
    };
    std::deque<Sent> unacked_;            // every line sent and not yet answered, oldest first
    std::size_t unackedBytes_ = 0;
    std::size_t rxLimit_ = kRxBufferBytes;
    std::unique_ptr<Job> job_;
    bool stopping_ = false;
    bool resetPending_ = false;           // a soft reset was sent; its banner is expected
    bool alarmed_ = false;
    bool resetToContinue_ = false;        // the controller said "[MSG:Reset to continue]": $X alone is ignored
    bool unlockAfterBanner_ = false;
    std::optional<MachineFault> dryRunFault_;
    std::optional<MachineFault> refusal_; // settings that do not match the profile
    std::chrono::milliseconds backoff_{0};
    std::optional<std::chrono::steady_clock::time_point> waitingSince_;
    std::optional<std::chrono::steady_clock::time_point> idleWithUnanswered_;   // oldest unanswered query or line
    std::chrono::steady_clock::time_point lastProgress_{};
    std::uint64_t connects_ = 0;
    std::function<void()> stopped_;
};

} // namespace mto::grbl
