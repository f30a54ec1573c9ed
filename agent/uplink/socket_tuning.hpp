// SPDX-License-Identifier: Apache-2.0
// Socket-level control of the process's connections to the broker, which Paho opens itself.
#pragma once

#include <string>

namespace mto {

// Paho opens its sockets itself and never sets TCP_NODELAY, so acknowledgements wait out Nagle's
// algorithm. After each connect we find our TCP sockets whose peer is the broker's port and set it.
// Returns how many sockets were changed.
int enableNoDelayTowards(const std::string& mqttUri);

// Shuts down (both directions) every TCP socket of this process whose peer is the broker's port, so
// nothing more can be written on it: an acknowledgement Paho is about to send never leaves. Safe to
// call from any thread; Paho notices the dead socket and reports the connection lost.
// Returns how many sockets were shut down.
int shutdownTowards(const std::string& mqttUri);

} // namespace mto
