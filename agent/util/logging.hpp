// SPDX-License-Identifier: Apache-2.0
// Sets up spdlog: journald when started by systemd, stderr otherwise.
#pragma once

#include <string>

namespace mto {

// Throws mto::Error for an unknown level name.
void setupLogging(const std::string& level);
void setLogLevel(const std::string& level);

} // namespace mto
