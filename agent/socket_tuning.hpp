// SPDX-License-Identifier: Apache-2.0
// Turns on TCP_NODELAY for the process's connections to the broker.
#pragma once

#include <string>

namespace mto {

// Paho opens its sockets itself and never sets TCP_NODELAY, so acknowledgements wait out Nagle's
// algorithm. After each connect we find our TCP sockets whose peer is the broker's port and set it.
// Returns how many sockets were changed.
int enableNoDelayTowards(const std::string& mqttUri);

} // namespace mto
