// SPDX-License-Identifier: Apache-2.0
// One station's page content as JSON: its machines and queue (the floor view), its last scans, its latest snapshot.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>

#include "station/station_feed.hpp"

namespace mto {

// How much one station page shows.
inline constexpr std::size_t kStationScansShown = 8;
inline constexpr std::size_t kStationQueueShown = 8;

// The part of the floor a station shows: its machines (all when it lists none), the queued jobs and
// queued work of their capabilities (at most kStationQueueShown), in the floor's order.
FloorView stationFloor(const StationConfig& station, FloorView floor);

// {"station":{"id","name"},"floor":<floorViewJson of stationFloor>,"scans":[…],"snapshot":{…}|null}.
// It carries no time of its own ("floor"."at" is empty), so two snapshots are equal when nothing shown
// changed. A provider that throws is logged and its part shown empty.
boost::json::object stationSnapshot(const StationConfig& station, const StationFeed& feed);

// Whether any machine in a snapshot is running (its progress and time left move on their own).
bool anyRunning(const boost::json::object& snapshot);

} // namespace mto
