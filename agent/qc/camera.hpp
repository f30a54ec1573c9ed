// SPDX-License-Identifier: Apache-2.0
// One QC camera: a frame source (V4L2, network stream, video file, image folder) read on a thread of its own,
// opened when a shot is wanted, reconnected with backoff after a failure, never on the io_context.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <opencv2/core.hpp>
#include <string>
#include <thread>

#include "mto/config.hpp"

namespace mto {

// Where frames come from. Used by one thread at a time (the camera's).
class FrameSource {
public:
    virtual ~FrameSource() = default;
    // Throws mto::Error with a reason a person can act on.
    virtual void open() = 0;
    virtual void close() = 0;
    // The next frame, decoded; false with the reason when none came (end of stream, timeout).
    virtual bool read(cv::Mat& frame, std::string& why) = 0;
    // A live source only: takes the next frame off the wire without decoding it, so a shot gets a fresh one.
    virtual bool skip(std::string& why) { return read(scratch_, why); }
    // True when frames arrive on their own (device, network stream) and must be drained while open; false
    // for files and folders, read one frame per shot.
    virtual bool live() const = 0;

private:
    cv::Mat scratch_;
};

// The source a camera's `source` names: /dev/… (V4L2), http(s)://… or rtsp://… (FFmpeg, with the open and
// read timeouts), a directory (its images, in name order, round and round), else a video file (looped).
std::unique_ptr<FrameSource> makeFrameSource(const CameraConfig& config);

// Thread-safe. A thread per camera (the bounded worker: one per configured camera) owns the source; shots
// wait in a bounded queue and are answered on that thread.
//
// Invariants: `mutex_` guards the queue, the state fields and `stop_`; the source is touched by the
// camera thread only, never under the mutex (an open or read may block up to its timeout).
class Camera {
public:
    // The frame (empty on failure) and, on failure, why. Runs on the camera's thread.
    using Shot = std::function<void(const cv::Mat& frame, const std::string& error)>;
    enum class State { Closed, Open, Unavailable };

    Camera(CameraConfig config, std::unique_ptr<FrameSource> source, std::function<void()> onStateChange = {});
    ~Camera();
    Camera(const Camera&) = delete;
    Camera& operator=(const Camera&) = delete;

    // Asks for one frame. While the camera is unavailable (waiting to reconnect) or its queue is full, the
    // shot is answered at once with the reason; it never waits longer than the open and read timeouts.
    void request(Shot shot);

    struct Status {
        State state = State::Closed;
        std::string reason;              // the last failure, while Unavailable
        std::uint64_t failures = 0;      // failed opens and lost streams since start
        std::int64_t lastFrameAtMs = 0;  // wall clock of the last frame handed to a shot
    };
    Status status() const;
    const CameraConfig& config() const { return config_; }

    static constexpr std::size_t kMaxQueued = 8;

private:
    void run();
    void setState(State s, const std::string& reason);

    const CameraConfig config_;
    std::unique_ptr<FrameSource> source_;
    std::function<void()> onStateChange_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Shot> queue_;
    bool stop_ = false;
    Status status_;
    std::chrono::steady_clock::time_point nextRetry_{};
    std::chrono::milliseconds backoff_;
    std::thread thread_;
};

const char* toString(Camera::State s);

} // namespace mto
