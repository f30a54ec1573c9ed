// SPDX-License-Identifier: Apache-2.0
// Shared pieces of the benchmarks: interruptible bounded waits, timing, percentiles and /proc readings.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mto::bench {

using Clock = std::chrono::steady_clock;

// A benchmark could not produce its figure (timeout, lost message, dead process).
class BenchError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Ctrl-C or SIGTERM: unwind so every fixture stops its child processes on the way out.
class Interrupted : public std::runtime_error {
public:
    Interrupted() : std::runtime_error("interrupted") {}
};

void installInterruptHandlers();
void throwIfInterrupted();

// Polls `pred` every `every` until it holds; throws BenchError naming `what` after `timeout`.
void waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout, const std::string& what,
             std::chrono::milliseconds every = std::chrono::milliseconds(10));
void sleepFor(std::chrono::milliseconds d);

double secondsBetween(Clock::time_point from, Clock::time_point to);
double millisBetween(Clock::time_point from, Clock::time_point to);

// Nearest-rank percentile (0 < p <= 100) of an unsorted sample.
double percentile(std::vector<double> sample, double p);

// VmRSS and VmHWM of a process in KiB, from /proc/<pid>/status; -1 when unreadable.
std::int64_t residentKiB(pid_t pid);
std::int64_t peakResidentKiB(pid_t pid);
// User + system CPU seconds a process has used so far, from /proc/<pid>/stat; -1 when unreadable.
double cpuSeconds(pid_t pid);

// The last `lines` lines of a log, for error messages.
std::string tail(const std::string& text, std::size_t lines);

std::string formatCount(std::int64_t n);

} // namespace mto::bench
