// SPDX-License-Identifier: Apache-2.0
// What a scan means: per-scanner context (operator, item), the operator's actions on items, orders and
// machines, their milestones, and the refusals the operator sees.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mto/barcode.hpp"
#include "scheduler/job_queue.hpp"
#include "store/commit_queue.hpp"
#include "store/order_store.hpp"

namespace mto {

// One stored scan, as the station page lists it.
struct ScanRecord {
    std::int64_t id = 0;
    std::int64_t atMs = 0;
    std::string scanner;
    std::string station;
    std::string raw;
    std::string kind;         // item | operator | action name (qc_pass, ...) | tracking | other
    std::string operatorId;   // the context's operator when it was read
    std::string orderId;      // the item it was about, if any
    std::string itemId;
    bool accepted = false;
    std::string reason;       // refused: machine-readable (no_operator, not_done, ...); accepted: empty or "duplicate"
    std::string message;      // what the operator reads
    std::int64_t eventSeq = 0;   // the milestone (or scan_refused) it caused; 0 when none
};

// The outcome of a scan as one line for a scanner that can show an answer (the line input's client):
// "ok <message>" when accepted, "refused <reason> <message>" when not (reason as in ScanRecord: no_operator,
// not_done, ..., not_stored, too_many_waiting). Never holds a line break.
std::string scanReplyLine(const ScanRecord& r);

// What a scanner's operator should see now, in one line.
struct DisplayLine {
    std::string scanner;
    std::string station;
    std::string level;        // ready | ok | refused | waiting
    std::string text;
    std::string operatorId;
    std::string orderId;
    std::string itemId;
    std::int64_t atMs = 0;
};

// Thread-bound to the loop.
//
// Invariants:
// - Each scanner's scans are handled one at a time, in the order read: the next is decided only after the
//   previous one's commit, so its context (operator, item, awaiting a tracking number) is always the one the
//   operator built. Scans of different scanners interleave; every decision reads the store inside the
//   transaction that writes its result, so two scanners acting on one item see each other.
// - A scan is stored with its outcome and the event it caused in one transaction; a refused scan writes
//   its row and a `scan_refused` event and nothing else.
// - Contexts live in memory only and end after the scanner's context timeout without a scan, or on CANCEL.
class ScanWorkflow {
public:
    // The sha256 of the latest QC snapshot of an item (taken when its last unit finished), if any.
    using SnapshotLookup = std::function<std::optional<std::string>(const std::string& orderId, const std::string& itemId)>;
    // A machine decision (ClearBed, Resume, Restart, Scrap) as mtoctl takes it: nullopt when done, else why not.
    using MachineAction = std::function<std::optional<std::string>(barcode::Action, const std::string& machineId)>;
    using Done = std::function<void(const ScanRecord&)>;

    // Scans waiting per scanner beyond this are dropped (logged): a stuck scanner cannot fill memory.
    static constexpr std::size_t kMaxWaiting = 64;
    // Scans kept in the table; older ones are deleted as new ones come.
    static constexpr std::int64_t kKeepScans = 100000;
    // A scan longer than this is refused as malformed.
    static constexpr std::size_t kMaxScanLength = 128;

    ScanWorkflow(boost::asio::io_context& io, CommitQueue& commits, OrderStore& store, JobQueue& queue,
                 MachineAction machines);
    ~ScanWorkflow();

    void addScanner(const std::string& id, const std::string& station, std::chrono::milliseconds contextTimeout);
    void setSnapshotLookup(SnapshotLookup lookup) { snapshot_ = std::move(lookup); }
    // `f` runs after each scan is decided and after a context timed out (for the station page).
    void onChange(std::function<void()> f) { onChange_ = std::move(f); }

    // A scan read by a scanner. `done` (the line input's answer, tests, benchmarks) learns the stored outcome,
    // or a refusal `too_many_waiting` when the scan is dropped; a scan of a scanner never added gets a context
    // with the default timeout.
    void handle(const std::string& scannerId, const std::string& raw, Done done = {});

    // The last `n` scans, newest first (from the store).
    std::vector<ScanRecord> recent(std::size_t n);
    std::optional<DisplayLine> displayLine(const std::string& scannerId) const;
    std::vector<DisplayLine> displayLines() const;

private:
    struct Context {
        std::string operatorId;
        std::string orderId;
        std::string itemId;
        bool awaitingTracking = false;
    };
    struct Pending {
        std::string raw;
        Done done;
    };
    struct ScannerState {
        explicit ScannerState(boost::asio::io_context& io) : timer(io) {}
        std::string station;
        std::chrono::milliseconds timeout{120000};
        Context context;
        std::deque<Pending> waiting;
        bool busy = false;
        boost::asio::steady_timer timer;
        DisplayLine display;
    };
    // What a decision changes besides the store.
    struct Decision {
        ScanRecord record;
        Context context;
    };

    ScannerState& stateOf(const std::string& scannerId);
    void next(const std::string& scannerId);
    // Inside the transaction: decides, writes the scan row and any events.
    Decision decide(const std::string& scannerId, const ScannerState& s, const barcode::Scan& scan,
                    const std::optional<std::optional<std::string>>& machineResult);
    void armTimeout(const std::string& scannerId, ScannerState& s);
    std::string promptFor(const Context& c) const;

    boost::asio::io_context& io_;
    CommitQueue& commits_;
    OrderStore& store_;
    JobQueue& queue_;
    MachineAction machines_;
    SnapshotLookup snapshot_;
    std::function<void()> onChange_;
    std::map<std::string, std::unique_ptr<ScannerState>> scanners_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace mto
