// SPDX-License-Identifier: Apache-2.0
// Test fixtures around real peers: temp dirs, a mosquitto broker on a random port, the agent as a process.
#include "test_env.hpp"

#include "store/database.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <toml++/toml.h>

extern char** environ;

namespace mto::test {

TempDir::TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mto-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir() {
    // MTO_TEST_KEEP=1 keeps the directory (logs, databases) for a look after a failure.
    if (const char* keep = std::getenv("MTO_TEST_KEEP"); keep && *keep == '1') {
        std::fprintf(stderr, "kept %s\n", path_.c_str());
        return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

int openRawSerial(const std::string& path, int extraFlags) {
    const int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC | extraFlags);
    if (fd < 0) return -1;
    termios t{};
    ::tcgetattr(fd, &t);
    ::cfmakeraw(&t);
    t.c_cflag |= CLOCAL | CREAD;
    ::tcsetattr(fd, TCSANOW, &t);
    return fd;
}

int freeTcpPort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        throw std::runtime_error("bind for a free port failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

bool waitForPort(int port, std::chrono::milliseconds timeout) {
    return waitUntil(
        [port] {
            int fd = ::socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            addr.sin_port = htons(static_cast<uint16_t>(port));
            bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
            ::close(fd);
            return ok;
        },
        timeout);
}

std::string readFile(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void writeFile(const std::filesystem::path& p, const std::string& text) {
    if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + p.string());
}

bool waitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return pred();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

std::string sourceDir() { return MTO_SOURCE_DIR; }
std::string agentBinary() { return MTO_AGENT_BIN; }
std::string mtoctlBinary() { return MTOCTL_BIN; }

Process::~Process() {
    if (pid_ > 0) kill9();
}

void Process::start(const std::vector<std::string>& argv, const std::filesystem::path& log) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    // Children must not inherit the test's own sockets (an HQ connection would then live in the agent too).
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        pid_ = -1;
        throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
}

void Process::signal(int signo) {
    if (pid_ > 0) ::kill(pid_, signo);
}

int Process::wait(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return -1;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int status = 0;
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            pid_ = -1;
            return status;
        }
        if (std::chrono::steady_clock::now() >= deadline) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

void Process::kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
}

bool Process::running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
    }
    return true;
}

Broker::Broker(const std::filesystem::path& dir, int port) : dir_(dir), port_(port ? port : freeTcpPort()) {
    std::filesystem::create_directories(dir_);
}

Broker::~Broker() { stop(); }

void Broker::start() {
    // The factory settings of README.md ("Broker settings"), so tests see what a factory's broker keeps and
    // drops. One difference: message_size_limit sits above the largest intake.max_payload_bytes a test gives
    // the agent (1 MiB) and above the 1.1 MiB order sent to see the agent itself refuse an oversized one.
    writeFile(dir_ / "mosquitto.conf", "listener " + std::to_string(port_) +
                                           " 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
                                           "user root\npersistence true\npersistence_location " + dir_.string() + "/\nautosave_interval 1\n"
                                           "max_queued_messages 100000\nmax_queued_bytes 1073741824\n"
                                           "message_size_limit 2097152\nmax_inflight_messages 0\n");
    proc_.start({"/usr/sbin/mosquitto", "-c", (dir_ / "mosquitto.conf").string()}, dir_ / "mosquitto.log");
    if (!waitForPort(port_, std::chrono::seconds(10)))
        throw std::runtime_error("mosquitto did not open port " + std::to_string(port_) + ": " +
                                 readFile(dir_ / "mosquitto.log"));
}

void Broker::stop() {
    if (!proc_.running()) return;
    proc_.signal(SIGTERM);
    if (proc_.wait(std::chrono::seconds(5)) == -1) proc_.kill9();
}

AgentProcess::AgentProcess(const std::filesystem::path& dir, int brokerPort, AgentOptions options)
    : dir_(dir), config_(dir / "agent.toml"), options_(std::move(options)) {
    std::filesystem::create_directories(dir_);
    const std::string shipped = sourceDir() + "/config/catalog.toml";
    if (options_.compile) {
        catalog_ = shipped;
    } else {
        // The same products without their generators (first operation) and further operations.
        toml::table catalog = toml::parse_file(shipped);
        if (toml::table* skus = catalog["sku"].as_table())
            for (auto& [sku, entry] : *skus)
                if (toml::table* t = entry.as_table()) {
                    t->erase("generator");
                    t->erase("operations");
                }
        std::ostringstream text;
        text << catalog << "\n";
        catalog_ = dir_ / "catalog.toml";
        writeFile(catalog_, text.str());
    }
    std::ostringstream toml;
    toml << "[factory]\nid = \"" << options_.factory << "\"\n"
         << "[mqtt]\nuri = \"tcp://127.0.0.1:" << brokerPort << "\"\nclient_id = \"agent-" << options_.factory
         << "\"\ninflight_window = " << options_.inflightWindow
         << (options_.mediaRateKiBs >= 0 ? "\nmedia_rate_kib_s = " + std::to_string(options_.mediaRateKiBs) : std::string())
         << "\nreconnect_min_ms = 50\nreconnect_max_ms = 500\nkeepalive_s = 5\n"
         << "[storage]\nstate_dir = \"" << stateDir().string() << "\"\n"
         << "[log]\nlevel = \"" << (std::getenv("MTO_TEST_AGENT_LOG_LEVEL") ? std::getenv("MTO_TEST_AGENT_LOG_LEVEL") : options_.logLevel) << "\"\n"
         << "[intake]\nmax_items = " << options_.maxItems << "\nmax_payload_bytes = " << options_.maxPayloadBytes << "\ncatalog = \"" << catalog_.string() << "\"\n"
         << "[status]\ninterval_s = " << options_.statusIntervalSeconds << "\n"
         << (options_.labels ? "" : "[labels]\nenabled = false\n") << options_.extraConfig;
    writeFile(config_, toml.str());
}

void AgentProcess::start() {
    proc_.start({agentBinary(), "--config", config_.string()}, dir_ / "agent.log");
}

void AgentProcess::stop() {
    if (!proc_.running()) return;
    proc_.signal(SIGTERM);
    int status = proc_.wait(std::chrono::seconds(15));
    if (status == -1) {
        proc_.kill9();
        ADD_FAILURE() << "agent did not stop within 15 s of SIGTERM\n" << log();
        return;
    }
    // A clean stop exits 0; a sanitizer report at exit would not.
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        ADD_FAILURE() << "agent exited with wait status " << status << "\n" << log();
}

void AgentProcess::kill9() { proc_.kill9(); }

std::int64_t scalar(Database& db, const std::string& sql) {
    auto& st = db.prepare(sql);
    st.step();
    std::int64_t v = st.columnInt(0);
    st.reset();
    return v;
}

std::int64_t scalar(const std::filesystem::path& databasePath, const std::string& sql) {
    Database db(databasePath, Database::Mode::ReadOnly);
    return scalar(db, sql);
}

int runCommand(const std::vector<std::string>& argv, std::string& output) {
    TempDir tmp;
    Process p;
    p.start(argv, tmp.path() / "out.log");
    int status = p.wait(std::chrono::minutes(5));
    output = readFile(tmp.path() / "out.log");
    if (status == -1) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

} // namespace mto::test
