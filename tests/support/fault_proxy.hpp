// SPDX-License-Identifier: Apache-2.0
// A TCP proxy between the agent and the broker that injects network faults into MQTT traffic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

namespace mto::test {

// Faults the proxy applies to every connection it carries. Changed at any time from any thread.
struct FaultSettings {
    // Each chunk forwarded is delayed by this much (both directions).
    std::chrono::milliseconds delay{0};
    // While set, nothing is forwarded in either direction (bytes wait, the TCP connections stay open).
    bool stall = false;
    // Broker → client PUBACK packets are dropped: the agent never learns its events arrived.
    bool swallowPubacks = false;
};

struct FaultCounters {
    std::uint64_t connections = 0;
    std::uint64_t cuts = 0;             // connections the proxy closed on purpose
    std::uint64_t pubacksSwallowed = 0;
    std::uint64_t pubacksForwarded = 0;
    std::uint64_t bytesUp = 0;          // client → broker
    std::uint64_t bytesDown = 0;        // broker → client
};

// Thread-safe. Runs its own io_context on its own thread; listens on 127.0.0.1 at a free port and
// opens one broker connection per client connection. Broker → client traffic is cut into MQTT
// packets (fixed header, remaining length) so single packet types can be dropped.
class FaultProxy {
public:
    FaultProxy(int brokerPort, std::uint64_t seed);
    ~FaultProxy();
    FaultProxy(const FaultProxy&) = delete;
    FaultProxy& operator=(const FaultProxy&) = delete;

    int port() const { return port_; }
    std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

    void set(const FaultSettings& s);
    FaultSettings settings();
    // Closes every carried connection now (both sides), as a dropped network link would.
    void cutAll();
    // Closes a connection at a random byte offset of its next `withinBytes` bytes (either direction).
    void cutSoon(std::uint64_t withinBytes);
    // Refuses (closes at once) new client connections while set.
    void refuseConnections(bool on);
    FaultCounters counters();

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
    int port_ = 0;
};

} // namespace mto::test
