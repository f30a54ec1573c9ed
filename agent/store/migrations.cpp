// SPDX-License-Identifier: Apache-2.0
// Numbered schema migrations of the state database; never edit a released step, add a new one.
#include "store/migrations.hpp"

#include <algorithm>

#include <array>
#include <spdlog/spdlog.h>
#include <string>

namespace mto {

namespace {

constexpr std::array<const char*, 13> kMigrations{
    // 1: orders, items, the events outbox, applied commands, the rejection audit and the delivery mark.
    // Every order commit touches these b-trees, so there are as few as the queries need: items are
    // clustered by their key, and event_id (a random UUID) carries no unique index.
    R"sql(
CREATE TABLE orders (
    order_id     TEXT PRIMARY KEY,
    revision     INTEGER NOT NULL,
    priority     TEXT NOT NULL,
    due_by       TEXT,
    state        TEXT NOT NULL,
    held_from    TEXT,
    content_hash TEXT NOT NULL,
    body         TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE TABLE items (
    order_id        TEXT NOT NULL REFERENCES orders(order_id),
    item_id         TEXT NOT NULL,
    sku             TEXT NOT NULL,
    qty             INTEGER NOT NULL CHECK (qty > 0),
    personalization TEXT NOT NULL,
    PRIMARY KEY (order_id, item_id)
) WITHOUT ROWID;
CREATE TABLE events (
    seq       INTEGER PRIMARY KEY,
    event_id  TEXT NOT NULL,
    order_id  TEXT,
    item_id   TEXT,
    milestone TEXT NOT NULL,
    at        INTEGER NOT NULL,
    topic     TEXT NOT NULL,
    payload   TEXT NOT NULL
);
CREATE INDEX events_by_order ON events(order_id, seq);
CREATE TABLE commands (
    command_id TEXT PRIMARY KEY,
    order_id   TEXT,
    command    TEXT NOT NULL,
    milestone  TEXT NOT NULL,
    at         INTEGER NOT NULL
);
CREATE TABLE rejections (
    id             INTEGER PRIMARY KEY,
    at             INTEGER NOT NULL,
    topic          TEXT NOT NULL,
    reason         TEXT NOT NULL,
    path           TEXT,
    message        TEXT,
    order_id       TEXT,
    payload_sha256 TEXT NOT NULL,
    payload_size   INTEGER NOT NULL,
    excerpt        TEXT
);
CREATE TABLE outbox_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    acked_seq INTEGER NOT NULL
);
INSERT INTO outbox_state (id, acked_seq) VALUES (1, 0);
)sql",
    // 2: one machine job per item (the key makes a second job for an item impossible).
    R"sql(
CREATE TABLE jobs (
    order_id     TEXT NOT NULL,
    item_id      TEXT NOT NULL,
    revision     INTEGER NOT NULL,
    capability   TEXT NOT NULL,
    artifact_sha TEXT NOT NULL,
    proof_sha    TEXT NOT NULL,
    estimated_s  REAL NOT NULL,
    rush         INTEGER NOT NULL,
    state        TEXT NOT NULL DEFAULT 'queued',
    PRIMARY KEY (order_id, item_id)
) WITHOUT ROWID;
)sql",
    // 3: one job per machine operation of an item (a sign is engraved, then cut out). Jobs stored by v2 were
    // the first operation of their SKU's route; the shipped catalog names it after the capability.
    R"sql(
CREATE TABLE jobs_v3 (
    order_id     TEXT NOT NULL,
    item_id      TEXT NOT NULL,
    operation    TEXT NOT NULL,
    step         INTEGER NOT NULL,
    revision     INTEGER NOT NULL,
    capability   TEXT NOT NULL,
    artifact_sha TEXT NOT NULL,
    proof_sha    TEXT NOT NULL,
    estimated_s  REAL NOT NULL,
    rush         INTEGER NOT NULL,
    state        TEXT NOT NULL DEFAULT 'queued',
    PRIMARY KEY (order_id, item_id, operation)
) WITHOUT ROWID;
INSERT INTO jobs_v3 (order_id, item_id, operation, step, revision, capability, artifact_sha, proof_sha, estimated_s, rush, state)
    SELECT order_id, item_id,
           CASE capability WHEN 'laser' THEN 'laser_engrave' WHEN 'cnc' THEN 'cnc_engrave' WHEN 'fdm' THEN 'print' ELSE capability END,
           0, revision, capability, artifact_sha, proof_sha, estimated_s, rush, state
    FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_v3 RENAME TO jobs;
)sql",
    // 4: the revision a change command carried, so a command_id reused for another change is told apart from
    // a re-send of the same one (rows from before have none and are compared by command and order only).
    R"sql(
ALTER TABLE commands ADD COLUMN revision INTEGER;
)sql",
    // 5: the scheduler's queue. A job carries its sort keys (rush, due time in epoch seconds, arrival) and
    // what it needs of a machine (profile, material), so the next job for a machine is one walk of one
    // index; one row per unit (an item's qty) once it has started on a machine.
    R"sql(
ALTER TABLE jobs ADD COLUMN due_key INTEGER NOT NULL DEFAULT 9223372036854775807;
ALTER TABLE jobs ADD COLUMN arrival INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN qty INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN profile TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN material TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN started_units INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET
    due_key = COALESCE((SELECT CAST(strftime('%s', o.due_by) AS INTEGER) FROM orders o WHERE o.order_id = jobs.order_id),
                       9223372036854775807),
    arrival = COALESCE((SELECT o.received_at FROM orders o WHERE o.order_id = jobs.order_id), 0),
    qty = COALESCE((SELECT i.qty FROM items i WHERE i.order_id = jobs.order_id AND i.item_id = jobs.item_id), 1);
CREATE INDEX jobs_queue ON jobs(state, capability, rush DESC, due_key, arrival, order_id, item_id, step);
CREATE TABLE units (
    order_id   TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    operation  TEXT NOT NULL,
    unit       INTEGER NOT NULL,
    step       INTEGER NOT NULL,
    machine_id TEXT NOT NULL,
    state      TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at   INTEGER,
    last_line  INTEGER NOT NULL DEFAULT 0,
    reason     TEXT,
    PRIMARY KEY (order_id, item_id, operation, unit)
) WITHOUT ROWID;
CREATE INDEX units_by_step ON units(order_id, item_id, step, unit);
)sql",
    // 6: each machine's bay (ready, running, awaiting_clear, needs_attention) and the unit on it, so a restart
    // knows which bed still holds a part and which job was cut short.
    R"sql(
CREATE TABLE machines (
    machine_id TEXT PRIMARY KEY,
    bay        TEXT NOT NULL,
    order_id   TEXT,
    item_id    TEXT,
    operation  TEXT,
    unit       INTEGER,
    reason     TEXT,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    // 7: a scrapped unit runs again (`requeued` until a machine takes it; `attempt` counts its runs); the
    // forecast remembers what it last told HQ: the machine of a job's `scheduled` milestone, and whether an
    // order was last forecast to finish after its due time (`delayed` is sent once per crossing).
    R"sql(
ALTER TABLE units ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN requeued_units INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN scheduled_machine TEXT;
ALTER TABLE orders ADD COLUMN forecast_late INTEGER NOT NULL DEFAULT 0;
)sql",
    // Traveler labels: one row per accepted item (its latest accepted revision), whether its files are drawn
    // and whether the printer has taken it (with the attempts and the last error while it has not); the
    // mark is the last `accepted` event whose items have rows, so a restart picks up where it stopped.
    R"sql(
CREATE TABLE labels (
    order_id      TEXT NOT NULL,
    item_id       TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    state         TEXT NOT NULL,
    print_state   TEXT NOT NULL DEFAULT 'none',
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_print_at INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    written_at    INTEGER,
    printed_at    INTEGER,
    PRIMARY KEY (order_id, item_id)
) WITHOUT ROWID;
CREATE INDEX labels_by_state ON labels(state);
CREATE INDEX labels_by_print ON labels(print_state, next_print_at);
CREATE TABLE label_mark (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO label_mark (id, seq) VALUES (1, 0);
)sql",
    // Scans: every barcode read (accepted or refused, why, and the event it caused); each item's QC verdict for
    // the production round it judged (`round` = the sum of its units' attempts, so a re-made item needs a new
    // verdict); an order's packing and shipping (who, when, the carrier's tracking number).
    R"sql(
CREATE TABLE scans (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    scanner   TEXT NOT NULL,
    station   TEXT NOT NULL,
    raw       TEXT NOT NULL,
    kind      TEXT NOT NULL,
    operator  TEXT,
    order_id  TEXT,
    item_id   TEXT,
    outcome   TEXT NOT NULL CHECK (outcome IN ('accepted', 'refused')),
    reason    TEXT,
    message   TEXT NOT NULL,
    event_seq INTEGER
);
CREATE TABLE item_qc (
    order_id        TEXT NOT NULL,
    item_id         TEXT NOT NULL,
    verdict         TEXT NOT NULL CHECK (verdict IN ('passed', 'failed')),
    reason          TEXT,
    operator        TEXT NOT NULL,
    round           INTEGER NOT NULL,
    snapshot_sha256 TEXT,
    at              INTEGER NOT NULL,
    event_seq       INTEGER NOT NULL,
    PRIMARY KEY (order_id, item_id)
) WITHOUT ROWID;
CREATE TABLE shipments (
    order_id    TEXT PRIMARY KEY,
    packed_by   TEXT NOT NULL,
    packed_at   INTEGER NOT NULL,
    packed_seq  INTEGER NOT NULL,
    tracking    TEXT,
    shipped_by  TEXT,
    shipped_at  INTEGER,
    shipped_seq INTEGER
) WITHOUT ROWID;
)sql",
    // Batch production on jigs: a unit run in a jig slot names the jig and the slot, so the units of one jig run
    // are found again after a restart (same machine, same start) and a restart puts each back in its own slot.
    R"sql(
ALTER TABLE units ADD COLUMN jig TEXT;
ALTER TABLE units ADD COLUMN slot INTEGER;
)sql",
    // Media (proof images, QC snapshots and their thumbnails) as a lane of its own beside the events outbox:
    // each file by its sha256, what HQ has of it (queued, sent, acked) or that it was shed for the disk quota.
    // media_usage holds the bytes on disk of every media not shed, kept by triggers, so the quota check after a
    // commit is one row read. snapshots: the QC camera's shots (a shot without image has no media row).
    R"sql(
CREATE TABLE media (
    id           INTEGER PRIMARY KEY,
    sha256       TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    order_id     TEXT,
    item_id      TEXT,
    state        TEXT NOT NULL DEFAULT 'queued',
    shed_at      INTEGER,
    shed_unsent  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX media_by_state ON media(state, id);
CREATE TABLE media_usage (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    bytes INTEGER NOT NULL
);
INSERT INTO media_usage (id, bytes) VALUES (1, 0);
CREATE TRIGGER media_usage_insert AFTER INSERT ON media WHEN NEW.state != 'shed'
BEGIN UPDATE media_usage SET bytes = bytes + NEW.bytes WHERE id = 1; END;
CREATE TRIGGER media_usage_shed AFTER UPDATE OF state ON media WHEN OLD.state != 'shed' AND NEW.state = 'shed'
BEGIN UPDATE media_usage SET bytes = bytes - OLD.bytes WHERE id = 1; END;
CREATE TABLE snapshots (
    id            INTEGER PRIMARY KEY,
    at            INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    camera_id     TEXT NOT NULL,
    machine_id    TEXT NOT NULL,
    order_id      TEXT NOT NULL,
    item_id       TEXT NOT NULL,
    operation     TEXT NOT NULL,
    unit          INTEGER NOT NULL,
    percent       INTEGER NOT NULL,
    media_sha256  TEXT,
    thumb_sha256  TEXT,
    sharpness     REAL,
    brightness    REAL,
    flags         TEXT NOT NULL DEFAULT '',
    reason        TEXT
);
CREATE INDEX snapshots_by_item ON snapshots(order_id, item_id, kind, id);
)sql",
    // Plates: where the slicer put a unit's part on the printer's bed (its centre, mm), kept beside its slot, so
    // the events of a plate found again after a restart still say which part is where.
    R"sql(
ALTER TABLE units ADD COLUMN plate_x REAL;
ALTER TABLE units ADD COLUMN plate_y REAL;
)sql",
    // The whole queue in queue order across capabilities (the forecast, the queue's head in the status): read
    // straight from this index, without sorting every queued job first.
    R"sql(
CREATE INDEX jobs_in_queue_order ON jobs(state, rush DESC, due_key, arrival, order_id, item_id, step);
)sql",
};

} // namespace

int latestSchemaVersion() { return static_cast<int>(kMigrations.size()); }

int schemaVersion(Database& db) {
    auto& st = db.prepare("PRAGMA user_version");
    st.step();
    int v = static_cast<int>(st.columnInt(0));
    st.reset();
    return v;
}

void migrate(Database& db) { migrateTo(db, latestSchemaVersion()); }

void migrateTo(Database& db, int target) {
    int current = schemaVersion(db);
    if (current > latestSchemaVersion())
        throw Error("database " + db.path().string() + " has schema version " + std::to_string(current) +
                    " but this agent knows only up to " + std::to_string(latestSchemaVersion()) +
                    "; install the newer agent or restore a matching backup");
    for (int v = current; v < std::min(target, latestSchemaVersion()); ++v) {
        Transaction txn(db);
        db.exec(kMigrations[static_cast<std::size_t>(v)]);
        db.exec("PRAGMA user_version = " + std::to_string(v + 1));
        txn.commit();
        spdlog::info("database {}: migrated to schema version {}", db.path().string(), v + 1);
    }
}

} // namespace mto
