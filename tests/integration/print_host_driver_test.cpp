// SPDX-License-Identifier: Apache-2.0
// The OctoPrint and Moonraker drivers against their test servers over real HTTP on loopback: jobs, commands,
// injected host faults, and jobs reconciled after the host restarts or the link drops mid-print.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "grbl_options.hpp"
#include "moonraker/moonraker_driver.hpp"
#include "octoprint/octoprint_driver.hpp"
#include "virtual/moonraker_server.hpp"
#include "virtual/octoprint_server.hpp"

namespace mto {
namespace {

using namespace std::chrono_literals;

// Everything the driver told its owner, in order.
struct PrintHostRecorder final : DriverListener {
    std::vector<MachineState> states;
    std::vector<std::string> details;
    std::vector<std::string> finished;
    struct Interruption {
        std::string jobId;
        MachineFault why;
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
    void jobInterrupted(const std::string& id, const MachineFault& why, std::uint64_t) override {
        interrupted.push_back({id, why});
    }
    void machineFault(const MachineFault& f) override { faults.push_back(f); }
    bool saw(MachineState s) const { return std::find(states.begin(), states.end(), s) != states.end(); }
    bool faulted(const std::string& reason) const {
        return std::any_of(faults.begin(), faults.end(), [&](const MachineFault& f) { return f.reason == reason; });
    }
};

JobArtifact hostPrintJob() {
    JobArtifact job;
    job.capability = "fdm";
    job.format = "gcode-marlin";
    std::string p = "; mto test part\nM140 S60\nM104 S210\nG28\nG90\nM83\n";
    for (int i = 0; i < 200; ++i) p += "G1 X" + std::to_string(10 + i % 50) + " Y" + std::to_string(10 + i / 4) + " E0.4 F1800\n";
    p += "M104 S0\nM140 S0\nM84\n";
    job.program = p;
    job.lines = 209;
    job.estimatedSeconds = 2;
    return job;
}

struct OctoPrintHost {
    using Server = virt::OctoPrintServer;
    using ServerOptions = virt::OctoPrintServerOptions;
    using Driver = octoprint::OctoPrintDriver;
    static constexpr const char* key = "octo-key";
};

struct MoonrakerHost {
    using Server = virt::MoonrakerServer;
    using ServerOptions = virt::MoonrakerServerOptions;
    using Driver = moonraker::MoonrakerDriver;
    static constexpr const char* key = "moon-key";
};

template <typename Host>
class PrintHostDriverTest : public ::testing::Test {
protected:
    void startServer(double printSeconds = 1.5, bool keepJob = true) {
        typename Host::ServerOptions o;
        o.apiKey = Host::key;
        o.print.printSeconds = printSeconds;
        o.print.timeScale = 1;
        o.keepJobOnRestart = keepJob;
        server_ = std::make_unique<typename Host::Server>(io_, o);
        server_->start();
    }
    void startDriver(const std::string& key = Host::key) {
        http::PrintHostOptions o;
        o.machineId = "printer-1";
        o.url = server_->url();
        o.apiKey = key;
        o.profile.name = "test-fdm";
        o.profile.capability = "fdm";
        o.pollInterval = 50ms;
        o.requestTimeout = 2000ms;
        o.reconnectMin = 50ms;
        o.reconnectMax = 200ms;
        o.startGrace = 2000ms;
        driver_ = std::make_unique<typename Host::Driver>(io_, o, rec_);
        driver_->start();
    }
    bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
        return test::runLoopUntil(io_, done, limit);
    }
    bool idle() { return driver_->state() == MachineState::Idle; }
    void submitAndWaitRunning(const std::string& id = "job-1") {
        ASSERT_TRUE(runUntil([&] { return idle(); })) << "the driver never became idle";
        driver_->submit(id, hostPrintJob());
        ASSERT_TRUE(runUntil([&] { return !rec_.progress.empty(); })) << "no progress from the host";
    }

    boost::asio::io_context io_;
    PrintHostRecorder rec_;
    std::unique_ptr<typename Host::Server> server_;
    std::unique_ptr<http::PrintHostDriver> driver_;
};

using Hosts = ::testing::Types<OctoPrintHost, MoonrakerHost>;
struct HostNames {
    template <typename T>
    static std::string GetName(int) {
        return std::is_same_v<T, OctoPrintHost> ? "OctoPrint" : "Moonraker";
    }
};
TYPED_TEST_SUITE(PrintHostDriverTest, Hosts, HostNames);

TYPED_TEST(PrintHostDriverTest, UploadsTheJobAndReportsProgressUntilFinished) {
    this->startServer(1.0);
    this->startDriver();
    this->submitAndWaitRunning("order-7:item-2:1");
    ASSERT_TRUE(this->runUntil([&] { return !this->rec_.finished.empty(); }));
    EXPECT_EQ(this->rec_.finished, std::vector<std::string>{"order-7:item-2:1"});
    EXPECT_TRUE(this->rec_.interrupted.empty());
    // The host holds the program byte for byte, under a name that carries the job id.
    const std::string file = http::PrintHostDriver::hostFileName("order-7:item-2:1");
    EXPECT_NE(file.find("order-7_item-2_1"), std::string::npos);
    ASSERT_EQ(this->server_->files().count(file), 1u);
    EXPECT_EQ(this->server_->files().at(file), hostPrintJob().program);
    // Progress climbed to the end.
    EXPECT_GE(this->rec_.progress.size(), 3u);
    for (std::size_t i = 1; i < this->rec_.progress.size(); ++i)
        EXPECT_GE(this->rec_.progress[i].fraction, this->rec_.progress[i - 1].fraction);
    EXPECT_DOUBLE_EQ(this->rec_.progress.back().fraction, 1.0);
    EXPECT_TRUE(this->runUntil([&] { return this->idle(); }));
    EXPECT_FALSE(this->driver_->identity().version.empty());
}

TYPED_TEST(PrintHostDriverTest, PausesResumesAndCancelsThroughTheHost) {
    this->startServer(20);
    this->startDriver();
    this->submitAndWaitRunning();
    this->driver_->pause();
    ASSERT_TRUE(this->runUntil([&] { return this->driver_->state() == MachineState::Paused; }));
    EXPECT_EQ(this->server_->print().state(), virt::SimulatedPrint::State::Paused);
    this->driver_->resume();
    ASSERT_TRUE(this->runUntil([&] { return this->driver_->state() == MachineState::Running; }));
    EXPECT_EQ(this->server_->print().state(), virt::SimulatedPrint::State::Printing);
    this->driver_->cancel();
    ASSERT_TRUE(this->runUntil([&] { return !this->rec_.interrupted.empty(); }));
    EXPECT_EQ(this->rec_.interrupted[0].why.reason, "cancelled");
    EXPECT_EQ(this->server_->print().state(), virt::SimulatedPrint::State::Cancelled);
    EXPECT_TRUE(this->rec_.finished.empty());
    EXPECT_TRUE(this->runUntil([&] { return this->idle(); }));
}

TYPED_TEST(PrintHostDriverTest, AWrongApiKeyRefusesTheMachine) {
    this->startServer();
    this->startDriver("not-the-key");
    ASSERT_TRUE(this->runUntil([&] { return this->driver_->state() == MachineState::Refused; }));
    ASSERT_TRUE(this->rec_.faulted("bad_api_key"));
    // Asked again and again, it tells the owner once.
    this->runUntil([] { return false; }, 500ms);
    EXPECT_EQ(std::count_if(this->rec_.faults.begin(), this->rec_.faults.end(),
                            [](const MachineFault& f) { return f.reason == "bad_api_key"; }),
              1);
    this->driver_->submit("job-1", hostPrintJob());
    ASSERT_TRUE(this->runUntil([&] { return !this->rec_.interrupted.empty(); }));
    EXPECT_EQ(this->rec_.interrupted[0].why.reason, "busy");
    EXPECT_TRUE(this->server_->files().empty());
}

TYPED_TEST(PrintHostDriverTest, APrintErrorInterruptsTheJobWithTheHostsWords) {
    this->startServer(2);
    this->server_->print().failAt(0.3, "Heater extruder not heating at expected rate");
    this->startDriver();
    this->submitAndWaitRunning();
    ASSERT_TRUE(this->runUntil([&] { return !this->rec_.interrupted.empty(); }));
    EXPECT_EQ(this->rec_.interrupted[0].why.reason, "host_error");
    EXPECT_NE(this->rec_.interrupted[0].why.message.find("Heater extruder not heating"), std::string::npos)
        << this->rec_.interrupted[0].why.message;
    EXPECT_TRUE(this->rec_.finished.empty());
}

TYPED_TEST(PrintHostDriverTest, NeverStartsAPrintOnAHostPrintingAnotherJob) {
    this->startServer(30);
    this->startDriver();
    ASSERT_TRUE(this->runUntil([&] { return this->idle(); }));
    // Someone starts a print on the host's own page; the driver has not polled since.
    this->server_->print().start("benchy.gcode");
    this->driver_->submit("job-1", hostPrintJob());
    ASSERT_TRUE(this->runUntil([&] { return !this->rec_.interrupted.empty(); }));
    EXPECT_EQ(this->rec_.interrupted[0].why.reason, "host_busy");
    EXPECT_NE(this->rec_.interrupted[0].why.message.find("benchy.gcode"), std::string::npos);
    EXPECT_TRUE(this->server_->files().empty());
    EXPECT_EQ(this->server_->print().file(), "benchy.gcode");
    // Once it has seen the foreign print, the machine is not idle and a job is refused the same way.
    ASSERT_TRUE(this->runUntil([&] { return this->driver_->state() == MachineState::Running; }));
    this->driver_->submit("job-2", hostPrintJob());
    ASSERT_TRUE(this->runUntil([&] { return this->rec_.interrupted.size() == 2; }));
    EXPECT_EQ(this->rec_.interrupted[1].why.reason, "host_busy");
    EXPECT_TRUE(this->server_->files().empty());
}

TYPED_TEST(PrintHostDriverTest, AHostThatIsDownIsDisconnectedAndReachedWhenItComesBack) {
    this->startServer();
    this->server_->stopHost();   // the port is known, nothing listens
    this->startDriver();
    ASSERT_TRUE(this->runUntil([&] { return this->rec_.faulted("disconnected"); }));
    EXPECT_EQ(this->driver_->state(), MachineState::Disconnected);
    this->server_->startHost();
    ASSERT_TRUE(this->runUntil([&] { return this->idle(); }));
}

TYPED_TEST(PrintHostDriverTest, HostRestartMidPrintStillPrintingIsWatchedToTheEnd) {
    this->startServer(2.0, /*keepJob=*/true);
    this->startDriver();
    this->submitAndWaitRunning();
    this->server_->restart(400ms);
    ASSERT_TRUE(this->runUntil([&] { return this->driver_->state() == MachineState::Disconnected; }));
    ASSERT_TRUE(this->runUntil([&] { return !this->rec_.finished.empty() || !this->rec_.interrupted.empty(); }));
    EXPECT_EQ(this->rec_.finished, std::vector<std::string>{"job-1"});
    EXPECT_TRUE(this->rec_.interrupted.empty());
    EXPECT_FALSE(this->rec_.faulted("disconnected")) << "a link loss during a job is not a fault while it is reconciled";
}

TYPED_TEST(PrintHostDriverTest, HostThatFinishedWhileAwayFinishesTheJob) {
    this->startServer(1.0, true);
    this->startDriver();
    this->submitAndWaitRunning();
    this->server_->restart(1500ms);   // longer than what is left of the print
    ASSERT_TRUE(this->runUntil([&] { return this->driver_->state() == MachineState::Disconnected; }));
    ASSERT_TRUE(this->runUntil([&] { return !this->rec_.finished.empty() || !this->rec_.interrupted.empty(); }));
    EXPECT_EQ(this->rec_.finished, std::vector<std::string>{"job-1"});
    EXPECT_TRUE(this->rec_.interrupted.empty());
}

TYPED_TEST(PrintHostDriverTest, HostThatCancelledWhileAwayInterruptsTheJob) {
    this->startServer(20, true);
    this->startDriver();
    this->submitAndWaitRunning();
    this->server_->stopHost();
    ASSERT_TRUE(this->runUntil([&] { return this->driver_->state() == MachineState::Disconnected; }));
    this->server_->print().cancel();   // on the printer's own screen
    this->server_->startHost();
    ASSERT_TRUE(this->runUntil([&] { return !this->rec_.interrupted.empty(); }));
    EXPECT_EQ(this->rec_.interrupted[0].why.reason, "host_cancelled");
    EXPECT_TRUE(this->rec_.finished.empty());
}

TYPED_TEST(PrintHostDriverTest, HostThatFailedWhileAwayInterruptsTheJobWithItsWords) {
    this->startServer(20, true);
    this->startDriver();
    this->submitAndWaitRunning();
    this->server_->stopHost();
    ASSERT_TRUE(this->runUntil([&] { return this->driver_->state() == MachineState::Disconnected; }));
    this->server_->print().fail("Thermal runaway on extruder");
    this->server_->startHost();
    ASSERT_TRUE(this->runUntil([&] { return !this->rec_.interrupted.empty(); }));
    EXPECT_EQ(this->rec_.interrupted[0].why.reason, "host_error");
    EXPECT_NE(this->rec_.interrupted[0].why.message.find("Thermal runaway on extruder"), std::string::npos);
}

TYPED_TEST(PrintHostDriverTest, HostThatLostItsJobInARestartInterruptsTheJob) {
    this->startServer(20, /*keepJob=*/false);
    this->startDriver();
    this->submitAndWaitRunning();
    this->server_->restart(300ms);
    ASSERT_TRUE(this->runUntil([&] { return !this->rec_.interrupted.empty(); }));
    EXPECT_EQ(this->rec_.interrupted[0].why.reason, "host_lost_job");
    EXPECT_TRUE(this->rec_.finished.empty());
    EXPECT_TRUE(this->runUntil([&] { return this->idle(); }));
}

TYPED_TEST(PrintHostDriverTest, RefusesJobsOfOtherCapabilities) {
    this->startServer();
    this->startDriver();
    ASSERT_TRUE(this->runUntil([&] { return this->idle(); }));
    auto job = hostPrintJob();
    job.capability = "laser";
    ASSERT_TRUE(this->driver_->check(job).has_value());
    EXPECT_EQ(this->driver_->check(job)->reason, "capability");
    EXPECT_FALSE(this->driver_->check(hostPrintJob()).has_value());
}

// OctoPrint: the printer behind the host is gone (cable, firmware error) → 409 Printer is not operational.
TEST(OctoPrintDriver, PrinterNotOperationalIsAnAlarmWithTheHostsWords) {
    boost::asio::io_context io;
    PrintHostRecorder rec;
    virt::OctoPrintServerOptions so;
    so.apiKey = "k";
    so.print.printSeconds = 30;
    virt::OctoPrintServer server(io, so);
    server.start();
    http::PrintHostOptions o;
    o.machineId = "printer-1";
    o.url = server.url();
    o.apiKey = "k";
    o.pollInterval = 50ms;
    o.reconnectMin = 50ms;
    o.reconnectMax = 200ms;
    octoprint::OctoPrintDriver driver(io, o, rec);
    driver.start();
    ASSERT_TRUE(test::runLoopUntil(io, [&] { return driver.state() == MachineState::Idle; }, 10s));
    // A job offered before the driver polls again is refused with the host's 409.
    server.setOperational(false);
    driver.submit("job-1", hostPrintJob());
    ASSERT_TRUE(test::runLoopUntil(io, [&] { return !rec.interrupted.empty(); }, 10s));
    EXPECT_EQ(rec.interrupted[0].why.reason, "not_operational");
    EXPECT_EQ(rec.interrupted[0].why.code, "409");
    EXPECT_NE(rec.interrupted[0].why.message.find("Printer is not operational"), std::string::npos);
    EXPECT_TRUE(server.files().empty());
    ASSERT_TRUE(test::runLoopUntil(io, [&] { return driver.state() == MachineState::Alarm; }, 10s));
    ASSERT_TRUE(rec.faulted("not_operational"));
    server.setOperational(true);
    ASSERT_TRUE(test::runLoopUntil(io, [&] { return driver.state() == MachineState::Idle; }, 10s));
}

// OctoPrint: a print started with select+print by upload.
TEST(OctoPrintDriver, MapsOctoPrintJobStates) {
    auto s = octoprint::parseOctoPrintJob(
        R"({"job":{"file":{"name":"a.gcode"}},"progress":{"completion":100.0,"printTime":50,"printTimeLeft":0},"state":"Operational"})");
    EXPECT_EQ(s.state, http::HostJobStatus::State::Complete);
    s = octoprint::parseOctoPrintJob(
        R"({"job":{"file":{"name":"a.gcode"}},"progress":{"completion":40.0,"printTime":20,"printTimeLeft":30},"state":"Operational"})");
    EXPECT_EQ(s.state, http::HostJobStatus::State::Cancelled);
    s = octoprint::parseOctoPrintJob(
        R"({"job":{"file":{"name":null}},"progress":{"completion":null,"printTime":null},"state":"Operational"})");
    EXPECT_EQ(s.state, http::HostJobStatus::State::Standby);
    s = octoprint::parseOctoPrintJob(R"({"job":{"file":{"name":"a.gcode"}},"progress":{},"state":"Error","error":"Thermal Runaway"})");
    EXPECT_EQ(s.state, http::HostJobStatus::State::Error);
    EXPECT_EQ(s.message, "Thermal Runaway");
    EXPECT_THROW(octoprint::parseOctoPrintJob("<html>"), std::exception);
}

// Moonraker: Klippy shuts down mid-print → the job is interrupted and the machine is in alarm, in Klippy's words;
// when Klippy is ready again the machine is idle.
TEST(MoonrakerDriver, KlippyShutdownMidPrintInterruptsWithKlippysWords) {
    boost::asio::io_context io;
    PrintHostRecorder rec;
    virt::MoonrakerServerOptions so;
    so.print.printSeconds = 30;
    virt::MoonrakerServer server(io, so);
    server.start();
    http::PrintHostOptions o;
    o.machineId = "printer-1";
    o.url = server.url();
    o.pollInterval = 50ms;
    o.reconnectMin = 50ms;
    o.reconnectMax = 200ms;
    moonraker::MoonrakerDriver driver(io, o, rec);
    driver.start();
    ASSERT_TRUE(test::runLoopUntil(io, [&] { return driver.state() == MachineState::Idle; }, 10s));
    driver.submit("job-1", hostPrintJob());
    ASSERT_TRUE(test::runLoopUntil(io, [&] { return !rec.progress.empty(); }, 10s));
    server.shutdownKlippy("Heater extruder not heating at expected rate");
    ASSERT_TRUE(test::runLoopUntil(io, [&] { return !rec.interrupted.empty(); }, 10s));
    EXPECT_EQ(rec.interrupted[0].why.reason, "klippy_shutdown");
    EXPECT_NE(rec.interrupted[0].why.message.find("Klippy shutdown"), std::string::npos);
    EXPECT_NE(rec.interrupted[0].why.message.find("Heater extruder not heating"), std::string::npos)
        << rec.interrupted[0].why.message;
    EXPECT_EQ(driver.state(), MachineState::Alarm);
    EXPECT_TRUE(rec.faulted("klippy_shutdown"));
    server.klippyReady();
    ASSERT_TRUE(test::runLoopUntil(io, [&] { return driver.state() == MachineState::Idle; }, 10s));
}

TEST(MoonrakerDriver, KlippyNotReadyAtConnectIsAnAlarm) {
    boost::asio::io_context io;
    PrintHostRecorder rec;
    virt::MoonrakerServer server(io, {});
    server.start();
    server.shutdownKlippy("MCU 'mcu' shutdown: Timer too close");
    http::PrintHostOptions o;
    o.machineId = "printer-1";
    o.url = server.url();
    o.pollInterval = 50ms;
    o.reconnectMin = 50ms;
    o.reconnectMax = 200ms;
    moonraker::MoonrakerDriver driver(io, o, rec);
    driver.start();
    ASSERT_TRUE(test::runLoopUntil(io, [&] { return driver.state() == MachineState::Alarm; }, 10s));
    ASSERT_FALSE(rec.faults.empty());
    EXPECT_EQ(rec.faults[0].reason, "klippy_shutdown");
    EXPECT_NE(rec.faults[0].message.find("Timer too close"), std::string::npos);
}

// With the poll a minute apart, only the WebSocket's notify_status_update stream can carry the print to its end.
TEST(MoonrakerDriver, FollowsThePrintOnTheWebSocketStreamBetweenPolls) {
    boost::asio::io_context io;
    PrintHostRecorder rec;
    virt::MoonrakerServerOptions so;
    so.print.printSeconds = 1.5;
    virt::MoonrakerServer server(io, so);
    server.start();
    http::PrintHostOptions o;
    o.machineId = "printer-1";
    o.url = server.url();
    o.pollInterval = 60s;
    moonraker::MoonrakerDriver driver(io, o, rec);
    driver.start();
    ASSERT_TRUE(test::runLoopUntil(io, [&] { return driver.state() == MachineState::Idle && driver.socketOpen(); }, 10s));
    EXPECT_EQ(server.socketClients(), 1u);
    driver.submit("job-1", hostPrintJob());
    ASSERT_TRUE(test::runLoopUntil(io, [&] { return !rec.finished.empty() || !rec.interrupted.empty(); }, 10s));
    EXPECT_EQ(rec.finished, std::vector<std::string>{"job-1"});
    EXPECT_GT(server.statusNotifications(), 3u);
    EXPECT_GT(driver.pushedUpdates(), 3u);
    EXPECT_GE(rec.progress.size(), 3u);
}

TEST(MoonrakerDriver, KlippyShutdownNoticeOnTheWebSocketInterruptsWithoutWaitingForThePoll) {
    boost::asio::io_context io;
    PrintHostRecorder rec;
    virt::MoonrakerServerOptions so;
    so.print.printSeconds = 30;
    virt::MoonrakerServer server(io, so);
    server.start();
    http::PrintHostOptions o;
    o.machineId = "printer-1";
    o.url = server.url();
    o.pollInterval = 60s;
    moonraker::MoonrakerDriver driver(io, o, rec);
    driver.start();
    ASSERT_TRUE(test::runLoopUntil(io, [&] { return driver.state() == MachineState::Idle && driver.socketOpen(); }, 10s));
    driver.submit("job-1", hostPrintJob());
    ASSERT_TRUE(test::runLoopUntil(io, [&] { return driver.state() == MachineState::Running && !rec.progress.empty(); }, 10s));
    server.shutdownKlippy("Lost communication with MCU 'mcu'");
    ASSERT_TRUE(test::runLoopUntil(io, [&] { return !rec.interrupted.empty(); }, 5s));
    EXPECT_EQ(rec.interrupted[0].why.reason, "klippy_shutdown");
    EXPECT_NE(rec.interrupted[0].why.message.find("Lost communication with MCU"), std::string::npos);
    EXPECT_EQ(driver.state(), MachineState::Alarm);
}

// A host that accepts the connection and then says nothing (hung process, half-open link) is not waited for forever.
TEST(OctoPrintDriver, AHostThatNeverAnswersTimesOutAndIsDisconnected) {
    boost::asio::io_context io;
    PrintHostRecorder rec;
    boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> held;
    std::function<void()> accept = [&] {
        auto s = std::make_shared<boost::asio::ip::tcp::socket>(io);
        acceptor.async_accept(*s, [&, s](const boost::system::error_code& ec) {
            if (ec) return;
            held.push_back(s);   // read nothing, answer nothing
            accept();
        });
    };
    accept();
    http::PrintHostOptions o;
    o.machineId = "printer-1";
    o.url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
    o.apiKey = "k";
    o.requestTimeout = 300ms;
    o.reconnectMin = 50ms;
    o.reconnectMax = 200ms;
    octoprint::OctoPrintDriver driver(io, o, rec);
    const auto started = std::chrono::steady_clock::now();
    driver.start();
    ASSERT_TRUE(test::runLoopUntil(io, [&] { return rec.faulted("disconnected"); }, 5s));
    EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
    EXPECT_EQ(driver.state(), MachineState::Disconnected);
    EXPECT_NE(rec.faults.back().message.find("timeout"), std::string::npos) << rec.faults.back().message;
    EXPECT_FALSE(held.empty());
    acceptor.close();
}

TEST(MoonrakerDriver, MapsPrintStats) {
    auto s = moonraker::parseMoonrakerStatus(
        R"({"result":{"eventtime":1.0,"status":{"print_stats":{"filename":"a.gcode","state":"printing","message":"","print_duration":30.0},"virtual_sdcard":{"progress":0.25},"display_status":{"progress":0.25}}}})");
    EXPECT_EQ(s.state, http::HostJobStatus::State::Printing);
    EXPECT_DOUBLE_EQ(s.fraction, 0.25);
    EXPECT_DOUBLE_EQ(s.secondsLeft, 90.0);
    s = moonraker::parseMoonrakerStatus(
        R"({"result":{"status":{"print_stats":{"filename":"a.gcode","state":"error","message":"Move out of range"}}}})");
    EXPECT_EQ(s.state, http::HostJobStatus::State::Error);
    EXPECT_EQ(s.message, "Move out of range");
    EXPECT_THROW(moonraker::parseMoonrakerStatus(R"({"error":{"code":503}})"), std::exception);
}

} // namespace
} // namespace mto
