// SPDX-License-Identifier: Apache-2.0
// What OctoPrint and Moonraker drivers share: upload-then-print jobs watched by polling the host, reconnects with
// backoff, and a job reconciled from the host's own state after the host or the link comes back.
#include "http/print_host_driver.hpp"

#include <boost/asio/post.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <spdlog/spdlog.h>

namespace mto::http {

namespace {

std::string baseName(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

} // namespace

PrintHostDriver::PrintHostDriver(boost::asio::io_context& io, PrintHostOptions options, DriverListener& listener)
    : io_(io), options_(std::move(options)), listener_(listener), client_(io, parseHttpUrl(options_.url)),
      pollTimer_(io), reconnectTimer_(io) {}

PrintHostDriver::~PrintHostDriver() {
    ++generation_;
    client_.cancelAll();
}

std::string PrintHostDriver::hostFileName(const std::string& jobId) {
    std::string safe;
    for (char c : jobId) safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
    return "mto-" + safe + ".gcode";
}

DriverCapabilities PrintHostDriver::capabilities() const {
    DriverCapabilities c;
    c.lineStreaming = false;
    c.resumeFromLine = false;   // the host owns the file position; a failed print restarts or is scrapped
    c.dryRun = false;
    c.pause = true;
    return c;
}

std::optional<MachineFault> PrintHostDriver::check(const JobArtifact& job) const {
    if (job.capability != "fdm")
        return MachineFault{"capability", "", options_.machineId + " is a 3D printer behind " + hostKind() +
                                                  "; a " + job.capability + " job cannot run on it"};
    if (!job.format.empty() && job.format.rfind("gcode", 0) != 0)
        return MachineFault{"format", "", std::string(hostKind()) + " prints G-code files, not " + job.format};
    if (job.program.empty()) return MachineFault{"empty_program", "", "the program is empty"};
    return std::nullopt;
}

void PrintHostDriver::setState(MachineState s, const std::string& detail) {
    if (s == state_) return;
    state_ = s;
    spdlog::info("machine {}: {}{}{}", options_.machineId, toString(s), detail.empty() ? "" : ": ", detail);
    listener_.machineState(s, detail);
}

void PrintHostDriver::start() {
    stopping_ = false;
    connect();
}

void PrintHostDriver::stop(std::function<void()> done) {
    stopping_ = true;
    ++generation_;
    connected_ = false;
    polling_ = false;
    pollTimer_.cancel();
    reconnectTimer_.cancel();
    client_.cancelAll();
    linkDown();
    if (job_)
        interruptJob({"stopped", "",
                      "the agent stopped during the job; " + std::string(hostKind()) + " may still be printing " +
                          job_->file});
    setState(MachineState::Disconnected, "stopped");
    boost::asio::post(io_, [done = std::move(done)] {
        if (done) done();
    });
}

void PrintHostDriver::send(boost::beast::http::verb method, const std::string& target, std::string body,
                           const std::string& contentType, std::chrono::milliseconds timeout,
                           HttpClient::Handler handler) {
    HttpClient::Headers headers;
    if (!options_.apiKey.empty()) headers.emplace_back("X-Api-Key", options_.apiKey);
    client_.request(method, target, std::move(body), contentType, headers, timeout, std::move(handler));
}

HostResult PrintHostDriver::httpResult(const boost::system::error_code& ec, const HttpResponse& r) {
    if (ec) return HostResult::linkDown(ec.message());
    if (r.status >= 200 && r.status < 300) return HostResult::ok();
    const std::string code = std::to_string(r.status);
    if (r.status == 401 || r.status == 403)
        return HostResult::refused({"bad_api_key", code, errorText(r) + " (check api_key / api_key_file)"});
    if (r.status == 409) return HostResult::alarm({"not_operational", code, errorText(r)});
    if (r.status == 503) return HostResult::alarm({"host_not_ready", code, errorText(r)});
    return HostResult::alarm({"host_error", code, errorText(r)});
}

void PrintHostDriver::connect() {
    if (stopping_) return;
    ++generation_;
    connected_ = false;
    polling_ = false;
    setState(MachineState::Connecting, client_.describe());
    const auto gen = generation_;
    identify([this, gen](HostResult r) {
        if (gen != generation_) return;
        onIdentified(std::move(r));
    });
}

void PrintHostDriver::onIdentified(HostResult r) {
    switch (r.kind) {
    case HostResult::Kind::LinkDown: return linkLost(r.fault.message);
    case HostResult::Kind::Fault: return onFault(r);
    case HostResult::Kind::Ok: break;
    }
    connected_ = true;
    backoff_ = std::chrono::milliseconds(0);
    spdlog::info("machine {}: {} {} at {}", options_.machineId, identity_.firmware, identity_.version,
                 client_.describe());
    linkUp();
    if (job_ && job_->uploaded)
        spdlog::info("machine {}: back in touch during job {}; reading the host's own job state", options_.machineId,
                     job_->id);
    poll();
}

void PrintHostDriver::scheduleReconnect() {
    if (stopping_) return;
    backoff_ = backoff_.count() == 0 ? options_.reconnectMin : std::min(backoff_ * 2, options_.reconnectMax);
    reconnectTimer_.expires_after(backoff_);
    reconnectTimer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) connect();
    });
}

void PrintHostDriver::linkLost(const std::string& why) {
    ++generation_;
    const bool wasConnected = connected_ || backoff_.count() == 0;   // logged once per outage, not per retry
    connected_ = false;
    polling_ = false;
    pollTimer_.cancel();
    linkDown();
    const std::string detail = client_.describe() + ": " + why;
    if (wasConnected) {
        if (job_)
            spdlog::warn("machine {}: lost {} during job {} ({}); the job is reconciled when it answers again",
                         options_.machineId, hostKind(), job_->id, why);
        else
            spdlog::warn("machine {}: cannot reach {} ({}); retrying", options_.machineId, hostKind(), detail);
    }
    setState(MachineState::Disconnected, detail);
    if (!job_) {
        MachineFault f{"disconnected", "", "cannot reach " + std::string(hostKind()) + " at " + detail};
        if (lastFaultKey_ != "disconnected") {
            lastFaultKey_ = "disconnected";
            listener_.machineFault(f);
        }
    }
    scheduleReconnect();
}

void PrintHostDriver::onFault(const HostResult& r) {
    ++generation_;
    connected_ = false;
    polling_ = false;
    pollTimer_.cancel();
    linkDown();
    setState(r.faultState, r.fault.message);
    if (job_ && job_->uploaded) interruptJob(r.fault);
    const std::string key = r.fault.reason + "/" + r.fault.code + "/" + r.fault.message;
    if (key != lastFaultKey_) {
        lastFaultKey_ = key;
        spdlog::warn("machine {}: {}: {}", options_.machineId, r.fault.reason, r.fault.message);
        listener_.machineFault(r.fault);
    }
    scheduleReconnect();
}

void PrintHostDriver::poll() {
    if (!connected_ || polling_ || stopping_) return;
    polling_ = true;
    const auto gen = generation_;
    queryStatus([this, gen](HostResult r, HostJobStatus s) {
        if (gen != generation_) return;
        polling_ = false;
        switch (r.kind) {
        case HostResult::Kind::LinkDown: return linkLost(r.fault.message);
        case HostResult::Kind::Fault: return onFault(r);
        case HostResult::Kind::Ok: break;
        }
        onStatus(s);
        armPoll();
    });
}

void PrintHostDriver::armPoll() {
    if (!connected_ || stopping_) return;
    pollTimer_.expires_after(options_.pollInterval);
    pollTimer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) poll();
    });
}

void PrintHostDriver::statusPushed(const HostJobStatus& s) {
    if (connected_ && !stopping_) onStatus(s);
}

void PrintHostDriver::faultPushed(const HostResult& r) {
    if (stopping_) return;
    if (r.kind == HostResult::Kind::Fault) onFault(r);
    else if (r.kind == HostResult::Kind::LinkDown) linkLost(r.fault.message);
}

void PrintHostDriver::onStatus(const HostJobStatus& s) {
    using S = HostJobStatus::State;
    const std::string hostFile = baseName(s.file);
    if (!job_ || !job_->uploaded) {
        if (job_) return;   // a job is being checked or uploaded: that path decides
        if (s.state == S::Printing || s.state == S::Paused) {
            setState(MachineState::Running, std::string(hostKind()) + " prints " + (hostFile.empty() ? "a file" : hostFile) +
                                                ", not a job of this agent");
        } else {
            if (state_ != MachineState::Idle) lastFaultKey_.clear();
            setState(MachineState::Idle);
        }
        return;
    }
    Job& j = *job_;
    const bool ours = hostFile == j.file;
    const bool graceOver = std::chrono::steady_clock::now() - j.uploadedAt > options_.startGrace;
    if (ours) {
        switch (s.state) {
        case S::Printing:
        case S::Paused: {
            j.seenOnHost = true;
            if (s.state == S::Paused)
                setState(MachineState::Paused, s.message.empty() ? "paused on " + std::string(hostKind()) : s.message);
            else
                setState(MachineState::Running, j.file);
            const auto percent = static_cast<std::uint64_t>(std::clamp(s.fraction, 0.0, 1.0) * 100.0);
            if (percent != lastPercentReported_) {
                lastPercentReported_ = percent;
                JobProgress p;
                p.fraction = std::clamp(s.fraction, 0.0, 1.0);
                p.secondsLeft = s.secondsLeft;
                listener_.jobProgress(j.id, p);
            }
            return;
        }
        case S::Complete: return finishJob();
        case S::Cancelled:
            return interruptJob({j.cancelRequested ? "cancelled" : "host_cancelled", "",
                                 s.message.empty() ? "the print was cancelled on " + std::string(hostKind()) : s.message});
        case S::Error:
            return interruptJob({"host_error", "",
                                 s.message.empty() ? std::string(hostKind()) + " reports an error in the print"
                                                   : s.message});
        case S::Standby:
            if (j.seenOnHost || graceOver)
                return interruptJob({j.cancelRequested ? "cancelled" : "host_lost_job", "",
                                     std::string(hostKind()) + " has " + j.file + " but does not print it" +
                                         (s.message.empty() ? "" : ": " + s.message)});
            return;   // the host has not started it yet
        }
        return;
    }
    if ((s.state == S::Printing || s.state == S::Paused) && !hostFile.empty())
        return interruptJob({"host_busy", "",
                             std::string(hostKind()) + " prints " + hostFile + " instead of " + j.file});
    if (j.seenOnHost || graceOver)
        return interruptJob({"host_lost_job", "",
                             std::string(hostKind()) + " no longer knows the print of " + j.file +
                                 " (restarted and lost its job, or the file was replaced)" +
                                 (s.message.empty() ? "" : ": " + s.message)});
}

void PrintHostDriver::finishJob() {
    auto id = job_->id;
    JobProgress p;
    p.fraction = 1.0;
    p.secondsLeft = 0;
    listener_.jobProgress(id, p);
    job_.reset();
    setState(MachineState::Idle);
    spdlog::info("machine {}: job {} finished", options_.machineId, id);
    listener_.jobFinished(id);
}

void PrintHostDriver::interruptJob(MachineFault why) {
    if (!job_) return;
    auto id = job_->id;
    job_.reset();
    spdlog::warn("machine {}: job {} interrupted: {}: {}", options_.machineId, id, why.reason, why.message);
    listener_.jobInterrupted(id, why, 0);
    // The host says what the machine does next at the next poll.
    if (connected_) poll();
}

void PrintHostDriver::refuse(const std::string& jobId, MachineFault why) {
    // Reported from the loop, not from inside submit(): the caller may not expect a callback yet.
    boost::asio::post(io_, [this, jobId, why = std::move(why)] { listener_.jobInterrupted(jobId, why, 0); });
}

void PrintHostDriver::submit(const std::string& jobId, const JobArtifact& job, std::uint64_t fromLine) {
    if (fromLine > 0)
        return refuse(jobId, {"resume_unsupported", "",
                              std::string(hostKind()) + " prints whole files: restart the job or scrap it"});
    if (!job_ && connected_ && state_ == MachineState::Running)
        return refuse(jobId, {"host_busy", "",
                              std::string(hostKind()) + " is printing a file of its own; no job is started while it does"});
    if (job_ || !connected_ || state_ != MachineState::Idle)
        return refuse(jobId, {"busy", "", options_.machineId + " is " + toString(state_) + ", not idle"});
    if (auto why = check(job)) return refuse(jobId, *why);
    job_ = std::make_unique<Job>();
    job_->id = jobId;
    job_->file = hostFileName(jobId);
    lastPercentReported_ = 1000;
    setState(MachineState::Running, "checking " + std::string(hostKind()) + " is free before uploading " + job_->file);
    const auto gen = generation_;
    // Never start a print on a host that prints something else (another agent, the web page, a card).
    queryStatus([this, gen, jobId, program = job.program](HostResult r, HostJobStatus s) {
        if (gen != generation_ || !job_ || job_->id != jobId) return;
        if (r.kind == HostResult::Kind::LinkDown) {
            interruptJob({"disconnected", "", "the job was not started: " + r.fault.message});
            return linkLost(r.fault.message);
        }
        if (r.kind == HostResult::Kind::Fault) {
            interruptJob({r.fault.reason, r.fault.code, "the job was not started: " + r.fault.message});
            return onFault(r);
        }
        if (s.state == HostJobStatus::State::Printing || s.state == HostJobStatus::State::Paused) {
            interruptJob({"host_busy", "",
                          std::string(hostKind()) + " is printing " + (s.file.empty() ? "another file" : baseName(s.file)) +
                              "; no job is started while it does"});
            return;
        }
        spdlog::info("machine {}: job {}: uploading {} ({} bytes) to {}", options_.machineId, jobId, job_->file,
                     program.size(), hostKind());
        upload(job_->file, program, [this, gen, jobId](HostResult u) {
            if (gen != generation_ || !job_ || job_->id != jobId) return;
            switch (u.kind) {
            case HostResult::Kind::LinkDown:
                interruptJob({"disconnected", "", "the upload failed: " + u.fault.message});
                return linkLost(u.fault.message);
            case HostResult::Kind::Fault:
                // The host refused the print (not operational, busy, bad key): said as a fault and on the job.
                if (const auto key = u.fault.reason + "/" + u.fault.code + "/" + u.fault.message; key != lastFaultKey_) {
                    lastFaultKey_ = key;
                    listener_.machineFault(u.fault);
                }
                interruptJob(u.fault);
                return;
            case HostResult::Kind::Ok: break;
            }
            job_->uploaded = true;
            job_->uploadedAt = std::chrono::steady_clock::now();
            if (job_->cancelRequested)
                command(Command::Cancel, [](HostResult) {});
            poll();
        });
    });
}

void PrintHostDriver::pause() {
    if (!job_ || !job_->uploaded) return;
    const auto gen = generation_;
    command(Command::Pause, [this, gen](HostResult r) {
        if (gen != generation_) return;
        if (r.kind != HostResult::Kind::Ok) listener_.machineFault(r.fault);
        poll();
    });
}

void PrintHostDriver::resume() {
    if (!job_ || !job_->uploaded) return;
    const auto gen = generation_;
    command(Command::Resume, [this, gen](HostResult r) {
        if (gen != generation_) return;
        if (r.kind != HostResult::Kind::Ok) listener_.machineFault(r.fault);
        poll();
    });
}

void PrintHostDriver::cancel() {
    if (!job_) return;
    job_->cancelRequested = true;
    if (!job_->uploaded) return;   // cancelled as soon as the upload is through
    const auto gen = generation_;
    command(Command::Cancel, [this, gen](HostResult r) {
        if (gen != generation_) return;
        if (r.kind != HostResult::Kind::Ok) listener_.machineFault(r.fault);
        poll();
    });
}

void PrintHostDriver::unlock() {
    // The operator says the host is fixed (key corrected, Klippy restarted): try again now, not at the backoff.
    if (state_ != MachineState::Alarm && state_ != MachineState::Refused && state_ != MachineState::Disconnected) return;
    reconnectTimer_.cancel();
    backoff_ = std::chrono::milliseconds(0);
    lastFaultKey_.clear();
    connect();
}

} // namespace mto::http
