// SPDX-License-Identifier: Apache-2.0
// Prints benchmark figures one per line and keeps the tally of goals met, missed and benchmarks that failed.
#include "bench_report.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>

#include "bench_support.hpp"

namespace mto::bench {

namespace {

// Flushed per line so a test script or a person watching sees progress, and a crash keeps what was measured.
void emit(const std::string& line) {
    std::fputs(line.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

} // namespace

std::string fixed(double value, int decimals) {
    if (!std::isfinite(value)) return "n/a";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
    return buf;
}

std::string perSecond(double count, double seconds, const std::string& unit) {
    if (!(seconds > 0) || !std::isfinite(count / seconds)) return "n/a " + unit + "/s";
    return formatCount(static_cast<std::int64_t>(count / seconds + 0.5)) + " " + unit + "/s";
}

void BenchReport::figure(const std::string& bench, const std::string& label, const std::string& text) {
    emit("[" + bench + "] " + label + ": " + text);
}

void BenchReport::goal(const std::string& bench, const std::string& label, double value, const std::string& unit,
                       double target, Better better) {
    bool pass = std::isfinite(value) && (better == Better::Higher ? value >= target : value <= target);
    (pass ? passes_ : misses_)++;
    const int decimals = std::fabs(target) < 10 ? 2 : 1;
    std::string sep = unit.empty() ? "" : " ";
    emit("[" + bench + "] " + label + ": " + fixed(value, decimals) + sep + unit + "  (goal " +
         (better == Better::Higher ? ">= " : "<= ") + fixed(target, decimals) + sep + unit + ")  " +
         (pass ? "PASS" : "MISS"));
}

void BenchReport::check(const std::string& bench, const std::string& label, bool ok, const std::string& text) {
    (ok ? passes_ : misses_)++;
    emit("[" + bench + "] " + label + ": " + text + "  " + (ok ? "PASS" : "MISS"));
}

void BenchReport::info(const std::string& bench, const std::string& label, const std::string& text) {
    emit("[" + bench + "] " + label + ": " + text + "  (no goal)");
}

void BenchReport::error(const std::string& bench, const std::string& message) {
    ++errors_;
    emit("[" + bench + "] ERROR: " + message);
}

bool BenchReport::summary() {
    emit("mto_bench: " + std::to_string(passes_) + " PASS, " + std::to_string(misses_) + " MISS, " +
         std::to_string(errors_) + " benchmark(s) failed");
    return errors_ == 0;
}

std::string spread(const std::vector<double>& ms) {
    return "p50 " + fixed(percentile(ms, 50), 3) + " ms, p99 " + fixed(percentile(ms, 99), 3) + " ms, max " +
           fixed(percentile(ms, 100), 3) + " ms";
}

} // namespace mto::bench
