// SPDX-License-Identifier: Apache-2.0
// The labels room: a traveler label for every accepted item, drawn off the loop and sent to the printer.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "labels/label_printer.hpp"
#include "labels/label_renderer.hpp"
#include "mto/config.hpp"
#include "store/commit_queue.hpp"
#include "store/database.hpp"
#include "util/clock.hpp"

namespace mto {

// Thread-bound to the io_context. Invariants: the `labels` table is the truth (a restart resumes from it);
// scannedTo_ >= the stored mark and only grows; at most one drawing batch (drawing_) and one print
// (printing_) are under way. Drawing runs on one worker thread that touches no database and no member but
// the renderer; its results come back to the loop and are committed there. A printer that fails is tried
// again after a doubling pause (retry_min_s .. retry_max_s); its labels stay queued, other labels are still
// drawn, and nothing else waits for it.
class Labeler {
public:
    Labeler(boost::asio::io_context& io, CommitQueue& commits, Database& db, const LabelsConfig& config,
            std::filesystem::path stateDir, const Clock& clock, std::unique_ptr<LabelPrinter> printer);
    ~Labeler();

    // Resumes drawing and printing what the table holds (after a restart).
    void start();
    void stop();
    // After a commit: newly accepted items get their labels.
    void poke();
    // The control channel's `label ORDER/ITEM`: the label is printed again (drawn again when its files are
    // gone). Returns the answer line ("ok ..." or "error: ...").
    std::string reprint(const std::string& orderId, const std::string& itemId);

private:
    struct Work {
        std::string orderId, itemId;
        std::int64_t revision = 0;
        LabelContent content;
        bool skip = false;      // the order was cancelled or rejected since: no label
        std::string error;      // set by the worker when the label could not be drawn
    };
    void scan();
    void draw();
    void print();
    void afterPrint(const std::string& orderId, const std::string& itemId, std::int64_t revision, const std::string& error);
    std::chrono::milliseconds backoff() const;
    std::filesystem::path printFile(const std::string& orderId, const std::string& itemId) const;

    boost::asio::io_context& io_;
    CommitQueue& commits_;
    Database& db_;
    LabelsConfig config_;
    std::filesystem::path stateDir_;
    const Clock& clock_;
    std::unique_ptr<LabelPrinter> printer_;
    LabelRenderer renderer_;
    boost::asio::steady_timer retry_;
    std::int64_t scannedTo_ = 0;
    bool scanning_ = false;
    bool drawing_ = false;
    bool printing_ = false;
    bool waiting_ = false;          // the retry timer is armed
    bool stopped_ = false;
    int failures_ = 0;              // consecutive failed prints
    std::shared_ptr<bool> alive_;   // handlers posted by the worker check it
    boost::asio::thread_pool worker_{1};
};

} // namespace mto
