// SPDX-License-Identifier: Apache-2.0
// Which page of the station display a request asks for; the display is read-only, so only GET is routed.
#include "station/station_route.hpp"

#include <algorithm>

#include "intake/order_parser.hpp"

namespace mto {

bool isSha256Hex(std::string_view s) {
    return s.size() == 64 &&
           std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

StationRoute routeStationRequest(std::string_view method, std::string_view target) {
    StationRoute r;
    if (method != "GET") {
        r.kind = StationRoute::Kind::MethodNotAllowed;
        return r;
    }
    const auto query = target.find('?');
    std::string_view path = target.substr(0, query);
    auto notFound = [&](std::string why) {
        r.kind = StationRoute::Kind::NotFound;
        r.why = std::move(why);
        return r;
    };
    if (path == "/") {
        r.kind = StationRoute::Kind::StationList;
        return r;
    }
    constexpr std::string_view kStation = "/station/";
    constexpr std::string_view kMedia = "/media/";
    if (path.starts_with(kStation)) {
        std::string_view rest = path.substr(kStation.size());
        std::string_view id = rest.substr(0, rest.find('/'));
        std::string_view tail = rest.substr(id.size());
        // Station ids are checked like every id of the agent; anything else cannot name a station.
        if (!OrderParser::isValidId(std::string(id))) return notFound("'" + std::string(id) + "' is not a station id");
        r.stationId = std::string(id);
        if (tail.empty()) r.kind = StationRoute::Kind::StationPage;
        else if (tail == "/events") r.kind = StationRoute::Kind::StationEvents;
        else if (tail == "/state.json") r.kind = StationRoute::Kind::StationState;
        else return notFound("a station has its page, /events and /state.json");
        return r;
    }
    if (path.starts_with(kMedia)) {
        std::string_view name = path.substr(kMedia.size());
        if (!name.ends_with(".jpg")) return notFound("media are named <sha256>.jpg");
        name.remove_suffix(4);
        if (!isSha256Hex(name)) return notFound("media are named by their sha256: 64 lowercase hex digits");
        r.kind = StationRoute::Kind::Media;
        r.sha256 = std::string(name);
        return r;
    }
    return notFound("no such page");
}

} // namespace mto
