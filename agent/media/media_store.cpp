// SPDX-License-Identifier: Apache-2.0
// The media lane's table and the QC snapshots: what is stored, what HQ has, what the quota shed.
#include "media/media_store.hpp"

#include <algorithm>
#include <sstream>

namespace mto {

namespace {

std::string joinFlags(const std::vector<std::string>& flags) {
    std::string out;
    for (const auto& f : flags) out += (out.empty() ? "" : ",") + f;
    return out;
}

std::vector<std::string> splitFlags(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream in(s);
    for (std::string f; std::getline(in, f, ',');)
        if (!f.empty()) out.push_back(f);
    return out;
}

const std::string kMediaColumns =
    "id, sha256, kind, content_type, bytes, created_at, order_id, item_id, state";

MediaRecord readMedia(Statement& st) {
    MediaRecord m;
    m.id = st.columnInt(0);
    m.sha256 = st.columnText(1);
    m.kind = st.columnText(2);
    m.contentType = st.columnText(3);
    m.bytes = st.columnInt(4);
    m.createdAtMs = st.columnInt(5);
    m.orderId = st.columnText(6);
    m.itemId = st.columnText(7);
    m.state = st.columnText(8);
    return m;
}

} // namespace

MediaStore::MediaStore(Database& db, std::filesystem::path stateDir) : db_(db), stateDir_(std::move(stateDir)) {}

std::filesystem::path MediaStore::filePath(const std::filesystem::path& stateDir, const std::string& sha,
                                           const std::string& contentType) {
    return mediaDir(stateDir) / (sha + (contentType == "image/png" ? ".png" : ".jpg"));
}

void MediaStore::enqueue(Database& db, const MediaRecord& m) {
    static const std::string kInsert =
        "INSERT OR IGNORE INTO media (sha256, kind, content_type, bytes, created_at, order_id, item_id, state) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, 'queued')";
    db.prepare(kInsert)
        .bind(1, m.sha256)
        .bind(2, m.kind)
        .bind(3, m.contentType)
        .bind(4, m.bytes)
        .bind(5, m.createdAtMs)
        .bindOptional(6, m.orderId)
        .bindOptional(7, m.itemId)
        .run();
}

std::vector<MediaRecord> MediaStore::toSend(std::int64_t afterId, std::size_t limit) {
    // One read per state, each in the order of the media_by_state index, merged here. A single query with
    // `state IN ('queued', 'sent') ORDER BY id` sorts in a temporary B-tree, which SQLite builds and frees on
    // every call; the media uplink asks after every commit, so on the intake path that cost is per order.
    static const std::string kSelect =
        "SELECT " + kMediaColumns + " FROM media WHERE state = ? AND id > ? ORDER BY id LIMIT ?";
    auto read = [&](const char* state) {
        auto& st = db_.prepare(kSelect).bind(1, state).bind(2, afterId).bind(3, static_cast<std::int64_t>(limit));
        std::vector<MediaRecord> rows;
        while (st.step()) rows.push_back(readMedia(st));
        st.reset();
        return rows;
    };
    std::vector<MediaRecord> queued = read("queued");
    std::vector<MediaRecord> sent = read("sent");
    if (sent.empty()) return queued;
    std::vector<MediaRecord> out;
    out.reserve(std::min(limit, queued.size() + sent.size()));
    auto q = queued.begin(), s = sent.begin();
    while (out.size() < limit && (q != queued.end() || s != sent.end())) {
        if (s == sent.end() || (q != queued.end() && q->id < s->id))
            out.push_back(std::move(*q++));
        else
            out.push_back(std::move(*s++));
    }
    return out;
}

void MediaStore::setState(std::int64_t id, const std::string& state) {
    db_.prepare("UPDATE media SET state = ? WHERE id = ? AND state NOT IN ('shed', 'acked')").bind(1, state).bind(2, id).run();
}

void MediaStore::requeueSent() { db_.prepare("UPDATE media SET state = 'queued' WHERE state = 'sent'").run(); }

std::optional<MediaRecord> MediaStore::find(const std::string& sha) {
    static const std::string kSelect = "SELECT " + kMediaColumns + " FROM media WHERE sha256 = ?";
    auto& st = db_.prepare(kSelect).bind(1, sha);
    std::optional<MediaRecord> out;
    if (st.step()) out = readMedia(st);
    st.reset();
    return out;
}

std::int64_t MediaStore::usageBytes() {
    auto& st = db_.prepare("SELECT bytes FROM media_usage WHERE id = 1");
    std::int64_t n = st.step() ? st.columnInt(0) : 0;
    st.reset();
    return n;
}

std::vector<ShedMedia> MediaStore::planShed(std::int64_t targetBytes) {
    std::vector<ShedMedia> out;
    std::int64_t usage = usageBytes();
    // Acknowledged media first (HQ has them), then what HQ never got; oldest first in each.
    for (const char* state : {"acked", "queued"}) {
        if (usage <= targetBytes) break;
        auto& st = db_.prepare("SELECT id, sha256, content_type, bytes, order_id, item_id FROM media "
                               "WHERE state = ? ORDER BY id")
                       .bind(1, state);
        while (usage > targetBytes && st.step()) {
            ShedMedia m;
            m.id = st.columnInt(0);
            m.sha256 = st.columnText(1);
            m.contentType = st.columnText(2);
            m.bytes = st.columnInt(3);
            m.orderId = st.columnText(4);
            m.itemId = st.columnText(5);
            m.unsent = std::string(state) != "acked";
            usage -= m.bytes;
            out.push_back(std::move(m));
        }
        st.reset();
    }
    return out;
}

void MediaStore::markShed(const std::vector<ShedMedia>& shed, std::int64_t nowMs) {
    for (const auto& m : shed)
        db_.prepare("UPDATE media SET state = 'shed', shed_at = ?, shed_unsent = ? WHERE id = ? AND state != 'shed'")
            .bind(1, nowMs)
            .bind(2, static_cast<std::int64_t>(m.unsent))
            .bind(3, m.id)
            .run();
}

MediaStore::ShedTotals MediaStore::shedTotals() {
    auto& st = db_.prepare("SELECT COUNT(*), COALESCE(SUM(bytes), 0), COALESCE(SUM(shed_unsent), 0), "
                           "COALESCE(MAX(shed_at), 0) FROM media WHERE state = 'shed'");
    ShedTotals t;
    if (st.step()) {
        t.count = st.columnInt(0);
        t.bytes = st.columnInt(1);
        t.unsent = st.columnInt(2);
        t.lastAtMs = st.columnInt(3);
    }
    st.reset();
    return t;
}

void MediaStore::recordSnapshot(const SnapshotRecord& s) {
    auto& st = db_.prepare("INSERT INTO snapshots (at, kind, camera_id, machine_id, order_id, item_id, operation, unit, "
                           "percent, media_sha256, thumb_sha256, sharpness, brightness, flags, reason) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    st.bind(1, s.atMs)
        .bind(2, s.kind)
        .bind(3, s.cameraId)
        .bind(4, s.machineId)
        .bind(5, s.orderId)
        .bind(6, s.itemId)
        .bind(7, s.operation)
        .bind(8, s.unit)
        .bind(9, static_cast<std::int64_t>(s.percent))
        .bindOptional(10, s.mediaSha256)
        .bindOptional(11, s.thumbSha256);
    if (s.mediaSha256.empty()) {
        st.bindNull(12).bindNull(13);
    } else {
        st.bindReal(12, s.sharpness).bindReal(13, s.brightness);
    }
    st.bind(14, joinFlags(s.flags)).bindOptional(15, s.reason).run();
}

SnapshotView MediaStore::view(Statement& st) {
    SnapshotView v;
    auto& s = v.shot;
    s.atMs = st.columnInt(0);
    s.kind = st.columnText(1);
    s.cameraId = st.columnText(2);
    s.machineId = st.columnText(3);
    s.orderId = st.columnText(4);
    s.itemId = st.columnText(5);
    s.operation = st.columnText(6);
    s.unit = st.columnInt(7);
    s.percent = static_cast<int>(st.columnInt(8));
    s.mediaSha256 = st.columnText(9);
    s.thumbSha256 = st.columnText(10);
    s.sharpness = st.columnReal(11);
    s.brightness = st.columnReal(12);
    s.flags = splitFlags(st.columnText(13));
    s.reason = st.columnText(14);
    if (!s.mediaSha256.empty()) {
        v.path = filePath(stateDir_, s.mediaSha256, "image/jpeg");
        if (!s.thumbSha256.empty()) v.thumbPath = filePath(stateDir_, s.thumbSha256, "image/jpeg");
        v.imageOnDisk = !st.columnIsNull(15) && st.columnText(15) != "shed";
    }
    return v;
}

namespace {
const std::string kSnapshotColumns =
    "SELECT s.at, s.kind, s.camera_id, s.machine_id, s.order_id, s.item_id, s.operation, s.unit, s.percent, "
    "s.media_sha256, s.thumb_sha256, s.sharpness, s.brightness, s.flags, s.reason, m.state "
    "FROM snapshots s LEFT JOIN media m ON m.sha256 = s.media_sha256 ";
} // namespace

std::optional<SnapshotView> MediaStore::latestQcSnapshot(const std::string& orderId, const std::string& itemId) {
    static const std::string kSql =
        kSnapshotColumns + "WHERE s.order_id = ? AND s.item_id = ? AND s.kind = 'qc' ORDER BY s.id DESC LIMIT 1";
    auto& st = db_.prepare(kSql).bind(1, orderId).bind(2, itemId);
    std::optional<SnapshotView> out;
    if (st.step()) out = view(st);
    st.reset();
    return out;
}

std::optional<SnapshotView> MediaStore::latestSnapshot(const std::vector<std::string>& machines) {
    // The statement text depends only on how many machines are named, so the prepared-statement cache keeps
    // one per station layout.
    std::string sql = kSnapshotColumns + "WHERE s.media_sha256 IS NOT NULL";
    if (!machines.empty()) {
        sql += " AND s.machine_id IN (?";
        for (std::size_t i = 1; i < machines.size(); ++i) sql += ", ?";
        sql += ")";
    }
    sql += " ORDER BY s.id DESC LIMIT 1";
    auto& st = db_.prepare(sql);
    for (std::size_t i = 0; i < machines.size(); ++i) st.bind(static_cast<int>(i + 1), machines[i]);
    std::optional<SnapshotView> out;
    if (st.step()) out = view(st);
    st.reset();
    return out;
}

} // namespace mto
