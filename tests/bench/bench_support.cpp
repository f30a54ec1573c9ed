// SPDX-License-Identifier: Apache-2.0
// Shared pieces of the benchmarks: interruptible bounded waits, timing, percentiles and /proc readings.
#include "bench_support.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

namespace mto::bench {

namespace {

std::atomic<bool> interrupted{false};

extern "C" void onInterrupt(int) { interrupted = true; }

std::int64_t statusFieldKiB(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) != 0) continue;
        std::istringstream fields(line.substr(field.size() + 1));
        std::int64_t kib = -1;
        fields >> kib;
        return kib;
    }
    return -1;
}

} // namespace

void installInterruptHandlers() {
    struct sigaction sa {};
    sa.sa_handler = onInterrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

void throwIfInterrupted() {
    if (interrupted) throw Interrupted();
}

void waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout, const std::string& what,
             std::chrono::milliseconds every) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (pred()) return;
        throwIfInterrupted();
        if (Clock::now() >= deadline) {
            if (pred()) return;
            throw BenchError("timed out after " + std::to_string(timeout.count() / 1000.0).substr(0, 6) +
                             " s waiting for " + what);
        }
        std::this_thread::sleep_for(every);
    }
}

void sleepFor(std::chrono::milliseconds d) {
    auto until = Clock::now() + d;
    while (Clock::now() < until) {
        throwIfInterrupted();
        std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::milliseconds(50), until - Clock::now()));
    }
}

double secondsBetween(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

double millisBetween(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

double percentile(std::vector<double> sample, double p) {
    if (sample.empty()) return NAN;
    std::sort(sample.begin(), sample.end());
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sample.size())));
    return sample[std::clamp<std::size_t>(rank, 1, sample.size()) - 1];
}

std::int64_t residentKiB(pid_t pid) { return statusFieldKiB(pid, "VmRSS"); }
std::int64_t peakResidentKiB(pid_t pid) { return statusFieldKiB(pid, "VmHWM"); }

double cpuSeconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // The command name may hold spaces and parentheses; the fields we want follow the last ')'.
    auto close = text.rfind(')');
    if (close == std::string::npos) return -1;
    std::istringstream fields(text.substr(close + 2));
    std::string field;
    long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
        if (i == 14) utime = std::stoll(field);
        if (i == 15) stime = std::stoll(field);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string tail(const std::string& text, std::size_t lines) {
    std::vector<std::string> all;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) all.push_back(line);
    std::string out;
    for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
        out += (out.empty() ? "    " : "\n    ") + all[i];
    return out;
}

std::string formatCount(std::int64_t n) {
    std::string digits = std::to_string(n < 0 ? -n : n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return n < 0 ? "-" + out : out;
}

} // namespace mto::bench
