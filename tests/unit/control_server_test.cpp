// SPDX-License-Identifier: Apache-2.0
// The local control channel over a real Unix socket: owner-only, one line each way, long status answers whole.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <cstring>
#include <string>
#include <thread>

#include "control/control_server.hpp"
#include "control/floor_view.hpp"
#include "mto/error.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

// A floor as big as a large factory's: the answer is far longer than a command line may be.
FloorView bigFloor() {
    FloorView v;
    v.factory = "f1";
    v.at = "2026-11-26T05:30:00.000Z";
    for (int i = 0; i < 100; ++i)
        v.machines.push_back({"laser-" + std::to_string(i), "laser-400", "laser", "running", "running",
                              "streaming the program to the controller",
                              FloorJob{"ORD-" + std::to_string(1000 + i), "1", "laser_engrave", 1, 4, i, 30.0 + i}, ""});
    for (int i = 0; i < 50; ++i)
        v.queue.push_back({"ORD-" + std::to_string(2000 + i), "1", "laser_engrave", "laser", 1, 2, i % 5 == 0,
                           "2026-12-01T10:00:00Z", 60});
    v.queuedSeconds["laser"] = 6000;
    return v;
}

class ControlServerTest : public ::testing::Test {
protected:
    ControlServerTest()
        : path_(dir_.path() / "control.sock"), server_(io_, path_, [this](const std::vector<std::string>& words) {
              if (words.size() == 1 && words[0] == "status") return "ok " + floorViewJson(bigFloor());
              if (words.size() == 2 && words[0] == "throw") throw Error("the handler failed on " + words[1]);
              return std::string("error: unknown command");
          }) {
        server_.start();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~ControlServerTest() override {
        boost::asio::post(io_, [this] { server_.stop(); });
        work_.reset();
        thread_.join();
    }

    test::TempDir dir_;
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io_.get_executor()};
    std::filesystem::path path_;
    ControlServer server_;
    std::thread thread_;
};

TEST_F(ControlServerTest, AStatusOfAHundredMachinesAndFiftyQueuedJobsArrivesWholeInOneLine) {
    const std::string reply = controlRequest(path_, "status");
    ASSERT_EQ(reply.rfind("ok ", 0), 0u) << reply.substr(0, 200);
    EXPECT_GT(reply.size(), 16u * 1024) << "longer than any command line";
    const FloorView v = parseFloorView(reply.substr(3));
    ASSERT_EQ(v.machines.size(), 100u);
    EXPECT_EQ(v.machines[99].id, "laser-99");
    ASSERT_TRUE(v.machines[99].job);
    EXPECT_EQ(v.machines[99].job->percent, 99);
    ASSERT_EQ(v.queue.size(), 50u);
    EXPECT_EQ(v.queue[49].orderId, "ORD-2049");
}

TEST_F(ControlServerTest, TheSocketIsTheOwnersOnlyAndEveryRefusalIsAnErrorLine) {
    struct stat st {};
    ASSERT_EQ(::stat(path_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(controlRequest(path_, "frobnicate"), "error: unknown command");
    EXPECT_EQ(controlRequest(path_, "throw laser-1"), "error: the handler failed on laser-1");
    EXPECT_EQ(controlRequest(path_, std::string(5000, 'x')), "error: line too long");
}

TEST(ControlClient, AnAgentThatIsNotRunningIsAClearError) {
    test::TempDir dir;
    try {
        controlRequest(dir.path() / "control.sock", "status");
        FAIL() << "no error";
    } catch (const Error& e) {
        const std::string why = e.what();
        EXPECT_NE(why.find("cannot reach the agent at " + (dir.path() / "control.sock").string()), std::string::npos) << why;
        EXPECT_NE(why.find("is it running?"), std::string::npos) << why;
    }
}

// A stuck agent: its socket takes connections (the kernel queues them) and reads nothing, answers nothing.
class SilentSocket {
public:
    explicit SilentSocket(const std::filesystem::path& path) : fd_(::socket(AF_UNIX, SOCK_STREAM, 0)) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd_, 4) != 0)
            throw std::runtime_error("cannot listen on " + path.string() + ": " + std::strerror(errno));
    }
    ~SilentSocket() { ::close(fd_); }
    SilentSocket(const SilentSocket&) = delete;
    SilentSocket& operator=(const SilentSocket&) = delete;

private:
    int fd_;
};

TEST(ControlClient, AnAgentThatTakesTheCommandButNeverAnswersIsAnErrorAfterTheTimeout) {
    test::TempDir dir;
    const auto path = dir.path() / "control.sock";
    SilentSocket agent(path);
    try {
        controlRequest(path, "status", std::chrono::milliseconds(200));
        FAIL() << "no error";
    } catch (const Error& e) {
        const std::string why = e.what();
        EXPECT_NE(why.find("the agent at " + path.string() + " did not answer within 0.2 s"), std::string::npos) << why;
        EXPECT_NE(why.find("journalctl -u mto-agent"), std::string::npos) << why;
    }
}

TEST_F(ControlServerTest, AnAgentThatAnswersInTimeIsNotCutShortByTheTimeout) {
    EXPECT_EQ(controlRequest(path_, "frobnicate", std::chrono::milliseconds(5000)), "error: unknown command");
}

TEST(ControlClient, TimeoutsAreSaidInSeconds) {
    EXPECT_EQ(describeTimeout(kControlTimeout), "10 s");
    EXPECT_EQ(describeTimeout(std::chrono::milliseconds(250)), "0.25 s");
    EXPECT_EQ(describeTimeout(std::chrono::milliseconds(1500)), "1.5 s");
}

} // namespace
} // namespace mto
