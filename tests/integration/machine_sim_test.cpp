// SPDX-License-Identifier: Apache-2.0
// mto-machine-sim's GRBL fault options, seen from a host on the pty as a factory trying them would see them.
#include <gtest/gtest.h>

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <optional>
#include <string>

#include "test_env.hpp"

namespace mto::test {
namespace {

using namespace std::chrono_literals;

std::string machineSimBinary() {
    return (std::filesystem::path(agentBinary()).parent_path() / "mto-machine-sim").string();
}

// The host end of one emulated machine: sends lines and reads the answers line by line.
class SimSerialHost {
public:
    explicit SimSerialHost(const std::string& path) : fd_(openRawSerial(path)) {}
    ~SimSerialHost() {
        if (fd_ >= 0) ::close(fd_);
    }
    SimSerialHost(const SimSerialHost&) = delete;
    SimSerialHost& operator=(const SimSerialHost&) = delete;

    bool ok() const { return fd_ >= 0; }
    bool send(const std::string& text) { return ::write(fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size()); }
    // The next non-empty line without its CR LF, or nullopt when none came in time.
    std::optional<std::string> line(std::chrono::milliseconds timeout = 3000ms) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto end = pending_.find('\n');
            while (end != std::string::npos) {
                std::string l = pending_.substr(0, end);
                pending_.erase(0, end + 1);
                if (!l.empty() && l.back() == '\r') l.pop_back();
                if (!l.empty()) return l;
                end = pending_.find('\n');
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
            char buf[256];
            const ssize_t n = ::read(fd_, buf, sizeof buf);
            if (n <= 0) return std::nullopt;
            pending_.append(buf, static_cast<std::size_t>(n));
        }
    }
    // Skips lines up to the first that starts with `prefix`, which it returns ("" when none came).
    std::string lineStartingWith(const std::string& prefix) {
        while (auto l = line())
            if (l->rfind(prefix, 0) == 0) return *l;
        return {};
    }
    // The answer to one line: its ok or error:N (reports before it skipped).
    std::string answer(const std::string& sent) {
        if (!send(sent + "\n")) return "write failed";
        while (auto l = line())
            if (*l == "ok" || l->rfind("error:", 0) == 0) return *l;
        return "no answer";
    }

private:
    int fd_;
    std::string pending_;
};

class MachineSimFaults : public ::testing::Test {
protected:
    void start(const std::vector<std::string>& faultOptions) {
        ASSERT_TRUE(std::filesystem::exists(machineSimBinary())) << machineSimBinary();
        std::vector<std::string> args{machineSimBinary(), "--grbl", port_, "--laser", "--speed", "100"};
        args.insert(args.end(), faultOptions.begin(), faultOptions.end());
        sim_.start(args, dir_.path() / "sim.log");
        ASSERT_TRUE(waitUntil([&] { return std::filesystem::exists(port_); }, 10s)) << readFile(dir_.path() / "sim.log");
    }
    void TearDown() override {
        sim_.signal(SIGTERM);
        sim_.wait(5s);
    }
    std::string simLog() const { return readFile(dir_.path() / "sim.log"); }

    TempDir dir_;
    std::string port_ = (dir_.path() / "laser").string();
    Process sim_;
};

TEST_F(MachineSimFaults, TheProgramLineNamedByFailLineAnswersThatErrorOnceAndDollarCommandsAreNotCounted) {
    start({"--fail-line", "3:20"});
    SimSerialHost host(port_);
    ASSERT_TRUE(host.ok()) << "cannot open " << port_;
    ASSERT_FALSE(host.lineStartingWith("Grbl 1.1h").empty()) << simLog();
    EXPECT_EQ(host.answer("$I"), "ok") << "a $ command is not a line of the program";
    EXPECT_EQ(host.answer("G21"), "ok");
    EXPECT_EQ(host.answer(""), "ok") << "nor is an empty line";
    EXPECT_EQ(host.answer("G90"), "ok");
    EXPECT_EQ(host.answer("G0 X1 Y1"), "error:20") << simLog();
    EXPECT_EQ(host.answer("G0 X1 Y1"), "ok") << "the fault happens once";
    EXPECT_NE(simLog().find("line 3 of G-code answers error:20"), std::string::npos) << simLog();
}

TEST_F(MachineSimFaults, DisconnectAtUnplugsThePortAfterThatLineAndPlugsItBackInAfterTheGivenSeconds) {
    start({"--disconnect-at", "1:0.5"});
    {
        SimSerialHost host(port_);
        ASSERT_TRUE(host.ok()) << "cannot open " << port_;
        ASSERT_FALSE(host.lineStartingWith("Grbl 1.1h").empty()) << simLog();
        host.send("G21\n");
        ASSERT_TRUE(waitUntil([&] { return !std::filesystem::exists(port_); }, 3s)) << "the port stays\n" << simLog();
    }
    ASSERT_TRUE(waitUntil([&] { return std::filesystem::exists(port_); }, 5s)) << "not plugged back\n" << simLog();
    SimSerialHost again(port_);
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(again.lineStartingWith("Grbl 1.1h").empty()) << "a fresh board says hello\n" << simLog();
    EXPECT_EQ(again.answer("G21"), "ok");
}

TEST(MachineSimFaultOptions, AMalformedFaultOptionIsRefusedWithWhatItWantsAndExitCode2) {
    const auto sim = machineSimBinary();
    ASSERT_TRUE(std::filesystem::exists(sim)) << sim;
    TempDir dir;
    const std::string port = (dir.path() / "laser").string();
    std::string out;
    EXPECT_EQ(runCommand({sim, "--grbl", port, "--fail-line", "3"}, out), 2) << out;
    EXPECT_NE(out.find("--fail-line wants LINE:CODE, got '3'"), std::string::npos) << out;
    EXPECT_EQ(runCommand({sim, "--grbl", port, "--alarm-at", "5:11"}, out), 2) << out;
    EXPECT_NE(out.find("alarm code from 1 to 10"), std::string::npos) << out;
    EXPECT_EQ(runCommand({sim, "--grbl", port, "--stall-at", "0:2"}, out), 2) << out;
    EXPECT_NE(out.find("LINE is a line of G-code counted from 1"), std::string::npos) << out;
    EXPECT_EQ(runCommand({sim, "--moonraker", "0", "--lose-ok", "4"}, out), 2) << out;
    EXPECT_NE(out.find("need at least one --grbl PATH"), std::string::npos) << out;
    EXPECT_FALSE(std::filesystem::exists(port)) << "nothing was started";
    EXPECT_EQ(runCommand({sim, "--help"}, out), 0) << out;
    EXPECT_NE(out.find("--disconnect-at LINE[:SECONDS]"), std::string::npos) << out;
}

} // namespace
} // namespace mto::test
