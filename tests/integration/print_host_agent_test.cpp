// SPDX-License-Identifier: Apache-2.0
// A printed order end to end: the real agent, broker and HQ, the keychain sliced by openscad and prusa-slicer, and
// the print run on the test Moonraker of mto-machine-sim over HTTP.
#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>

#include "agent_rig.hpp"
#include "test_env.hpp"
#include "virtual/moonraker_server.hpp"

namespace mto::test {
namespace {

using namespace std::chrono_literals;

bool onPath(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "");
    std::string dir;
    while (std::getline(dirs, dir, ':'))
        if (!dir.empty() && ::access((std::filesystem::path(dir) / program).c_str(), X_OK) == 0) return true;
    return false;
}

TEST(PrintHostAgent, AKeychainOrderIsPrintedOnMoonrakerUntilJobDone) {
    for (const char* tool : {"openscad", "prusa-slicer", "fc-list"})
        if (!onPath(tool)) GTEST_SKIP() << tool << " is not installed (apt install openscad prusa-slicer fontconfig)";
    TempDir simDir;
    const auto sim = std::filesystem::path(agentBinary()).parent_path() / "mto-machine-sim";
    ASSERT_TRUE(std::filesystem::exists(sim)) << sim;
    Process simProcess;
    const auto log = simDir.path() / "sim.log";
    simProcess.start({sim.string(), "--moonraker", "0", "--print-seconds", "3"}, log);
    std::smatch m;
    const std::regex urlLine("moonraker: (http://127\\.0\\.0\\.1:[0-9]+)");
    std::string text;
    ASSERT_TRUE(waitUntil(
        [&] {
            text = std::filesystem::exists(log) ? readFile(log) : "";
            return std::regex_search(text, m, urlLine);
        },
        10s))
        << text;
    const std::string url = m[1];

    AgentRigOptions o;
    o.agent.compile = true;
    o.agent.extraConfig = "[[machines]]\nid = \"printer-1\"\nprofile = \"mk3s\"\ndriver = \"moonraker\"\nurl = \"" +
                          url + "\"\npoll_ms = 200\n";
    o.hqBeforeAgent = true;
    AgentRig rig(o);
    auto& hq = rig.hq();
    hq.sendOrder("ORD-P1", R"({"order_id":"ORD-P1","items":[{"item_id":"1","sku":"KEYCHAIN-PLA-PRINT","qty":1,)"
                           R"("personalization":{"name":"Ada"}}]})");
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-P1", "production_started") == 1; }, 180s))
        << rig.agent().log();
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-P1", "job_done") == 1; }, 60s)) << rig.agent().log();
    EXPECT_EQ(countOf(hq, "ORD-P1", "interrupted"), 0u);
    EXPECT_EQ(rig.scalar("SELECT COUNT(*) FROM units WHERE state = 'done'"), 1);
    // The printer waits for its bed to be cleared like every machine.
    std::string out;
    EXPECT_EQ(rig.mtoctl({"clear", "printer-1"}, out), 0) << out;
    simProcess.signal(SIGTERM);
    simProcess.wait(5s);
}

// A test Moonraker in this process, on a thread of its own, so the test can restart it while the agent prints.
class MoonrakerOnThread {
public:
    explicit MoonrakerOnThread(virt::MoonrakerServerOptions o) : work_(io_.get_executor()), server_(io_, o) {
        server_.start();
        thread_ = std::thread([this] { io_.run(); });
    }
    std::string url() const { return server_.url(); }
    // Runs `f` on the server's thread and waits for it.
    template <typename F>
    auto run(F f) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto result = task.get_future();
        boost::asio::post(io_, [&task] { task(); });
        return result.get();
    }
    virt::MoonrakerServer& server() { return server_; }
    ~MoonrakerOnThread() {
        run([this] { server_.stopHost(); });
        work_.reset();
        io_.stop();
        thread_.join();
    }

private:
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    virt::MoonrakerServer server_;
    std::thread thread_;
};

class PrintHostAgentRestart : public ::testing::TestWithParam<bool> {};

// Moonraker restarts while the agent's print runs: a host that kept its job finishes it (job_done, nothing
// interrupted); a host that lost it makes the unit interrupted with host_lost_job, for the operator to decide.
TEST_P(PrintHostAgentRestart, AHostRestartMidPrintIsReconciledThroughTheAgent) {
    const bool keepJob = GetParam();
    for (const char* tool : {"openscad", "prusa-slicer", "fc-list"})
        if (!onPath(tool)) GTEST_SKIP() << tool << " is not installed (apt install openscad prusa-slicer fontconfig)";
    virt::MoonrakerServerOptions so;
    so.print.printSeconds = 4;
    so.keepJobOnRestart = keepJob;
    MoonrakerOnThread host(so);

    AgentRigOptions o;
    o.agent.compile = true;
    o.agent.extraConfig = "[[machines]]\nid = \"printer-1\"\nprofile = \"mk3s\"\ndriver = \"moonraker\"\nurl = \"" +
                          host.url() + "\"\npoll_ms = 200\n";
    o.hqBeforeAgent = true;
    AgentRig rig(o);
    auto& hq = rig.hq();
    hq.sendOrder("ORD-P2", R"({"order_id":"ORD-P2","items":[{"item_id":"1","sku":"KEYCHAIN-PLA-PRINT","qty":1,)"
                           R"("personalization":{"name":"Bo"}}]})");
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-P2", "production_started") == 1; }, 180s))
        << rig.agent().log();
    ASSERT_TRUE(waitUntil([&] { return host.run([&] { return host.server().print().busy(); }); }, 10s));
    host.run([&] { host.server().restart(std::chrono::milliseconds(1500)); });
    if (keepJob) {
        ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-P2", "job_done") == 1; }, 30s)) << rig.agent().log();
        EXPECT_EQ(countOf(hq, "ORD-P2", "interrupted"), 0u);
    } else {
        ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-P2", "interrupted") == 1; }, 30s)) << rig.agent().log();
        std::string reason;
        for (const auto& e : hq.events())
            if (e.orderId == "ORD-P2" && e.milestone == "interrupted" && e.data.contains("reason"))
                reason = std::string(e.data.at("reason").as_string());
        EXPECT_EQ(reason, "host_lost_job");
        EXPECT_EQ(countOf(hq, "ORD-P2", "job_done"), 0u);
    }
}

INSTANTIATE_TEST_SUITE_P(KeptOrLost, PrintHostAgentRestart, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "HostKeptItsJob" : "HostLostItsJob"; });

} // namespace
} // namespace mto::test
