// SPDX-License-Identifier: Apache-2.0
// Running an external tool (openscad, prusa-slicer) with an argument vector, a deadline and captured output.
#include "compiler/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <sstream>

#include "mto/error.hpp"

extern char** environ;

namespace mto {

namespace {

using SteadyClock = std::chrono::steady_clock;

// Closes on scope exit, so an exception between pipe() and spawn leaks nothing.
class Fd {
public:
    Fd() = default;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    int get() const { return fd_; }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

void makePipe(Fd& readEnd, Fd& writeEnd) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        throw Error(std::string("cannot create a pipe for a child process: ") + std::strerror(errno));
    ::fcntl(fds[0], F_SETFL, ::fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    readEnd.reset(fds[0]);
    writeEnd.reset(fds[1]);
}

// The tail of a stream: errors are printed last, so the end is the part worth keeping.
class Tail {
public:
    explicit Tail(std::size_t limit) : limit_(limit) {}
    void append(const char* data, std::size_t n) {
        buffer_.append(data, n);
        // Trimming only past twice the limit keeps appends amortised O(1).
        if (buffer_.size() > 2 * limit_) trim();
    }
    std::string take(bool& truncated) {
        trim();
        truncated = truncated_;
        return std::move(buffer_);
    }

private:
    void trim() {
        if (buffer_.size() <= limit_) return;
        buffer_.erase(0, buffer_.size() - limit_);
        truncated_ = true;
    }
    std::size_t limit_;
    std::string buffer_;
    bool truncated_ = false;
};

// Reads what is there without blocking; false once the writer side is closed.
bool drain(int fd, Tail& tail) {
    char buf[8192];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            tail.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n == 0) return false;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
    }
}

class SpawnActions {
public:
    SpawnActions() { posix_spawn_file_actions_init(&a_); }
    ~SpawnActions() { posix_spawn_file_actions_destroy(&a_); }
    SpawnActions(const SpawnActions&) = delete;
    SpawnActions& operator=(const SpawnActions&) = delete;
    posix_spawn_file_actions_t* get() { return &a_; }

private:
    posix_spawn_file_actions_t a_;
};

class SpawnAttr {
public:
    SpawnAttr() { posix_spawnattr_init(&a_); }
    ~SpawnAttr() { posix_spawnattr_destroy(&a_); }
    SpawnAttr(const SpawnAttr&) = delete;
    SpawnAttr& operator=(const SpawnAttr&) = delete;
    posix_spawnattr_t* get() { return &a_; }

private:
    posix_spawnattr_t a_;
};

std::string seconds(std::chrono::milliseconds ms) {
    std::ostringstream o;
    o.setf(std::ios::fixed);
    o.precision(1);
    o << static_cast<double>(ms.count()) / 1000 << " s";
    return o.str();
}

} // namespace

std::string SubprocessResult::describe() const {
    const std::string sig = "signal " + std::to_string(termSignal) + " (" +
                            (sigdescr_np(termSignal) ? sigdescr_np(termSignal) : "unknown") + ")";
    if (timedOut) return "timed out after " + seconds(duration) + " and was stopped by " + sig;
    if (termSignal != 0) return "killed by " + sig;
    return "exit code " + std::to_string(exitCode);
}

Subprocess::Subprocess(std::vector<std::string> argv) : argv_(std::move(argv)) {
    if (argv_.empty() || argv_[0].empty()) throw Error("subprocess: no program to run");
}

Subprocess& Subprocess::workingDirectory(std::filesystem::path dir) {
    workingDirectory_ = std::move(dir);
    return *this;
}

Subprocess& Subprocess::environment(const std::string& name, const std::string& value) {
    if (name.empty() || name.find('=') != std::string::npos)
        throw Error("subprocess: environment variable name \"" + name + "\" is empty or contains '='");
    environment_[name] = value;
    return *this;
}

Subprocess& Subprocess::timeout(std::chrono::milliseconds limit) {
    timeout_ = limit;
    return *this;
}

Subprocess& Subprocess::killGrace(std::chrono::milliseconds grace) {
    killGrace_ = grace;
    return *this;
}

Subprocess& Subprocess::outputLimit(std::size_t bytes) {
    outputLimit_ = std::max<std::size_t>(bytes, 1);
    return *this;
}

SubprocessResult Subprocess::run() const {
    Fd outRead, outWrite, errRead, errWrite;
    makePipe(outRead, outWrite);
    makePipe(errRead, errWrite);

    SpawnActions actions;
    posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(actions.get(), outWrite.get(), 1);
    posix_spawn_file_actions_adddup2(actions.get(), errWrite.get(), 2);
    if (!workingDirectory_.empty()) posix_spawn_file_actions_addchdir_np(actions.get(), workingDirectory_.c_str());
    // The agent holds sockets and database files; a tool that outlives a timeout must not keep them open.
    posix_spawn_file_actions_addclosefrom_np(actions.get(), 3);

    SpawnAttr attr;
    // Its own process group, so a timeout also reaches whatever the tool started (xvfb-run's X server).
    short flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    posix_spawnattr_setflags(attr.get(), flags);
    posix_spawnattr_setpgroup(attr.get(), 0);
    // The agent blocks its stop signals and ignores SIGPIPE; both survive exec and would make the
    // tool deaf to our SIGTERM or silently ignore broken pipes.
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(attr.get(), &none);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int s : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) sigaddset(&defaults, s);
    posix_spawnattr_setsigdefault(attr.get(), &defaults);

    std::vector<char*> args;
    for (const std::string& a : argv_) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    std::vector<std::string> envStrings;
    std::vector<char*> envp;
    char** env = environ;
    if (!environment_.empty()) {
        for (char** e = environ; *e; ++e) {
            const std::string_view entry(*e);
            const std::string name(entry.substr(0, entry.find('=')));
            if (!environment_.count(name)) envStrings.emplace_back(entry);
        }
        for (const auto& [name, value] : environment_) envStrings.push_back(name + "=" + value);
        for (std::string& s : envStrings) envp.push_back(s.data());
        envp.push_back(nullptr);
        env = envp.data();
    }

    const auto start = SteadyClock::now();
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, argv_[0].c_str(), actions.get(), attr.get(), args.data(), env);
    if (rc != 0) {
        std::string msg = "cannot start " + argv_[0] + ": " + std::strerror(rc);
        if (rc == ENOENT && !workingDirectory_.empty() && !std::filesystem::is_directory(workingDirectory_))
            msg += " (working directory " + workingDirectory_.string() + " does not exist)";
        else if (rc == ENOENT)
            msg += " (is it installed and on PATH?)";
        throw Error(msg);
    }
    outWrite.reset();
    errWrite.reset();

    Tail out(outputLimit_), err(outputLimit_);
    bool outOpen = true, errOpen = true;
    bool exited = false;
    bool timedOut = false;
    std::optional<SteadyClock::time_point> exitedAt, killAt;
    bool killed = false;

    for (;;) {
        if (!exited) {
            // WNOWAIT leaves the zombie in place, which keeps the process group id reserved while
            // we may still signal it.
            siginfo_t info{};
            if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                info.si_pid == pid) {
                exited = true;
                exitedAt = SteadyClock::now();
            }
        }
        const auto now = SteadyClock::now();
        if (exited && !outOpen && !errOpen) break;
        // The tool is gone but something it started still holds the pipes: that is not our output.
        if (exited && now - *exitedAt > killGrace_) {
            ::kill(-pid, SIGKILL);
            break;
        }
        if (!exited && timeout_.count() > 0 && !timedOut && now - start >= timeout_) {
            timedOut = true;
            ::kill(-pid, SIGTERM);
            killAt = now + killGrace_;
        }
        if (killAt && !killed && now >= *killAt) {
            ::kill(-pid, SIGKILL);
            killed = true;
        }

        auto wait = std::chrono::milliseconds(outOpen || errOpen ? 100 : 5);
        auto until = [&](SteadyClock::time_point t) {
            wait = std::min(wait, std::max(std::chrono::milliseconds(0),
                                           std::chrono::ceil<std::chrono::milliseconds>(t - now)));
        };
        if (!exited && timeout_.count() > 0 && !timedOut) until(start + timeout_);
        if (killAt && !killed) until(*killAt);

        pollfd fds[2];
        nfds_t n = 0;
        if (outOpen) fds[n++] = {outRead.get(), POLLIN, 0};
        if (errOpen) fds[n++] = {errRead.get(), POLLIN, 0};
        const int ready = ::poll(n ? fds : nullptr, n, static_cast<int>(wait.count()));
        if (ready < 0 && errno != EINTR) break;
        if (outOpen && !drain(outRead.get(), out)) outOpen = false;
        if (errOpen && !drain(errRead.get(), err)) errOpen = false;
    }
    if (outOpen) drain(outRead.get(), out);
    if (errOpen) drain(errRead.get(), err);

    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }

    SubprocessResult r;
    r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
    r.timedOut = timedOut;
    if (WIFEXITED(status)) r.exitCode = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.termSignal = WTERMSIG(status);
    r.out = out.take(r.outTruncated);
    r.err = err.take(r.errTruncated);
    return r;
}

} // namespace mto
