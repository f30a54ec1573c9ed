// SPDX-License-Identifier: Apache-2.0
// The QC room: the configured cameras, the QC shot at a unit's job_done and progress photos at its progress
// points, each stored content-addressed with a thumbnail and quality figures and told to HQ as a `snapshot`.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/json/array.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "media/media_store.hpp"
#include "mto/config.hpp"
#include "qc/camera.hpp"
#include "qc/image_metrics.hpp"
#include "scheduler/scheduler.hpp"
#include "store/commit_queue.hpp"
#include "store/order_store.hpp"
#include "util/clock.hpp"

namespace mto {

// A shot encoded and on disk, before its commit.
struct EncodedShot {
    std::string jpeg;
    std::string sha256;
    std::string thumbJpeg;
    std::string thumbSha256;
    int width = 0;
    int height = 0;
    ImageMetrics metrics;
};

// Pure, any thread: JPEG at `quality`, a thumbnail `thumbWidth` px wide, hashes and figures.
EncodedShot encodeShot(const cv::Mat& frame, int quality, int thumbWidth, const ImageThresholds& thresholds);

// Thread-bound to the loop, except the shot callbacks, which run on each camera's thread, touch no member
// but the immutable configuration and post their result to the loop.
//
// Invariants: a unit's milestone is committed before its shot is asked for, so nothing of production ever
// waits for a camera; every shot asked for ends in exactly one `snapshot` milestone (with an image, or
// `no_image` and the reason).
class QcCameras {
public:
    // A camera factory (tests hand in fake sources); unset: makeFrameSource.
    using SourceFactory = std::function<std::unique_ptr<FrameSource>(const CameraConfig&)>;

    QcCameras(boost::asio::io_context& io, CommitQueue& commits, OrderStore& store, MediaStore& media,
              std::filesystem::path stateDir, const std::vector<CameraConfig>& cameras, const Clock& clock,
              SourceFactory sources = {});
    ~QcCameras();

    // The scheduler's hook: a unit's progress point or job_done was committed.
    void onUnitMilestone(const Scheduler::UnitMilestone& m);
    // Runs on the loop after a camera opened, closed, failed or came back (for the retained status).
    void onChange(std::function<void()> f) { onChange_ = std::move(f); }

    // The cameras for the retained status, and an alert line per camera that is unavailable.
    boost::json::array statusJson() const;
    std::vector<std::string> alerts() const;
    std::size_t size() const { return cameras_.size(); }

private:
    struct Request {
        std::string cameraId;
        std::string machineId;
        QueuedUnit unit;
        std::string kind;   // qc | progress
        int percent = 0;
    };
    void shoot(Camera& camera, Request r);
    void commitShot(const Request& r, std::shared_ptr<EncodedShot> shot, const std::string& error);

    boost::asio::io_context& io_;
    CommitQueue& commits_;
    OrderStore& store_;
    MediaStore& media_;
    std::filesystem::path stateDir_;
    const Clock& clock_;
    std::vector<std::unique_ptr<Camera>> cameras_;
    std::multimap<std::string, Camera*> byMachine_;
    std::function<void()> onChange_;
    std::shared_ptr<bool> alive_;
};

} // namespace mto
