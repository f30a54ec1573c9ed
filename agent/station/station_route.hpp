// SPDX-License-Identifier: Apache-2.0
// Which page of the station display a request asks for; the display is read-only, so only GET is routed.
#pragma once

#include <string>
#include <string_view>

namespace mto {

struct StationRoute {
    enum class Kind {
        StationList,        // GET /
        StationPage,        // GET /station/<id>
        StationEvents,      // GET /station/<id>/events   (server-sent events)
        StationState,       // GET /station/<id>/state.json
        Media,              // GET /media/<sha256>.jpg
        NotFound,
        MethodNotAllowed,   // anything but GET: the display offers no actions
    };
    Kind kind = Kind::NotFound;
    std::string stationId;  // StationPage, StationEvents, StationState: as written (not yet known to exist)
    std::string sha256;     // Media: 64 lowercase hex digits
    std::string why;        // NotFound: what was wrong, for the 404 page
};

// `target` is the request target (path and optional query, which is ignored).
StationRoute routeStationRequest(std::string_view method, std::string_view target);

// 64 lowercase hex digits: the only media names served, so no path can leave the media folder.
bool isSha256Hex(std::string_view s);

} // namespace mto
