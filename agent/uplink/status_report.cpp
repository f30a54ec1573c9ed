// SPDX-License-Identifier: Apache-2.0
// The retained status message: online/degraded/offline, machines, backlog and disk.
#include "uplink/status_report.hpp"

#include <boost/json.hpp>
#include <cmath>
#include <sys/statvfs.h>

#include "util/clock.hpp"
#include "store/event_json.hpp"

namespace mto {

std::string statusPayload(const StatusInputs& in) {
    boost::json::object o;
    o["state"] = in.state;
    o["factory"] = in.factory;
    o["version"] = MTO_VERSION;
    o["at"] = formatRfc3339Ms(in.nowMs);
    if (in.state == "offline") return toPlainJson(o);
    o["queue_depth"] = in.outbox.openOrders;
    o["unsent_events"] = in.outbox.unsent;
    o["oldest_unsent_age_s"] =
        in.outbox.oldestUnsentAtMs ? std::max<std::int64_t>(0, (in.nowMs - in.outbox.oldestUnsentAtMs) / 1000) : 0;
    o["last_seq"] = in.outbox.lastSeq;
    o["disk_free_bytes"] = in.diskFreeBytes;
    if (!in.degradedReason.empty()) o["degraded_reason"] = in.degradedReason;
    o["shed"] = in.shed;
    o["cameras"] = in.cameras;
    boost::json::array alerts;
    for (const auto& a : in.alerts) alerts.push_back(boost::json::string(a));
    o["alerts"] = std::move(alerts);
    // Capacity forecast: hours of queued work (units not yet started of orders that may run) per capability.
    boost::json::object hours;
    // A job whose stored estimate is not a number (a damaged row) counts as nothing rather than poisoning the sum.
    for (const auto& [capability, seconds] : in.queuedWorkSeconds)
        hours[capability] = std::isfinite(seconds) ? std::round(seconds / 36.0) / 100.0 : 0.0;
    // A capability of the floor with nothing waiting says 0 rather than nothing, as `mtoctl watch` does.
    for (const auto& m : in.machines)
        if (!hours.contains(m.capability)) hours[m.capability] = 0.0;
    o["queued_hours"] = std::move(hours);
    boost::json::array machines;
    for (const auto& m : in.machines) machines.push_back(machineJson(m));
    o["machines"] = std::move(machines);
    boost::json::array scanners;
    for (const auto& sc : in.scanners)
        scanners.push_back({{"id", sc.id}, {"kind", sc.kind}, {"station", sc.station}, {"connected", sc.connected},
                            {"detail", sc.detail.empty() ? boost::json::value(nullptr) : boost::json::value(sc.detail)}});
    o["scanners"] = std::move(scanners);
    return toPlainJson(o);
}

void readStoredStatus(StatusInputs& in, OrderStore& store, JobQueue& queue) {
    in.outbox = store.outboxStats();
    in.queuedWorkSeconds = queue.queuedSeconds();
}

std::uint64_t diskFreeBytes(const std::filesystem::path& dir) {
    struct statvfs vfs {};
    if (statvfs(dir.c_str(), &vfs) != 0) return 0;
    return static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
}

} // namespace mto
