// SPDX-License-Identifier: Apache-2.0
// What both broker connections (events and media) share: a Paho listener made of two functions, and the
// connect options every connection to the factory's broker needs (credentials, TLS, keep-alive).
#pragma once

#include <functional>
#include <mqtt/async_client.h>

#include "mto/config.hpp"

namespace mto {

class PahoListener final : public mqtt::iaction_listener {
public:
    using Fn = std::function<void(const mqtt::token&)>;
    PahoListener(Fn ok, Fn bad) : ok_(std::move(ok)), bad_(std::move(bad)) {}
    void on_success(const mqtt::token& t) override { ok_(t); }
    void on_failure(const mqtt::token& t) override { bad_(t); }

private:
    Fn ok_, bad_;
};

// Credentials, TLS, keep-alive and connect timeout from the config; no automatic reconnect (each
// connection backs off on its own). Session, will and in-flight limits are the caller's.
mqtt::connect_options brokerConnectOptions(const Config& config);

} // namespace mto
