// SPDX-License-Identifier: Apache-2.0
#include "uplink/paho_support.hpp"

namespace mto {

mqtt::connect_options brokerConnectOptions(const Config& config) {
    mqtt::connect_options o;
    o.set_keep_alive_interval(config.mqtt.keepAliveSeconds);
    o.set_connect_timeout(10);
    o.set_automatic_reconnect(false);
    if (!config.mqtt.username.empty()) o.set_user_name(config.mqtt.username);
    if (!config.mqtt.password.empty()) o.set_password(config.mqtt.password);
    if (config.mqtt.uri.rfind("ssl://", 0) == 0) {
        mqtt::ssl_options ssl;
        if (!config.mqtt.caFile.empty()) ssl.set_trust_store(config.mqtt.caFile);
        if (!config.mqtt.certFile.empty()) ssl.set_key_store(config.mqtt.certFile);
        if (!config.mqtt.keyFile.empty()) ssl.set_private_key(config.mqtt.keyFile);
        ssl.set_enable_server_cert_auth(true);
        ssl.set_verify(true);
        o.set_ssl(std::move(ssl));
    }
    return o;
}

} // namespace mto
