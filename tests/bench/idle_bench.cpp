// SPDX-License-Identifier: Apache-2.0
// Idle: the real agent keeping 3 emulated GRBL machines connected; its CPU and wake-ups next to `sleep` and to
// the rate its own timers call for, so busy polling anywhere in the process shows.
#include <signal.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <tuple>
#include <toml++/toml.h>

#include "agent_rig.hpp"
#include "bench_support.hpp"
#include "benchmarks.hpp"
#include "test_env.hpp"

namespace mto::bench {

namespace {

const std::string kIdleBench = "idle";
constexpr int kIdleMachines = 3;

// The goal on CPU: at most this many ms of CPU per second of idling (0.5 % of one core). The timers call for ~5
// wake-ups a second, each a few syscalls and a status line parsed: tens of microseconds on a quiet machine, a
// few hundred on one busy with builds (cold caches), where the whole agent measured 1.5 ms/s. /proc counts CPU
// in clock ticks of 10 ms: over the quick 10 s window one tick is 1 ms/s. A loop that polls costs far more: a
// 1 ms timer added to the loop measured 860 wake-ups and 30 ms of CPU a second, a spinning thread costs
// 1,000 ms/s. 5 ms/s sits between, clear of both.
constexpr double kIdleCpuBoundMsPerS = 5.0;
// The goal on wake-ups: at most this many times what the configured timers explain.
constexpr double kIdleWakeUpBound = 2.0;

// Scheduler::forecastPeriod_ (agent/scheduler/scheduler.hpp): the queue's forecast runs this often, work or not.
constexpr double kIdleForecastPeriodS = 30;
// Between switching on one emulated controller and the next.
constexpr std::chrono::milliseconds kIdleMachineStagger{1300};

// Context switches of every thread of a process, by thread id: each time a thread blocked (voluntary) or was
// preempted (involuntary). A thread that sleeps until its next timer adds one per expiry: its wake-ups.
// Also the nanoseconds each has run on a CPU (the first field of its schedstat): the same time as /proc's
// user + system, without its 10 ms clock-tick grain; -1 where the kernel keeps none.
struct IdleThreadCount {
    std::string name;
    std::int64_t switches = 0;
    std::int64_t onCpuNanos = -1;
};

std::int64_t idleStatusField(const std::string& status, const std::string& key) {
    auto at = status.find("\n" + key + ":");
    if (at == std::string::npos) return 0;
    return std::stoll(status.substr(at + key.size() + 2));
}

std::map<pid_t, IdleThreadCount> idleThreadCounts(pid_t pid) {
    std::map<pid_t, IdleThreadCount> threads;
    const std::string taskDir = "/proc/" + std::to_string(pid) + "/task";
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(taskDir, ec)) {
        std::ifstream statusFile(entry.path() / "status"), commFile(entry.path() / "comm"),
            schedFile(entry.path() / "schedstat");
        std::stringstream status;
        status << "\n" << statusFile.rdbuf();
        IdleThreadCount t;
        std::getline(commFile, t.name);
        t.switches = idleStatusField(status.str(), "voluntary_ctxt_switches") +
                     idleStatusField(status.str(), "nonvoluntary_ctxt_switches");
        if (!(schedFile >> t.onCpuNanos)) t.onCpuNanos = -1;
        if (!statusFile || t.name.empty()) continue;   // the thread ended while we looked
        threads[static_cast<pid_t>(std::stol(entry.path().filename().string()))] = t;
    }
    if (ec) throw BenchError("cannot read " + taskDir + ": " + ec.message());
    return threads;
}

struct IdleReading {
    double cpu = 0;   // s, user + system, all threads
    std::map<pid_t, IdleThreadCount> threads;
    std::int64_t switches() const {
        std::int64_t n = 0;
        for (const auto& [tid, t] : threads) n += t.switches;
        return n;
    }
    std::int64_t onCpuNanos() const {
        std::int64_t n = 0;
        for (const auto& [tid, t] : threads) {
            if (t.onCpuNanos < 0) return -1;
            n += t.onCpuNanos;
        }
        return n;
    }
};

IdleReading idleRead(pid_t pid) {
    IdleReading r;
    r.cpu = cpuSeconds(pid);
    r.threads = idleThreadCounts(pid);
    if (r.cpu < 0 || r.threads.empty()) throw BenchError("cannot read /proc of process " + std::to_string(pid));
    return r;
}

// The names the agent's threads go by (/proc/PID/task/TID/comm): the io_context's loop and our own helper
// threads (the Paho call queue, idle worker pools) keep the binary's name; Paho 1.3 names its two threads.
const std::string kIdleLoopThreads = "mto-agent";
const std::string kIdlePahoReceive = "MQTTAsync_rcv";
const std::string kIdlePahoSend = "MQTTAsync_send";

// One source of wake-ups the configuration calls for, and the threads it wakes.
struct IdleWakeSource {
    std::string what;
    std::string thread;
    double perSecond = 0;
};

// What an idle agent must wake up for, from its config file and the timers in its code. Each entry counts the
// blocking waits of the agent's threads that one expiry or one message ends:
// - GRBL status polls (drivers/grbl: statusWhileIdle = status_idle_ms): the loop wakes for the poll timer,
//   then for each piece of the report as it arrives; an idle report is 38 bytes (60 with WCO:), and the
//   emulator, like a USB-serial adapter, hands bytes over in pieces (34 bytes per 3 ms at 115200 baud): 2 reads.
//   Machines whose polls fall in the same instant share wake-ups; the benchmark connects them apart, as
//   machines switched on one after another are.
// - The scheduler's forecast (Scheduler::forecastPeriod_, 30 s, not configurable): the loop, 1 per period.
// - The retained status (status.interval_s): the loop's timer and the Paho call queue's thread, then Paho's
//   send thread and the PUBACK on its receive thread: 4 per period.
// - Paho's threads, shared by both clients (paho.mqtt.c 1.3): the receive thread waits in select() for at most
//   1 s and, when that times out, sleeps 100 ms more (MQTTAsync_cycle): 2 wake-ups per 1.1 s; the send thread
//   waits on a condition for at most 1 s (MQTTAsync_sendThread): 1 a second.
// - MQTT keep-alive (mqtt.keepalive_s): the events and the media connection each get a PINGRESP on the
//   receive thread: 2 per period (the ping itself goes out when that thread's select() times out).
// Nothing else runs on a timer when idle: the systemd watchdog is off outside systemd, and the compile, label,
// media, retry and station timers are armed only while they have work (or a configured station).
std::vector<IdleWakeSource> expectedIdleWakeUps(const std::filesystem::path& configPath) {
    const toml::table config = toml::parse_file(configPath.string());
    const double keepAliveS = config["mqtt"]["keepalive_s"].value_or(30.0);
    const double statusS = config["status"]["interval_s"].value_or(30.0);
    double polls = 0;
    int machines = 0;
    if (const auto* list = config["machines"].as_array())
        for (const auto& m : *list)
            if (const auto* t = m.as_table()) {
                ++machines;
                polls += 1000.0 / (*t)["status_idle_ms"].value_or(5000.0);
            }
    const std::string status = "status every " + fixed(statusS, 0) + " s";
    return {
        {std::to_string(machines) + " GRBL status polls (timer + 2 reads)", kIdleLoopThreads, polls * 3},
        {"forecast every " + fixed(kIdleForecastPeriodS, 0) + " s", kIdleLoopThreads, 1 / kIdleForecastPeriodS},
        {status + " (loop, call queue)", kIdleLoopThreads, 2 / statusS},
        {"Paho receive (1 s select + 100 ms sleep)", kIdlePahoReceive, 2 / 1.1},
        {"keep-alive of 2 connections every " + fixed(keepAliveS, 0) + " s", kIdlePahoReceive, 2 / keepAliveS},
        {status + " (PUBACK)", kIdlePahoReceive, 1 / statusS},
        {"Paho send (1 s wait)", kIdlePahoSend, 1},
        {status + " (send)", kIdlePahoSend, 1 / statusS},
    };
}

// Wake-ups per second over the window by thread name (threads of one pool share a name) next to what the
// sources expect of those threads, with their on-CPU ms per second; the most wakeful first.
std::string idleWakeUpsByThread(const IdleReading& before, const IdleReading& after, double seconds,
                                const std::vector<IdleWakeSource>& sources) {
    struct Tally {
        std::int64_t switches = 0, nanos = 0;
        double expected = 0;
    };
    std::map<std::string, Tally> byName;
    for (const auto& [tid, t] : after.threads) {
        auto then = before.threads.find(tid);
        const bool old = then != before.threads.end();
        byName[t.name].switches += t.switches - (old ? then->second.switches : 0);
        byName[t.name].nanos += t.onCpuNanos - (old ? then->second.onCpuNanos : 0);
    }
    for (const auto& s : sources) byName[s.thread].expected += s.perSecond;
    std::vector<std::pair<std::string, Tally>> sorted(byName.begin(), byName.end());
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.second.switches > b.second.switches; });
    std::string out;
    for (const auto& [name, t] : sorted) {
        if (t.switches == 0 && t.expected == 0) continue;
        out += (out.empty() ? "" : "; ") + name + " " + fixed(static_cast<double>(t.switches) / seconds, 2) +
               " (expected " + fixed(t.expected, 2) + ", " + fixed(static_cast<double>(t.nanos) / 1e6 / seconds, 3) +
               " ms CPU)";
    }
    return out;
}

// The machines in the agent's latest retained status that are connected and idle.
int idleMachinesInStatus(const std::string& statusJson) {
    if (statusJson.empty()) return 0;
    boost::system::error_code ec;
    const auto v = boost::json::parse(statusJson, ec);
    if (ec || !v.is_object()) return 0;
    const auto* machines = v.as_object().if_contains("machines");
    if (!machines || !machines->is_array()) return 0;
    int idle = 0;
    for (const auto& m : machines->as_array())
        if (m.is_object() && m.as_object().if_contains("state") && m.as_object().at("state") == "idle") ++idle;
    return idle;
}

} // namespace

void runIdleBench(const BenchOptions& o, BenchReport& report) {
    const auto window = std::chrono::seconds(o.quick ? 10 : 60);
    test::TempDir simDir;
    const auto sim = std::filesystem::path(test::agentBinary()).parent_path() / "mto-machine-sim";
    std::vector<std::string> ports;
    std::string machinesConfig;
    for (int i = 0; i < kIdleMachines; ++i) {
        ports.push_back((simDir.path() / ("laser-" + std::to_string(i))).string());
        machinesConfig += "[[machines]]\nid = \"laser-" + std::to_string(i) + "\"\nprofile = \"laser-400\"\nport = \"" +
                          ports.back() + "\"\nstatus_idle_ms = " + std::to_string(o.idleStatusMs) + "\n";
    }
    // Machines are declared before the rig: the agent stops before the controllers it talks to.
    std::vector<std::unique_ptr<test::Process>> machines;
    AgentRig rig(o, machinesConfig);
    rig.startAgentOnline();
    // One controller process each, switched on one after another while the agent already waits for them, so
    // their status polls do not fall in the same instant (the agent retries a missing port with a back-off).
    for (int i = 0; i < kIdleMachines; ++i) {
        if (i > 0) sleepFor(kIdleMachineStagger);
        machines.push_back(std::make_unique<test::Process>());
        machines.back()->start({sim.string(), "--laser", "--grbl", ports[static_cast<std::size_t>(i)]},
                               simDir.path() / ("sim-" + std::to_string(i) + ".log"));
    }
    try {
        waitFor([&] { return idleMachinesInStatus(rig.hq().lastStatus()) == kIdleMachines || !rig.agent().running(); },
                std::chrono::seconds(60), "3 connected idle machines in the agent's status",
                std::chrono::milliseconds(100));
    } catch (const BenchError& e) {
        throw BenchError(std::string(e.what()) + "; last status: " + rig.hq().lastStatus() + "\nagent log:\n" +
                         rig.agentLogTail());
    }
    if (!rig.agent().running()) throw BenchError("the agent exited:\n" + rig.agentLogTail());
    // The connect-time exchanges ($$, $I, $G, the status published on the change) are over well within this.
    sleepFor(std::chrono::seconds(2));

    test::Process sleeper;
    sleeper.start({"/bin/sleep", std::to_string(window.count() + 5)}, simDir.path() / "sleep.log");
    const pid_t agentPid = rig.agent().pid();
    const IdleReading agentBefore = idleRead(agentPid), sleepBefore = idleRead(sleeper.pid());
    const auto started = Clock::now();
    sleepFor(window);
    const IdleReading agentAfter = idleRead(agentPid), sleepAfter = idleRead(sleeper.pid());
    const double seconds = secondsBetween(started, Clock::now());
    const bool stillIdle = idleMachinesInStatus(rig.hq().lastStatus()) == kIdleMachines && rig.agent().running();
    sleeper.kill9();

    const double agentCpuMs = (agentAfter.cpu - agentBefore.cpu) * 1000;
    const double sleepCpuMs = (sleepAfter.cpu - sleepBefore.cpu) * 1000;
    const auto agentWakes = static_cast<double>(agentAfter.switches() - agentBefore.switches());
    const auto sleepWakes = static_cast<double>(sleepAfter.switches() - sleepBefore.switches());
    const auto sources = expectedIdleWakeUps(rig.agent().configPath());
    double expected = 0;
    std::string derivation;
    for (const auto& s : sources) {
        expected += s.perSecond;
        derivation += (derivation.empty() ? "" : " + ") + fixed(s.perSecond, 2) + " " + s.what;
    }

    report.figure(kIdleBench, "workload",
                  std::to_string(kIdleMachines) + " connected idle GRBL machines (mto-machine-sim, status every " +
                      std::to_string(o.idleStatusMs) + " ms), agent online at the broker, " + fixed(seconds, 1) +
                      " s measured; baseline `sleep` started at the same time");
    report.figure(kIdleBench, "agent",
                  fixed(agentCpuMs, 0) + " ms CPU (/proc stat), " + formatCount(static_cast<std::int64_t>(agentWakes)) +
                      " wake-ups over " + std::to_string(agentAfter.threads.size()) + " threads");
    report.figure(kIdleBench, "baseline `sleep`",
                  fixed(sleepCpuMs, 0) + " ms CPU, " + formatCount(static_cast<std::int64_t>(sleepWakes)) + " wake-ups");
    if (agentBefore.onCpuNanos() >= 0 && agentAfter.onCpuNanos() >= 0)
        report.figure(kIdleBench, "agent on-CPU time (schedstat, without the 10 ms tick grain)",
                      fixed(static_cast<double>(agentAfter.onCpuNanos() - agentBefore.onCpuNanos()) / 1e6 / seconds, 3) +
                          " ms/s");
    report.figure(kIdleBench, "expected wake-ups/s from the configured timers", fixed(expected, 2) + " = " + derivation);
    report.figure(kIdleBench, "agent wake-ups/s by thread",
                  idleWakeUpsByThread(agentBefore, agentAfter, seconds, sources));
    report.figure(kIdleBench, "agent wake-ups/s",
                  fixed(agentWakes / seconds, 2) + " (expected " + fixed(expected, 2) + "; sleep: " +
                      fixed(sleepWakes / seconds, 2) + ")");
    report.goal(kIdleBench, "ratio agent wake-ups / expected", agentWakes / seconds / expected, "", kIdleWakeUpBound,
                Better::Lower);
    report.goal(kIdleBench, "agent CPU per second (sleep: " + fixed(sleepCpuMs / seconds, 2) + " ms/s)",
                agentCpuMs / seconds, "ms/s", kIdleCpuBoundMsPerS, Better::Lower);
    report.check(kIdleBench, "the machines stayed connected and idle throughout", stillIdle,
                 stillIdle ? "3 idle" : "last status: " + rig.hq().lastStatus());
    if (auto why = abnormalExit(rig.stopAgent()); !why.empty())
        report.figure(kIdleBench, "note", "the agent did not exit cleanly on SIGTERM: " + why + "\n" + rig.agentLogTail(3));
    for (auto& m : machines) {
        m->signal(SIGTERM);
        m->wait(std::chrono::seconds(5));
    }
}

} // namespace mto::bench
