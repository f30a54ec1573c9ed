// SPDX-License-Identifier: Apache-2.0
// What a scan means: per-scanner context (operator, item), the operator's actions on items, orders and
// machines, their milestones, and the refusals the operator sees.
#include "scan/scan_workflow.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "mto/error.hpp"
#include "mto/order_state.hpp"
#include "util/clock.hpp"

namespace mto {

namespace json = boost::json;
using barcode::Action;
using barcode::Kind;

namespace {

// A refusal: the machine-readable reason and what the operator reads.
struct ScanRefusal {
    std::string reason;
    std::string message;
};

std::string itemName(const std::string& orderId, const std::string& itemId) { return orderId + "/" + itemId; }

// A carrier's tracking number: 4..64 of A-Z a-z 0-9 and - (UPS, DHL, FedEx, USPS, GLS and DPD all fit).
bool validTracking(const std::string& s) {
    if (s.size() < 4 || s.size() > 64) return false;
    for (char c : s)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    return true;
}

std::string kindName(const barcode::Scan& s, bool tracking) {
    switch (s.kind) {
    case Kind::Item: return "item";
    case Kind::Operator: return "operator";
    case Kind::Action: return barcode::toString(s.action);
    case Kind::Other: return tracking ? "tracking" : (s.error.empty() ? "other" : "malformed");
    }
    return "other";
}

// How far the item's production is: every job and unit, and the round (sum of unit attempts) they are in.
struct ItemProgress {
    std::int64_t jobs = 0;
    std::int64_t jobsDone = 0;
    std::int64_t unitsDue = 0;
    std::int64_t unitsDone = 0;
    std::int64_t round = 0;
    bool done() const { return jobs > 0 && jobsDone == jobs && unitsDone >= unitsDue; }
};

ItemProgress itemProgressOf(Database& db, const std::string& orderId, const std::string& itemId) {
    auto& st = db.prepare(
        "SELECT COUNT(*), COALESCE(SUM(j.state = 'done'), 0), COALESCE(SUM(j.qty), 0), "
        "(SELECT COUNT(*) FROM units u WHERE u.order_id = ?1 AND u.item_id = ?2 AND u.state = 'done'), "
        "(SELECT COALESCE(SUM(u.attempt), 0) FROM units u WHERE u.order_id = ?1 AND u.item_id = ?2) "
        "FROM jobs j WHERE j.order_id = ?1 AND j.item_id = ?2");
    st.bind(1, orderId).bind(2, itemId);
    ItemProgress p;
    if (st.step()) {
        p.jobs = st.columnInt(0);
        p.jobsDone = st.columnInt(1);
        p.unitsDue = st.columnInt(2);
        p.unitsDone = st.columnInt(3);
        p.round = st.columnInt(4);
    }
    st.reset();
    return p;
}

struct QcVerdict {
    std::string verdict;   // passed | failed
    std::string reason;
    std::int64_t round = 0;
};

std::optional<QcVerdict> verdictOf(Database& db, const std::string& orderId, const std::string& itemId) {
    auto& st = db.prepare("SELECT verdict, COALESCE(reason, ''), round FROM item_qc WHERE order_id = ? AND item_id = ?");
    st.bind(1, orderId).bind(2, itemId);
    std::optional<QcVerdict> v;
    if (st.step()) v = QcVerdict{st.columnText(0), st.columnText(1), st.columnInt(2)};
    st.reset();
    return v;
}

bool itemExists(Database& db, const std::string& orderId, const std::string& itemId) {
    auto& st = db.prepare("SELECT 1 FROM items WHERE order_id = ? AND item_id = ?");
    st.bind(1, orderId).bind(2, itemId);
    const bool found = st.step();
    st.reset();
    return found;
}

// Items of the order without a passing verdict for their current round, the first few of them by id.
std::pair<std::int64_t, std::vector<std::string>> itemsNotPassed(Database& db, const std::string& orderId) {
    auto& st = db.prepare(
        "SELECT i.item_id FROM items i LEFT JOIN item_qc q ON q.order_id = i.order_id AND q.item_id = i.item_id "
        "WHERE i.order_id = ?1 AND (q.verdict IS NULL OR q.verdict <> 'passed' OR q.round <> "
        "(SELECT COALESCE(SUM(u.attempt), 0) FROM units u WHERE u.order_id = i.order_id AND u.item_id = i.item_id)) "
        "ORDER BY i.item_id");
    st.bind(1, orderId);
    std::pair<std::int64_t, std::vector<std::string>> out;
    while (st.step()) {
        if (out.second.size() < 5) out.second.push_back(st.columnText(0));
        ++out.first;
    }
    st.reset();
    return out;
}

struct Shipment {
    std::string tracking;
};

std::optional<Shipment> shipmentOf(Database& db, const std::string& orderId) {
    auto& st = db.prepare("SELECT COALESCE(tracking, '') FROM shipments WHERE order_id = ?");
    st.bind(1, orderId);
    std::optional<Shipment> s;
    if (st.step()) s = Shipment{st.columnText(0)};
    st.reset();
    return s;
}

// Refuses an action on the item's order unless it is in production (or, where `packedOk`, ready to ship).
std::optional<ScanRefusal> orderRefusal(const std::string& orderId, const std::optional<std::string>& stored) {
    const auto state = stored ? orderStateFromString(*stored) : std::nullopt;
    if (!state) return ScanRefusal{"unknown_item", "order " + orderId + " is not known here"};
    switch (*state) {
    case OrderState::InProduction: return std::nullopt;
    case OrderState::OnHold: return ScanRefusal{"order_on_hold", "order " + orderId + " is on hold"};
    case OrderState::Cancelled: return ScanRefusal{"order_closed", "order " + orderId + " was cancelled"};
    case OrderState::Shipped: return ScanRefusal{"order_closed", "order " + orderId + " has shipped"};
    case OrderState::ReadyToShip: return ScanRefusal{"already_packed", "order " + orderId + " is already packed"};
    default: return ScanRefusal{"not_in_production", "order " + orderId + " is " + *stored + ", not in production"};
    }
}

json::value nullIfEmpty(const std::string& s) { return s.empty() ? json::value(nullptr) : json::value(s); }

} // namespace

std::string scanReplyLine(const ScanRecord& r) {
    std::string line = r.accepted ? "ok " : "refused " + (r.reason.empty() ? std::string("refused") : r.reason) + " ";
    line += r.message;
    for (char& c : line)
        if (c == '\n' || c == '\r') c = ' ';
    return line;
}

ScanWorkflow::ScanWorkflow(boost::asio::io_context& io, CommitQueue& commits, OrderStore& store, JobQueue& queue,
                           MachineAction machines)
    : io_(io), commits_(commits), store_(store), queue_(queue), machines_(std::move(machines)) {}

ScanWorkflow::~ScanWorkflow() { *alive_ = false; }

void ScanWorkflow::addScanner(const std::string& id, const std::string& station, std::chrono::milliseconds timeout) {
    auto& s = stateOf(id);
    s.station = station.empty() ? id : station;
    s.timeout = timeout;
    s.display.station = s.station;
}

ScanWorkflow::ScannerState& ScanWorkflow::stateOf(const std::string& scannerId) {
    auto& slot = scanners_[scannerId];
    if (!slot) {
        slot = std::make_unique<ScannerState>(io_);
        slot->station = scannerId;
        slot->display = DisplayLine{scannerId, scannerId, "ready", "Scan your badge", {}, {}, {}, 0};
    }
    return *slot;
}

void ScanWorkflow::handle(const std::string& scannerId, const std::string& raw, Done done) {
    auto& s = stateOf(scannerId);
    if (s.waiting.size() >= kMaxWaiting) {
        spdlog::warn("scanner {}: {} scans wait already; dropping '{}'", scannerId, kMaxWaiting, raw.substr(0, 64));
        if (done) {
            ScanRecord r;
            r.scanner = scannerId;
            r.station = s.station;
            r.raw = raw.substr(0, kMaxScanLength);
            r.reason = "too_many_waiting";
            r.message = std::to_string(kMaxWaiting) + " scans wait already; scan it again in a moment";
            done(r);
        }
        return;
    }
    s.waiting.push_back(Pending{raw, std::move(done)});
    if (!s.busy) next(scannerId);
}

void ScanWorkflow::next(const std::string& scannerId) {
    auto& s = stateOf(scannerId);
    if (s.busy || s.waiting.empty()) return;
    s.busy = true;
    Pending p = std::move(s.waiting.front());
    s.waiting.pop_front();

    barcode::Scan scan = barcode::parse(p.raw);
    if (scan.raw.size() > kMaxScanLength) {
        scan.kind = Kind::Other;
        scan.error = "a scan of " + std::to_string(scan.raw.size()) + " characters is longer than any code here";
        scan.raw = scan.raw.substr(0, kMaxScanLength);
    }
    // A machine decision is taken by the scheduler, which commits its own milestones; only an operator may.
    std::optional<std::optional<std::string>> machineResult;
    const bool machineAction = scan.kind == Kind::Action &&
                               (scan.action == Action::ClearBed || scan.action == Action::Resume ||
                                scan.action == Action::Restart || scan.action == Action::Scrap);
    if (machineAction && !s.context.operatorId.empty()) {
        try {
            machineResult = machines_ ? machines_(scan.action, scan.argument)
                                      : std::optional<std::string>("no machines here");
        } catch (const std::exception& e) {
            machineResult = std::optional<std::string>(std::string("the machine action failed: ") + e.what());
        }
    }
    auto decision = std::make_shared<Decision>();
    commits_.submit(
        [this, scannerId, scan, machineResult, decision] {
            *decision = decide(scannerId, stateOf(scannerId), scan, machineResult);
        },
        [this, alive = alive_, scannerId, decision, done = std::move(p.done), raw = scan.raw](bool committed) {
            if (!*alive) return;
            auto& st = stateOf(scannerId);
            st.busy = false;
            ScanRecord& r = decision->record;
            if (committed) {
                st.context = decision->context;
                const bool refused = !r.accepted;
                st.display.level = refused ? "refused" : (st.context.awaitingTracking ? "waiting" : "ok");
                st.display.text = refused ? "REFUSED: " + r.message : r.message;
                if (refused)
                    spdlog::warn("scanner {}: '{}' refused ({}): {}", scannerId, r.raw, r.reason, r.message);
                else
                    spdlog::info("scanner {}: '{}': {}", scannerId, r.raw, r.message);
            } else {
                // Nothing was stored: the operator scans again.
                r = ScanRecord{};
                r.scanner = scannerId;
                r.raw = raw;
                r.reason = "not_stored";
                r.message = "the scan could not be stored; scan it again";
                st.display.level = "refused";
                st.display.text = "NOT STORED: scan again";
                spdlog::error("scanner {}: '{}' could not be stored", scannerId, raw);
            }
            st.display.operatorId = st.context.operatorId;
            st.display.orderId = st.context.orderId;
            st.display.itemId = st.context.itemId;
            st.display.atMs = SystemClock().nowMs();
            // The context lives `timeout` from its last scan.
            armTimeout(scannerId, st);
            if (done) done(r);
            if (onChange_) onChange_();
            next(scannerId);
        });
}

ScanWorkflow::Decision ScanWorkflow::decide(const std::string& scannerId, const ScannerState& s,
                                            const barcode::Scan& scan,
                                            const std::optional<std::optional<std::string>>& machineResult) {
    Database& db = store_.database();
    const std::int64_t now = SystemClock().nowMs();
    Decision d;
    d.context = s.context;
    Context& c = d.context;
    ScanRecord& r = d.record;
    r.atMs = now;
    r.scanner = scannerId;
    r.station = s.station;
    r.raw = scan.raw;
    r.kind = kindName(scan, s.context.awaitingTracking && scan.kind == Kind::Other && scan.error.empty());

    std::optional<ScanRefusal> refusal;
    std::string refusalOrder;   // the order a refusal is about, when known
    std::string refusalItem;
    auto refuse = [&](std::string reason, std::string message) { refusal = ScanRefusal{std::move(reason), std::move(message)}; };
    auto accept = [&](std::string message) { r.message = std::move(message); };
    auto base = [&] {
        json::object data;
        data["operator"] = c.operatorId;
        data["scanner"] = scannerId;
        data["station"] = s.station;
        return data;
    };

    // Anything but a tracking number ends the wait for one.
    const bool tracking = c.awaitingTracking && scan.kind == Kind::Other && scan.error.empty();
    if (!tracking && !(scan.kind == Kind::Other && !scan.error.empty())) c.awaitingTracking = false;

    if (scan.kind == Kind::Other && !scan.error.empty()) {
        refuse("malformed", scan.error);
    } else if (scan.kind == Kind::Operator) {
        c = Context{};
        c.operatorId = scan.operatorId;
        accept(c.operatorId + ": scan an item");
    } else if (scan.kind == Kind::Item) {
        if (!itemExists(db, scan.orderId, scan.itemId)) {
            refusalOrder = store_.orderState(scan.orderId) ? scan.orderId : "";
            refuse("unknown_item", "item " + itemName(scan.orderId, scan.itemId) + " is not known here");
        } else {
            c.orderId = scan.orderId;
            c.itemId = scan.itemId;
            const auto p = itemProgressOf(db, c.orderId, c.itemId);
            accept(itemName(c.orderId, c.itemId) + " selected: " + std::to_string(p.unitsDone) + " of " +
                   std::to_string(p.unitsDue) + " units done" + (c.operatorId.empty() ? "; scan your badge" : ""));
        }
    } else if (scan.kind == Kind::Other && !tracking) {
        refuse("unknown_code", "'" + scan.raw + "' is not a code of this factory");
    } else if (scan.kind == Kind::Action && scan.action == Action::Cancel) {
        c = Context{};
        accept("cancelled: scan your badge");
    } else if (c.operatorId.empty()) {
        refuse("no_operator", "scan your badge first");
        const bool itemAction = scan.kind == Kind::Action && (scan.action == Action::QcPass || scan.action == Action::QcFail ||
                                                              scan.action == Action::Packed || scan.action == Action::Shipped);
        if (itemAction) {   // about the item already selected, if any
            refusalOrder = c.orderId;
            refusalItem = c.itemId;
        }
    } else if (scan.kind == Kind::Action && machineResult) {
        if (*machineResult) {
            refuse("machine_refused", **machineResult);
        } else {
            static const std::map<Action, std::string> done{{Action::ClearBed, "bed cleared"},
                                                            {Action::Resume, "resumed"},
                                                            {Action::Restart, "restarted"},
                                                            {Action::Scrap, "part scrapped; clear the bed"}};
            accept(scan.argument + ": " + done.at(scan.action));
        }
    } else if (c.orderId.empty()) {
        refuse("no_item", "scan an item first");
    } else {
        refusalOrder = c.orderId;
        refusalItem = c.itemId;
        const std::string item = itemName(c.orderId, c.itemId);
        const auto state = store_.orderState(c.orderId);
        if (tracking) {
            const auto shipment = shipmentOf(db, c.orderId);
            if (state && *state == "shipped") {
                if (shipment && shipment->tracking == scan.raw) {
                    r.reason = "duplicate";
                    accept("order " + c.orderId + " already shipped with " + scan.raw);
                } else {
                    refuse("already_shipped", "order " + c.orderId + " already shipped with " +
                                                  (shipment ? shipment->tracking : std::string("another number")));
                }
            } else if (!state || *state != "ready_to_ship") {
                refuse("not_packed", "order " + c.orderId + " is not packed");
            } else if (!validTracking(scan.raw)) {
                c.awaitingTracking = true;
                refuse("invalid_tracking", "'" + scan.raw + "' is not a tracking number (4..64 of A-Z 0-9 -)");
            } else {
                auto data = base();
                data["tracking_number"] = scan.raw;
                r.eventSeq = store_.recordScanEvent(c.orderId, "", "shipped", std::move(data));
                store_.moveOrder(c.orderId, OrderState::Shipped);
                db.prepare("UPDATE shipments SET tracking = ?2, shipped_by = ?3, shipped_at = ?4, shipped_seq = ?5 "
                           "WHERE order_id = ?1")
                    .bind(1, c.orderId)
                    .bind(2, scan.raw)
                    .bind(3, c.operatorId)
                    .bind(4, now)
                    .bind(5, r.eventSeq)
                    .run();
                accept("order " + c.orderId + " shipped: " + scan.raw);
            }
        } else if (scan.action == Action::QcPass || scan.action == Action::QcFail) {
            const bool pass = scan.action == Action::QcPass;
            const auto p = itemProgressOf(db, c.orderId, c.itemId);
            const auto verdict = verdictOf(db, c.orderId, c.itemId);
            const bool same = verdict && verdict->round == p.round && verdict->verdict == (pass ? "passed" : "failed") &&
                              (pass || verdict->reason == scan.argument);
            if (same) {
                r.reason = "duplicate";
                accept(item + (pass ? " passed QC already" : " failed QC already; it is being made again"));
            } else if (auto why = orderRefusal(c.orderId, state)) {
                refusal = why;
            } else if (!p.done()) {
                refuse("not_done", item + ": " + std::to_string(p.unitsDone) + " of " + std::to_string(p.unitsDue) +
                                       " units done; QC comes after the last one");
            } else {
                auto data = base();
                const auto snapshot = snapshot_ ? snapshot_(c.orderId, c.itemId) : std::nullopt;
                data["snapshot_sha256"] = snapshot ? json::value(*snapshot) : json::value(nullptr);
                if (!pass) data["reason"] = scan.argument;
                std::int64_t requeued = 0;
                if (!pass) {
                    // The item is made again: each of its finished units goes back to the queue under its index.
                    auto& units = db.prepare("SELECT operation, unit FROM units WHERE order_id = ? AND item_id = ? "
                                             "AND state = 'done' ORDER BY step, unit");
                    units.bind(1, c.orderId).bind(2, c.itemId);
                    std::vector<std::pair<std::string, std::int64_t>> list;
                    while (units.step()) list.emplace_back(units.columnText(0), units.columnInt(1));
                    units.reset();
                    for (const auto& [operation, unit] : list) {
                        auto u = queue_.unitOf(c.orderId, c.itemId, operation, unit);
                        if (!u) continue;
                        queue_.markScrapped(*u, now, "qc_failed: " + scan.argument);
                        ++requeued;
                    }
                    data["requeued_units"] = requeued;
                } else {
                    data["units"] = p.unitsDone;
                }
                r.eventSeq = store_.recordScanEvent(c.orderId, c.itemId, pass ? "qc_passed" : "qc_failed", std::move(data));
                db.prepare("INSERT OR REPLACE INTO item_qc (order_id, item_id, verdict, reason, operator, round, "
                           "snapshot_sha256, at, event_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
                    .bind(1, c.orderId)
                    .bind(2, c.itemId)
                    .bind(3, pass ? "passed" : "failed")
                    .bindOptional(4, pass ? std::string() : scan.argument)
                    .bind(5, c.operatorId)
                    .bind(6, p.round)
                    .bindOptional(7, snapshot.value_or(""))
                    .bind(8, now)
                    .bind(9, r.eventSeq)
                    .run();
                accept(pass ? item + ": QC passed" + (snapshot ? "" : " (no snapshot)")
                            : item + ": QC failed (" + scan.argument + "); " + std::to_string(requeued) +
                                  " unit(s) queued to be made again");
            }
        } else if (scan.action == Action::Packed) {
            if (state && (*state == "ready_to_ship" || *state == "shipped")) {
                r.reason = "duplicate";
                accept("order " + c.orderId + " is packed already");
            } else if (auto why = orderRefusal(c.orderId, state)) {
                refusal = why;
            } else if (auto [missing, first] = itemsNotPassed(db, c.orderId); missing > 0) {
                std::string list;
                for (const auto& i : first) list += (list.empty() ? "" : ", ") + i;
                if (missing > static_cast<std::int64_t>(first.size())) list += ", ...";
                refuse("qc_missing", "order " + c.orderId + ": " + std::to_string(missing) +
                                         " item(s) have not passed QC (" + list + ")");
            } else {
                auto data = base();
                auto& n = db.prepare("SELECT COUNT(*) FROM items WHERE order_id = ?");
                n.bind(1, c.orderId);
                data["items"] = n.step() ? n.columnInt(0) : 0;
                n.reset();
                r.eventSeq = store_.recordScanEvent(c.orderId, "", "ready_to_ship", std::move(data));
                store_.moveOrder(c.orderId, OrderState::ReadyToShip);
                db.prepare("INSERT OR REPLACE INTO shipments (order_id, packed_by, packed_at, packed_seq) VALUES (?, ?, ?, ?)")
                    .bind(1, c.orderId)
                    .bind(2, c.operatorId)
                    .bind(3, now)
                    .bind(4, r.eventSeq)
                    .run();
                accept("order " + c.orderId + " packed: ready to ship");
            }
        } else if (scan.action == Action::Shipped) {
            if (!state || (*state != "ready_to_ship" && *state != "shipped")) {
                refuse("not_packed", "order " + c.orderId + " is not packed");
            } else {
                c.awaitingTracking = true;
                accept("order " + c.orderId + ": scan the carrier's tracking barcode");
            }
        } else {
            refuse("unknown_code", "'" + scan.raw + "' does nothing here");
        }
    }

    r.operatorId = s.context.operatorId.empty() ? c.operatorId : s.context.operatorId;
    // The item the scan was about: the one it named, else the context's.
    r.orderId = scan.kind == Kind::Item ? scan.orderId : c.orderId;
    r.itemId = scan.kind == Kind::Item ? scan.itemId : c.itemId;
    if (refusal) {
        r.accepted = false;
        r.reason = refusal->reason;
        r.message = refusal->message;
        json::object data;
        data["scanner"] = scannerId;
        data["station"] = s.station;
        data["raw"] = scan.raw;
        data["reason"] = refusal->reason;
        data["message"] = refusal->message;
        data["operator"] = nullIfEmpty(c.operatorId);
        r.eventSeq = store_.recordScanEvent(refusalOrder, refusalOrder.empty() ? "" : refusalItem, "scan_refused",
                                            std::move(data));
    } else {
        r.accepted = true;
        if (r.message.empty()) r.message = promptFor(c);
    }
    auto& insert = db.prepare("INSERT INTO scans (at, scanner, station, raw, kind, operator, order_id, item_id, outcome, "
                              "reason, message, event_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, now)
        .bind(2, scannerId)
        .bind(3, s.station)
        .bind(4, r.raw)
        .bind(5, r.kind)
        .bindOptional(6, r.operatorId)
        .bindOptional(7, r.orderId)
        .bindOptional(8, r.itemId)
        .bind(9, r.accepted ? "accepted" : "refused")
        .bindOptional(10, r.reason)
        .bind(11, r.message);
    if (r.eventSeq)
        insert.bind(12, r.eventSeq);
    else
        insert.bindNull(12);
    insert.run();
    r.id = sqlite3_last_insert_rowid(db.handle());
    if (r.id % 1000 == 0)
        db.prepare("DELETE FROM scans WHERE id <= ?").bind(1, r.id - kKeepScans).run();
    return d;
}

std::string ScanWorkflow::promptFor(const Context& c) const {
    if (c.operatorId.empty()) return "Scan your badge";
    if (c.orderId.empty()) return c.operatorId + ": scan an item";
    return itemName(c.orderId, c.itemId) + ": scan an action";
}

void ScanWorkflow::armTimeout(const std::string& scannerId, ScannerState& s) {
    s.timer.expires_after(s.timeout);
    s.timer.async_wait([this, alive = alive_, scannerId](const boost::system::error_code& ec) {
        if (ec || !*alive) return;
        auto& st = stateOf(scannerId);
        if (st.busy) return;   // the scan being decided re-arms it
        const bool had = !st.context.operatorId.empty() || !st.context.orderId.empty();
        st.context = Context{};
        if (!had) return;
        st.display = DisplayLine{scannerId, st.station, "ready", "Timed out: scan your badge", {}, {}, {},
                                 SystemClock().nowMs()};
        spdlog::info("scanner {}: context timed out", scannerId);
        if (onChange_) onChange_();
    });
}

std::vector<ScanRecord> ScanWorkflow::recent(std::size_t n) {
    auto& st = store_.database().prepare(
        "SELECT id, at, scanner, station, raw, kind, COALESCE(operator, ''), COALESCE(order_id, ''), "
        "COALESCE(item_id, ''), outcome, COALESCE(reason, ''), message, COALESCE(event_seq, 0) "
        "FROM scans ORDER BY id DESC LIMIT ?");
    st.bind(1, static_cast<std::int64_t>(n));
    std::vector<ScanRecord> out;
    while (st.step()) {
        ScanRecord r;
        r.id = st.columnInt(0);
        r.atMs = st.columnInt(1);
        r.scanner = st.columnText(2);
        r.station = st.columnText(3);
        r.raw = st.columnText(4);
        r.kind = st.columnText(5);
        r.operatorId = st.columnText(6);
        r.orderId = st.columnText(7);
        r.itemId = st.columnText(8);
        r.accepted = st.columnText(9) == "accepted";
        r.reason = st.columnText(10);
        r.message = st.columnText(11);
        r.eventSeq = st.columnInt(12);
        out.push_back(std::move(r));
    }
    st.reset();
    return out;
}

std::optional<DisplayLine> ScanWorkflow::displayLine(const std::string& scannerId) const {
    auto it = scanners_.find(scannerId);
    if (it == scanners_.end()) return std::nullopt;
    return it->second->display;
}

std::vector<DisplayLine> ScanWorkflow::displayLines() const {
    std::vector<DisplayLine> out;
    for (const auto& [id, s] : scanners_) out.push_back(s->display);
    return out;
}

} // namespace mto
