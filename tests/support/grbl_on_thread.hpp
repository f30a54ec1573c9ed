// SPDX-License-Identifier: Apache-2.0
// A GRBL emulator on a thread of its own, so a test can watch what reaches the controller while the real agent
// process drives it over the pty (and is killed and started again meanwhile).
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <string>
#include <thread>
#include <utility>

#include "virtual/grbl_emulator.hpp"

namespace mto::test {

// Thread-safe: the emulator is touched only on its own thread; run() hands a call to that thread and waits for
// its result. The emulator (and its pty and symlink) lives as long as this object.
class GrblOnThread {
public:
    explicit GrblOnThread(virt::GrblEmulatorOptions options)
        : work_(io_.get_executor()), emulator_(io_, std::move(options)) {
        thread_ = std::thread([this] { io_.run(); });
    }
    ~GrblOnThread() {
        work_.reset();
        io_.stop();
        thread_.join();
    }
    GrblOnThread(const GrblOnThread&) = delete;
    GrblOnThread& operator=(const GrblOnThread&) = delete;

    // Runs f(emulator) on the emulator's thread and returns what it returns.
    template <typename F>
    auto run(F f) {
        std::packaged_task<decltype(f(std::declval<virt::GrblEmulator&>()))()> task(
            [this, f = std::move(f)]() mutable { return f(emulator_); });
        auto result = task.get_future();
        boost::asio::post(io_, [&task] { task(); });
        return result.get();
    }

private:
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    virt::GrblEmulator emulator_;
    std::thread thread_;
};

} // namespace mto::test
