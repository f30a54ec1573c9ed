// SPDX-License-Identifier: Apache-2.0
// Running an external tool (openscad, prusa-slicer) with an argument vector, a deadline and captured output.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace mto {

struct SubprocessResult {
    int exitCode = -1;        // when the program exited by itself; -1 otherwise
    int termSignal = 0;       // the signal that ended it, 0 when it exited
    bool timedOut = false;    // it was still running at the deadline and was killed
    std::string out{};        // the last outputLimit bytes written to stdout
    std::string err{};        // and to stderr
    bool outTruncated = false;
    bool errTruncated = false;
    std::chrono::milliseconds duration{0};

    bool succeeded() const { return exitCode == 0 && termSignal == 0 && !timedOut; }
    // "exit code 2", "killed by signal 9 (Killed)", "timed out after 5.0 s and was stopped by signal 15 (Terminated)".
    std::string describe() const;
};

// A command line to run, configured once and run any number of times. run() keeps no state in the
// object, so one Subprocess may be run from several threads at once.
class Subprocess {
public:
    // argv[0] is looked up on PATH unless it contains a slash. Nothing goes through a shell, so
    // arguments reach the program byte for byte.
    explicit Subprocess(std::vector<std::string> argv);

    Subprocess& workingDirectory(std::filesystem::path dir);
    // Added to (or replacing in) the agent's own environment.
    Subprocess& environment(const std::string& name, const std::string& value);
    // 0 = no deadline. At the deadline the whole process group gets SIGTERM, then SIGKILL after the grace.
    Subprocess& timeout(std::chrono::milliseconds limit);
    Subprocess& killGrace(std::chrono::milliseconds grace);
    Subprocess& outputLimit(std::size_t bytes);

    // Waits for the program and everything it started in its process group to finish or be killed.
    // Throws mto::Error only when the program cannot be started (not installed, not executable, bad
    // working directory); a program that fails is reported in the result.
    SubprocessResult run() const;

    const std::vector<std::string>& argv() const { return argv_; }

private:
    std::vector<std::string> argv_;
    std::filesystem::path workingDirectory_;
    std::map<std::string, std::string> environment_;
    std::chrono::milliseconds timeout_{0};
    std::chrono::milliseconds killGrace_{2000};
    std::size_t outputLimit_ = 64 * 1024;
};

} // namespace mto
