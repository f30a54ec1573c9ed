// SPDX-License-Identifier: Apache-2.0
// The labels room: a traveler label for every accepted item, drawn off the loop and sent to the printer.
#include "labels/labeler.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

namespace mto {

namespace {

// Labels drawn per trip to the worker: small enough that a bulk order's labels interleave with other work.
constexpr int kDrawBatch = 16;
constexpr int kScanBatch = 64;

const char* extension(LabelsConfig::PrintFormat f) {
    switch (f) {
    case LabelsConfig::PrintFormat::Pdf: return ".pdf";
    case LabelsConfig::PrintFormat::Png: return ".png";
    case LabelsConfig::PrintFormat::Zpl: return ".zpl";
    }
    return ".pdf";
}

} // namespace

Labeler::Labeler(boost::asio::io_context& io, CommitQueue& commits, Database& db, const LabelsConfig& config,
                 std::filesystem::path stateDir, const Clock& clock, std::unique_ptr<LabelPrinter> printer)
    : io_(io), commits_(commits), db_(db), config_(config), stateDir_(std::move(stateDir)), clock_(clock),
      printer_(std::move(printer)), renderer_(config), retry_(io), alive_(std::make_shared<bool>(true)) {}

Labeler::~Labeler() {
    *alive_ = false;
    worker_.stop();
    worker_.join();
}

void Labeler::start() {
    auto& st = db_.prepare("SELECT seq FROM label_mark WHERE id = 1");
    if (st.step()) scannedTo_ = st.columnInt(0);
    st.reset();
    spdlog::info("labels: {} {}x{} mm at {} dpi in {}; printer: {}", toString(config_.symbology), config_.widthMm,
                 config_.heightMm, config_.dpi, (stateDir_ / "labels").string(),
                 printer_ ? printer_->describe() + " (" + toString(config_.printFormat) + ")" : "none (files only)");
    scan();
    draw();
    print();
}

void Labeler::stop() {
    stopped_ = true;
    retry_.cancel();
    if (printer_) printer_->cancel();
}

void Labeler::poke() {
    scan();
    draw();
    print();
}

std::filesystem::path Labeler::printFile(const std::string& orderId, const std::string& itemId) const {
    std::filesystem::path p = labelBasePath(stateDir_, orderId, itemId);
    p += extension(config_.printFormat);
    return p;
}

void Labeler::scan() {
    if (stopped_ || scanning_) return;
    auto& mx = db_.prepare("SELECT COALESCE(MAX(seq), 0) FROM events");
    mx.step();
    const std::int64_t maxSeq = mx.columnInt(0);
    mx.reset();
    if (maxSeq <= scannedTo_) return;
    std::vector<std::pair<std::int64_t, std::string>> accepted;
    auto& st = db_.prepare("SELECT seq, order_id FROM events WHERE seq > ? AND seq <= ? AND milestone = 'accepted' "
                           "ORDER BY seq LIMIT ?")
                   .bind(1, scannedTo_)
                   .bind(2, maxSeq)
                   .bind(3, static_cast<std::int64_t>(kScanBatch));
    while (st.step()) accepted.emplace_back(st.columnInt(0), st.columnText(1));
    st.reset();
    if (accepted.empty()) {
        // Nothing accepted since: later scans start here (kept in memory; the stored mark moves with rows).
        scannedTo_ = maxSeq;
        return;
    }
    scanning_ = true;
    const std::int64_t last = accepted.back().first;
    commits_.submit(
        [this, accepted, last] {
            for (const auto& [seq, orderId] : accepted) {
                // The order's items as they stand, unless it moved on to a revision not accepted yet or was
                // cancelled since; a newer revision draws the label again.
                db_.prepare("INSERT INTO labels (order_id, item_id, revision, state, print_state) "
                            "SELECT i.order_id, i.item_id, o.revision, 'pending', 'none' FROM items i "
                            "JOIN orders o ON o.order_id = i.order_id "
                            "WHERE o.order_id = ? AND o.state NOT IN ('received', 'rejected', 'cancelled') "
                            "ON CONFLICT (order_id, item_id) DO UPDATE SET revision = excluded.revision, "
                            "state = 'pending', print_state = 'none', attempts = 0, next_print_at = 0, error = NULL "
                            "WHERE excluded.revision > labels.revision")
                    .bind(1, orderId)
                    .run();
            }
            db_.prepare("UPDATE label_mark SET seq = ? WHERE id = 1").bind(1, last).run();
        },
        [this, alive = alive_, last](bool committed) {
            if (!*alive) return;
            scanning_ = false;
            if (committed) scannedTo_ = std::max(scannedTo_, last);
            scan();
            draw();
        });
}

void Labeler::draw() {
    if (stopped_ || drawing_) return;
    std::vector<Work> batch;
    auto& st = db_.prepare(
                      "SELECT l.order_id, l.item_id, l.revision, i.sku, i.qty, i.personalization, o.due_by, o.priority, "
                      "o.state FROM labels l LEFT JOIN items i ON i.order_id = l.order_id AND i.item_id = l.item_id "
                      "LEFT JOIN orders o ON o.order_id = l.order_id WHERE l.state = 'pending' LIMIT ?")
                  .bind(1, static_cast<std::int64_t>(kDrawBatch));
    while (st.step()) {
        Work w;
        w.orderId = st.columnText(0);
        w.itemId = st.columnText(1);
        w.revision = st.columnInt(2);
        const std::string state = st.columnText(8);
        w.skip = st.columnIsNull(3) || state == "cancelled" || state == "rejected";
        w.content.orderId = w.orderId;
        w.content.itemId = w.itemId;
        w.content.sku = st.columnText(3);
        w.content.qty = st.columnInt(4);
        w.content.personalizationJson = st.columnText(5);
        w.content.dueBy = st.columnIsNull(6) ? "" : st.columnText(6);
        w.content.rush = st.columnText(7) == "rush";
        batch.push_back(std::move(w));
    }
    st.reset();
    if (batch.empty()) return;
    drawing_ = true;
    boost::asio::post(worker_, [this, batch = std::move(batch), alive = alive_]() mutable {
        for (auto& w : batch) {
            if (w.skip) continue;
            try {
                renderer_.writeAll(w.content, labelBasePath(stateDir_, w.orderId, w.itemId));
            } catch (const std::exception& e) {
                w.error = e.what();
            }
        }
        boost::asio::post(io_, [this, batch = std::move(batch), alive]() mutable {
            if (!*alive) return;
            const std::int64_t now = clock_.nowMs();
            const bool printing = printer_ != nullptr;
            commits_.submit(
                [this, batch, now, printing] {
                    for (const auto& w : batch) {
                        const char* state = w.skip ? "skipped" : w.error.empty() ? "written" : "failed";
                        const char* print = printing && !w.skip && w.error.empty() ? "queued" : "none";
                        db_.prepare("UPDATE labels SET state = ?, print_state = ?, error = ?, written_at = ?, "
                                    "next_print_at = 0 WHERE order_id = ? AND item_id = ? AND revision = ? "
                                    "AND state = 'pending'")
                            .bind(1, state)
                            .bind(2, print)
                            .bindOptional(3, w.error)
                            .bind(4, now)
                            .bind(5, w.orderId)
                            .bind(6, w.itemId)
                            .bind(7, w.revision)
                            .run();
                    }
                },
                [this, batch, alive](bool committed) {
                    if (!*alive) return;
                    drawing_ = false;
                    for (const auto& w : batch) {
                        if (w.skip) spdlog::info("label {}/{}: none, the order was cancelled or rejected", w.orderId, w.itemId);
                        else if (!w.error.empty()) spdlog::error("label {}/{} cannot be drawn: {}", w.orderId, w.itemId, w.error);
                        else spdlog::debug("label {}/{} written to {}.png|pdf|zpl", w.orderId, w.itemId,
                                           labelBasePath(stateDir_, w.orderId, w.itemId).string());
                    }
                    if (!committed) return;   // storage is failing; the next commit pokes again
                    draw();
                    print();
                });
        });
    });
}

std::chrono::milliseconds Labeler::backoff() const {
    auto delay = config_.retryMin;
    for (int i = 1; i < failures_ && delay < config_.retryMax; ++i) delay *= 2;
    return std::min(delay, config_.retryMax);
}

void Labeler::print() {
    if (stopped_ || !printer_ || printing_ || waiting_) return;
    auto& st = db_.prepare("SELECT order_id, item_id, revision, next_print_at FROM labels WHERE print_state = 'queued' "
                           "ORDER BY next_print_at, order_id, item_id LIMIT 1");
    if (!st.step()) {
        st.reset();
        return;
    }
    const std::string orderId = st.columnText(0), itemId = st.columnText(1);
    const std::int64_t revision = st.columnInt(2), due = st.columnInt(3);
    st.reset();
    const std::int64_t now = clock_.nowMs();
    if (due > now) {
        waiting_ = true;
        retry_.expires_after(std::chrono::milliseconds(due - now));
        retry_.async_wait([this, alive = alive_](const boost::system::error_code&) {
            // Also when cancelled by a reprint: the operator wants it now.
            if (!*alive || stopped_) return;
            waiting_ = false;
            print();
        });
        return;
    }
    const auto file = printFile(orderId, itemId);
    printing_ = true;
    if (!std::filesystem::exists(file)) {
        // Deleted by hand: draw it again, then it is queued again.
        commits_.submit(
            [this, orderId, itemId, revision] {
                db_.prepare("UPDATE labels SET state = 'pending', print_state = 'none' WHERE order_id = ? AND "
                            "item_id = ? AND revision = ?")
                    .bind(1, orderId)
                    .bind(2, itemId)
                    .bind(3, revision)
                    .run();
            },
            [this, alive = alive_](bool) {
                if (!*alive) return;
                printing_ = false;
                draw();
            });
        return;
    }
    printer_->print(file, [this, alive = alive_, orderId, itemId, revision](const std::string& error) {
        if (!*alive) return;
        afterPrint(orderId, itemId, revision, error);
    });
}

void Labeler::afterPrint(const std::string& orderId, const std::string& itemId, std::int64_t revision,
                         const std::string& error) {
    const std::int64_t now = clock_.nowMs();
    std::chrono::milliseconds delay{0};
    if (error.empty()) {
        failures_ = 0;
        spdlog::info("label {}/{} printed on {}", orderId, itemId, printer_->describe());
    } else {
        ++failures_;
        delay = backoff();
        spdlog::warn("label {}/{} not printed: {}; trying again in {:.1f} s (failure {} in a row)", orderId, itemId,
                     error, delay.count() / 1000.0, failures_);
    }
    commits_.submit(
        [this, orderId, itemId, revision, error, now, delay] {
            if (error.empty())
                db_.prepare("UPDATE labels SET print_state = 'printed', printed_at = ?, attempts = attempts + 1, "
                            "error = NULL WHERE order_id = ? AND item_id = ? AND revision = ? AND print_state = 'queued'")
                    .bind(1, now)
                    .bind(2, orderId)
                    .bind(3, itemId)
                    .bind(4, revision)
                    .run();
            else
                db_.prepare("UPDATE labels SET attempts = attempts + 1, error = ?, next_print_at = ? WHERE order_id = ? "
                            "AND item_id = ? AND revision = ? AND print_state = 'queued'")
                    .bind(1, error)
                    .bind(2, now + delay.count())
                    .bind(3, orderId)
                    .bind(4, itemId)
                    .bind(5, revision)
                    .run();
        },
        [this, alive = alive_, delay](bool) {
            if (!*alive) return;
            printing_ = false;
            if (delay.count() > 0 && !stopped_) {
                // The printer is down: nothing is sent to it before the pause is over, whichever label is next.
                waiting_ = true;
                retry_.expires_after(delay);
                retry_.async_wait([this, alive](const boost::system::error_code&) {
                    if (!*alive || stopped_) return;
                    waiting_ = false;
                    print();
                });
                return;
            }
            print();
        });
}

std::string Labeler::reprint(const std::string& orderId, const std::string& itemId) {
    const std::string name = orderId + "/" + itemId;
    auto& st = db_.prepare("SELECT state, revision, error FROM labels WHERE order_id = ? AND item_id = ?")
                   .bind(1, orderId)
                   .bind(2, itemId);
    if (!st.step()) {
        st.reset();
        auto& item = db_.prepare("SELECT COUNT(*) FROM items WHERE order_id = ? AND item_id = ?").bind(1, orderId).bind(2, itemId);
        item.step();
        const bool known = item.columnInt(0) > 0;
        item.reset();
        return known ? "error: " + name + " has no label yet: its order is not accepted (it gets one when it is)"
                     : "error: no item " + name;
    }
    const std::string state = st.columnText(0);
    const std::int64_t revision = st.columnInt(1);
    const std::string error = st.columnIsNull(2) ? "" : st.columnText(2);
    st.reset();
    const std::string files = labelBasePath(stateDir_, orderId, itemId).string() + ".{png,pdf,zpl}";
    const std::string target =
        printer_ ? "for " + printer_->describe() : std::string("(no printer configured: labels.printer = \"none\")");
    if (state == "skipped") return "error: " + name + " gets no label: its order was cancelled or rejected";
    if (state == "failed") return "error: the label of " + name + " cannot be drawn: " + error;
    if (state == "pending") return "ok label " + name + " is being drawn: " + files + " " + target;
    const bool missing = !std::filesystem::exists(labelBasePath(stateDir_, orderId, itemId).string() + ".png") ||
                         !std::filesystem::exists(printFile(orderId, itemId));
    commits_.submit(
        [this, orderId, itemId, revision, missing, printing = printer_ != nullptr] {
            if (missing)
                db_.prepare("UPDATE labels SET state = 'pending', print_state = 'none', attempts = 0, next_print_at = 0, "
                            "error = NULL WHERE order_id = ? AND item_id = ? AND revision = ?")
                    .bind(1, orderId)
                    .bind(2, itemId)
                    .bind(3, revision)
                    .run();
            else if (printing)
                db_.prepare("UPDATE labels SET print_state = 'queued', attempts = 0, next_print_at = 0, error = NULL "
                            "WHERE order_id = ? AND item_id = ? AND revision = ?")
                    .bind(1, orderId)
                    .bind(2, itemId)
                    .bind(3, revision)
                    .run();
        },
        [this, alive = alive_](bool) {
            if (!*alive) return;
            // A reprint is an operator at the printer: try now, not after the pause of earlier failures.
            if (waiting_) retry_.cancel();
            draw();
            print();
        });
    spdlog::info("label {}: reprint asked{}", name, missing ? " (files missing: drawn again)" : "");
    return std::string("ok label ") + name + (missing ? " is drawn again: " : ": ") + files +
           (printer_ ? " queued " : " ") + target;
}

} // namespace mto
