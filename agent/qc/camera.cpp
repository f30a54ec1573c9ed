// SPDX-License-Identifier: Apache-2.0
// One QC camera: a frame source read on a thread of its own, opened when needed, reconnected with backoff.
#include "qc/camera.hpp"

#include <algorithm>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#include <spdlog/spdlog.h>

#include "mto/error.hpp"
#include "util/clock.hpp"

namespace mto {

namespace {

bool startsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// cv::VideoCapture, owned: released when closed or destroyed.
class VideoCaptureSource final : public FrameSource {
public:
    enum class Kind { Device, Network, File };
    VideoCaptureSource(const CameraConfig& c, Kind kind) : config_(c), kind_(kind) {}
    ~VideoCaptureSource() override { close(); }

    void open() override {
        close();
        bool ok = false;
        try {
            if (kind_ == Kind::Device) {
                ok = capture_.open(config_.source, cv::CAP_V4L2);
            } else {
                if (kind_ == Kind::File && !std::filesystem::is_regular_file(config_.source))
                    throw Error("no such video file " + config_.source);
                std::vector<int> params{cv::CAP_PROP_OPEN_TIMEOUT_MSEC, static_cast<int>(config_.openTimeout.count()),
                                        cv::CAP_PROP_READ_TIMEOUT_MSEC, static_cast<int>(config_.readTimeout.count())};
                ok = capture_.open(config_.source, cv::CAP_FFMPEG, params);
            }
        } catch (const cv::Exception& e) {
            throw Error("cannot open " + redactUri(config_.source) + ": " + e.what());
        }
        if (!ok || !capture_.isOpened())
            throw Error("cannot open " + redactUri(config_.source) +
                        (kind_ == Kind::Network ? " (no stream answered within " +
                                                      std::to_string(config_.openTimeout.count()) + " ms)"
                                                : ""));
    }
    void close() override {
        if (capture_.isOpened()) capture_.release();
    }
    bool read(cv::Mat& frame, std::string& why) override {
        try {
            if (capture_.read(frame) && !frame.empty()) return true;
            if (kind_ == Kind::File) {
                // The end of a demo video: round again.
                capture_.set(cv::CAP_PROP_POS_FRAMES, 0);
                if (capture_.read(frame) && !frame.empty()) return true;
            }
        } catch (const cv::Exception& e) {
            why = e.what();
            return false;
        }
        why = kind_ == Kind::Network ? "no frame within " + std::to_string(config_.readTimeout.count()) +
                                           " ms (stream ended or stalled)"
                                     : "no frame could be read";
        return false;
    }
    bool skip(std::string& why) override {
        try {
            if (capture_.grab()) return true;
        } catch (const cv::Exception& e) {
            why = e.what();
            return false;
        }
        why = "no frame within " + std::to_string(config_.readTimeout.count()) + " ms (stream ended or stalled)";
        return false;
    }
    bool live() const override { return kind_ != Kind::File; }

private:
    const CameraConfig config_;
    Kind kind_;
    cv::VideoCapture capture_;
};

// The images of a folder, in name order, round and round (for the demo and tests).
class ImageFolderSource final : public FrameSource {
public:
    explicit ImageFolderSource(const CameraConfig& c) : config_(c) {}
    void open() override {
        files_.clear();
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(config_.source, ec)) {
            auto ext = e.path().extension().string();
            std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
            if (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp") files_.push_back(e.path());
        }
        if (ec) throw Error("cannot read image folder " + config_.source + ": " + ec.message());
        if (files_.empty()) throw Error("image folder " + config_.source + " holds no .jpg, .png or .bmp");
        std::sort(files_.begin(), files_.end());
    }
    void close() override { files_.clear(); }
    bool read(cv::Mat& frame, std::string& why) override {
        if (files_.empty()) {
            why = "image folder not open";
            return false;
        }
        const auto& file = files_[next_++ % files_.size()];
        frame = cv::imread(file.string(), cv::IMREAD_COLOR);
        if (frame.empty()) why = "cannot decode " + file.string();
        return !frame.empty();
    }
    bool live() const override { return false; }

private:
    const CameraConfig config_;
    std::vector<std::filesystem::path> files_;
    std::size_t next_ = 0;
};

} // namespace

std::unique_ptr<FrameSource> makeFrameSource(const CameraConfig& c) {
    if (startsWith(c.source, "/dev/"))
        return std::make_unique<VideoCaptureSource>(c, VideoCaptureSource::Kind::Device);
    if (startsWith(c.source, "http://") || startsWith(c.source, "https://") || startsWith(c.source, "rtsp://"))
        return std::make_unique<VideoCaptureSource>(c, VideoCaptureSource::Kind::Network);
    if (std::filesystem::is_directory(c.source)) return std::make_unique<ImageFolderSource>(c);
    return std::make_unique<VideoCaptureSource>(c, VideoCaptureSource::Kind::File);
}

const char* toString(Camera::State s) {
    switch (s) {
    case Camera::State::Closed: return "closed";
    case Camera::State::Open: return "open";
    case Camera::State::Unavailable: return "unavailable";
    }
    return "unknown";
}

Camera::Camera(CameraConfig config, std::unique_ptr<FrameSource> source, std::function<void()> onStateChange)
    : config_(std::move(config)), source_(std::move(source)), onStateChange_(std::move(onStateChange)),
      backoff_(config_.retryMin) {
    thread_ = std::thread([this] { run(); });
}

Camera::~Camera() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
    // Shots still queued are answered, so whoever waits on them hears of it.
    for (auto& shot : queue_) shot(cv::Mat(), "agent stopping");
}

void Camera::request(Shot shot) {
    {
        std::lock_guard lock(mutex_);
        if (!stop_ && queue_.size() < kMaxQueued) {
            queue_.push_back(std::move(shot));
            wake_.notify_all();
            return;
        }
    }
    shot(cv::Mat(), "camera busy: " + std::to_string(kMaxQueued) + " shots already wait for it");
}

Camera::Status Camera::status() const {
    std::lock_guard lock(mutex_);
    return status_;
}

void Camera::setState(State s, const std::string& reason) {
    bool changed;
    {
        std::lock_guard lock(mutex_);
        changed = status_.state != s || status_.reason != reason;
        status_.state = s;
        status_.reason = reason;
    }
    if (changed && onStateChange_) onStateChange_();
}

void Camera::run() {
    using Steady = std::chrono::steady_clock;
    bool open = false;
    Steady::time_point lastUse = Steady::now();
    std::unique_lock lock(mutex_);
    while (!stop_) {
        const auto now = Steady::now();
        const bool pending = !queue_.empty();
        if (!open) {
            if (status_.state == State::Unavailable && now < nextRetry_) {
                if (pending) {
                    // Waiting to reconnect: the shot gets its answer now, production does not wait for a camera.
                    auto shots = std::move(queue_);
                    queue_.clear();
                    const std::string why = "camera unavailable: " + status_.reason;
                    lock.unlock();
                    for (auto& shot : shots) shot(cv::Mat(), why);
                    lock.lock();
                    continue;
                }
                wake_.wait_until(lock, nextRetry_, [&] { return stop_ || !queue_.empty(); });
                continue;
            }
            // An unavailable camera is retried on its own, so its alert clears when it returns.
            if (!pending && !config_.keepOpen && status_.state != State::Unavailable) {
                wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
                continue;
            }
            lock.unlock();
            std::string why;
            try {
                source_->open();
                open = true;
            } catch (const std::exception& e) {
                why = e.what();
            }
            if (!open) {
                lock.lock();
                ++status_.failures;
                nextRetry_ = Steady::now() + backoff_;
                backoff_ = std::min(backoff_ * 2, config_.retryMax);
                lock.unlock();
                spdlog::warn("camera {}: {}; trying again in {} ms", config_.id, why,
                             std::chrono::duration_cast<std::chrono::milliseconds>(nextRetry_ - Steady::now()).count());
                setState(State::Unavailable, why);
                lock.lock();
                continue;
            }
            if (status_.state == State::Unavailable) spdlog::info("camera {}: {} answers again", config_.id, redactUri(config_.source));
            backoff_ = config_.retryMin;
            lastUse = Steady::now();
            setState(State::Open, "");
            lock.lock();
            continue;
        }
        // Open.
        if (!pending && !config_.keepOpen && now - lastUse >= config_.idleClose) {
            lock.unlock();
            source_->close();
            open = false;
            setState(State::Closed, "");
            lock.lock();
            continue;
        }
        if (!pending && !source_->live()) {
            if (config_.keepOpen)
                wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
            else
                wake_.wait_until(lock, lastUse + config_.idleClose, [&] { return stop_ || !queue_.empty(); });
            continue;
        }
        lock.unlock();
        cv::Mat frame;
        std::string why;
        // A live source is drained frame by frame while open, so a shot always gets the newest one.
        const bool ok = pending ? source_->read(frame, why) : source_->skip(why);
        if (!ok) {
            source_->close();
            open = false;
            spdlog::warn("camera {}: stream lost: {}", config_.id, why);
            lock.lock();
            ++status_.failures;
            nextRetry_ = Steady::now();   // one reconnect at once; backoff after that
            lock.unlock();
            setState(State::Unavailable, "stream lost: " + why);
            lock.lock();
            continue;
        }
        lock.lock();
        if (pending) {
            auto shots = std::move(queue_);
            queue_.clear();
            lastUse = Steady::now();
            status_.lastFrameAtMs = SystemClock().nowMs();
            lock.unlock();
            for (auto& shot : shots) shot(frame, "");
            lock.lock();
        }
    }
    lock.unlock();
    source_->close();
}

} // namespace mto
