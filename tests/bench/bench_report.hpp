// SPDX-License-Identifier: Apache-2.0
// Prints benchmark figures one per line and keeps the tally of goals met, missed and benchmarks that failed.
#pragma once

#include <string>
#include <vector>

namespace mto::bench {

enum class Better { Higher, Lower };

// Thread-bound: only the benchmark runner's thread prints.
class BenchReport {
public:
    // A measured figure: "[drain] agent: 100,000 events in 4.1 s = 24,390 events/s".
    void figure(const std::string& bench, const std::string& label, const std::string& text);
    // A figure against its goal, with PASS or MISS.
    void goal(const std::string& bench, const std::string& label, double value, const std::string& unit,
              double target, Better better);
    // A yes/no property the contract promises, with PASS or MISS.
    void check(const std::string& bench, const std::string& label, bool ok, const std::string& text);
    // A ratio without a goal, for context.
    void info(const std::string& bench, const std::string& label, const std::string& text);
    void error(const std::string& bench, const std::string& message);
    // The closing line; returns true when no benchmark failed.
    bool summary();

    int misses() const { return misses_; }
    int errors() const { return errors_; }

private:
    int passes_ = 0;
    int misses_ = 0;
    int errors_ = 0;
};

std::string fixed(double value, int decimals);
// "12,345 events/s", or "n/a events/s" when no time passed.
std::string perSecond(double count, double seconds, const std::string& unit);
// "p50 1.234 ms, p99 5.678 ms, max 9.012 ms" of a sample of milliseconds.
std::string spread(const std::vector<double>& ms);

} // namespace mto::bench
