// SPDX-License-Identifier: Apache-2.0
// The station display's HTML: the list of stations, a station's page (CSS and script inline), error pages.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mto/config.hpp"

namespace mto {

// Text made safe to stand in HTML text or an attribute value.
std::string htmlEscape(std::string_view text);

std::string stationListHtml(std::string_view factory, const std::vector<StationConfig>& stations);

// The page renders `snapshotJson` (stationSnapshot) at once, then follows /station/<id>/events.
std::string stationPageHtml(const StationConfig& station, std::string_view snapshotJson);

std::string errorPageHtml(int status, std::string_view title, std::string_view detail);

} // namespace mto
