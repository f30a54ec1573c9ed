// SPDX-License-Identifier: Apache-2.0
// The media lane's table and the QC snapshots: what is stored, what HQ has, what the quota shed, and the
// queries other rooms use (the latest QC shot of an item, the latest shot on the floor).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "store/database.hpp"

namespace mto {

// One media file (proof PNG, snapshot JPEG, thumbnail), stored content-addressed under <state_dir>/media/.
struct MediaRecord {
    std::int64_t id = 0;
    std::string sha256;
    std::string kind;          // proof | qc | progress | thumbnail
    std::string contentType;   // image/png | image/jpeg
    std::int64_t bytes = 0;
    std::int64_t createdAtMs = 0;
    std::string orderId;
    std::string itemId;
    std::string state;         // queued | sent | acked | shed
};

// A QC camera shot as stored (a shot without an image keeps its reason and no hashes).
struct SnapshotRecord {
    std::int64_t atMs = 0;
    std::string kind;          // qc | progress
    std::string cameraId;
    std::string machineId;
    std::string orderId;
    std::string itemId;
    std::string operation;
    std::int64_t unit = 0;
    int percent = 0;
    std::string mediaSha256;   // empty: no image
    std::string thumbSha256;
    double sharpness = 0;
    double brightness = 0;
    std::vector<std::string> flags;   // blurred, dark, overexposed
    std::string reason;               // why there is no image
};

// What the station page and the scan workflow read: a snapshot with the path of its file.
struct SnapshotView {
    SnapshotRecord shot;
    std::filesystem::path path;        // <state_dir>/media/<sha>.jpg; empty without an image
    std::filesystem::path thumbPath;
    bool imageOnDisk = false;          // false once the quota shed it
};

// A media the quota chose to shed.
struct ShedMedia {
    std::int64_t id = 0;
    std::string sha256;
    std::string contentType;
    std::int64_t bytes = 0;
    std::string orderId;
    std::string itemId;
    bool unsent = false;   // HQ never got it (a media_shed event tells it so)
};

// Thread-bound to its connection's thread (the loop); writes run inside the caller's transaction.
class MediaStore {
public:
    MediaStore(Database& db, std::filesystem::path stateDir);

    static std::filesystem::path mediaDir(const std::filesystem::path& stateDir) { return stateDir / "media"; }
    // <state_dir>/media/<sha>.png or .jpg, after the content type.
    static std::filesystem::path filePath(const std::filesystem::path& stateDir, const std::string& sha,
                                          const std::string& contentType);
    std::filesystem::path filePath(const MediaRecord& m) const { return filePath(stateDir_, m.sha256, m.contentType); }

    // Queues a media for HQ; the same sha stored again changes nothing. Static so the order store can queue
    // the compiler's proofs in the transaction that records them.
    static void enqueue(Database& db, const MediaRecord& m);
    void enqueue(const MediaRecord& m) { enqueue(db_, m); }
    // Media not yet acknowledged nor shed with id > afterId, oldest first.
    std::vector<MediaRecord> toSend(std::int64_t afterId, std::size_t limit);
    // queued → sent, sent/queued → acked; a shed media keeps its state.
    void setState(std::int64_t id, const std::string& state);
    // After a restart nothing is in flight: sent media go out again.
    void requeueSent();
    std::optional<MediaRecord> find(const std::string& sha);

    // Bytes of media on disk (not shed).
    std::int64_t usageBytes();
    // Which media to shed so usage falls to `targetBytes`: the oldest acknowledged first, then the oldest
    // never sent; a media in flight (`sent`) is not chosen.
    std::vector<ShedMedia> planShed(std::int64_t targetBytes);
    void markShed(const std::vector<ShedMedia>& shed, std::int64_t nowMs);
    struct ShedTotals {
        std::int64_t count = 0;
        std::int64_t bytes = 0;
        std::int64_t unsent = 0;   // of which HQ never got
        std::int64_t lastAtMs = 0;
    };
    ShedTotals shedTotals();

    void recordSnapshot(const SnapshotRecord& s);
    // The latest QC shot (job completion) of an item, image or not.
    std::optional<SnapshotView> latestQcSnapshot(const std::string& orderId, const std::string& itemId);
    // The latest shot with an image on one of `machines` (none named: anywhere on the floor); what the
    // station page shows.
    std::optional<SnapshotView> latestSnapshot(const std::vector<std::string>& machines = {});

private:
    SnapshotView view(Statement& st);

    Database& db_;
    std::filesystem::path stateDir_;
};

} // namespace mto
