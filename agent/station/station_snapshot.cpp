// SPDX-License-Identifier: Apache-2.0
// One station's page content as JSON: its machines and queue (the floor view), its last scans, its latest snapshot.
#include "station/station_snapshot.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <set>
#include <spdlog/spdlog.h>

namespace mto {

namespace json = boost::json;

FloorView stationFloor(const StationConfig& station, FloorView floor) {
    if (!station.machines.empty()) {
        const std::set<std::string> mine(station.machines.begin(), station.machines.end());
        std::erase_if(floor.machines, [&](const FloorMachine& m) { return !mine.count(m.id); });
        std::set<std::string> capabilities;
        for (const auto& m : floor.machines) capabilities.insert(m.capability);
        std::erase_if(floor.queue, [&](const QueueEntry& e) { return !capabilities.count(e.capability); });
        std::erase_if(floor.queuedSeconds, [&](const auto& kv) { return !capabilities.count(kv.first); });
    }
    if (floor.queue.size() > kStationQueueShown) floor.queue.resize(kStationQueueShown);
    floor.at.clear();
    return floor;
}

json::object stationSnapshot(const StationConfig& station, const StationFeed& feed) {
    json::object o;
    o["station"] = json::object{{"id", station.id}, {"name", station.name}};

    FloorView floor;
    if (feed.floor) {
        try {
            // Enough of the queue head that the station's capabilities still fill its list after filtering.
            floor = feed.floor(station.machines.empty() ? kStationQueueShown : 50);
        } catch (const std::exception& e) {
            spdlog::warn("station {}: the floor view failed: {}", station.id, e.what());
            floor = {};
        }
    }
    o["floor"] = json::parse(floorViewJson(stationFloor(station, std::move(floor))));

    json::array scans;
    if (feed.scans) {
        try {
            auto lines = feed.scans(station, kStationScansShown);
            if (lines.size() > kStationScansShown) lines.resize(kStationScansShown);
            for (const auto& s : lines)
                scans.push_back(json::object{{"at", s.at},
                                             {"scanner", s.scanner},
                                             {"raw", s.raw},
                                             {"outcome", s.outcome},
                                             {"message", s.message},
                                             {"operator_id", s.operatorId}});
        } catch (const std::exception& e) {
            spdlog::warn("station {}: the scans failed: {}", station.id, e.what());
            scans.clear();
        }
    }
    o["scans"] = std::move(scans);

    o["snapshot"] = nullptr;
    if (feed.latestSnapshot) {
        try {
            if (auto s = feed.latestSnapshot(station)) {
                json::array flags;
                for (const auto& f : s->flags) flags.push_back(json::value(f));
                o["snapshot"] = json::object{{"sha256", s->sha256},
                                             {"url", "/media/" + s->sha256 + ".jpg"},
                                             {"at", s->at},
                                             {"machine", s->machine},
                                             {"order_id", s->orderId},
                                             {"item_id", s->itemId},
                                             {"flags", std::move(flags)}};
            }
        } catch (const std::exception& e) {
            spdlog::warn("station {}: the latest snapshot failed: {}", station.id, e.what());
        }
    }
    return o;
}

bool anyRunning(const json::object& snapshot) {
    const auto* floor = snapshot.if_contains("floor");
    if (!floor || !floor->is_object()) return false;
    const auto* machines = floor->get_object().if_contains("machines");
    if (!machines || !machines->is_array()) return false;
    return std::any_of(machines->get_array().begin(), machines->get_array().end(), [](const json::value& m) {
        const auto* bay = m.is_object() ? m.get_object().if_contains("bay") : nullptr;
        return bay && bay->is_string() && bay->get_string() == "running";
    });
}

} // namespace mto
