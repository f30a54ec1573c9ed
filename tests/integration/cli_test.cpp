// SPDX-License-Identifier: Apache-2.0
// What factory IT touches: --check-config, mtoctl, and the systemd unit as systemd itself checks it.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <thread>

#include "agent_rig.hpp"
#include "control/floor_view.hpp"
#include "hq_client.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

TEST(CheckConfig, AcceptsTheShippedExampleWithAnExistingCatalog) {
    TempDir dir;
    std::string text = readFile(sourceDir() + "/config/agent.toml");
    auto at = text.find("/etc/mto-agent/catalog.toml");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, std::string("/etc/mto-agent/catalog.toml").size(), sourceDir() + "/config/catalog.toml");
    writeFile(dir.path() / "agent.toml", text);
    std::string out;
    EXPECT_EQ(runCommand({agentBinary(), "--check-config", (dir.path() / "agent.toml").string()}, out), 0) << out;
    EXPECT_NE(out.find("ok (factory berlin-01"), std::string::npos) << out;
}

TEST(CheckConfig, NamesFileKeyAndProblemAndExitsNonZero) {
    TempDir dir;
    AgentProcess agent(dir.path(), 1883);
    std::string good = readFile(agent.configPath());
    struct Case {
        std::string from, to, expect;
    };
    std::vector<Case> cases{
        {"uri = \"tcp://", "uri = \"http://", "key 'mqtt.uri': must start with tcp:// or ssl://"},
        {"inflight_window = 64", "inflight_window = 0", "key 'mqtt.inflight_window': must be between 1 and 65535"},
        {"inflight_window = 64", "inflight_windw = 64", "key 'mqtt.inflight_windw': unknown key"},
        {"id = \"test-factory\"", "id = \"a/b\"", "key 'factory.id'"},
        {"level = \"info\"", "level = \"loud\"", "key 'log.level'"},
        {"catalog = \"", "catalog = \"/nonexistent", "key 'intake.catalog': file /nonexistent"},
        {"[factory]", "[factory", "agent.toml:1"},
    };
    for (const auto& c : cases) {
        std::string text = good;
        auto at = text.find(c.from);
        ASSERT_NE(at, std::string::npos) << c.from;
        text.replace(at, c.from.size(), c.to);
        writeFile(dir.path() / "agent.toml", text);
        std::string out;
        EXPECT_EQ(runCommand({agentBinary(), "--check-config", (dir.path() / "agent.toml").string()}, out), 1)
            << c.to;
        EXPECT_NE(out.find((dir.path() / "agent.toml").string()), std::string::npos) << out;
        EXPECT_NE(out.find(c.expect), std::string::npos) << "expected '" << c.expect << "' in: " << out;
    }
    std::string out;
    EXPECT_EQ(runCommand({agentBinary()}, out), 2);
    EXPECT_NE(out.find("--config PATH is required"), std::string::npos) << out;
}

TEST(Mtoctl, ListsOrdersShowsMilestonesAndPendingEvents) {
    AgentRig rig;
    HqClient& hq = rig.hq();
    hq.sendOrder("CTL-1", makeOrder("CTL-1", 2));
    hq.sendCommand(R"({"command":"hold","command_id":"h-1","order_id":"CTL-1"})");
    ASSERT_TRUE(hq.waitForEvents(2, std::chrono::seconds(20)));
    rig.agent().stop();

    std::string out;
    ASSERT_EQ(rig.mtoctl({"orders"}, out), 0) << out;
    EXPECT_NE(out.find("CTL-1"), std::string::npos) << out;
    EXPECT_NE(out.find("on_hold"), std::string::npos) << out;
    EXPECT_NE(out.find("1 order(s)"), std::string::npos) << out;

    ASSERT_EQ(rig.mtoctl({"order", "CTL-1"}, out), 0) << out;
    EXPECT_NE(out.find("received"), std::string::npos) << out;
    EXPECT_NE(out.find("on_hold"), std::string::npos) << out;

    ASSERT_EQ(rig.mtoctl({"events", "--pending"}, out), 0) << out;
    EXPECT_NE(out.find("0 event(s) pending; acknowledged up to seq 2 of 2"), std::string::npos) << out;

    EXPECT_EQ(rig.mtoctl({"order", "NOPE"}, out), 1);
    EXPECT_NE(out.find("no order NOPE"), std::string::npos) << out;
    EXPECT_EQ(rig.mtoctl({"frobnicate"}, out), 2);
}

// The shipped example config with its state under `dir` and the catalog from the source tree.
std::filesystem::path exampleConfigIn(const std::filesystem::path& dir) {
    std::string text = readFile(sourceDir() + "/config/agent.toml");
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"/etc/mto-agent/catalog.toml", sourceDir() + "/config/catalog.toml"},
                                   {"\"/var/lib/mto-agent\"", "\"" + dir.string() + "\""}}) {
        const auto at = text.find(from);
        if (at == std::string::npos) throw std::runtime_error("the example config has no " + from);
        text.replace(at, from.size(), to);
    }
    writeFile(dir / "agent.toml", text);
    return dir / "agent.toml";
}

TEST(Mtoctl, AnAgentThatTakesTheConnectionButNeverAnswersEndsMtoctlWithAnErrorAfterTheTimeout) {
    TempDir dir;
    const auto config = exampleConfigIn(dir.path());
    // A stuck agent: its control socket queues connections and never reads or answers.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, (dir.path() / "control.sock").c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << std::strerror(errno);
    ASSERT_EQ(::listen(fd, 8), 0);

    std::string out;
    for (const std::vector<std::string>& command : {std::vector<std::string>{"status"}, {"clear", "laser-1"}, {"watch", "--once"}}) {
        std::vector<std::string> argv{mtoctlBinary(), "--config", config.string(), "--timeout", "0.3"};
        argv.insert(argv.end(), command.begin(), command.end());
        EXPECT_EQ(runCommand(argv, out), 1) << command[0] << ": " << out;
        EXPECT_NE(out.find("mtoctl: the agent at " + (dir.path() / "control.sock").string() + " did not answer within 0.3 s"),
                  std::string::npos)
            << command[0] << ": " << out;
    }
    ::close(fd);

    EXPECT_EQ(runCommand({mtoctlBinary(), "--config", config.string(), "--timeout", "never", "status"}, out), 2);
    EXPECT_NE(out.find("--timeout wants seconds from 0.1 to 3600, got 'never'"), std::string::npos) << out;
}

TEST(Mtoctl, WatchKeepsItsStreamWhenTheAgentStopsAnsweringAndShowsItUnreachable) {
    TempDir dir;
    const auto config = exampleConfigIn(dir.path());
    const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(listener, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, (dir.path() / "control.sock").c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << std::strerror(errno);
    ASSERT_EQ(::listen(listener, 16), 0);
    // An agent that answers the first status and then hangs: later connections are taken and never answered.
    FloorView floor;
    floor.factory = "berlin-01";
    floor.at = "2026-12-02T05:00:00.000Z";
    floor.machines.push_back({"laser-1", "laser-400", "laser", "ready", "idle", "", std::nullopt, ""});
    const std::string answer = "ok " + floorViewJson(floor) + "\n";
    std::atomic<bool> done{false};
    std::thread agent([&] {
        std::vector<int> held;
        bool answered = false;
        while (!done) {
            pollfd p{listener, POLLIN, 0};
            if (::poll(&p, 1, 50) != 1) continue;
            const int c = ::accept(listener, nullptr, nullptr);
            if (c < 0) continue;
            if (!answered) {
                char buf[256];
                [[maybe_unused]] const auto n = ::read(c, buf, sizeof buf);
                [[maybe_unused]] const auto w = ::write(c, answer.data(), answer.size());
                ::close(c);
                answered = true;
            } else {
                held.push_back(c);
            }
        }
        for (int c : held) ::close(c);
    });

    Process watch;
    const auto log = dir.path() / "watch.log";
    watch.start({mtoctlBinary(), "--config", config.string(), "--timeout", "0.3", "watch", "--interval", "0.2"}, log);
    const std::string unreachable =
        "mto-agent unreachable: the agent at " + (dir.path() / "control.sock").string() + " did not answer within 0.3 s";
    // Keeps asking: the stuck agent is shown again and again, each time after the timeout.
    const bool seen = waitUntil(
        [&] {
            const std::string text = readFile(log);
            const auto first = text.find(unreachable);
            return first != std::string::npos && text.find(unreachable, first + 1) != std::string::npos;
        },
        std::chrono::seconds(10));
    watch.signal(SIGINT);
    const int status = watch.wait(std::chrono::seconds(5));
    done = true;
    agent.join();
    ::close(listener);
    const std::string text = readFile(log);
    EXPECT_TRUE(seen) << text;
    ASSERT_TRUE(WIFEXITED(status)) << status << "\n" << text;
    EXPECT_EQ(WEXITSTATUS(status), 0) << text;
    EXPECT_NE(text.find("laser-1"), std::string::npos) << "the first frame, while the agent answered\n" << text;
    EXPECT_LT(text.find("laser-1"), text.find(unreachable)) << text;
}

TEST(SystemdUnit, VerifiesCleanlyAndIsHardened) {
    TempDir dir;
    std::string unit = readFile(sourceDir() + "/systemd/mto-agent.service");
    for (std::string::size_type at; (at = unit.find("/usr/bin/mto-agent")) != std::string::npos;)
        unit.replace(at, std::string("/usr/bin/mto-agent").size(), agentBinary());
    writeFile(dir.path() / "mto-agent.service", unit);
    std::string out;
    EXPECT_EQ(runCommand({"/usr/bin/systemd-analyze", "verify", (dir.path() / "mto-agent.service").string()}, out), 0)
        << out;
    EXPECT_EQ(out.find("mto-agent.service:"), std::string::npos) << "systemd complained: " << out;
    ASSERT_EQ(runCommand({"/usr/bin/systemd-analyze", "security", "--offline=true",
                          (dir.path() / "mto-agent.service").string()},
                         out),
              0)
        << out;
    auto at = out.find("Overall exposure level for mto-agent.service: ");
    ASSERT_NE(at, std::string::npos) << out;
    double exposure = std::stod(out.substr(at + std::string("Overall exposure level for mto-agent.service: ").size()));
    EXPECT_LE(exposure, 2.0) << out.substr(at);
    for (const char* line : {"Type=notify", "WatchdogSec=", "ExecReload=", "KillSignal=SIGTERM"})
        EXPECT_NE(unit.find(line), std::string::npos) << line;
}

} // namespace
} // namespace mto::test
