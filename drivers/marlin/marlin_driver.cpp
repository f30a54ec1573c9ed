// SPDX-License-Identifier: Apache-2.0
// The Marlin driver (FDM printers on a serial line): numbered lines with checksums, ok flow control with a
// few commands in flight, resends from a kept window, busy keep-alive, temperature reports, and the
// firmware's own words when it kills itself.
#include "marlin/marlin_driver.hpp"
#include "link/wire_program.hpp"

#include <boost/asio/post.hpp>
#include <algorithm>
#include <cstdio>
#include <spdlog/spdlog.h>

namespace mto::marlin {

namespace {

using Clock = std::chrono::steady_clock;

// How long stopping the agent waits for the cancel G-code of a running print to be answered.
constexpr auto kStopDrainLimit = std::chrono::milliseconds(2000);

// Marlin's MAX_CMD_SIZE is 96 bytes with the number and checksum; leave them room.
constexpr std::size_t kMaxCommandChars = 80;

using link::plainNumber;
using link::WireProgram;

WireProgram wireProgram(const std::string& text) {
    return link::wireProgram(text, [](std::string_view line) { return wireForm(line); });
}

std::vector<std::string> gcodeLines(const std::string& text) { return wireProgram(text).lines; }

std::string seconds(std::chrono::milliseconds ms) { return plainNumber(static_cast<double>(ms.count()) / 1000.0); }

} // namespace

MarlinDriver::MarlinDriver(boost::asio::io_context& io, MarlinDriverOptions options, DriverListener& listener,
                           std::unique_ptr<link::ByteLink> link)
    : io_(io), options_(std::move(options)), listener_(listener),
      link_(link ? std::move(link) : link::makeLink(io, options_.port, options_.baud)), greetingTimer_(io),
      watchdog_(io), reconnectTimer_(io), pollTimer_(io) {
    if (options_.inFlight == 0) options_.inFlight = 1;
}

MarlinDriver::~MarlinDriver() { link_->close(); }

DriverCapabilities MarlinDriver::capabilities() const {
    DriverCapabilities c;
    c.lineStreaming = true;
    // A print continued from a line would need the temperatures, the extruder's position and the Z the
    // program had there; the host can only guess them. Interrupted prints restart or are scrapped.
    c.resumeFromLine = false;
    c.dryRun = false;
    c.pause = true;
    return c;
}

void MarlinDriver::start() {
    stopping_ = false;
    openLink();
}

void MarlinDriver::stop(std::function<void()> done) {
    const bool hadJob = job_ != nullptr && link_->isOpen() && phase_ == Phase::Ready;
    if (hadJob) {
        // The printer would otherwise finish its buffered moves and sit there hot: heaters off first.
        stopJob({"stopped", "", "the agent stopped during the job; the cancel G-code (heaters off, motors off) was sent"});
    } else if (job_) {
        interruptJob({"stopped", "", "the agent stopped during the job"});
    }
    stopping_ = true;
    greetingTimer_.cancel();
    reconnectTimer_.cancel();
    pollTimer_.cancel();
    stopped_ = std::move(done);
    watchdog_.cancel();
    watchdogArmed_ = true;   // no new watchdog: finishStop() is the last thing this driver waits for
    finishStop(Clock::now() + (hadJob ? kStopDrainLimit : std::chrono::milliseconds(0)));
}

// Waits (a bounded time) for the cancel G-code to be answered, then closes the link.
void MarlinDriver::finishStop(std::chrono::steady_clock::time_point deadline) {
    const bool drained = queue_.empty() && sendPos_ >= nextN_ && inFlight_ == 0;
    if (!drained && Clock::now() < deadline && link_->isOpen() && phase_ == Phase::Ready) {
        watchdog_.expires_after(std::chrono::milliseconds(20));
        // Also after a cancellation (the link dropped meanwhile): finishStop() then closes at once.
        watchdog_.async_wait([this, deadline](const boost::system::error_code&) { finishStop(deadline); });
        return;
    }
    link_->close();
    phase_ = Phase::Closed;
    watchdogArmed_ = false;
    setState(MachineState::Disconnected, "stopped");
    if (auto finished = std::move(stopped_)) finished();
}

void MarlinDriver::setState(MachineState s, const std::string& detail) {
    if (s == state_) return;
    state_ = s;
    spdlog::info("machine {}: {}{}{}", options_.machineId, toString(s), detail.empty() ? "" : ": ", detail);
    listener_.machineState(s, detail);
}

void MarlinDriver::openLink() {
    if (stopping_) return;
    phase_ = Phase::Opening;
    link_->open([this](const boost::system::error_code& ec) { onOpened(ec); },
                [this](std::string_view bytes) { onData(bytes); },
                [this](const boost::system::error_code& ec) {
                    dropLink({"disconnected", "", link_->describe() + " lost: " + ec.message()});
                });
}

void MarlinDriver::scheduleReconnect() {
    if (stopping_) return;
    if (reconnectNow_) {
        reconnectNow_ = false;
        backoff_ = options_.reconnectMin;
    } else {
        backoff_ = backoff_.count() == 0 ? options_.reconnectMin : std::min(backoff_ * 2, options_.reconnectMax);
    }
    reconnectTimer_.expires_after(backoff_);
    reconnectTimer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec && phase_ == Phase::Closed) openLink();
    });
}

void MarlinDriver::onOpened(const boost::system::error_code& ec) {
    if (stopping_) return;
    if (ec) {
        if (backoff_ <= options_.reconnectMin)
            spdlog::warn("machine {}: cannot open {}: {}; retrying", options_.machineId, link_->describe(),
                         ec.message());
        phase_ = Phase::Closed;
        setState(MachineState::Disconnected, "cannot open " + link_->describe() + ": " + ec.message());
        scheduleReconnect();
        return;
    }
    partial_.clear();
    firmware_ = {};
    caps_.clear();
    refusal_.reset();
    spdlog::info("machine {}: {} open; waiting for Marlin's greeting", options_.machineId, link_->describe());
    setState(MachineState::Connecting, link_->describe());
    phase_ = Phase::AwaitGreeting;
    lastByte_ = Clock::now();
    greetingTimer_.expires_after(options_.greetingWait);
    greetingTimer_.async_wait([this](const boost::system::error_code& e) {
        // Boards that do not reset when the port opens (or a network bridge) say nothing: ask anyway.
        if (!e && phase_ == Phase::AwaitGreeting && !stopping_) startHandshake();
    });
}

void MarlinDriver::startHandshake() {
    greetingTimer_.cancel();
    pollTimer_.cancel();
    phase_ = Phase::Handshake;
    queue_.clear();
    sent_.clear();
    sentBase_ = 0;
    nextN_ = 0;
    sendPos_ = 0;
    confirmedN_ = -1;
    inFlight_ = 0;
    staleLeft_ = 0;
    lateOks_ = 0;
    swallowOk_ = 0;
    rewoundTo_.reset();
    lastAnswer_ = Clock::now();
    // N0 M110 N0 sets the firmware's line counter whatever it was; the next line is N1.
    enqueue("M110 N0", Purpose::Handshake);
    enqueue("M115", Purpose::Identify);
    pump();
}

void MarlinDriver::onData(std::string_view bytes) {
    lastByte_ = Clock::now();
    for (char c : bytes) {
        if (c == '\n') {
            std::string line;
            line.swap(partial_);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (!line.empty()) onLine(line);
            if (phase_ == Phase::Closed) return;
            continue;
        }
        if (partial_.size() >= 1024) partial_.erase(0, 512);   // wrong baud rate: noise
        partial_.push_back(c);
    }
}

void MarlinDriver::onLine(std::string_view line) {
    const Response r = parseResponse(line);
    const auto now = Clock::now();
    if (phase_ == Phase::Halted) {
        // A killed board repeats its last words; nothing it says changes anything until it is reset.
        if (r.kind == LineKind::Start) spdlog::info("machine {}: the board restarted after its halt", options_.machineId);
        else return;
    }
    switch (r.kind) {
    case LineKind::Start:
        if (phase_ == Phase::AwaitGreeting) {
            startHandshake();
            return;
        }
        if (phase_ == Phase::Handshake && nextN_ <= 1) return;   // the reset that opening the port caused
        // The board reset by itself (power dip, watchdog, someone pressed reset): whatever it had is gone.
        interruptJob({"reset", "", "the printer restarted (it said \"start\") during the job"});
        setState(MachineState::Connecting, "the printer restarted");
        startHandshake();
        return;
    case LineKind::Ok: {
        lastAnswer_ = now;
        if (r.temperatures) onTemperatures(*r.temperatures);
        if (swallowOk_ > 0) {
            --swallowOk_;
            return;
        }
        if (phase_ != Phase::Handshake && phase_ != Phase::Ready) return;
        if (inFlight_ > 0) --inFlight_;
        if (lateOks_ > 0) {
            // The ok of a line the firmware held in its buffer when it asked for a resend: that line was counted
            // as taken then, and this ok must not be taken for one of the lines sent again.
            --lateOks_;
            pump();
            return;
        }
        // The firmware took a new line, so every line sent before the last rewind has been refused or dropped.
        staleLeft_ = 0;
        const std::int64_t n = confirmedN_ + 1;
        if (n < static_cast<std::int64_t>(sendPos_) && n >= static_cast<std::int64_t>(sentBase_)) {
            confirmedN_ = n;
            const Command c = sent_[static_cast<std::size_t>(n - static_cast<std::int64_t>(sentBase_))].command;
            onConfirmed(c);
        }
        pump();
        return;
    }
    case LineKind::Resend:
        lastAnswer_ = now;
        ++swallowOk_;
        onResend(r.resendLine);
        return;
    case LineKind::Busy:
        lastAnswer_ = now;
        return;
    case LineKind::LineError:
        spdlog::debug("machine {}: {}", options_.machineId, r.text);
        return;
    case LineKind::Fatal:
        onFatal(r);
        return;
    case LineKind::Error:
        onFirmwareError(r);
        return;
    case LineKind::Temperature:
        onTemperatures(*r.temperatures);
        return;
    case LineKind::FirmwareInfo:
        firmware_ = parseFirmwareInfo(line);
        return;
    case LineKind::Capability:
        if (auto cap = parseCapability(line)) caps_[cap->first] = cap->second;
        return;
    case LineKind::Echo:
    case LineKind::Other:
        spdlog::debug("machine {}: {}", options_.machineId, r.text);
        return;
    }
}

void MarlinDriver::onResend(std::uint64_t n) {
    ++resends_;
    if (n > nextN_) {
        spdlog::warn("machine {}: the printer asks for line {} but only {} were sent; ignored", options_.machineId, n,
                     nextN_);
        return;
    }
    if (n < sentBase_) {
        dropLink({"resend_window", "",
                  "the printer asks for line " + std::to_string(n) + ", older than the kept window (from " +
                      std::to_string(sentBase_) + "); reconnecting"});
        return;
    }
    // Lines before n the firmware has but has not answered yet: Marlin asks for the resend as soon as it reads
    // the bad line, while the lines read before it may still wait in its command buffer; their oks come later.
    const std::int64_t unanswered = static_cast<std::int64_t>(n) - 1 - confirmedN_;
    // The firmware has every line before n: they count as taken now.
    while (confirmedN_ + 1 < static_cast<std::int64_t>(n)) {
        ++confirmedN_;
        const Command c = sent_[static_cast<std::size_t>(confirmedN_ - static_cast<std::int64_t>(sentBase_))].command;
        onConfirmed(c);
        if (phase_ == Phase::Closed || phase_ == Phase::Halted) return;
    }
    if (confirmedN_ >= static_cast<std::int64_t>(n)) confirmedN_ = static_cast<std::int64_t>(n) - 1;
    if (staleLeft_ > 0) {
        // A line sent before the last rewind, refused because the firmware still waits for the rewound one.
        --staleLeft_;
        if (rewoundTo_ && *rewoundTo_ == n) {
            pump();
            return;
        }
    } else if (inFlight_ > 0) {
        --inFlight_;
    }
    spdlog::debug("machine {}: resend from line {}", options_.machineId, n);
    // What was in flight is now the lines held before n, whose oks are still to come (they keep their room in the
    // firmware's buffer), and the lines sent after n, which the firmware refuses or drops.
    const unsigned held = std::min(static_cast<unsigned>(std::max<std::int64_t>(unanswered, 0)),
                                   inFlight_ > lateOks_ ? inFlight_ - lateOks_ : 0u);
    staleLeft_ = inFlight_ > lateOks_ + held ? inFlight_ - lateOks_ - held : 0u;
    lateOks_ += held;
    inFlight_ = lateOks_;
    rewoundTo_ = n;
    sendPos_ = n;
    pump();
}

void MarlinDriver::onConfirmed(const Command& c) {
    switch (c.purpose) {
    case Purpose::Handshake:
        return;
    case Purpose::Identify:
        checkFirmware();
        if (caps_.count("AUTOREPORT_TEMP") && caps_["AUTOREPORT_TEMP"]) {
            enqueue("M155 S" + std::to_string(options_.temperatureReportS), Purpose::AutoReport);
        } else {
            enqueue("M105", Purpose::AutoReport);
        }
        return;
    case Purpose::AutoReport:
        phase_ = Phase::Ready;
        armPoll();
        backoff_ = std::chrono::milliseconds(0);
        if (refusal_) {
            setState(MachineState::Refused, refusal_->message);
            listener_.machineFault(*refusal_);
        } else {
            spdlog::info("machine {}: {} {} ({}), {} command(s) in flight", options_.machineId, identity_.firmware,
                         identity_.version, identity_.detail, options_.inFlight);
            setState(MachineState::Idle, temperatureText());
        }
        return;
    case Purpose::Job:
        if (!job_ || c.jobLine < 0 || c.jobSerial != job_->serial) return;
        job_->done = static_cast<std::size_t>(c.jobLine) + 1;
        reportProgress(false);
        return;
    case Purpose::JobEnd:
        if (job_ && c.jobSerial == job_->serial && job_->done == job_->lines.size()) finishJob();
        return;
    case Purpose::Pause:
        if (job_ && job_->paused && queue_.empty() && sendPos_ == static_cast<std::uint64_t>(confirmedN_ + 1))
            setState(MachineState::Paused, "parked; heaters kept");
        return;
    case Purpose::Poll:
        armPoll();
        return;
    case Purpose::Resume:
    case Purpose::Cancel:
        return;
    }
}

void MarlinDriver::armPoll() {
    // Without auto-report the temperatures are asked for every few seconds.
    if (caps_.count("AUTOREPORT_TEMP") && caps_["AUTOREPORT_TEMP"]) return;
    pollTimer_.expires_after(std::chrono::seconds(options_.temperatureReportS));
    pollTimer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || phase_ != Phase::Ready) return;
        enqueue("M105", Purpose::Poll);
        pump();
    });
}

void MarlinDriver::checkFirmware() {
    refusal_.reset();
    const std::string name = firmware_.name();
    identity_.firmware = name;
    identity_.version = firmware_.version();
    identity_.detail = firmware_.field("MACHINE_TYPE");
    if (firmware_.fields.empty()) {
        refusal_ = MachineFault{"firmware_unknown", "", "the printer did not answer M115 with FIRMWARE_NAME"};
    } else if (name != "Marlin") {
        refusal_ = MachineFault{"firmware_mismatch", "",
                                "M115 says FIRMWARE_NAME:" + firmware_.field("FIRMWARE_NAME") + "; " +
                                    options_.machineId + " is configured as a Marlin printer (driver = \"marlin\")"};
    } else if (options_.profile.capability != "fdm") {
        refusal_ = MachineFault{"settings_mismatch", "",
                                "profile " + options_.profile.name + " is " + options_.profile.capability +
                                    ", but Marlin runs fdm printers here"};
    } else if (const auto n = firmware_.field("EXTRUDER_COUNT"); n == "0") {
        refusal_ = MachineFault{"settings_mismatch", "", "M115 says EXTRUDER_COUNT:0: not an FDM printer"};
    }
}

void MarlinDriver::onFatal(const Response& r) {
    MachineFault f{r.faultReason, "", "the printer said: " + r.text};
    spdlog::error("machine {}: {}", options_.machineId, f.message);
    phase_ = Phase::Halted;
    queue_.clear();
    inFlight_ = 0;
    staleLeft_ = 0;
    lateOks_ = 0;
    watchdog_.cancel();
    pollTimer_.cancel();
    interruptJob(f);
    listener_.machineFault(f);
    setState(MachineState::Alarm, r.text + " (reset the printer, then unlock)");
}

void MarlinDriver::onFirmwareError(const Response& r) {
    MachineFault f{"firmware_error", "", "the printer said: Error:" + r.text};
    spdlog::warn("machine {}: {}", options_.machineId, f.message);
    if (job_) {
        // A refused or failed command leaves the part wrong: stop and cool down rather than print on.
        stopJob(f);
        return;
    }
    listener_.machineFault(f);
}

void MarlinDriver::onTemperatures(const Temperatures& t) {
    temperatures_ = t;
    const auto now = Clock::now();
    // While a job heats, tell the owner now and then how far it got (a state report with the same state).
    if (job_ && state_ == MachineState::Running && longCommandInFlight() && now - lastTemperatureDetail_ >= std::chrono::seconds(10)) {
        lastTemperatureDetail_ = now;
        listener_.machineState(state_, "waiting: " + describe(t));
    }
}

std::string MarlinDriver::temperatureText() const { return temperatures_ ? describe(*temperatures_) : std::string(); }

void MarlinDriver::enqueue(const std::string& gcode, Purpose purpose) {
    for (auto& line : gcodeLines(gcode)) queue_.push_back({std::move(line), purpose, -1});
}

void MarlinDriver::pump() {
    if (!link_->isOpen() || (phase_ != Phase::Handshake && phase_ != Phase::Ready)) return;
    const unsigned limit = phase_ == Phase::Handshake ? 1u : options_.inFlight;
    while (inFlight_ < limit) {
        if (sendPos_ < nextN_) {
            writeLine(sendPos_++);
            continue;
        }
        Command c;
        if (!queue_.empty()) {
            c = std::move(queue_.front());
            queue_.pop_front();
        } else if (job_ && !job_->paused && phase_ == Phase::Ready) {
            if (job_->nextToQueue < job_->lines.size()) {
                c = {job_->lines[job_->nextToQueue], Purpose::Job, static_cast<long>(job_->nextToQueue), job_->serial};
                ++job_->nextToQueue;
            } else if (!job_->endQueued) {
                // The last ok only means the last move is planned; M400 answers when the motion has ended.
                c = {"M400", Purpose::JobEnd, -1, job_->serial};
                job_->endQueued = true;
            } else {
                break;
            }
        } else {
            break;
        }
        sent_.push_back({numberedLine(nextN_, c.text) + "\n", std::move(c)});
        ++nextN_;
        writeLine(sendPos_++);
    }
    // Keep the unanswered lines and a margin of answered ones for late Resend requests.
    const std::int64_t keepFrom = confirmedN_ + 1 - static_cast<std::int64_t>(options_.keptLines);
    while (!sent_.empty() && static_cast<std::int64_t>(sentBase_) < keepFrom) {
        sent_.pop_front();
        ++sentBase_;
    }
}

void MarlinDriver::writeLine(std::uint64_t n) {
    if (inFlight_ == 0 && staleLeft_ == 0) lastAnswer_ = std::max(lastAnswer_, Clock::now());
    link_->write(sent_[static_cast<std::size_t>(n - sentBase_)].wire);
    ++inFlight_;
    armWatchdog();
}

bool MarlinDriver::longCommandInFlight() const {
    // The firmware runs the lines it held at the last Resend (their oks still to come) before the first unanswered one.
    for (std::int64_t n = confirmedN_ + 1 - static_cast<std::int64_t>(lateOks_); n <= confirmedN_ + 1; ++n) {
        if (n < static_cast<std::int64_t>(sentBase_) || n >= static_cast<std::int64_t>(sendPos_)) continue;
        if (isLongCommand(sent_[static_cast<std::size_t>(n - static_cast<std::int64_t>(sentBase_))].command.text))
            return true;
    }
    return false;
}

void MarlinDriver::armWatchdog() {
    if (watchdogArmed_ || stopping_) return;
    watchdogArmed_ = true;
    const auto period = std::max(std::chrono::milliseconds(20), std::min(options_.answerTimeout, options_.silenceLimit) / 4);
    watchdog_.expires_after(period);
    watchdog_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        watchdogArmed_ = false;
        onWatchdog();
    });
}

void MarlinDriver::onWatchdog() {
    if (stopping_ || !link_->isOpen() || (phase_ != Phase::Handshake && phase_ != Phase::Ready)) return;
    const bool owed = inFlight_ > 0 || staleLeft_ > 0 || sendPos_ < nextN_;
    if (!owed) return;
    const auto now = Clock::now();
    const bool longCommand = longCommandInFlight();
    if (now - lastByte_ >= options_.silenceLimit) {
        dropLink({"timeout", "",
                  "the printer has said nothing for " + seconds(options_.silenceLimit) +
                      " s while it owed answers; closing the link and opening it again"});
        return;
    }
    if (!longCommand && now - lastAnswer_ >= options_.silenceLimit) {
        dropLink({"timeout", "",
                  "the printer has answered no line for " + seconds(options_.silenceLimit) +
                      " s; closing the link and opening it again"});
        return;
    }
    if (!longCommand && now - lastAnswer_ >= options_.answerTimeout) {
        // A line, or its ok, was lost on the wire. Sending the oldest unanswered line again is safe: the
        // firmware runs it if it never had it and asks for the next one if it had.
        spdlog::info("machine {}: no answer for {} s; sending line {} again", options_.machineId,
                     seconds(options_.answerTimeout), confirmedN_ + 1);
        sendPos_ = static_cast<std::uint64_t>(confirmedN_ + 1);
        inFlight_ = 0;
        staleLeft_ = 0;
        lateOks_ = 0;
        swallowOk_ = 0;
        rewoundTo_.reset();
        lastAnswer_ = now;
        pump();
    }
    armWatchdog();
}

std::optional<MachineFault> MarlinDriver::check(const JobArtifact& job) const {
    if (phase_ == Phase::Halted)
        return MachineFault{"halted", "", options_.machineId + " has halted: reset the printer, then unlock it"};
    if (phase_ != Phase::Ready)
        return MachineFault{"not_connected", "", options_.machineId + " is not connected and identified yet"};
    if (refusal_) return refusal_;
    if (job.capability != "fdm" || job.capability != options_.profile.capability)
        return MachineFault{"capability", "",
                            "a " + job.capability + " job on " + options_.profile.capability + " printer " +
                                options_.machineId};
    if (job.format != "gcode-marlin")
        return MachineFault{"format", "", "a " + job.format + " program cannot run on Marlin"};
    return checkJob(job);
}

std::optional<MachineFault> MarlinDriver::checkJob(const JobArtifact& job) const {
    const auto& p = options_.profile;
    const auto& b = job.bbox;
    if (b.maxX > p.sizeX + 1e-6 || b.maxY > p.sizeY + 1e-6 || b.minX < -1e-6 || b.minY < -1e-6 ||
        b.minZ < p.minZ - 1e-6 || b.maxZ > p.maxZ + 1e-6)
        return MachineFault{"envelope", "",
                            "the program spans X " + plainNumber(b.minX) + ".." + plainNumber(b.maxX) + ", Y " +
                                plainNumber(b.minY) + ".." + plainNumber(b.maxY) + ", Z " + plainNumber(b.minZ) + ".." +
                                plainNumber(b.maxZ) +
                                " mm; the printer's build volume (" + p.name + ") is " + plainNumber(p.sizeX) + " x " +
                                plainNumber(p.sizeY) + " x " + plainNumber(p.maxZ) + " mm"};
    return std::nullopt;
}

void MarlinDriver::submit(const std::string& jobId, const JobArtifact& job, std::uint64_t fromLine) {
    auto refuse = [this, jobId](MachineFault why) {
        boost::asio::post(io_, [this, jobId, why = std::move(why)] { listener_.jobInterrupted(jobId, why, 0); });
    };
    if (fromLine > 0)
        return refuse({"resume_unsupported", "",
                       "a print cannot be continued from a line by this driver: restart the job or scrap it"});
    if (job_ || phase_ != Phase::Ready || state_ != MachineState::Idle)
        return refuse({"busy", "", options_.machineId + " is " + toString(state_) + ", not idle"});
    if (auto why = check(job)) return refuse(*why);
    WireProgram wire = wireProgram(job.program);
    if (wire.lines.empty()) return refuse({"empty_program", "", "the program has no lines to send"});
    for (const auto& line : wire.lines)
        if (line.size() > kMaxCommandChars)
            return refuse({"line_too_long", "",
                           "a program line has " + std::to_string(line.size()) + " characters; Marlin takes " +
                               std::to_string(kMaxCommandChars) + " with its number and checksum"});
    auto j = std::make_unique<Job>();
    j->id = jobId;
    j->estimatedSeconds = job.estimatedSeconds;
    j->lines = std::move(wire.lines);
    j->sourceLine = std::move(wire.sourceLine);
    j->bytesBefore.reserve(j->lines.size() + 1);
    for (const auto& l : j->lines) {
        j->bytesBefore.push_back(j->totalBytes);
        j->totalBytes += l.size() + 1;
    }
    j->serial = ++jobSerial_;
    job_ = std::move(j);
    spdlog::info("machine {}: job {} starts: {} lines, {} command(s) in flight", options_.machineId, jobId,
                 job_->lines.size(), options_.inFlight);
    lastProgress_ = {};
    setState(MachineState::Running);
    reportProgress(true);
    pump();
}

void MarlinDriver::pause() {
    if (!job_ || job_->paused || phase_ != Phase::Ready) return;
    job_->paused = true;
    enqueue(options_.pauseGcode, Purpose::Pause);
    spdlog::info("machine {}: pausing job {}", options_.machineId, job_->id);
    if (queue_.empty()) setState(MachineState::Paused, "paused");
    pump();
}

void MarlinDriver::resume() {
    if (!job_ || !job_->paused || phase_ != Phase::Ready) return;
    enqueue(options_.resumeGcode, Purpose::Resume);
    job_->paused = false;
    setState(MachineState::Running, "resumed");
    pump();
}

void MarlinDriver::cancel() {
    stopJob({"cancelled", "", "cancelled: the program stopped; the cancel G-code (heaters off, motors off) was sent"});
}

void MarlinDriver::stopJob(const MachineFault& why) {
    if (!job_) return;
    if (phase_ == Phase::Ready && link_->isOpen()) {
        // Lines already numbered but not yet on the wire must still go out (the numbering must not skip), but
        // need not move anything: they become temperature queries.
        for (std::uint64_t n = sendPos_; n < nextN_; ++n) {
            auto& s = sent_[static_cast<std::size_t>(n - sentBase_)];
            if (s.command.purpose != Purpose::Job && s.command.purpose != Purpose::JobEnd) continue;
            s.command = {"M105", Purpose::Poll, -1};
            s.wire = numberedLine(n, "M105") + "\n";
        }
        queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                                    [](const Command& c) { return c.purpose == Purpose::Pause || c.purpose == Purpose::Resume; }),
                     queue_.end());
        enqueue(options_.cancelGcode, Purpose::Cancel);
    }
    interruptJob(why);
    if (phase_ == Phase::Ready) setState(refusal_ ? MachineState::Refused : MachineState::Idle, why.reason);
    pump();
}

void MarlinDriver::unlock() {
    // After kill() Marlin answers nothing until it is reset; opening the port again resets a USB board.
    if (phase_ != Phase::Halted && state_ != MachineState::Alarm) return;
    spdlog::info("machine {}: reopening {} to reset the printer after its halt", options_.machineId, link_->describe());
    link_->close();
    greetingTimer_.cancel();
    watchdog_.cancel();
    watchdogArmed_ = false;
    phase_ = Phase::Closed;
    setState(MachineState::Disconnected, "reopening the port to reset the printer");
    reconnectNow_ = true;
    scheduleReconnect();
}

void MarlinDriver::finishJob() {
    auto id = job_->id;
    job_->done = job_->lines.size();
    reportProgress(true);
    job_.reset();
    setState(MachineState::Idle, temperatureText());
    spdlog::info("machine {}: job {} finished", options_.machineId, id);
    listener_.jobFinished(id);
}

void MarlinDriver::interruptJob(const MachineFault& why) {
    if (!job_) return;
    auto id = job_->id;
    const std::uint64_t lastDone = job_->done > 0 ? job_->sourceLine[job_->done - 1] : 0;
    job_.reset();
    spdlog::warn("machine {}: job {} interrupted: {}{}", options_.machineId, id, why.reason,
                 why.message.empty() ? "" : ": " + why.message);
    listener_.jobInterrupted(id, why, lastDone);
}

void MarlinDriver::dropLink(const MachineFault& why) {
    link_->close();
    greetingTimer_.cancel();
    watchdog_.cancel();
    pollTimer_.cancel();
    watchdogArmed_ = false;
    queue_.clear();
    inFlight_ = 0;
    staleLeft_ = 0;
    lateOks_ = 0;
    const bool hadJob = job_ != nullptr;
    phase_ = Phase::Closed;
    interruptJob(why);
    setState(MachineState::Disconnected, why.message);
    if (!hadJob) listener_.machineFault(why);
    reconnectNow_ = false;
    scheduleReconnect();
}

void MarlinDriver::reportProgress(bool force) {
    if (!job_) return;
    const auto now = Clock::now();
    if (!force && now - lastProgress_ < options_.progressEvery) return;
    lastProgress_ = now;
    JobProgress p;
    p.linesDone = job_->done;
    p.linesTotal = job_->lines.size();
    const std::size_t bytesDone = job_->done >= job_->lines.size() ? job_->totalBytes : job_->bytesBefore[job_->done];
    p.fraction = job_->totalBytes ? static_cast<double>(bytesDone) / static_cast<double>(job_->totalBytes) : 0;
    p.secondsLeft = job_->estimatedSeconds > 0 ? job_->estimatedSeconds * (1.0 - p.fraction) : -1;
    listener_.jobProgress(job_->id, p);
}

} // namespace mto::marlin
