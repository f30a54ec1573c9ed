// SPDX-License-Identifier: Apache-2.0
// The QC room: QC shots at job_done, progress photos at progress points, stored and told to HQ as `snapshot`.
#include "qc/qc_cameras.hpp"

#include <algorithm>
#include <cmath>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include "compiler/compile_queue.hpp"
#include "mto/error.hpp"
#include "util/sha256.hpp"

namespace mto {

namespace json = boost::json;

EncodedShot encodeShot(const cv::Mat& frame, int quality, int thumbWidth, const ImageThresholds& thresholds) {
    if (frame.empty()) throw Error("empty frame");
    EncodedShot s;
    s.width = frame.cols;
    s.height = frame.rows;
    s.metrics = measureImage(frame, thresholds);
    std::vector<uchar> buf;
    if (!cv::imencode(".jpg", frame, buf, {cv::IMWRITE_JPEG_QUALITY, quality})) throw Error("JPEG encoding failed");
    s.jpeg.assign(buf.begin(), buf.end());
    s.sha256 = sha256Hex(s.jpeg);
    cv::Mat thumb;
    const int w = std::min(thumbWidth, frame.cols);
    const int h = std::max(1, static_cast<int>(static_cast<double>(frame.rows) * w / frame.cols + 0.5));
    cv::resize(frame, thumb, cv::Size(w, h), 0, 0, cv::INTER_AREA);
    buf.clear();
    if (!cv::imencode(".jpg", thumb, buf, {cv::IMWRITE_JPEG_QUALITY, quality})) throw Error("JPEG encoding failed");
    s.thumbJpeg.assign(buf.begin(), buf.end());
    s.thumbSha256 = sha256Hex(s.thumbJpeg);
    return s;
}

QcCameras::QcCameras(boost::asio::io_context& io, CommitQueue& commits, OrderStore& store, MediaStore& media,
                     std::filesystem::path stateDir, const std::vector<CameraConfig>& cameras, const Clock& clock,
                     SourceFactory sources)
    : io_(io), commits_(commits), store_(store), media_(media), stateDir_(std::move(stateDir)), clock_(clock),
      alive_(std::make_shared<bool>(true)) {
    if (!sources) sources = [](const CameraConfig& c) { return makeFrameSource(c); };
    for (const auto& c : cameras) {
        std::weak_ptr<bool> alive = alive_;
        auto changed = [this, alive] {
            boost::asio::post(io_, [this, alive] {
                if (alive.lock() && onChange_) onChange_();
            });
        };
        cameras_.push_back(std::make_unique<Camera>(c, sources(c), changed));
        for (const auto& m : c.machines) byMachine_.emplace(m, cameras_.back().get());
        spdlog::info("camera {}: {} watching {} machine(s){}", c.id, redactUri(c.source), c.machines.size(),
                     c.keepOpen ? ", kept open" : "");
    }
}

QcCameras::~QcCameras() {
    *alive_ = false;
    alive_.reset();
    // Each camera's thread is joined; shots still queued are answered and their posts dropped with the loop.
    cameras_.clear();
}

void QcCameras::onUnitMilestone(const Scheduler::UnitMilestone& m) {
    auto [from, to] = byMachine_.equal_range(m.machineId);
    for (auto it = from; it != to; ++it) {
        Camera& camera = *it->second;
        Request r{camera.config().id, m.machineId, m.unit, "", m.percent};
        if (m.milestone == "job_done") {
            r.kind = "qc";
        } else if (m.milestone == "progress") {
            const auto& points = camera.config().progressPoints;
            if (std::find(points.begin(), points.end(), m.percent) == points.end()) continue;
            r.kind = "progress";
        } else {
            continue;
        }
        shoot(camera, std::move(r));
    }
}

void QcCameras::shoot(Camera& camera, Request r) {
    const CameraConfig& c = camera.config();
    std::weak_ptr<bool> alive = alive_;
    camera.request([this, alive, r, &c](const cv::Mat& frame, const std::string& error) {
        // On the camera's thread: encoding and the durable writes stay off the loop.
        auto shot = std::make_shared<EncodedShot>();
        std::string why = error;
        if (why.empty()) {
            try {
                *shot = encodeShot(frame, c.jpegQuality, c.thumbnailWidth,
                                   {c.sharpnessMin, c.brightnessMin, c.brightnessMax});
                writeFileDurably(MediaStore::filePath(stateDir_, shot->sha256, "image/jpeg"), shot->jpeg);
                writeFileDurably(MediaStore::filePath(stateDir_, shot->thumbSha256, "image/jpeg"), shot->thumbJpeg);
            } catch (const std::exception& e) {
                why = std::string("cannot store the shot: ") + e.what();
            }
        }
        boost::asio::post(io_, [this, alive, r, shot, why] {
            if (alive.lock()) commitShot(r, shot, why);
        });
    });
}

void QcCameras::commitShot(const Request& r, std::shared_ptr<EncodedShot> shot, const std::string& error) {
    SnapshotRecord s;
    s.atMs = clock_.nowMs();
    s.kind = r.kind;
    s.cameraId = r.cameraId;
    s.machineId = r.machineId;
    s.orderId = r.unit.orderId;
    s.itemId = r.unit.itemId;
    s.operation = r.unit.operation;
    s.unit = r.unit.unit;
    s.percent = r.percent;
    json::object data{{"kind", r.kind},
                      {"camera", r.cameraId},
                      {"machine", r.machineId},
                      {"operation", r.unit.operation},
                      {"unit", r.unit.unit}};
    if (r.kind == "progress") data["percent"] = r.percent;
    if (error.empty()) {
        s.mediaSha256 = shot->sha256;
        s.thumbSha256 = shot->thumbSha256;
        s.sharpness = shot->metrics.sharpness;
        s.brightness = shot->metrics.brightness;
        s.flags = shot->metrics.flags;
        data["media_sha256"] = shot->sha256;
        data["thumbnail_sha256"] = shot->thumbSha256;
        data["content_type"] = "image/jpeg";
        data["bytes"] = static_cast<std::int64_t>(shot->jpeg.size());
        data["width"] = shot->width;
        data["height"] = shot->height;
        data["sharpness"] = std::round(shot->metrics.sharpness * 10) / 10;
        data["brightness"] = std::round(shot->metrics.brightness * 10) / 10;
        json::array flags;
        for (const auto& f : shot->metrics.flags) flags.push_back(json::string(f));
        data["flags"] = std::move(flags);
    } else {
        s.reason = error;
        data["no_image"] = true;
        data["reason"] = error;
        spdlog::warn("camera {}: no {} shot of {}/{} unit {} on {}: {}", r.cameraId, r.kind, r.unit.orderId,
                     r.unit.itemId, r.unit.unit, r.machineId, error);
    }
    commits_.submit(
        [this, s, shot, data = std::move(data), ok = error.empty()]() mutable {
            if (ok) {
                media_.enqueue({0, shot->sha256, s.kind, "image/jpeg", static_cast<std::int64_t>(shot->jpeg.size()),
                                s.atMs, s.orderId, s.itemId, "queued"});
                media_.enqueue({0, shot->thumbSha256, "thumbnail", "image/jpeg",
                                static_cast<std::int64_t>(shot->thumbJpeg.size()), s.atMs, s.orderId, s.itemId,
                                "queued"});
            }
            media_.recordSnapshot(s);
            store_.recordProduction(s.orderId, s.itemId, "snapshot", std::move(data));
        },
        [r](bool committed) {
            if (!committed)
                spdlog::error("camera {}: the {} shot of {}/{} could not be stored", r.cameraId, r.kind, r.unit.orderId,
                              r.unit.itemId);
        });
}

json::array QcCameras::statusJson() const {
    json::array out;
    for (const auto& cam : cameras_) {
        const auto st = cam->status();
        const auto& c = cam->config();
        json::array machines;
        for (const auto& m : c.machines) machines.push_back(json::string(m));
        json::object o{{"id", c.id},
                       {"source", redactUri(c.source)},
                       {"machines", std::move(machines)},
                       {"state", toString(st.state)},
                       {"alert", st.state == Camera::State::Unavailable},
                       {"failures", st.failures}};
        if (!st.reason.empty()) o["reason"] = st.reason;
        if (st.lastFrameAtMs) o["last_frame_at"] = formatRfc3339Ms(st.lastFrameAtMs);
        out.push_back(std::move(o));
    }
    return out;
}

std::vector<std::string> QcCameras::alerts() const {
    std::vector<std::string> out;
    for (const auto& cam : cameras_) {
        const auto st = cam->status();
        if (st.state == Camera::State::Unavailable)
            out.push_back("camera " + cam->config().id + " unavailable: " + st.reason);
    }
    return out;
}

} // namespace mto
