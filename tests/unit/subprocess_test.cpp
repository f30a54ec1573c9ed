// SPDX-License-Identifier: Apache-2.0
// Subprocess: real /bin programs run without a shell, with exit codes, captured output and deadlines.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <string>

#include "compiler/subprocess.hpp"
#include "mto/error.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

using namespace std::chrono_literals;

TEST(Subprocess, ReportsTheExitCode) {
    const SubprocessResult ok = Subprocess({"true"}).run();
    EXPECT_TRUE(ok.succeeded());
    EXPECT_EQ(ok.exitCode, 0);
    const SubprocessResult r = Subprocess({"sh", "-c", "exit 7"}).run();
    EXPECT_FALSE(r.succeeded());
    EXPECT_EQ(r.exitCode, 7);
    EXPECT_EQ(r.termSignal, 0);
    EXPECT_FALSE(r.timedOut);
    EXPECT_EQ(r.describe(), "exit code 7");
}

TEST(Subprocess, CapturesStdoutAndStderrSeparately) {
    const SubprocessResult r = Subprocess({"sh", "-c", "echo out; echo err >&2; echo more"}).run();
    EXPECT_EQ(r.out, "out\nmore\n");
    EXPECT_EQ(r.err, "err\n");
}

TEST(Subprocess, ArgumentsWithSpacesAndQuotesArriveVerbatim) {
    const std::string tricky = "a b  \"c\" 'd' $HOME `id` \\e; f|g *";
    const SubprocessResult r = Subprocess({"printf", "%s|", tricky, "", "x"}).run();
    EXPECT_EQ(r.out, tricky + "||x|");
}

TEST(Subprocess, TimeoutKillsASleepQuickly) {
    const auto start = std::chrono::steady_clock::now();
    const SubprocessResult r = Subprocess({"sleep", "30"}).timeout(200ms).run();
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_TRUE(r.timedOut);
    EXPECT_EQ(r.termSignal, SIGTERM);
    EXPECT_FALSE(r.succeeded());
    EXPECT_LT(took, 3s);
    EXPECT_NE(r.describe().find("timed out"), std::string::npos) << r.describe();
}

TEST(Subprocess, TimeoutReachesGrandchildrenAndEscalatesToSigkill) {
    // The shell ignores SIGTERM and waits for a child sleep: only a group-wide SIGKILL ends both.
    const auto start = std::chrono::steady_clock::now();
    const SubprocessResult r =
        Subprocess({"sh", "-c", "trap '' TERM; sleep 30; echo survived"}).timeout(200ms).killGrace(300ms).run();
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_TRUE(r.timedOut);
    EXPECT_EQ(r.termSignal, SIGKILL);
    EXPECT_EQ(r.out.find("survived"), std::string::npos);
    EXPECT_LT(took, 3s);
}

TEST(Subprocess, BackgroundChildHoldingThePipeDoesNotHangTheCaller) {
    const auto start = std::chrono::steady_clock::now();
    const SubprocessResult r = Subprocess({"sh", "-c", "sleep 30 & echo started"}).killGrace(300ms).run();
    EXPECT_TRUE(r.succeeded()) << r.describe();
    EXPECT_EQ(r.out, "started\n");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(Subprocess, KeepsOnlyTheTailOfLongOutput) {
    const SubprocessResult r = Subprocess({"sh", "-c", "seq 1 100000"}).outputLimit(1000).run();
    EXPECT_TRUE(r.succeeded());
    EXPECT_TRUE(r.outTruncated);
    EXPECT_EQ(r.out.size(), 1000u);
    EXPECT_EQ(r.out.substr(r.out.size() - 7), "100000\n");
}

TEST(Subprocess, WorkingDirectoryAndEnvironmentAdditions) {
    test::TempDir dir;
    const SubprocessResult r = Subprocess({"sh", "-c", "pwd; echo \"$MTO_TEST_VALUE\"; echo \"$PATH\" | wc -c"})
                                   .workingDirectory(dir.path())
                                   .environment("MTO_TEST_VALUE", "with space=and equals")
                                   .run();
    EXPECT_TRUE(r.succeeded());
    const std::string expected = std::filesystem::canonical(dir.path()).string() + "\nwith space=and equals\n";
    EXPECT_EQ(r.out.substr(0, expected.size()), expected);
    EXPECT_NE(r.out.substr(expected.size()), "1\n") << "the inherited PATH was lost";
}

TEST(Subprocess, SignalledChildIsReported) {
    const SubprocessResult r = Subprocess({"sh", "-c", "kill -9 $$"}).run();
    EXPECT_EQ(r.termSignal, SIGKILL);
    EXPECT_FALSE(r.timedOut);
    EXPECT_NE(r.describe().find("signal 9"), std::string::npos);
}

TEST(Subprocess, MissingProgramThrowsAnActionableError) {
    try {
        Subprocess({"mto-no-such-program"}).run();
        FAIL() << "started a program that does not exist";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("mto-no-such-program"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("PATH"), std::string::npos) << e.what();
    }
    EXPECT_THROW(Subprocess({"true"}).workingDirectory("/nonexistent/dir").run(), Error);
    EXPECT_THROW(Subprocess(std::vector<std::string>{}), Error);
}

TEST(Subprocess, ChildDoesNotInheritABlockedSigterm) {
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, &old);
    const SubprocessResult r = Subprocess({"sleep", "30"}).timeout(100ms).killGrace(5s).run();
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    EXPECT_EQ(r.termSignal, SIGTERM) << "SIGTERM was blocked in the child, it needed SIGKILL";
    EXPECT_LT(r.duration, 3s);
}

} // namespace
} // namespace mto
