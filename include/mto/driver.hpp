// SPDX-License-Identifier: Apache-2.0
// The machine driver contract: what the scheduler asks of every machine, whatever protocol it speaks.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "mto/job.hpp"

namespace mto {

// The driver's view of its machine. The scheduler adds its own states on top (awaiting_clear,
// needs_attention) from what the driver reports.
enum class MachineState {
    Disconnected,   // no link, or the link is being (re)opened
    Connecting,     // link open; identifying the machine and reading its settings
    Idle,           // ready for a job
    Running,        // a job is being sent or executed
    Paused,         // feed hold: motion stopped, the job can resume
    Alarm,          // the machine refuses motion until an operator unlocks it (GRBL ALARM, Marlin kill)
    Refused,        // the machine is not what the profile says (settings, firmware): no job is sent
};

inline const char* toString(MachineState s) {
    switch (s) {
    case MachineState::Disconnected: return "disconnected";
    case MachineState::Connecting: return "connecting";
    case MachineState::Idle: return "idle";
    case MachineState::Running: return "running";
    case MachineState::Paused: return "paused";
    case MachineState::Alarm: return "alarm";
    case MachineState::Refused: return "refused";
    }
    return "unknown";
}

// Something went wrong, said twice: a stable machine-readable reason and the machine's own words.
struct MachineFault {
    std::string reason;    // disconnected | alarm | error | timeout | settings_mismatch | envelope | io_error | ...
    std::string code;      // the firmware's code when it gave one ("ALARM:3", "error:20"), else empty
    std::string message;   // for people: decoded code, firmware text, what the driver did
};

// What the firmware said it is at connect.
struct MachineIdentity {
    std::string firmware;  // "Grbl"
    std::string version;   // "1.1h"
    std::string detail;    // build info, options, board name: whatever the firmware adds
};

// How far a job is. Line-streaming drivers count lines the firmware acknowledged; upload-then-start hosts
// report the host's own fraction. secondsLeft < 0 when unknown.
struct JobProgress {
    std::uint64_t linesDone = 0;
    std::uint64_t linesTotal = 0;
    double fraction = 0;
    double secondsLeft = -1;
};

// What a driver can do, so the scheduler and mtoctl offer only what works.
struct DriverCapabilities {
    bool lineStreaming = false;   // the host sends the program line by line (GRBL, Marlin)
    bool resumeFromLine = false;  // a job can be continued from a known line after an interruption
    bool dryRun = false;          // the machine can check a whole program without moving (GRBL $C)
    bool pause = true;            // feed hold / pause and resume
};

// Everything a driver tells its owner. All calls come on the owner's io_context thread.
class DriverListener {
public:
    virtual ~DriverListener() = default;
    virtual void machineState(MachineState state, const std::string& detail) = 0;
    virtual void jobProgress(const std::string& jobId, const JobProgress& progress) = 0;
    // The machine finished the job: every line acknowledged and motion stopped.
    virtual void jobFinished(const std::string& jobId) = 0;
    // The job stopped before its end (disconnect, alarm, error, cancel). `lastDoneLine` is the last line the
    // machine acknowledged (0 = none), for a resume decision.
    virtual void jobInterrupted(const std::string& jobId, const MachineFault& why, std::uint64_t lastDoneLine) = 0;
    // A fault outside a job (alarm at idle, refused settings, link lost while idle).
    virtual void machineFault(const MachineFault& fault) = 0;
};

// One machine. Thread-bound to the io_context it was made with; no thread of its own, no busy polling.
class MachineDriver {
public:
    virtual ~MachineDriver() = default;
    // Opens the link and keeps it open: reconnects after a loss, identifies and checks the machine each time.
    virtual void start() = 0;
    // Closes the link; a running job is reported interrupted. `done` runs once the link is closed.
    virtual void stop(std::function<void()> done) = 0;
    virtual MachineState state() const = 0;
    virtual const MachineIdentity& identity() const = 0;
    virtual DriverCapabilities capabilities() const = 0;
    // Would this machine, as it is configured now, run this job? nullopt = yes; else the reason it would not
    // (laser mode off for a laser job, S above the spindle range, bounding box outside the work area, ...).
    virtual std::optional<MachineFault> check(const JobArtifact& job) const = 0;
    // Starts a job; only in Idle. `fromLine` > 0 continues an interrupted job after that line (only with
    // resumeFromLine). Refusals come back through jobInterrupted with the reason.
    virtual void submit(const std::string& jobId, const JobArtifact& job, std::uint64_t fromLine = 0) = 0;
    virtual void pause() = 0;
    virtual void resume() = 0;
    // Stops the running job at once (GRBL: soft reset). The machine may then need an operator (ALARM).
    virtual void cancel() = 0;
    // The operator's decision to clear an alarm (GRBL $X). Never called by the agent on its own.
    virtual void unlock() = 0;
};

} // namespace mto
