// SPDX-License-Identifier: Apache-2.0
// The QC camera end to end: the real agent, broker and HQ, an emulated GRBL laser, and a real network camera
// (ffmpeg serving an MJPEG stream over HTTP) that is killed mid-stream and comes back.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <csignal>
#include <filesystem>
#include <string>
#include <thread>

#include "agent_rig.hpp"
#include "test_env.hpp"
#include "util/sha256.hpp"

namespace mto::test {
namespace {

using namespace std::chrono_literals;

std::vector<SeenEvent> seenEvents(HqClient& hq, const std::string& orderId, const std::string& milestone) {
    std::vector<SeenEvent> out;
    for (auto& e : hq.events())
        if (e.orderId == orderId && e.milestone == milestone) out.push_back(e);
    return out;
}

class QcCamera : public ::testing::Test {
protected:
    void SetUp() override {
        if (!std::filesystem::exists("/usr/bin/ffmpeg")) GTEST_SKIP() << "ffmpeg is not installed (Debian package ffmpeg)";
        const auto sim = std::filesystem::path(agentBinary()).parent_path() / "mto-machine-sim";
        ASSERT_TRUE(std::filesystem::exists(sim)) << sim;
        port_ = (simDir_.path() / "laser-1").string();
        sim_.start({sim.string(), "--grbl", port_, "--laser", "--speed", "100"}, simDir_.path() / "sim.log");
        ASSERT_TRUE(waitUntil([&] { return std::filesystem::exists(port_); }, 10s));
        cameraPort_ = freeTcpPort();
        startCamera();
        AgentRigOptions o;
        o.agent.compile = true;
        o.agent.extraConfig = "[[machines]]\nid = \"laser-1\"\nprofile = \"laser-400\"\nport = \"" + port_ +
                              "\"\nstatus_running_ms = 100\nstatus_idle_ms = 500\n"
                              "[[cameras]]\nid = \"cam-1\"\nsource = \"" + url() +
                              "\"\nmachines = [\"laser-1\"]\nkeep_open = true\njpeg_quality = 85\n"
                              "open_timeout_ms = 2000\nread_timeout_ms = 1000\nretry_min_ms = 200\nretry_max_ms = 1000\n";
        o.hqBeforeAgent = true;
        rig_ = std::make_unique<AgentRig>(o);
    }
    void TearDown() override {
        rig_.reset();
        camera_.kill9();
        camera_.wait(5s);
        sim_.signal(SIGTERM);
        sim_.wait(5s);
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(cameraPort_) + "/cam.mjpg"; }
    // A network camera: ffmpeg serves a generated 640x480 test video at 10 fps as multipart JPEG over HTTP.
    void startCamera() {
        camera_.start({"/usr/bin/ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                       "testsrc=size=640x480:rate=10", "-f", "mpjpeg", "-q:v", "4", "-listen", "1", url()},
                      simDir_.path() / "camera.log");
    }
    bool cameraAlertInStatus() {
        auto s = rig_->hq().lastStatus();
        return s.find("\"alerts\":[\"camera cam-1") != std::string::npos;
    }
    bool cameraOkInStatus() {
        auto s = rig_->hq().lastStatus();
        return s.find("\"alerts\":[]") != std::string::npos && s.find("\"state\":\"open\"") != std::string::npos;
    }

    TempDir simDir_;
    std::string port_;
    int cameraPort_ = 0;
    Process sim_;
    Process camera_;
    std::unique_ptr<AgentRig> rig_;
};

TEST_F(QcCamera, JobDoneGetsASnapshotFromTheStreamThenNoImageWhileTheCameraIsGoneAndImagesAgainWhenItReturns) {
    auto& hq = rig_->hq();
    ASSERT_TRUE(waitUntil([&] { return cameraOkInStatus(); }, 20s)) << hq.lastStatus() << rig_->agent().log();
    hq.sendOrder("ORD-1", R"({"order_id":"ORD-1","items":[{"item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":3,)"
                          R"("personalization":{"text":"Ada"}}]})");
    ASSERT_TRUE(waitUntil([&] { return seenEvents(hq, "ORD-1", "snapshot").size() == 1; }, 90s)) << rig_->agent().log();
    auto shot = seenEvents(hq, "ORD-1", "snapshot")[0];
    auto done = seenEvents(hq, "ORD-1", "job_done")[0];
    EXPECT_LT(done.seq, shot.seq) << "the milestone is committed before the camera is asked";
    EXPECT_EQ(shot.data.at("kind").as_string(), "qc");
    EXPECT_EQ(shot.data.at("camera").as_string(), "cam-1");
    EXPECT_EQ(shot.data.at("machine").as_string(), "laser-1");
    EXPECT_EQ(shot.data.at("unit").as_int64(), 1);
    EXPECT_EQ(shot.data.at("width").as_int64(), 640);
    EXPECT_GT(shot.data.at("sharpness").to_number<double>(), 0);
    const std::string sha(shot.data.at("media_sha256").as_string());
    const std::string thumb(shot.data.at("thumbnail_sha256").as_string());
    // The bytes come on the media lane, behind the milestone; their hash is the one the milestone names.
    ASSERT_TRUE(waitUntil([&] { return hq.media().count(sha) && hq.media().count(thumb); }, 20s));
    EXPECT_EQ(sha256Hex(hq.media().at(sha)), sha);
    EXPECT_EQ(sha256Hex(hq.media().at(thumb)), thumb);
    const auto stored = rig_->agent().stateDir() / "media" / (sha + ".jpg");
    EXPECT_TRUE(std::filesystem::exists(stored));
    ASSERT_TRUE(waitUntil([&] { return rig_->scalar("SELECT COUNT(*) FROM media WHERE state = 'acked' AND sha256 = '" + sha + "'") == 1; }, 10s));

    // The camera dies mid-stream: the status raises an alert, and the next unit's QC shot says no_image.
    camera_.kill9();
    camera_.wait(5s);
    ASSERT_TRUE(waitUntil([&] { return cameraAlertInStatus(); }, 20s)) << hq.lastStatus() << rig_->agent().log();
    std::string out;
    ASSERT_EQ(rig_->mtoctl({"clear", "laser-1"}, out), 0) << out;
    ASSERT_TRUE(waitUntil([&] { return seenEvents(hq, "ORD-1", "snapshot").size() == 2; }, 90s)) << rig_->agent().log();
    auto missing = seenEvents(hq, "ORD-1", "snapshot")[1];
    EXPECT_EQ(seenEvents(hq, "ORD-1", "job_done").size(), 2u) << "production went on without the camera";
    EXPECT_TRUE(missing.data.at("no_image").as_bool()) << boost::json::serialize(missing.data);
    EXPECT_FALSE(std::string(missing.data.at("reason").as_string()).empty());
    EXPECT_FALSE(missing.data.contains("media_sha256"));

    // It comes back: the agent reconnects by itself, the alert clears, and the next shot has an image again.
    startCamera();
    ASSERT_TRUE(waitUntil([&] { return cameraOkInStatus(); }, 30s)) << hq.lastStatus() << rig_->agent().log();
    ASSERT_EQ(rig_->mtoctl({"clear", "laser-1"}, out), 0) << out;
    ASSERT_TRUE(waitUntil([&] { return seenEvents(hq, "ORD-1", "snapshot").size() == 3; }, 90s)) << rig_->agent().log();
    auto again = seenEvents(hq, "ORD-1", "snapshot")[2];
    ASSERT_TRUE(again.data.contains("media_sha256")) << boost::json::serialize(again.data);
    const std::string sha3(again.data.at("media_sha256").as_string());
    EXPECT_EQ(sha256Hex(readFile(rig_->agent().stateDir() / "media" / (sha3 + ".jpg"))), sha3);
    ASSERT_TRUE(waitUntil([&] { return hq.media().count(sha3) == 1; }, 20s));
    EXPECT_EQ(sha256Hex(hq.media().at(sha3)), sha3);
    // Milestones of the order arrived in seq order, with the snapshots among them.
    std::int64_t last = 0;
    for (const auto& e : hq.events()) {
        if (e.orderId != "ORD-1") continue;
        EXPECT_GT(e.seq, last);
        last = e.seq;
    }
}

} // namespace
} // namespace mto::test
