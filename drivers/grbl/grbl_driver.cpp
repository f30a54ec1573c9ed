// SPDX-License-Identifier: Apache-2.0
// The GRBL 1.1 driver (lasers and CNC routers): connect and check the controller, stream jobs with
// character counting, watch them with realtime status reports, and stop safely on any doubt.
#include "grbl/grbl_driver.hpp"
#include "link/wire_program.hpp"

#include <boost/asio/post.hpp>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <spdlog/spdlog.h>

namespace mto::grbl {

namespace {

// GRBL's line buffer keeps one byte for the terminator: a longer line is refused with error:11.
constexpr std::size_t kMaxLineChars = kLineBufferBytes - 1;

// The largest and the smallest non-zero S word of a program, in wire form.
struct SpindleRange {
    double max = 0;
    double minNonZero = 0;
};

SpindleRange spindleWords(const std::vector<std::string>& lines) {
    SpindleRange r;
    for (const auto& line : lines) {
        for (std::size_t i = 0; i < line.size(); ++i) {
            if (line[i] != 'S') continue;
            const char* start = line.c_str() + i + 1;
            char* end = nullptr;
            const double v = std::strtod(start, &end);
            if (end == start || !std::isfinite(v)) continue;
            r.max = std::max(r.max, v);
            if (v > 0 && (r.minNonZero == 0 || v < r.minNonZero)) r.minNonZero = v;
        }
    }
    return r;
}

using link::plainNumber;
using link::WireProgram;

WireProgram wireProgram(const std::string& text) {
    return link::wireProgram(text, [](std::string_view line) { return wireForm(line); });
}

} // namespace

GrblDriver::GrblDriver(boost::asio::io_context& io, GrblDriverOptions options, DriverListener& listener,
                       std::unique_ptr<link::ByteLink> link)
    : io_(io), options_(std::move(options)), listener_(listener),
      link_(link ? std::move(link) : link::makeLink(io, options_.port, options_.baud)), bannerTimer_(io),
      statusTimer_(io), reconnectTimer_(io) {}

GrblDriver::~GrblDriver() { link_->close(); }

DriverCapabilities GrblDriver::capabilities() const {
    DriverCapabilities c;
    c.lineStreaming = true;
    // GRBL keeps no record of where a program was: a restart from a line would need the modal state and
    // position the program had there, which the host can only guess. Interrupted jobs restart or are scrapped.
    c.resumeFromLine = false;
    c.dryRun = true;
    c.pause = true;
    return c;
}

void GrblDriver::start() {
    stopping_ = false;
    openLink();
}

void GrblDriver::stop(std::function<void()> done) {
    stopping_ = true;
    bannerTimer_.cancel();
    statusTimer_.cancel();
    reconnectTimer_.cancel();
    if (job_ && link_->isOpen()) {
        // A laser must not go on burning what is left in the controller's buffers: hold, then reset.
        sendRealtime(kFeedHold);
        sendRealtime(kSoftReset);
        interruptJob({"stopped", "", "the agent stopped during the job; feed hold and soft reset sent"});
    }
    stopped_ = std::move(done);
    // Give the last bytes a moment to leave, then close.
    bannerTimer_.expires_after(std::chrono::milliseconds(link_->pendingBytes() > 0 ? 100 : 0));
    bannerTimer_.async_wait([this](const boost::system::error_code&) {
        link_->close();
        enter(Phase::Closed);
        setState(MachineState::Disconnected, "stopped");
        if (auto finished = std::move(stopped_)) finished();
    });
}

void GrblDriver::enter(Phase p) { phase_ = p; }

void GrblDriver::setState(MachineState s, const std::string& detail) {
    if (s == state_) return;
    state_ = s;
    spdlog::info("machine {}: {}{}{}", options_.machineId, toString(s), detail.empty() ? "" : ": ", detail);
    listener_.machineState(s, detail);
}

void GrblDriver::openLink() {
    if (stopping_) return;
    enter(Phase::Opening);
    link_->open([this](const boost::system::error_code& ec) { onOpened(ec); },
                [this](std::string_view bytes) { onData(bytes); },
                [this](const boost::system::error_code& ec) { onLinkError(ec); });
}

void GrblDriver::scheduleReconnect() {
    if (stopping_) return;
    backoff_ = backoff_.count() == 0 ? options_.reconnectMin : std::min(backoff_ * 2, options_.reconnectMax);
    reconnectTimer_.expires_after(backoff_);
    reconnectTimer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec && phase_ == Phase::Closed) openLink();
    });
}

void GrblDriver::onOpened(const boost::system::error_code& ec) {
    if (stopping_) return;
    if (ec) {
        // Logged once per outage, not at every retry.
        if (backoff_ <= options_.reconnectMin)
            spdlog::warn("machine {}: cannot open {}: {}; retrying", options_.machineId, link_->describe(),
                         ec.message());
        enter(Phase::Closed);
        setState(MachineState::Disconnected, "cannot open " + link_->describe() + ": " + ec.message());
        scheduleReconnect();
        return;
    }
    ++connects_;
    partial_.clear();
    unacked_.clear();
    unackedBytes_ = 0;
    waitingSince_.reset();
    resetPending_ = false;
    settings_ = {};
    build_ = {};
    refusal_.reset();
    spdlog::info("machine {}: {} open; waiting for the GRBL banner", options_.machineId, link_->describe());
    setState(MachineState::Connecting, link_->describe());
    enter(Phase::AwaitBanner);
    armBannerTimer(false);
}

void GrblDriver::armBannerTimer(bool resetSent) {
    bannerTimer_.expires_after(options_.bannerWait);
    bannerTimer_.async_wait([this, resetSent](const boost::system::error_code& ec) {
        if (ec || phase_ != Phase::AwaitBanner || stopping_) return;
        if (!resetSent) {
            // USB boards reset when the port opens and greet; a network bridge does not: ask for the greeting.
            spdlog::info("machine {}: no banner after opening; sending a soft reset", options_.machineId);
            sendRealtime(kSoftReset);
            resetPending_ = true;
            armBannerTimer(true);
            return;
        }
        dropLink({"no_banner", "",
                  "no GRBL banner after opening " + link_->describe() +
                      " and a soft reset: is a GRBL 1.1 controller there, at this baud rate?"});
    });
}

void GrblDriver::onData(std::string_view bytes) {
    waitingSince_.reset();
    for (char c : bytes) {
        if (c == '\n') {
            std::string line;
            line.swap(partial_);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            onLine(line);
            if (phase_ == Phase::Closed) return;   // the line ended the link
            continue;
        }
        // A line longer than anything GRBL sends is noise (wrong baud rate): keep its end only.
        if (partial_.size() >= 1024) partial_.erase(0, 512);
        partial_.push_back(c);
    }
}

void GrblDriver::onLinkError(const boost::system::error_code& ec) {
    dropLink({"disconnected", "", link_->describe() + " lost: " + ec.message()});
}

void GrblDriver::onLine(std::string_view text) {
    const ResponseLine line = classify(text);
    switch (line.kind) {
    case LineKind::Welcome: onWelcome(line); break;
    case LineKind::Ok: onAnswer(true, 0); break;
    case LineKind::Error: onAnswer(false, line.code); break;
    case LineKind::Alarm: onAlarm(line.code); break;
    case LineKind::Status:
        if (auto report = parseStatusReport(text)) onStatus(*report);
        break;
    case LineKind::Setting:
        if (phase_ == Phase::ReadSettings) parseSetting(text, settings_);
        break;
    case LineKind::Version:
    case LineKind::Options:
        if (phase_ == Phase::Identify) parseBuildInfo(text, build_);
        break;
    case LineKind::Message:
        spdlog::info("machine {}: controller says: {}", options_.machineId, line.text);
        if (line.text.find("to unlock") != std::string::npos) {
            alarmed_ = true;
            if (phase_ == Phase::Ready) setState(MachineState::Alarm, "locked: the operator must unlock it ($X)");
        } else if (line.text.find("Reset to continue") != std::string::npos) {
            alarmed_ = true;
            resetToContinue_ = true;
            if (phase_ == Phase::Unlocking) {
                // A $X sent before this message arrived is ignored by the locked controller: reset instead.
                enter(Phase::Ready);
                unlock();
            }
        }
        break;
    default:
        if (!text.empty()) spdlog::debug("machine {}: {}", options_.machineId, text);
        break;
    }
}

void GrblDriver::onWelcome(const ResponseLine& line) {
    bannerTimer_.cancel();
    const bool expected = resetPending_ || phase_ == Phase::AwaitBanner || phase_ == Phase::LeaveDryRun;
    resetPending_ = false;
    resetToContinue_ = false;
    unacked_.clear();
    unackedBytes_ = 0;
    if (job_ && !expected)
        interruptJob({"reset", "", "the controller restarted during the job (power, cable or its own reset)"});
    if (phase_ == Phase::LeaveDryRun && job_) {
        // Leaving check mode resets the controller; the real run starts from a clean state.
        alarmed_ = false;
        if (dryRunFault_) {
            auto why = *dryRunFault_;
            dryRunFault_.reset();
            interruptJob(why);
            enter(Phase::Ready);
            setState(MachineState::Idle);
            armStatusTimer();
            return;
        }
        startStreaming();
        return;
    }
    alarmed_ = false;
    identity_.firmware = "Grbl";
    identity_.version = line.text;
    if (line.text.rfind("1.1", 0) != 0) {
        refusal_ = MachineFault{"firmware", "", "controller says Grbl " + line.text + "; this driver speaks GRBL 1.1"};
        enter(Phase::Ready);
        setState(MachineState::Refused, refusal_->message);
        listener_.machineFault(*refusal_);
        return;
    }
    enter(Phase::Identify);
    sendLine("$I");
    armStatusTimer();
}

void GrblDriver::onAnswer(bool ok, int errorCode) {
    if (unacked_.empty()) {
        // An answer to nothing we sent: a line of a previous connection, or noise. Counting stays right.
        spdlog::debug("machine {}: unexpected {}", options_.machineId, ok ? "ok" : "error");
        return;
    }
    const Sent sent = unacked_.front();
    unacked_.pop_front();
    idleWithUnanswered_.reset();
    unackedBytes_ -= sent.bytes;
    if (!unacked_.empty()) waitingSince_ = std::chrono::steady_clock::now();

    switch (phase_) {
    case Phase::Identify:
        if (!build_.version.empty()) identity_.detail = build_.version + (build_.name.empty() ? "" : " " + build_.name);
        if (build_.rxBufferBytes && *build_.rxBufferBytes >= 16 && *build_.rxBufferBytes <= 1024)
            rxLimit_ = static_cast<std::size_t>(*build_.rxBufferBytes);
        enter(Phase::ReadSettings);
        sendLine("$$");
        return;
    case Phase::ReadSettings:
        checkSettings();
        enter(Phase::Ready);
        backoff_ = std::chrono::milliseconds(0);
        if (refusal_) {
            setState(MachineState::Refused, refusal_->message);
            listener_.machineFault(*refusal_);
        } else {
            setState(alarmed_ ? MachineState::Alarm : MachineState::Idle,
                     alarmed_ ? "locked: the operator must unlock it ($X)" : "");
        }
        armStatusTimer();
        if (unlockAfterBanner_) {
            unlockAfterBanner_ = false;
            if (alarmed_) {
                enter(Phase::Unlocking);
                sendLine("$X");
            }
        }
        return;
    case Phase::Unlocking:
        enter(Phase::Ready);
        if (ok) {
            alarmed_ = false;
            setState(refusal_ ? MachineState::Refused : MachineState::Idle, "unlocked by the operator");
        } else {
            spdlog::warn("machine {}: unlock refused: error:{} ({})", options_.machineId, errorCode,
                         errorText(errorCode));
        }
        return;
    case Phase::DryRun:
        if (!ok && sent.jobLine >= 0 && !dryRunFault_) {
            const auto src = job_->sourceLine[static_cast<std::size_t>(sent.jobLine)];
            dryRunFault_ = MachineFault{"dry_run_failed", "error:" + std::to_string(errorCode),
                                        "check mode refused program line " + std::to_string(src) + " (" +
                                            job_->lines[static_cast<std::size_t>(sent.jobLine)] +
                                            "): " + errorText(errorCode)};
        }
        if (!ok && sent.jobLine < 0) {
            // $C itself refused (e.g. in alarm): no dry run possible, so no run either.
            // interruptJob() clears dryRunFault_, so it gets a copy.
            const MachineFault why{"dry_run_failed", "error:" + std::to_string(errorCode),
                                   "the controller refused check mode: " + errorText(errorCode)};
            interruptJob(why);
            return;
        }
        if (sent.jobLine >= 0) ++job_->answered;
        pump();
        return;
    case Phase::Streaming:
        if (sent.jobLine < 0) return;
        if (!ok) {
            const auto src = job_->sourceLine[static_cast<std::size_t>(sent.jobLine)];
            MachineFault why{"error", "error:" + std::to_string(errorCode),
                             errorText(errorCode) + " at program line " + std::to_string(src) + " (" +
                                 job_->lines[static_cast<std::size_t>(sent.jobLine)] +
                                 "); the controller was reset so nothing after it runs"};
            // GRBL goes on with the lines after a refused one; the part would be wrong. Stop everything.
            sendRealtime(kSoftReset);
            resetPending_ = true;
            interruptJob(why);
            return;
        }
        ++job_->answered;
        reportProgress(false);
        if (job_->answered == job_->lines.size()) {
            enter(Phase::Draining);
            sendRealtime(kStatusQuery);
            return;
        }
        pump();
        return;
    default:
        return;
    }
}

void GrblDriver::onAlarm(int code) {
    alarmed_ = true;
    // Hard and soft limits are GRBL's critical events: "[MSG:Reset to continue]" follows and nothing but a
    // reset is served until then. Knowing it from the alarm itself keeps an early unlock from sending $X.
    if (code == 1 || code == 2) resetToContinue_ = true;
    MachineFault why{"alarm", "ALARM:" + std::to_string(code), alarmText(code)};
    if (job_ && !(resetPending_ && code == 3)) {
        interruptJob(why);
    } else if (!job_ && !(resetPending_ && code == 3)) {
        listener_.machineFault(why);
    }
    unacked_.clear();
    unackedBytes_ = 0;
    if (phase_ != Phase::AwaitBanner && phase_ != Phase::Closed && phase_ != Phase::Opening) enter(Phase::Ready);
    setState(MachineState::Alarm, why.code + " " + why.message);
}

void GrblDriver::onStatus(const StatusReport& report) {
    lastStatus_ = report;
    const std::string& s = report.state;
    if (s == "Alarm") {
        alarmed_ = true;
        if (phase_ == Phase::Ready) setState(MachineState::Alarm, "locked: the operator must unlock it ($X)");
        return;
    }
    if (s == "Hold" || s == "Door") {
        if (job_) setState(MachineState::Paused, s == "Door" ? "safety door open" : "feed hold");
        return;
    }
    if (s == "Run" || s == "Jog" || s == "Home") {
        if (job_) setState(MachineState::Running);
        reportProgress(false);
        return;
    }
    if (s == "Idle") {
        if (phase_ == Phase::Draining && unacked_.empty()) {
            finishJob();
            return;
        }
        if ((phase_ == Phase::Streaming || phase_ == Phase::Draining) && !unacked_.empty()) {
            // Idle with lines unanswered: either a dwell or a non-motion line is being worked on, or an answer
            // was lost on the line. Past the silence limit (and the dwell's own length, as GRBL 1.1 reports Idle
            // through a G4) it is the latter, and the count can no longer be trusted: stop the job rather than
            // guess which lines ran.
            const auto now = std::chrono::steady_clock::now();
            if (!idleWithUnanswered_) idleWithUnanswered_ = now;
            if (now - *idleWithUnanswered_ >= options_.silenceLimit + oldestUnansweredDwell()) {
                idleWithUnanswered_.reset();
                // Reset, as after an error: what the controller may still hold must not run once the job is
                // given up, and its banner brings the driver back to a known controller (Idle, or locked).
                const std::string unanswered = std::to_string(unacked_.size());
                sendRealtime(kSoftReset);
                resetPending_ = true;
                interruptJob({"lost_answer", "",
                              unanswered + " line(s) never answered while the controller sat idle: an ok was lost on "
                                           "the line; the controller was reset so nothing after it runs"});
                unacked_.clear();
                unackedBytes_ = 0;
            }
            return;
        }
        idleWithUnanswered_.reset();
        if (job_ && state_ == MachineState::Paused) setState(MachineState::Running);
        if (!job_ && phase_ == Phase::Ready && alarmed_) {
            alarmed_ = false;
            setState(refusal_ ? MachineState::Refused : MachineState::Idle);
        }
    }
}

std::chrono::milliseconds GrblDriver::oldestUnansweredDwell() const {
    // Lines are answered in order and a G4 waits for the planner first, so a dwell being worked on is the
    // oldest unanswered line.
    if (!job_ || unacked_.empty() || unacked_.front().jobLine < 0) return {};
    const auto seconds = dwellSeconds(job_->lines[static_cast<std::size_t>(unacked_.front().jobLine)]);
    if (!seconds) return {};
    constexpr double kLongestDwellSeconds = 24 * 3600;   // keeps the conversion in range; no spin-up is longer
    const double ms = std::ceil(std::min(*seconds, kLongestDwellSeconds) * 1000);
    return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

void GrblDriver::sendLine(const std::string& line, long jobLine) {
    const std::size_t bytes = line.size() + 1;
    link_->write(line + "\n");
    if (!waitingSince_) waitingSince_ = std::chrono::steady_clock::now();
    unacked_.push_back({bytes, jobLine});
    unackedBytes_ += bytes;
}

void GrblDriver::sendRealtime(char c) {
    if (!link_->isOpen()) return;
    if (c == kStatusQuery && !waitingSince_) waitingSince_ = std::chrono::steady_clock::now();
    link_->write(std::string(1, c));
}

void GrblDriver::pump() {
    if (!job_ || (phase_ != Phase::Streaming && phase_ != Phase::DryRun)) return;
    if (phase_ == Phase::DryRun && dryRunFault_) {
        // Nothing more is checked after a refused line; leave check mode once the answers are in.
        job_->nextToSend = job_->lines.size();
    }
    while (job_->nextToSend < job_->lines.size()) {
        const auto& line = job_->lines[job_->nextToSend];
        const std::size_t bytes = line.size() + 1;
        if (options_.characterCounting ? unackedBytes_ + bytes > rxLimit_ : !unacked_.empty()) break;
        sendLine(line, static_cast<long>(job_->nextToSend));
        ++job_->nextToSend;
    }
    if (phase_ == Phase::DryRun && job_->nextToSend == job_->lines.size() && unacked_.empty()) {
        enter(Phase::LeaveDryRun);
        resetPending_ = true;
        sendLine("$C");
    }
}

void GrblDriver::armStatusTimer() {
    const bool busy = job_ != nullptr;
    statusTimer_.expires_after(busy ? options_.statusWhileRunning : options_.statusWhileIdle);
    statusTimer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopping_ || phase_ == Phase::Closed || phase_ == Phase::Opening || !link_->isOpen()) return;
        if (resetToContinue_) {
            // After a hard or soft limit GRBL answers nothing, status included, until it is reset: silence
            // is expected here, and only the operator's unlock (which resets first) ends it.
            waitingSince_.reset();
            armStatusTimer();
            return;
        }
        if (waitingSince_ && std::chrono::steady_clock::now() - *waitingSince_ >= options_.silenceLimit) {
            dropLink({"timeout", "",
                      "the controller has not answered for " +
                          std::to_string(options_.silenceLimit.count() / 1000.0).substr(0, 4) +
                          " s; closing the link and opening it again"});
            return;
        }
        sendRealtime(kStatusQuery);
        armStatusTimer();
    });
}

void GrblDriver::checkSettings() {
    refusal_.reset();
    const auto& p = options_.profile;
    auto refuse = [&](std::string message) {
        if (!refusal_) refusal_ = MachineFault{"settings_mismatch", "", std::move(message)};
    };
    if (settings_.values.empty()) {
        refusal_ = MachineFault{"settings_unreadable", "", "the controller sent no settings for $$"};
        return;
    }
    if (p.capability == "laser" && !settings_.laserMode())
        refuse("$32 (laser mode) is off but " + options_.machineId + " is a laser: set $32=1");
    if (p.capability == "cnc" && settings_.laserMode())
        refuse("$32 (laser mode) is on but " + options_.machineId +
               " is a spindle machine: set $32=0 (laser mode skips the spindle's spin-up waits)");
    if (auto travel = settings_.maxTravel()) {
        if (travel->x + 1e-6 < p.sizeX || travel->y + 1e-6 < p.sizeY)
            refuse("work area $130/$131 is " + plainNumber(travel->x) + " x " + plainNumber(travel->y) +
                   " mm but the profile " + p.name + " needs " + plainNumber(p.sizeX) + " x " + plainNumber(p.sizeY) + " mm");
        if (p.capability == "cnc" && travel->z + 1e-6 < p.maxZ - p.minZ)
            refuse("Z travel $132 is " + plainNumber(travel->z) + " mm but the profile " + p.name + " needs " +
                   plainNumber(p.maxZ - p.minZ) + " mm");
    } else {
        refuse("the controller did not report its work area ($130-$132)");
    }
}

std::optional<MachineFault> GrblDriver::check(const JobArtifact& job) const {
    return checkLines(job, wireProgram(job.program).lines);
}

std::optional<MachineFault> GrblDriver::checkLines(const JobArtifact& job, const std::vector<std::string>& lines) const {
    if (phase_ == Phase::Closed || phase_ == Phase::Opening || phase_ == Phase::AwaitBanner ||
        phase_ == Phase::Identify || phase_ == Phase::ReadSettings)
        return MachineFault{"not_connected", "", options_.machineId + " is not connected and identified yet"};
    if (refusal_) return refusal_;
    if (job.format != "gcode-grbl")
        return MachineFault{"format", "", "a " + job.format + " program cannot run on GRBL"};
    if (job.capability != options_.profile.capability)
        return MachineFault{"capability", "",
                            "a " + job.capability + " job on " + options_.profile.capability + " machine " +
                                options_.machineId};
    const auto s = spindleWords(lines);
    if (auto maxS = settings_.maxSpindle(); maxS && s.max > *maxS + 1e-9)
        return MachineFault{"spindle_range", "",
                            "the program asks for S" + plainNumber(s.max) + " but $30 is " + plainNumber(*maxS) +
                                ": GRBL would clip it (wrong power or speed)"};
    if (auto minS = settings_.minSpindle(); minS && s.minNonZero > 0 && s.minNonZero + 1e-9 < *minS)
        return MachineFault{"spindle_range", "",
                            "the program asks for S" + plainNumber(s.minNonZero) + " but $31 is " + plainNumber(*minS) +
                                ": GRBL would raise it"};
    if (auto travel = settings_.maxTravel()) {
        const auto& b = job.bbox;
        if (b.maxX > travel->x + 1e-6 || b.maxY > travel->y + 1e-6 || b.minX < -1e-6 || b.minY < -1e-6 ||
            (b.maxZ - b.minZ) > travel->z + 1e-6)
            return MachineFault{"envelope", "",
                                "the program spans X " + plainNumber(b.minX) + ".." + plainNumber(b.maxX) +
                                    ", Y " + plainNumber(b.minY) + ".." + plainNumber(b.maxY) + ", Z " +
                                    plainNumber(b.minZ) + ".." + plainNumber(b.maxZ) +
                                    " mm; the machine's travel is " + plainNumber(travel->x) + " x " +
                                    plainNumber(travel->y) + " x " + plainNumber(travel->z) + " mm"};
    }
    for (const auto& line : lines)
        if (line.size() > kMaxLineChars)
            return MachineFault{"line_too_long", "",
                                "a program line has " + std::to_string(line.size()) + " characters; GRBL takes " +
                                    std::to_string(kMaxLineChars)};
    return std::nullopt;
}

void GrblDriver::submit(const std::string& jobId, const JobArtifact& job, std::uint64_t fromLine) {
    auto refuse = [this, jobId](MachineFault why) {
        // Reported from the loop, not from inside submit(): the caller may not expect a callback yet.
        boost::asio::post(io_, [this, jobId, why = std::move(why)] { listener_.jobInterrupted(jobId, why, 0); });
    };
    if (fromLine > 0)
        return refuse({"resume_unsupported", "",
                       "GRBL cannot continue a program from a line: restart the job or scrap it"});
    if (job_ || phase_ != Phase::Ready || state_ != MachineState::Idle)
        return refuse({"busy", "", options_.machineId + " is " + toString(state_) + ", not idle"});
    WireProgram wire = wireProgram(job.program);
    if (auto why = checkLines(job, wire.lines)) return refuse(*why);

    auto j = std::make_unique<Job>();
    j->id = jobId;
    j->estimatedSeconds = job.estimatedSeconds;
    j->lines = std::move(wire.lines);
    j->sourceLine = std::move(wire.sourceLine);
    if (j->lines.empty()) return refuse({"empty_program", "", "the program has no lines to send"});
    job_ = std::move(j);
    spdlog::info("machine {}: job {} starts: {} lines{}", options_.machineId, jobId, job_->lines.size(),
                 options_.dryRun ? ", checked in check mode first" : "");
    if (options_.dryRun) {
        enter(Phase::DryRun);
        dryRunFault_.reset();
        setState(MachineState::Running, "checking the program in check mode ($C)");
        sendLine("$C");
        pump();
        armStatusTimer();
        return;
    }
    startStreaming();
}

void GrblDriver::startStreaming() {
    job_->nextToSend = 0;
    job_->answered = 0;
    job_->streaming = true;
    enter(Phase::Streaming);
    setState(MachineState::Running);
    lastProgress_ = {};
    reportProgress(true);
    armStatusTimer();
    pump();
}

void GrblDriver::pause() {
    if (job_ && link_->isOpen()) sendRealtime(kFeedHold);
}

void GrblDriver::resume() {
    if (job_ && link_->isOpen()) sendRealtime(kCycleStart);
}

void GrblDriver::cancel() {
    if (!job_ || !link_->isOpen()) return;
    sendRealtime(kSoftReset);
    resetPending_ = true;
    interruptJob({"cancelled", "",
                  "cancelled: soft reset sent; after motion GRBL stays locked (ALARM:3) until the operator unlocks it"});
}

void GrblDriver::unlock() {
    if (!link_->isOpen()) return;
    if (resetPending_ || phase_ == Phase::AwaitBanner || phase_ == Phase::Identify || phase_ == Phase::ReadSettings) {
        // The controller is restarting or being identified: unlock once that is done, if it is still locked.
        unlockAfterBanner_ = true;
        return;
    }
    if (phase_ != Phase::Ready || !alarmed_) return;
    if (resetToContinue_) {
        // This lock ignores $X; a reset first, then the unlock once the controller greets again.
        unlockAfterBanner_ = true;
        resetPending_ = true;
        sendRealtime(kSoftReset);
        return;
    }
    enter(Phase::Unlocking);
    sendLine("$X");
}

void GrblDriver::finishJob() {
    enter(Phase::Ready);
    auto id = job_->id;
    reportProgress(true);
    job_.reset();
    setState(MachineState::Idle);
    armStatusTimer();
    spdlog::info("machine {}: job {} finished", options_.machineId, id);
    listener_.jobFinished(id);
}

void GrblDriver::interruptJob(const MachineFault& why) {
    if (!job_) return;
    auto id = job_->id;
    const std::uint64_t lastDone =
        job_->streaming && job_->answered > 0 ? job_->sourceLine[job_->answered - 1] : 0;
    job_.reset();
    dryRunFault_.reset();
    idleWithUnanswered_.reset();
    if (phase_ != Phase::Closed && phase_ != Phase::Opening) enter(Phase::Ready);
    spdlog::warn("machine {}: job {} interrupted: {}{}{}", options_.machineId, id, why.reason,
                 why.code.empty() ? "" : " " + why.code, why.message.empty() ? "" : ": " + why.message);
    listener_.jobInterrupted(id, why, lastDone);
}

void GrblDriver::dropLink(const MachineFault& why) {
    link_->close();
    bannerTimer_.cancel();
    statusTimer_.cancel();
    unacked_.clear();
    unackedBytes_ = 0;
    waitingSince_.reset();
    const bool hadJob = job_ != nullptr;
    enter(Phase::Closed);
    interruptJob(why);
    setState(MachineState::Disconnected, why.message);
    if (!hadJob) listener_.machineFault(why);
    scheduleReconnect();
}

void GrblDriver::reportProgress(bool force) {
    if (!job_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - lastProgress_ < options_.statusWhileRunning) return;
    lastProgress_ = now;
    JobProgress p;
    p.linesDone = job_->answered;
    p.linesTotal = job_->lines.size();
    p.fraction = p.linesTotal ? static_cast<double>(p.linesDone) / static_cast<double>(p.linesTotal) : 0;
    p.secondsLeft = job_->estimatedSeconds > 0 ? job_->estimatedSeconds * (1.0 - p.fraction) : -1;
    listener_.jobProgress(job_->id, p);
}

} // namespace mto::grbl
