// SPDX-License-Identifier: Apache-2.0
// QC cameras and snapshots on a real SQLite file: shots from a generated video file with the hash of the stored
// bytes, blur and darkness flagged, a camera that cannot open answered with no_image, and the media quota's order.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "media/media_quota.hpp"
#include "media/media_store.hpp"
#include "qc/camera.hpp"
#include "qc/image_metrics.hpp"
#include "qc/qc_cameras.hpp"
#include "store/migrations.hpp"
#include "test_env.hpp"
#include "util/sha256.hpp"
#include "compiler/compile_queue.hpp"
#include "mto/config.hpp"
#include <opencv2/imgcodecs.hpp>
#include <thread>

namespace mto::test {
namespace {

using namespace std::chrono_literals;

// A sharp test picture: a checkerboard with a gradient and text.
cv::Mat testPicture(int w = 640, int h = 480) {
    cv::Mat m(h, w, CV_8UC3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const bool dark = ((x / 20) + (y / 20)) % 2;
            m.at<cv::Vec3b>(y, x) = dark ? cv::Vec3b(40, 40, static_cast<uchar>(x * 255 / w))
                                         : cv::Vec3b(220, 220, static_cast<uchar>(y * 255 / h));
        }
    cv::putText(m, "QC 42", {50, 240}, cv::FONT_HERSHEY_SIMPLEX, 3, {0, 0, 255}, 4);
    return m;
}

std::string readAll(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(ImageMetrics, BlurredFrameIsFlaggedAndTheSharpOneIsNot) {
    const cv::Mat sharp = testPicture();
    cv::Mat blurred;
    cv::GaussianBlur(sharp, blurred, {0, 0}, 8);
    const ImageThresholds t{100, 0, 255};
    const auto a = measureImage(sharp, t);
    const auto b = measureImage(blurred, t);
    EXPECT_GT(a.sharpness, 100) << a.sharpness;
    EXPECT_TRUE(a.flags.empty());
    EXPECT_LT(b.sharpness, 100) << b.sharpness;
    ASSERT_EQ(b.flags.size(), 1u);
    EXPECT_EQ(b.flags[0], "blurred");
}

TEST(ImageMetrics, DarkAndOverexposedFramesAreFlagged) {
    const ImageThresholds t{0, 40, 220};
    cv::Mat dark(100, 100, CV_8UC3, cv::Scalar(10, 10, 10));
    cv::Mat white(100, 100, CV_8UC3, cv::Scalar(250, 250, 250));
    EXPECT_EQ(measureImage(dark, t).flags, std::vector<std::string>{"dark"});
    EXPECT_EQ(measureImage(white, t).flags, std::vector<std::string>{"overexposed"});
    EXPECT_NEAR(measureImage(dark, t).brightness, 10, 0.5);
    EXPECT_THROW(measureImage(cv::Mat(), t), Error);
}

class Snapshots : public ::testing::Test {
protected:
    Snapshots() : db_(dir_.path() / "agent.db", Database::Mode::ReadWrite), store_(db_, "f1", clock_), media_(db_, dir_.path()) {
        migrate(db_);
    }

    // A generated video (MJPG in AVI) of the test picture, every frame blurred when asked.
    std::filesystem::path writeVideo(bool blurAll = false) {
        auto path = dir_.path() / "cam.avi";
        cv::VideoWriter w(path.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, {640, 480});
        EXPECT_TRUE(w.isOpened());
        for (int i = 0; i < 10; ++i) {
            cv::Mat f = testPicture();
            if (blurAll) cv::GaussianBlur(f, f, {0, 0}, 8);
            w.write(f);
        }
        return path;
    }

    CameraConfig camera(const std::string& source) {
        CameraConfig c;
        c.id = "cam-1";
        c.source = source;
        c.machines = {"laser-1"};
        c.progressPoints = {50};
        c.sharpnessMin = 100;
        c.retryMin = 50ms;
        c.retryMax = 200ms;
        c.openTimeout = 500ms;
        c.readTimeout = 500ms;
        return c;
    }

    Scheduler::UnitMilestone milestone(const std::string& name, int percent) {
        Scheduler::UnitMilestone m;
        m.machineId = "laser-1";
        m.unit.orderId = "ORD-1";
        m.unit.itemId = "1";
        m.unit.operation = "laser_engrave";
        m.unit.unit = 1;
        m.milestone = name;
        m.percent = percent;
        return m;
    }

    std::vector<boost::json::object> snapshotEvents() {
        std::vector<boost::json::object> out;
        for (const auto& e : store_.eventsAfter(0, 1000))
            if (e.milestone == "snapshot") {
                std::error_code ec;
                auto v = boost::json::parse(e.payload, ec);
                EXPECT_FALSE(ec) << e.payload;
                if (!ec) out.push_back(v.as_object().at("data").as_object());
            }
        return out;
    }

    bool runUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
        const auto end = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < end) {
            io_.restart();
            io_.run_for(20ms);
            if (pred()) return true;
        }
        return false;
    }

    TempDir dir_;
    Database db_;
    SystemClock clock_;
    OrderStore store_;
    MediaStore media_;
    boost::asio::io_context io_;
    CommitQueue commits_{io_, db_};
};

TEST_F(Snapshots, QcShotFromAVideoFileIsStoredUnderTheSha256OfItsBytes) {
    QcCameras qc(io_, commits_, store_, media_, dir_.path(), {camera(writeVideo().string())}, clock_);
    qc.onUnitMilestone(milestone("progress", 25));   // not a progress point of the camera: no shot
    qc.onUnitMilestone(milestone("progress", 50));
    qc.onUnitMilestone(milestone("job_done", 100));
    ASSERT_TRUE(runUntil([&] { return snapshotEvents().size() == 2; }));
    std::this_thread::sleep_for(100ms);
    io_.restart();
    io_.run_for(50ms);
    auto shots = snapshotEvents();
    ASSERT_EQ(shots.size(), 2u);
    EXPECT_EQ(shots[0].at("kind").as_string(), "progress");
    EXPECT_EQ(shots[0].at("percent").as_int64(), 50);
    const auto& qcShot = shots[1];
    EXPECT_EQ(qcShot.at("kind").as_string(), "qc");
    EXPECT_EQ(qcShot.at("camera").as_string(), "cam-1");
    EXPECT_EQ(qcShot.at("machine").as_string(), "laser-1");
    EXPECT_TRUE(qcShot.at("flags").as_array().empty()) << boost::json::serialize(qcShot);
    const std::string sha(qcShot.at("media_sha256").as_string());
    const std::string thumb(qcShot.at("thumbnail_sha256").as_string());
    const auto bytes = readAll(MediaStore::filePath(dir_.path(), sha, "image/jpeg"));
    ASSERT_FALSE(bytes.empty());
    EXPECT_EQ(sha256Hex(bytes), sha);
    EXPECT_EQ(static_cast<std::size_t>(qcShot.at("bytes").as_int64()), bytes.size());
    const auto thumbBytes = readAll(MediaStore::filePath(dir_.path(), thumb, "image/jpeg"));
    EXPECT_EQ(sha256Hex(thumbBytes), thumb);
    cv::Mat t = cv::imdecode(std::vector<uchar>(thumbBytes.begin(), thumbBytes.end()), cv::IMREAD_COLOR);
    EXPECT_EQ(t.cols, 320);
    EXPECT_EQ(t.rows, 240);

    auto latest = media_.latestQcSnapshot("ORD-1", "1");
    ASSERT_TRUE(latest);
    EXPECT_EQ(latest->shot.mediaSha256, sha);
    EXPECT_TRUE(latest->imageOnDisk);
    EXPECT_EQ(latest->path, MediaStore::filePath(dir_.path(), sha, "image/jpeg"));
    EXPECT_FALSE(media_.latestQcSnapshot("ORD-1", "2"));
    auto any = media_.latestSnapshot();
    ASSERT_TRUE(any);
    EXPECT_EQ(any->shot.kind, "qc");
    auto m = media_.find(sha);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->state, "queued");
    EXPECT_EQ(m->bytes, static_cast<std::int64_t>(bytes.size()));
}

TEST_F(Snapshots, BlurredVideoGivesASnapshotFlaggedBlurred) {
    QcCameras qc(io_, commits_, store_, media_, dir_.path(), {camera(writeVideo(true).string())}, clock_);
    qc.onUnitMilestone(milestone("job_done", 100));
    ASSERT_TRUE(runUntil([&] { return snapshotEvents().size() == 1; }));
    auto shot = snapshotEvents()[0];
    ASSERT_TRUE(shot.contains("flags")) << boost::json::serialize(shot);
    ASSERT_EQ(shot.at("flags").as_array().size(), 1u) << boost::json::serialize(shot);
    EXPECT_EQ(shot.at("flags").as_array()[0].as_string(), "blurred");
    EXPECT_EQ(media_.latestQcSnapshot("ORD-1", "1")->shot.flags, std::vector<std::string>{"blurred"});
}

TEST_F(Snapshots, CameraThatCannotOpenGivesNoImageWithTheReasonAndRaisesAnAlert) {
    const int port = freeTcpPort();   // nothing listens there
    QcCameras qc(io_, commits_, store_, media_, dir_.path(),
                 {camera("http://127.0.0.1:" + std::to_string(port) + "/cam.mjpg")}, clock_);
    const auto t0 = std::chrono::steady_clock::now();
    qc.onUnitMilestone(milestone("job_done", 100));
    ASSERT_TRUE(runUntil([&] { return snapshotEvents().size() == 1; }));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    auto shot = snapshotEvents()[0];
    EXPECT_TRUE(shot.at("no_image").as_bool());
    EXPECT_NE(std::string(shot.at("reason").as_string()).find("cannot open"), std::string::npos)
        << boost::json::serialize(shot);
    EXPECT_FALSE(shot.contains("media_sha256"));
    ASSERT_EQ(qc.alerts().size(), 1u);
    EXPECT_NE(qc.alerts()[0].find("cam-1"), std::string::npos);
    EXPECT_TRUE(qc.statusJson()[0].as_object().at("alert").as_bool());
    auto latest = media_.latestQcSnapshot("ORD-1", "1");
    ASSERT_TRUE(latest);
    EXPECT_TRUE(latest->shot.mediaSha256.empty());
    EXPECT_FALSE(latest->shot.reason.empty());
}

TEST_F(Snapshots, MediaQuotaShedsAcknowledgedFirstThenOldestUnsentAndTellsHq) {
    // Six media of 1000 bytes: two acked, one in flight, three queued; the quota holds 2500 bytes.
    struct Row {
        std::string state;
        std::string order;
    };
    const std::vector<Row> rows{{"queued", "A"}, {"acked", "A"}, {"sent", "B"}, {"acked", "B"}, {"queued", "B"},
                                {"queued", "C"}};
    std::vector<std::string> shas;
    {
        Transaction txn(db_);
        for (std::size_t i = 0; i < rows.size(); ++i) {
            const std::string bytes(1000, static_cast<char>('a' + i));
            const std::string sha = sha256Hex(bytes);
            shas.push_back(sha);
            writeFileDurably(MediaStore::filePath(dir_.path(), sha, "image/jpeg"), bytes);
            media_.enqueue({0, sha, "qc", "image/jpeg", 1000, static_cast<std::int64_t>(i), rows[i].order, "1", ""});
            auto id = media_.find(sha)->id;
            if (rows[i].state != "queued") media_.setState(id, rows[i].state);
        }
        txn.commit();
    }
    ASSERT_EQ(media_.usageBytes(), 6000);
    MediaQuota quota(commits_, store_, media_, dir_.path(), 2500, clock_);
    quota.check();
    ASSERT_TRUE(runUntil([&] { return media_.usageBytes() < 6000; }));
    // Down to 90 % of the quota (2250): four go. Both acked, then the two oldest queued; the one in flight stays.
    EXPECT_EQ(media_.usageBytes(), 2000);
    auto state = [&](std::size_t i) { return media_.find(shas[i])->state; };
    EXPECT_EQ(state(1), "shed");
    EXPECT_EQ(state(3), "shed");
    EXPECT_EQ(state(0), "shed");
    EXPECT_EQ(state(4), "shed");
    EXPECT_EQ(state(2), "sent");
    EXPECT_EQ(state(5), "queued");
    EXPECT_FALSE(std::filesystem::exists(MediaStore::filePath(dir_.path(), shas[1], "image/jpeg")));
    EXPECT_FALSE(std::filesystem::exists(MediaStore::filePath(dir_.path(), shas[0], "image/jpeg")));
    EXPECT_TRUE(std::filesystem::exists(MediaStore::filePath(dir_.path(), shas[5], "image/jpeg")));
    // HQ hears only of the hashes it never got, per order.
    std::map<std::string, std::vector<std::string>> told;
    for (const auto& e : store_.eventsAfter(0, 100)) {
        ASSERT_EQ(e.milestone, "media_shed");
        auto data = boost::json::parse(e.payload).as_object().at("data").as_object();
        EXPECT_EQ(data.at("reason").as_string(), "media_quota");
        for (const auto& h : data.at("media_sha256s").as_array()) told[e.orderId].push_back(std::string(h.as_string()));
    }
    EXPECT_EQ(told["A"], std::vector<std::string>{shas[0]});
    EXPECT_EQ(told["B"], std::vector<std::string>{shas[4]});
    EXPECT_EQ(told.count("C"), 0u);
    auto status = quota.statusJson();
    ASSERT_EQ(status.size(), 1u);
    EXPECT_EQ(status[0].as_object().at("count").as_int64(), 4);
    EXPECT_EQ(status[0].as_object().at("unsent").as_int64(), 2);
}

TEST(CameraConfig, UnknownMachineAndBadQualityAreRefusedNamingFileAndKey) {
    TempDir dir;
    std::ofstream(dir.path() / "catalog.toml") << "";
    auto write = [&](const std::string& cameras) {
        std::ofstream(dir.path() / "agent.toml")
            << "[factory]\nid = \"f\"\n[mqtt]\nuri = \"tcp://127.0.0.1:1883\"\n[storage]\nstate_dir = \"s\"\n"
               "[intake]\ncatalog = \"catalog.toml\"\n[[machines]]\nid = \"laser-1\"\nprofile = \"p\"\nport = \"/dev/null\"\n"
            << cameras;
        return dir.path() / "agent.toml";
    };
    try {
        loadConfig(write("[[cameras]]\nid = \"cam\"\nsource = \"/dev/video0\"\nmachines = [\"laser-9\"]\n"));
        FAIL() << "an unknown machine was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("agent.toml: key 'cameras[0].machines': no [[machines]] has id 'laser-9'"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_THROW(loadConfig(write("[[cameras]]\nid = \"cam\"\nsource = \"/dev/video0\"\nmachines = [\"laser-1\"]\n"
                                  "jpeg_quality = 0\n")),
                 Error);
    auto ok = loadConfig(write("[[cameras]]\nid = \"cam\"\nsource = \"/dev/video0\"\nmachines = [\"laser-1\"]\n"
                               "progress_points = [50]\nsharpness_min = 80.5\n"));
    ASSERT_EQ(ok.cameras.size(), 1u);
    EXPECT_EQ(ok.cameras[0].progressPoints, std::vector<int>{50});
    EXPECT_DOUBLE_EQ(ok.cameras[0].sharpnessMin, 80.5);
}

} // namespace
} // namespace mto::test
