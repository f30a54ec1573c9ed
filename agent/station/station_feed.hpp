// SPDX-License-Identifier: Apache-2.0
// What the station display shows and where it gets it: the floor, the last scans, the latest QC snapshot.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "control/floor_view.hpp"
#include "mto/config.hpp"

namespace mto {

// One scan as the operator at a station sees it.
struct ScanLine {
    std::string at;          // RFC 3339
    std::string scanner;     // the scanner's id
    std::string raw;         // what was read
    std::string outcome;     // "accepted" | "refused"
    std::string message;     // what it did, or why it was refused, in words for the operator
    std::string operatorId;  // empty when no badge was scanned
};

// The latest QC or progress snapshot of a station's machines; its JPEG is <media dir>/<sha256>.jpg.
struct SnapshotRef {
    std::string sha256;
    std::string at;          // RFC 3339
    std::string machine;
    std::string orderId;
    std::string itemId;
    std::vector<std::string> flags;   // e.g. "blurred", "dark"; empty when the shot is good
};

// The providers the station display reads, and its change signal. Thread-bound to the agent's loop: the
// providers are called on it, and changed() must be called on it (a room working on another thread posts).
// A provider left empty shows nothing; one that throws is logged and shows nothing for that refresh.
struct StationFeed {
    // The floor with up to `queueHead` queued jobs (the same view as the control channel's `status`).
    std::function<FloorView(std::size_t queueHead)> floor;
    // The last `n` scans of the station's scanners (every scanner when it lists none), newest first.
    std::function<std::vector<ScanLine>(const StationConfig& station, std::size_t n)> scans;
    // The latest snapshot taken on one of the station's machines (any machine when it lists none).
    std::function<std::optional<SnapshotRef>(const StationConfig& station)> latestSnapshot;
    // Where a snapshot's JPEG lies; empty: <state_dir>/media/<sha256>.jpg.
    std::function<std::filesystem::path(const std::string& sha256)> mediaFile;

    // Something shown may have changed (a scan, a snapshot, a machine): the display refreshes soon,
    // coalesced to a few times a second. Cheap; call it freely.
    void changed() const {
        for (const auto& f : listeners_) f();
    }
    // For the display server.
    void onChanged(std::function<void()> f) { listeners_.push_back(std::move(f)); }

private:
    std::vector<std::function<void()>> listeners_;
};

} // namespace mto
