// SPDX-License-Identifier: Apache-2.0
// Test fixtures around real peers: temp dirs, a mosquitto broker on a random port, the agent as a process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace mto {
class Database;
}

namespace mto::test {

// A fresh directory under /tmp, removed with everything in it at destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

int freeTcpPort();
// Opens a serial device (a pty) as a host program does: raw mode, no controlling tty; `extraFlags` such as
// O_NONBLOCK are added to the open. Returns the fd, or -1 with errno set.
int openRawSerial(const std::string& path, int extraFlags = 0);
bool waitForPort(int port, std::chrono::milliseconds timeout);
std::string readFile(const std::filesystem::path& p);
void writeFile(const std::filesystem::path& p, const std::string& text);
// Polls `pred` every 10 ms until it holds or the timeout passes; returns its last value.
bool waitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout);
std::string sourceDir();

// A child process with its output in a log file.
class Process {
public:
    Process() = default;
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    void start(const std::vector<std::string>& argv, const std::filesystem::path& log);
    void signal(int signo);
    // Waits for exit; returns the wait status, or -1 on timeout.
    int wait(std::chrono::milliseconds timeout);
    void kill9();
    bool running();
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
};

// A real mosquitto on 127.0.0.1 with TCP_NODELAY, as a plain process.
class Broker {
public:
    explicit Broker(const std::filesystem::path& dir, int port = 0);
    ~Broker();
    void start();
    void stop();
    int port() const { return port_; }
    std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

private:
    std::filesystem::path dir_;
    int port_;
    Process proc_;
};

struct AgentOptions {
    std::string factory = "test-factory";
    int inflightWindow = 64;
    // mqtt.media_rate_kib_s: 0 (no limit) keeps tests with many proofs quick; -1 leaves the agent's default.
    std::int64_t mediaRateKiBs = 0;
    std::string logLevel = "info";
    std::size_t maxItems = 1000;
    std::size_t maxPayloadBytes = 256 * 1024;
    int statusIntervalSeconds = 30;
    // Off: the shipped catalog without its generators, so delivery tests see receipts only.
    // On: the shipped catalog as it is, so stored orders are compiled into jobs.
    bool compile = false;
    // Off: labels.enabled = false, so tests about other things do not spend the machine's two cores drawing a
    // label per compiled item. On: the agent's defaults, or the [labels] table the test gives in extraConfig.
    bool labels = false;
    // Appended to the generated agent.toml as it is (e.g. [[machines]] tables).
    std::string extraConfig{};
};

// The real mto-agent binary, run with a config written for the given broker and state dir.
class AgentProcess {
public:
    AgentProcess(const std::filesystem::path& dir, int brokerPort, AgentOptions options = {});
    void start();
    void stop();          // SIGTERM and wait for a clean exit
    void kill9();
    bool running() { return proc_.running(); }
    int waitExit(std::chrono::milliseconds timeout) { return proc_.wait(timeout); }
    pid_t pid() const { return proc_.pid(); }
    const std::filesystem::path& configPath() const { return config_; }
    std::filesystem::path stateDir() const { return dir_ / "state"; }
    std::filesystem::path databasePath() const { return stateDir() / "agent.db"; }
    std::filesystem::path catalogPath() const { return catalog_; }
    std::string log() const { return readFile(dir_ / "agent.log"); }
    const AgentOptions& options() const { return options_; }

private:
    std::filesystem::path dir_;
    std::filesystem::path config_;
    std::filesystem::path catalog_;
    AgentOptions options_;
    Process proc_;
};

// The first column of the first row of `sql` as an integer (a COUNT, a MAX…).
std::int64_t scalar(Database& db, const std::string& sql);
// The same, read through a read-only connection of its own (beside a running agent).
std::int64_t scalar(const std::filesystem::path& databasePath, const std::string& sql);

std::string agentBinary();
std::string mtoctlBinary();

// Runs a command to completion; returns its exit code and fills `output` with stdout+stderr.
int runCommand(const std::vector<std::string>& argv, std::string& output);

} // namespace mto::test
