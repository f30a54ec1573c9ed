// SPDX-License-Identifier: Apache-2.0
// What the floor looks like now (machines, the units on them, the head of the queue) and its JSON form.
#include "control/floor_view.hpp"

#include <boost/json.hpp>
#include <algorithm>
#include <cmath>

#include "mto/error.hpp"
#include "store/event_json.hpp"

namespace mto {

namespace json = boost::json;

namespace {

json::value stringOrNull(const std::string& s) { return s.empty() ? json::value(nullptr) : json::value(s); }

const json::value& field(const json::object& o, std::string_view key, std::string_view where) {
    auto* v = o.if_contains(key);
    if (!v) throw Error(std::string(where) + ": no '" + std::string(key) + "'");
    return *v;
}

std::string text(const json::object& o, std::string_view key, std::string_view where) {
    const auto& v = field(o, key, where);
    if (v.is_null()) return {};
    if (!v.is_string()) throw Error(std::string(where) + ": '" + std::string(key) + "' is not a string");
    return std::string(v.get_string());
}

double numberField(const json::object& o, std::string_view key, std::string_view where) {
    const auto& v = field(o, key, where);
    if (v.is_null()) return -1;
    if (!v.is_number()) throw Error(std::string(where) + ": '" + std::string(key) + "' is not a number");
    return v.to_number<double>();
}

const json::object& object(const json::value& v, std::string_view where) {
    if (!v.is_object()) throw Error(std::string(where) + " is not an object");
    return v.get_object();
}

const json::array& array(const json::object& o, std::string_view key, std::string_view where) {
    const auto& v = field(o, key, where);
    if (!v.is_array()) throw Error(std::string(where) + ": '" + std::string(key) + "' is not an array");
    return v.get_array();
}

} // namespace

json::object machineJson(const FloorMachine& m) {
    json::object o;
    o["id"] = m.id;
    o["profile"] = m.profile;
    o["capability"] = m.capability;
    o["bay"] = m.bay;
    o["state"] = m.state;
    o["detail"] = stringOrNull(m.detail);
    if (m.job) {
        json::object j;
        j["order_id"] = m.job->orderId;
        j["item_id"] = m.job->itemId;
        j["operation"] = m.job->operation;
        j["unit"] = m.job->unit;
        j["qty"] = m.job->qty > 0 ? json::value(m.job->qty) : json::value(nullptr);
        j["percent"] = m.job->percent;
        j["seconds_left"] = m.job->secondsLeft >= 0 && std::isfinite(m.job->secondsLeft)
                                ? json::value(static_cast<std::int64_t>(std::lround(m.job->secondsLeft)))
                                : json::value(nullptr);
        o["job"] = std::move(j);
    } else {
        o["job"] = nullptr;
    }
    o["reason"] = stringOrNull(m.reason);
    if (m.refused) {
        json::object r;
        r["jobs"] = static_cast<std::int64_t>(m.refused->jobs);
        r["order_id"] = m.refused->orderId;
        r["item_id"] = m.refused->itemId;
        r["operation"] = m.refused->operation;
        r["unit"] = m.refused->unit;
        r["reason"] = m.refused->reason;
        r["message"] = m.refused->message;
        o["refused"] = std::move(r);
    } else {
        o["refused"] = nullptr;
    }
    return o;
}

std::string floorViewJson(const FloorView& v) {
    json::object o;
    o["factory"] = v.factory;
    o["at"] = v.at;
    json::array machines;
    for (const auto& m : v.machines) machines.push_back(machineJson(m));
    o["machines"] = std::move(machines);
    json::array queue;
    for (const auto& e : v.queue) {
        json::object q;
        q["order_id"] = e.orderId;
        q["item_id"] = e.itemId;
        q["operation"] = e.operation;
        q["capability"] = e.capability;
        q["next_unit"] = e.nextUnit;
        q["qty"] = e.qty;
        q["rush"] = e.rush;
        q["due_by"] = stringOrNull(e.dueBy);
        q["estimated_s"] = e.estimatedSeconds;
        queue.push_back(std::move(q));
    }
    o["queue"] = std::move(queue);
    json::object queued;
    for (const auto& [capability, seconds] : v.queuedSeconds) queued[capability] = seconds;
    o["queued_s"] = std::move(queued);
    // toPlainJson never breaks a line: the control channel answers in one.
    return toPlainJson(o);
}

FloorView parseFloorView(std::string_view text_) {
    boost::system::error_code ec;
    json::value root = json::parse(text_, ec);
    if (ec) throw Error("the agent's status is not JSON: " + ec.message());
    const auto& o = object(root, "the agent's status");
    FloorView v;
    v.factory = text(o, "factory", "status");
    v.at = text(o, "at", "status");
    for (const auto& mv : array(o, "machines", "status")) {
        const auto& mo = object(mv, "a machine");
        FloorMachine m;
        m.id = text(mo, "id", "a machine");
        const std::string where = "machine " + m.id;
        m.profile = text(mo, "profile", where);
        m.capability = text(mo, "capability", where);
        m.bay = text(mo, "bay", where);
        m.state = text(mo, "state", where);
        m.detail = text(mo, "detail", where);
        m.reason = text(mo, "reason", where);
        // Absent from agents before it was added: nothing refused.
        if (const auto* rv = mo.if_contains("refused"); rv && !rv->is_null()) {
            const auto& ro = object(*rv, where + " refused");
            FloorRefusal r;
            r.jobs = static_cast<std::size_t>(std::max(0.0, numberField(ro, "jobs", where)));
            r.orderId = text(ro, "order_id", where);
            r.itemId = text(ro, "item_id", where);
            r.operation = text(ro, "operation", where);
            r.unit = static_cast<std::int64_t>(numberField(ro, "unit", where));
            r.reason = text(ro, "reason", where);
            r.message = text(ro, "message", where);
            m.refused = std::move(r);
        }
        const auto& jv = field(mo, "job", where);
        if (!jv.is_null()) {
            const auto& jo = object(jv, where + " job");
            FloorJob j;
            j.orderId = text(jo, "order_id", where);
            j.itemId = text(jo, "item_id", where);
            j.operation = text(jo, "operation", where);
            j.unit = static_cast<std::int64_t>(numberField(jo, "unit", where));
            const double qty = numberField(jo, "qty", where);
            j.qty = qty > 0 ? static_cast<std::int64_t>(qty) : 0;
            j.percent = static_cast<int>(numberField(jo, "percent", where));
            j.secondsLeft = numberField(jo, "seconds_left", where);
            m.job = std::move(j);
        }
        v.machines.push_back(std::move(m));
    }
    for (const auto& qv : array(o, "queue", "status")) {
        const auto& qo = object(qv, "a queue entry");
        QueueEntry e;
        e.orderId = text(qo, "order_id", "a queue entry");
        e.itemId = text(qo, "item_id", "a queue entry");
        e.operation = text(qo, "operation", "a queue entry");
        e.capability = text(qo, "capability", "a queue entry");
        e.nextUnit = static_cast<std::int64_t>(numberField(qo, "next_unit", "a queue entry"));
        e.qty = static_cast<std::int64_t>(numberField(qo, "qty", "a queue entry"));
        const auto& rush = field(qo, "rush", "a queue entry");
        e.rush = rush.is_bool() && rush.get_bool();
        e.dueBy = text(qo, "due_by", "a queue entry");
        e.estimatedSeconds = numberField(qo, "estimated_s", "a queue entry");
        v.queue.push_back(std::move(e));
    }
    const auto& queued = field(o, "queued_s", "status");
    if (!queued.is_object()) throw Error("status: 'queued_s' is not an object");
    for (const auto& [capability, seconds] : queued.get_object()) {
        if (!seconds.is_number()) throw Error("status: queued_s of " + std::string(capability) + " is not a number");
        v.queuedSeconds[std::string(capability)] = seconds.to_number<double>();
    }
    return v;
}

} // namespace mto
