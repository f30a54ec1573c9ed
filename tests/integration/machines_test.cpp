// SPDX-License-Identifier: Apache-2.0
// Orders become physical work: the real agent, a real broker and HQ, and an emulated GRBL laser from
// mto-machine-sim on a pty; the operator clears the bed and watches the floor with mtoctl.
#include <gtest/gtest.h>

#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <optional>
#include <regex>
#include <string>
#include <thread>

#include "agent_rig.hpp"
#include "control/control_server.hpp"
#include "control/floor_view.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

using namespace std::chrono_literals;

class Machines : public ::testing::Test {
protected:
    void SetUp() override {
        const auto sim = std::filesystem::path(agentBinary()).parent_path() / "mto-machine-sim";
        ASSERT_TRUE(std::filesystem::exists(sim)) << sim;
        port_ = (simDir_.path() / "laser-1").string();
        sim_.start({sim.string(), "--grbl", port_, "--laser", "--speed", speed_}, simDir_.path() / "sim.log");
        ASSERT_TRUE(waitUntil([&] { return std::filesystem::exists(port_); }, 10s));
        AgentRigOptions o;
        o.agent.compile = true;
        o.agent.extraConfig = "[[machines]]\nid = \"laser-1\"\nprofile = \"laser-400\"\nport = \"" + port_ +
                              "\"\nstatus_running_ms = 100\nstatus_idle_ms = 500\n";
        o.hqBeforeAgent = true;
        rig_ = std::make_unique<AgentRig>(o);
    }
    void TearDown() override {
        rig_.reset();
        sim_.signal(SIGTERM);
        sim_.wait(5s);
    }
    void sendCoasters(const std::string& id, int qty) {
        rig_->hq().sendOrder(id, R"({"order_id":")" + id +
                                     R"(","items":[{"item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":)" +
                                     std::to_string(qty) + R"(,"personalization":{"text":"Ada"}}]})");
    }

    TempDir simDir_;
    std::string speed_ = "100";   // how many times faster than a real machine the emulator runs
    std::string port_;
    Process sim_;
    std::unique_ptr<AgentRig> rig_;
};

TEST_F(Machines, AnOrderRunsOnTheLaserUnitByUnitAndTheOperatorClearsTheBedInBetween) {
    sendCoasters("ORD-1", 2);
    auto& hq = rig_->hq();
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "job_done") == 1; }, 60s)) << rig_->agent().log();
    EXPECT_EQ(countOf(hq, "ORD-1", "production_started"), 1u);
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(countOf(hq, "ORD-1", "production_started"), 1u) << "the second unit waits for the bed";

    std::string out;
    EXPECT_EQ(rig_->mtoctl({"clear", "laser-9"}, out), 1) << out;
    EXPECT_NE(out.find("no machine laser-9"), std::string::npos) << out;
    ASSERT_EQ(rig_->mtoctl({"clear", "laser-1"}, out), 0) << out;
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "job_done") == 2; }, 60s)) << rig_->agent().log();
    EXPECT_EQ(countOf(hq, "ORD-1", "production_started"), 2u);
    EXPECT_EQ(rig_->mtoctl({"clear", "laser-1"}, out), 0) << out;
    EXPECT_EQ(rig_->mtoctl({"clear", "laser-1"}, out), 1) << "already clear: " << out;
    EXPECT_EQ(rig_->scalar("SELECT COUNT(*) FROM units WHERE state = 'done'"), 2);
    EXPECT_EQ(rig_->scalar("SELECT COUNT(*) FROM orders WHERE order_id = 'ORD-1' AND state = 'in_production'"), 1);
}

TEST_F(Machines, AStopDuringAJobInterruptsItAndOnlyTheOperatorsRestartRunsItAgain) {
    sendCoasters("ORD-1", 1);
    auto& hq = rig_->hq();
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "production_started") == 1; }, 60s)) << rig_->agent().log();
    rig_->agent().stop();   // SIGTERM: the agent holds and resets the machine, records the interruption
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "interrupted") == 1; }, 20s)) << rig_->agent().log();
    rig_->agent().start();
    rig_->waitForOnline();
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(countOf(hq, "ORD-1", "production_started"), 1u) << "nothing restarts physical work by itself";
    EXPECT_EQ(countOf(hq, "ORD-1", "job_done"), 0u);
    EXPECT_EQ(rig_->scalar("SELECT COUNT(*) FROM machines WHERE bay = 'needs_attention'"), 1);

    // The operator takes the half-made part off and decides to run the unit again.
    std::string out;
    EXPECT_EQ(rig_->mtoctl({"clear", "laser-1"}, out), 1) << "not a finished job: " << out;
    ASSERT_EQ(rig_->mtoctl({"restart", "laser-1"}, out), 0) << out;
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "job_done") == 1; }, 60s)) << rig_->agent().log();
    EXPECT_EQ(countOf(hq, "ORD-1", "production_started"), 2u);
    EXPECT_EQ(rig_->mtoctl({"restart", "laser-1"}, out), 1) << "nothing left to restart: " << out;
}

TEST_F(Machines, AfterAnInterruptionResumeIsRefusedOnGrblAndAScrappedUnitIsMadeAgain) {
    sendCoasters("ORD-1", 1);
    auto& hq = rig_->hq();
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "production_started") == 1; }, 60s)) << rig_->agent().log();
    rig_->agent().stop();
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "interrupted") == 1; }, 20s)) << rig_->agent().log();
    rig_->agent().start();
    rig_->waitForOnline();

    std::string out;
    EXPECT_EQ(rig_->mtoctl({"resume", "laser-1"}, out), 1) << out;
    EXPECT_NE(out.find("cannot continue a program from a line"), std::string::npos) << out;
    ASSERT_EQ(rig_->mtoctl({"scrap", "laser-1"}, out), 0) << out;
    EXPECT_NE(out.find("clear the bed"), std::string::npos) << out;
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "scrapped") == 1; }, 20s)) << rig_->agent().log();
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(countOf(hq, "ORD-1", "production_started"), 1u) << "the scrapped part is still on the bed";
    ASSERT_EQ(rig_->mtoctl({"clear", "laser-1"}, out), 0) << out;
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "job_done") == 1; }, 60s)) << rig_->agent().log();
    EXPECT_EQ(countOf(hq, "ORD-1", "production_started"), 2u);
    EXPECT_EQ(rig_->scalar("SELECT attempt FROM units WHERE order_id = 'ORD-1' AND state = 'done'"), 2);
    EXPECT_EQ(rig_->mtoctl({"scrap", "laser-9"}, out), 1) << out;
}

// The emulated laser runs slower here, so a unit lasts long enough to be watched.
class WatchedMachines : public Machines {
protected:
    WatchedMachines() { speed_ = "2"; }
};

std::string lineWith(const std::string& text, const std::string& needle) {
    const auto at = text.find(needle);
    if (at == std::string::npos) return {};
    const auto begin = text.rfind('\n', at);
    const auto end = text.find('\n', at);
    return text.substr(begin == std::string::npos ? 0 : begin + 1, end == std::string::npos ? std::string::npos : end - begin - 1);
}

// The percent on a machine's line of `mtoctl watch`, or -1.
int percentOn(const std::string& line) {
    std::smatch m;
    return std::regex_search(line, m, std::regex(R"(\] +([0-9]+)%)")) ? std::stoi(m[1]) : -1;
}

// laser-1 as the last retained status HQ holds describes it.
std::optional<boost::json::object> statusOfLaser(HqClient& hq) {
    boost::system::error_code ec;
    auto status = boost::json::parse(hq.lastStatus(), ec);
    if (ec || !status.is_object()) return std::nullopt;
    const auto* machines = status.as_object().if_contains("machines");
    if (!machines || !machines->is_array() || machines->as_array().empty()) return std::nullopt;
    return machines->as_array()[0].as_object();
}

// Runs a command on a pseudo-terminal of 100x30 for `runFor`, then sends SIGINT; returns what it wrote and its
// wait status (-1 when it did not end within 5 s of the signal).
// Runs a program on a terminal of 100x30 until what it wrote satisfies `enough` (or `limit` passes), then sends it
// Ctrl-C; returns everything it wrote and its wait status (-1: it did not end on Ctrl-C).
std::pair<std::string, int> runOnTerminal(const std::vector<std::string>& args,
                                          const std::function<bool(const std::string&)>& enough,
                                          std::chrono::milliseconds limit) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    winsize ws{};
    ws.ws_col = 100;
    ws.ws_row = 30;
    int master = -1;
    const pid_t pid = ::forkpty(&master, nullptr, nullptr, &ws);
    if (pid < 0) return {"forkpty failed", -1};
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    std::string out;
    auto drain = [&](std::chrono::milliseconds upTo, const std::function<bool(const std::string&)>& done) {
        const auto until = std::chrono::steady_clock::now() + upTo;
        while (std::chrono::steady_clock::now() < until && !(done && done(out))) {
            pollfd p{master, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            char buf[4096];
            const ssize_t n = ::read(master, buf, sizeof buf);
            if (n <= 0) return;   // EIO: the child closed the terminal
            out.append(buf, static_cast<std::size_t>(n));
        }
    };
    drain(limit, enough);
    ::kill(pid, SIGINT);
    drain(5s, nullptr);
    int status = -1;
    for (int i = 0; i < 100 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) std::this_thread::sleep_for(50ms);
    if (::waitpid(pid, &status, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        status = -1;
    }
    ::close(master);
    return {out, status};
}

TEST_F(WatchedMachines, WatchShowsTheLaserRunningItsUnitAndTheRetainedStatusFollowsItToAwaitingClear) {
    auto& hq = rig_->hq();
    std::string out;
    ASSERT_EQ(rig_->mtoctl({"watch", "--once"}, out), 0) << out;
    EXPECT_NE(lineWith(out, "laser-1").find("ready ("), std::string::npos) << out;
    EXPECT_NE(out.find("QUEUE  empty"), std::string::npos) << out;
    const auto startedAt = std::chrono::steady_clock::now();
    const std::size_t statusesBefore = hq.statuses().size();

    sendCoasters("ORD-1", 2);
    std::string running;
    ASSERT_TRUE(waitUntil(
        [&] {
            rig_->mtoctl({"watch", "--once"}, out);
            running = lineWith(out, "laser-1");
            return running.find("running (running)") != std::string::npos && percentOn(running) > 0;
        },
        60s))
        << out << rig_->agent().log();
    EXPECT_EQ(out.find('\x1b'), std::string::npos) << "plain lines when not on a terminal";
    EXPECT_NE(running.find("ORD-1/1 laser_engrave unit 1/2"), std::string::npos) << running;
    EXPECT_LT(percentOn(running), 100) << running;
    EXPECT_NE(running.find(" left"), std::string::npos) << running;
    EXPECT_NE(out.find("ORD-1/1 laser_engrave unit 2/2  laser"), std::string::npos) << "the second unit waits in the queue:\n"
                                                                                   << out;
    EXPECT_NE(out.find("queued work: laser "), std::string::npos) << out;

    // HQ's retained status follows the bay without waiting for the 30 s status interval.
    ASSERT_TRUE(waitUntil(
        [&] {
            auto m = statusOfLaser(hq);
            return m && m->at("bay") == "running" && m->at("job").is_object();
        },
        20s))
        << hq.lastStatus();
    auto laser = *statusOfLaser(hq);
    EXPECT_EQ(laser.at("capability"), "laser");
    EXPECT_EQ(laser.at("job").at("order_id"), "ORD-1");
    EXPECT_EQ(laser.at("job").at("item_id"), "1");
    EXPECT_EQ(laser.at("job").at("unit"), 1);
    EXPECT_EQ(laser.at("job").at("qty"), 2);
    EXPECT_TRUE(laser.at("job").at("percent").is_int64()) << laser;

    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "job_done") == 1; }, 60s)) << rig_->agent().log();
    ASSERT_TRUE(waitUntil(
        [&] {
            auto m = statusOfLaser(hq);
            return m && m->at("bay") == "awaiting_clear";
        },
        5s))
        << hq.lastStatus();
    laser = *statusOfLaser(hq);
    EXPECT_EQ(laser.at("job").at("percent"), 100);
    EXPECT_EQ(laser.at("job").at("unit"), 1);
    EXPECT_NE(lineWith((rig_->mtoctl({"watch", "--once"}, out), out), "laser-1").find("done, bed to clear"), std::string::npos)
        << out;

    // Progress came every 100 ms, yet the status went out only on changes, at most about once a second.
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - startedAt).count();
    EXPECT_LE(static_cast<double>(hq.statuses().size() - statusesBefore), seconds + 2) << seconds << " s";

    ASSERT_EQ(rig_->mtoctl({"status"}, out), 0) << out;
    const auto json = boost::json::parse(out).as_object();
    EXPECT_EQ(json.at("machines").at(0).at("bay"), "awaiting_clear");
    EXPECT_EQ(json.at("queue").at(0).at("next_unit"), 2);
}

TEST_F(WatchedMachines, OnATerminalWatchRedrawsInPlaceUntilCtrlC) {
    sendCoasters("ORD-1", 1);
    ASSERT_TRUE(waitUntil([&] { return countOf(rig_->hq(), "ORD-1", "production_started") == 1; }, 60s));
    auto framesIn = [](const std::string& screen) {
        std::size_t frames = 0;
        for (std::size_t at = 0; (at = screen.find("\x1b[H", at)) != std::string::npos; ++at) ++frames;
        return frames;
    };
    // Ctrl-C once three frames are drawn (a slow start, as under the sanitizers, only delays the first).
    const auto started = std::chrono::steady_clock::now();
    auto [screen, status] = runOnTerminal(
        {mtoctlBinary(), "--config", rig_->agent().configPath().string(), "watch", "--interval", "0.2"},
        [&](const std::string& out) { return framesIn(out) >= 3; }, 20s);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    ASSERT_NE(status, -1) << "watch ends on Ctrl-C";
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_GE(framesIn(screen), 3u) << "redrawn from the top left every 0.2 s; " << seconds << " s";
    EXPECT_NE(screen.find("\x1b[J"), std::string::npos) << "and what is below the frame cleared";
    EXPECT_NE(screen.find("laser-1"), std::string::npos);
    EXPECT_NE(screen.find("ORD-1/1 laser_engrave"), std::string::npos);
    EXPECT_NE(screen.rfind("\x1b[?25h"), std::string::npos) << "the cursor is back after Ctrl-C";
}

TEST_F(Machines, WatchWithoutARunningAgentIsAClearErrorAndBadOptionsAreRefused) {
    rig_->agent().stop();
    std::string out;
    EXPECT_EQ(rig_->mtoctl({"watch", "--once"}, out), 1) << out;
    EXPECT_NE(out.find("cannot reach the agent"), std::string::npos) << out;
    EXPECT_NE(out.find("is it running?"), std::string::npos) << out;
    EXPECT_EQ(rig_->mtoctl({"status"}, out), 1) << out;
    EXPECT_EQ(rig_->mtoctl({"watch", "--interval", "fast"}, out), 2) << out;
    EXPECT_NE(out.find("--interval wants seconds from 0.1 to 3600, got 'fast'"), std::string::npos) << out;
    EXPECT_EQ(rig_->mtoctl({"watch", "--sideways"}, out), 2) << out;
    EXPECT_NE(out.find("watch does not know '--sideways'"), std::string::npos) << out;
}

TEST_F(Machines, TheStatusCommandListsAsManyQueuedJobsAsAskedAndRefusesANumberItCannotRead) {
    for (const char* id : {"ORD-1", "ORD-2", "ORD-3"}) sendCoasters(id, 1);
    // Whichever compiled first runs and then waits on the bed; the other two wait in the queue.
    ASSERT_TRUE(waitUntil([&] { return rig_->scalar("SELECT COUNT(*) FROM jobs") == 3; }, 60s)) << rig_->agent().log();
    ASSERT_TRUE(waitUntil([&] { return rig_->scalar("SELECT COUNT(*) FROM machines WHERE bay = 'awaiting_clear'") == 1; },
                          60s))
        << rig_->agent().log();
    const auto socket = rig_->agent().stateDir() / "control.sock";
    auto floor = [&](const std::string& command) {
        const std::string reply = controlRequest(socket, command);
        EXPECT_EQ(reply.rfind("ok ", 0), 0u) << reply;
        return reply.rfind("ok ", 0) == 0 ? parseFloorView(reply.substr(3)) : FloorView{};
    };
    const FloorView all = floor("status");
    ASSERT_EQ(all.machines.size(), 1u);
    ASSERT_TRUE(all.machines[0].job);
    const std::string onBed = all.machines[0].job->orderId;
    ASSERT_EQ(all.queue.size(), 2u);
    for (const auto& e : all.queue) EXPECT_NE(e.orderId, onBed);
    EXPECT_NE(all.queue[0].orderId, all.queue[1].orderId);
    const FloorView one = floor("status 1");
    ASSERT_EQ(one.queue.size(), 1u);
    EXPECT_EQ(one.queue[0].orderId, all.queue[0].orderId) << "the head, in queue order";
    EXPECT_TRUE(floor("status 0").queue.empty());
    EXPECT_EQ(controlRequest(socket, "status lots"),
              "error: status takes the number of queued jobs to list, 0 to 1000; got 'lots'");
    EXPECT_EQ(controlRequest(socket, "status 1001").rfind("error: status takes", 0), 0u);
    EXPECT_EQ(controlRequest(socket, "status 1 2").rfind("error: unknown command", 0), 0u);
}

} // namespace
} // namespace mto::test
