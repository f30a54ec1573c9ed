// SPDX-License-Identifier: Apache-2.0
// A bare Paho C++ client with no storage behind it: the yardstick the agent's MQTT figures are held against.
#pragma once

#include <functional>
#include <memory>
#include <mqtt/async_client.h>
#include <string>

namespace mto::bench {

// Thread-safe: the callbacks run on Paho's threads, connect/subscribe/publish on the caller's.
// Set the callbacks before connect(); they must not call back into Paho.
class BareMqttClient {
public:
    using MessageFn = std::function<void(const mqtt::const_message_ptr&)>;
    using AckFn = std::function<void()>;

    BareMqttClient(std::string uri, const std::string& clientId);
    ~BareMqttClient();
    BareMqttClient(const BareMqttClient&) = delete;
    BareMqttClient& operator=(const BareMqttClient&) = delete;

    void onMessage(MessageFn f) { message_ = std::move(f); }
    void onAck(AckFn f) { acked_ = std::move(f); }

    // Connects (waiting up to 10 s) and turns on TCP_NODELAY, as the agent and the test HQ do.
    void connect(bool cleanSession, int maxInflight);
    void subscribe(const std::string& topic, int qos);
    // QoS1; the ack callback runs when the broker's PUBACK has arrived.
    void publish(const std::string& topic, const std::string& payload);
    void disconnect();

private:
    class Callbacks;
    class AckListener;

    std::string uri_;
    std::unique_ptr<mqtt::async_client> client_;
    std::unique_ptr<Callbacks> callbacks_;
    std::unique_ptr<AckListener> ackListener_;
    MessageFn message_;
    AckFn acked_;
};

} // namespace mto::bench
