// SPDX-License-Identifier: Apache-2.0
// The entry scripts run scripts/setup.sh before they look for or use anything it installs, as on a fresh Debian.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <set>
#include <sstream>

#include "test_env.hpp"

namespace mto::test {
namespace {

// What a fresh Debian 12 lacks until setup.sh has installed it (coreutils, sed, grep and util-linux are
// essential packages and always there).
const std::set<std::string> kInstalledBySetup{"python3",       "cmake", "ctest",      "ninja",  "mosquitto",
                                              "mosquitto_pub", "mosquitto_sub", "git", "pkg-config", "sqlite3"};

void writeExecutable(const std::filesystem::path& p, const std::string& text) {
    writeFile(p, text);
    ::chmod(p.c_str(), 0755);
}

std::string baseName(const std::string& word) {
    auto slash = word.rfind('/');
    return slash == std::string::npos ? word : word.substr(slash + 1);
}

struct ScriptRun {
    std::string output;       // the script's output with its xtrace, in order
    std::string toolLog;      // one line per call of a stand-in tool
    std::vector<std::string> usedBeforeSetup;
    bool setupRan = false;
};

// Runs SCRIPT as scripts/NAME in a tree whose setup.sh is a stand-in that only "installs" the stand-in
// tools on PATH: until it has run they behave as missing (exit 127). The script runs with xtrace, so a tool
// called by absolute path (which PATH cannot intercept) is caught too.
ScriptRun runScriptBeforeSetup(const std::string& name, const std::string& script,
                                const std::vector<std::string>& args = {}) {
    TempDir dir;
    const auto tree = dir.path() / "tree";
    const auto stubs = dir.path() / "stubs";
    const auto installed = dir.path() / "installed";
    const auto toolLog = dir.path() / "tools.log";
    std::filesystem::create_directories(tree / "scripts");
    std::filesystem::create_directories(stubs);
    writeExecutable(tree / "scripts" / name, script);
    std::filesystem::create_directories(tree / "config");
    std::filesystem::copy_file(sourceDir() + "/config/demo.toml", tree / "config" / "demo.toml");
    writeExecutable(tree / "scripts/setup.sh",
                    "#!/bin/bash\necho 'setup.sh ran' >>'" + toolLog.string() + "'\ntouch '" + installed.string() + "'\n");
    for (const auto& tool : kInstalledBySetup)
        writeExecutable(stubs / tool, "#!/bin/bash\n"
                                      "if [ -e '" + installed.string() + "' ]; then\n"
                                      "  echo \"used: " + tool + " $*\" >>'" + toolLog.string() + "'\n"
                                      "  exit 0\n"
                                      "fi\n"
                                      "echo \"used before setup: " + tool + " $*\" >>'" + toolLog.string() + "'\n"
                                      "echo '" + tool + ": command not found' >&2\n"
                                      "exit 127\n");

    // A clean environment: no PYTHON or PYTHONPATH from the caller, and the stand-ins first on PATH.
    std::vector<std::string> argv{"/usr/bin/env", "-i", "PATH=" + stubs.string() + ":/usr/bin:/bin",
                                  "HOME=" + dir.path().string(), "TMPDIR=" + dir.path().string(),
                                  "PYTHONPATH=" + (dir.path() / "no-paho").string(), "PS4=+ ", "/bin/bash", "-x",
                                  (tree / "scripts" / name).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    ScriptRun run;
    runCommand(argv, run.output);
    run.toolLog = readFile(toolLog);

    std::istringstream lines(run.output);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] != '+') continue;
        std::istringstream words(line.substr(line.find_first_not_of('+')));
        std::vector<std::string> command;
        for (std::string w; words >> w;) command.push_back(w);
        // Assignments (PYTHON=/usr/bin/python3) run nothing; the command, if any, follows them.
        auto isAssignment = [](const std::string& w) {
            auto eq = w.find('=');
            return eq != std::string::npos && eq > 0 && w.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == eq;
        };
        while (!command.empty() && isAssignment(command.front())) command.erase(command.begin());
        if (command.empty()) continue;
        const bool isSetup = baseName(command[0]) == "setup.sh" ||
                             (command.size() > 1 && command[0] == "bash" && baseName(command[1]) == "setup.sh");
        if (isSetup) run.setupRan = true;
        else if (!run.setupRan && kInstalledBySetup.count(baseName(command[0]))) run.usedBeforeSetup.push_back(line);
    }
    std::istringstream tools(run.toolLog);
    for (std::string line; std::getline(tools, line);)
        if (line.rfind("used before setup: ", 0) == 0) run.usedBeforeSetup.push_back(line);
    return run;
}

ScriptRun runShippedScriptBeforeSetup(const std::string& name, const std::vector<std::string>& args = {}) {
    return runScriptBeforeSetup(name, readFile(sourceDir() + "/scripts/" + name), args);
}

std::string joined(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& l : lines) text += "  " + l + "\n";
    return text;
}

TEST(ScriptSetupOrder, DemoRunsSetupBeforeLookingForPythonOrBuilding) {
    auto run = runShippedScriptBeforeSetup("demo.sh", {"--once"});
    EXPECT_TRUE(run.setupRan) << run.output;
    EXPECT_TRUE(run.usedBeforeSetup.empty()) << "used before setup.sh:\n" << joined(run.usedBeforeSetup) << run.output;
    // Past setup and its checks (python3 with paho-mqtt found), the demo goes on to build.
    EXPECT_EQ(run.output.find("no python3 with paho-mqtt"), std::string::npos) << run.output;
    EXPECT_NE(run.toolLog.find("used: cmake"), std::string::npos) << run.toolLog << run.output;
}

TEST(ScriptSetupOrder, TestScriptRunsSetupBeforeBuilding) {
    auto run = runShippedScriptBeforeSetup("test.sh");
    EXPECT_TRUE(run.setupRan) << run.output;
    EXPECT_TRUE(run.usedBeforeSetup.empty()) << "used before setup.sh:\n" << joined(run.usedBeforeSetup) << run.output;
    EXPECT_NE(run.toolLog.find("used: cmake"), std::string::npos) << run.toolLog << run.output;
}

TEST(ScriptSetupOrder, BenchScriptRunsSetupBeforeBuilding) {
    auto run = runShippedScriptBeforeSetup("bench.sh", {"--quick"});
    EXPECT_TRUE(run.setupRan) << run.output;
    EXPECT_TRUE(run.usedBeforeSetup.empty()) << "used before setup.sh:\n" << joined(run.usedBeforeSetup) << run.output;
    EXPECT_NE(run.toolLog.find("used: cmake"), std::string::npos) << run.toolLog << run.output;
}

// The check itself must see a tool that runs too early, whether it is found on PATH or named by its path.
TEST(ScriptSetupOrder, TheCheckCatchesToolsUsedBeforeSetupByNameAndByPath) {
    auto run = runScriptBeforeSetup("early.sh", "#!/bin/bash\n"
                                                "python3 -c pass || true\n"
                                                "/usr/bin/python3 -c pass || true\n"
                                                "bash \"$(dirname \"$0\")/setup.sh\"\n"
                                                "cmake --version\n");
    EXPECT_TRUE(run.setupRan) << run.output;
    // python3 twice in the xtrace (by name and by path), and once more in the stand-in's own log.
    EXPECT_EQ(run.usedBeforeSetup.size(), 3u) << joined(run.usedBeforeSetup) << run.output;
    EXPECT_NE(run.toolLog.find("used: cmake --version"), std::string::npos) << run.toolLog;
}

} // namespace
} // namespace mto::test
