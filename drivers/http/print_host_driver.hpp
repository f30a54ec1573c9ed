// SPDX-License-Identifier: Apache-2.0
// What OctoPrint and Moonraker drivers share: upload-then-print jobs watched by polling the host, reconnects with
// backoff, and a job reconciled from the host's own state after the host or the link comes back.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "http/http_client.hpp"
#include "mto/driver.hpp"
#include "mto/job.hpp"

namespace mto::http {

struct PrintHostOptions {
    std::string machineId;
    std::string url;                   // http://host:port of the print host
    std::string apiKey;                // sent as X-Api-Key when non-empty
    MachineProfile profile;
    std::chrono::milliseconds pollInterval{1000};
    std::chrono::milliseconds requestTimeout{10000};
    std::chrono::milliseconds uploadTimeout{120000};
    // After the upload the host gets this long to show our file printing before the job counts as not started.
    std::chrono::milliseconds startGrace{15000};
    std::chrono::milliseconds reconnectMin{500};
    std::chrono::milliseconds reconnectMax{10000};
};

// The host's print job, in the words both hosts can be mapped to.
struct HostJobStatus {
    enum class State { Standby, Printing, Paused, Complete, Cancelled, Error };
    State state = State::Standby;
    std::string file;             // the file the host's job is about ("" = none)
    double fraction = 0;          // 0..1
    double secondsLeft = -1;
    std::string message;          // the host's words about the job (error text, cancel reason)
};

// How one exchange with the host went.
struct HostResult {
    enum class Kind { Ok, LinkDown, Fault };
    Kind kind = Kind::Ok;
    MachineFault fault;           // LinkDown and Fault
    MachineState faultState = MachineState::Alarm;   // Fault: Refused (bad key) or Alarm (host not ready)

    static HostResult ok() { return {}; }
    static HostResult linkDown(std::string message) { return {Kind::LinkDown, {"disconnected", "", std::move(message)}}; }
    static HostResult refused(MachineFault f) { return {Kind::Fault, std::move(f), MachineState::Refused}; }
    static HostResult alarm(MachineFault f) { return {Kind::Fault, std::move(f), MachineState::Alarm}; }
};

// Thread-bound to the io_context; no thread of its own. A subclass speaks the host's API (identify, query, upload,
// commands); this class owns the state.
//
// Invariants:
// - `job_` is the one job this driver started or is starting; it survives link losses and host restarts and ends
//   only by jobFinished or jobInterrupted, each reported once.
// - Our job is recognised on the host by its file name, which contains the job id (hostFileName()).
// - At most one status query is in flight (`polling_`); `generation_` grows at every (re)connect and stop, and a
//   reply from an older generation is dropped.
class PrintHostDriver : public MachineDriver {
public:
    PrintHostDriver(boost::asio::io_context& io, PrintHostOptions options, DriverListener& listener);
    ~PrintHostDriver() override;

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

    // The name a job's program gets on the host: mto-<job id, made safe>.gcode.
    static std::string hostFileName(const std::string& jobId);

protected:
    using Done = std::function<void(HostResult)>;
    using StatusDone = std::function<void(HostResult, HostJobStatus)>;
    enum class Command { Pause, Resume, Cancel };

    // Checks the host answers as expected; fills identity_.
    virtual void identify(Done done) = 0;
    virtual void queryStatus(StatusDone done) = 0;
    // Uploads the program and starts printing it.
    virtual void upload(const std::string& fileName, const std::string& program, Done done) = 0;
    virtual void command(Command c, Done done) = 0;
    virtual const char* hostKind() const = 0;
    // The host answered its identification (linkUp) or stopped answering or faulted (linkDown): a subclass with
    // a push channel opens or closes it here.
    virtual void linkUp() {}
    virtual void linkDown() {}

    // Sends a request with the API key; maps a transport error to LinkDown for `done`-style callers.
    void send(boost::beast::http::verb method, const std::string& target, std::string body,
              const std::string& contentType, std::chrono::milliseconds timeout, HttpClient::Handler handler);
    // Called by a subclass with news from a push channel (a WebSocket), same rules as a polled status.
    void statusPushed(const HostJobStatus& s);
    // 2xx → Ok; transport error → LinkDown; 401/403 → Refused bad_api_key; 409 → Alarm not_operational;
    // 503 → Alarm host_not_ready; others → Alarm host_error. The host's own words go in the message.
    static HostResult httpResult(const boost::system::error_code& ec, const HttpResponse& r);
    void faultPushed(const HostResult& r);

    boost::asio::io_context& io_;
    PrintHostOptions options_;
    MachineIdentity identity_;
    std::uint64_t generation_ = 0;

private:
    struct Job {
        std::string id;
        std::string file;
        bool uploaded = false;
        bool seenOnHost = false;
        bool cancelRequested = false;
        std::chrono::steady_clock::time_point uploadedAt;
    };

    void setState(MachineState s, const std::string& detail = {});
    void connect();
    void onIdentified(HostResult r);
    void scheduleReconnect();
    void poll();
    void armPoll();
    void onStatus(const HostJobStatus& s);
    void onFault(const HostResult& r);
    void linkLost(const std::string& why);
    void finishJob();
    void interruptJob(MachineFault why);
    void refuse(const std::string& jobId, MachineFault why);

    DriverListener& listener_;
    HttpClient client_;
    boost::asio::steady_timer pollTimer_;
    boost::asio::steady_timer reconnectTimer_;
    MachineState state_ = MachineState::Disconnected;
    bool connected_ = false;
    bool polling_ = false;
    bool stopping_ = true;
    std::string lastFaultKey_;
    std::chrono::milliseconds backoff_{0};
    std::unique_ptr<Job> job_;
    std::uint64_t lastPercentReported_ = 1000;
};

} // namespace mto::http
