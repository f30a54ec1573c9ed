// SPDX-License-Identifier: Apache-2.0
// A bare Paho C++ client with no storage behind it: the yardstick the agent's MQTT figures are held against.
#include "bare_mqtt_client.hpp"

#include <chrono>
#include <thread>

#include "bench_support.hpp"
#include "uplink/socket_tuning.hpp"

namespace mto::bench {

class BareMqttClient::Callbacks final : public mqtt::callback {
public:
    explicit Callbacks(BareMqttClient& owner) : owner_(owner) {}
    void message_arrived(mqtt::const_message_ptr msg) override {
        if (owner_.message_) owner_.message_(msg);
    }

private:
    BareMqttClient& owner_;
};

class BareMqttClient::AckListener final : public mqtt::iaction_listener {
public:
    explicit AckListener(BareMqttClient& owner) : owner_(owner) {}
    void on_success(const mqtt::token&) override {
        if (owner_.acked_) owner_.acked_();
    }
    // A lost publish shows up as a message that never arrives, which the benchmark's timeout reports.
    void on_failure(const mqtt::token&) override {}

private:
    BareMqttClient& owner_;
};

BareMqttClient::BareMqttClient(std::string uri, const std::string& clientId) : uri_(std::move(uri)) {
    // Paho's default create options refuse a publish once 100 are queued unsent, even while connected;
    // the yardstick must be limited by its window alone, so lift that cap.
    mqtt::create_options create;
    create.set_max_buffered_messages(1 << 20);
    client_ = std::make_unique<mqtt::async_client>(uri_, clientId, create, nullptr);
    callbacks_ = std::make_unique<Callbacks>(*this);
    ackListener_ = std::make_unique<AckListener>(*this);
    client_->set_callback(*callbacks_);
}

BareMqttClient::~BareMqttClient() {
    // Paho throws from disable_callbacks() while a connect is in progress; a destructor must not throw.
    try {
        disconnect();
        client_->disable_callbacks();
    } catch (...) {
    }
}

void BareMqttClient::connect(bool cleanSession, int maxInflight) {
    mqtt::connect_options opts;
    opts.set_clean_session(cleanSession);
    opts.set_keep_alive_interval(5);
    opts.set_connect_timeout(10);
    opts.set_max_inflight(maxInflight);
    if (!client_->connect(opts)->wait_for(std::chrono::seconds(10)))
        throw BenchError("bare MQTT client could not connect to " + uri_ + " within 10 s");
    mto::enableNoDelayTowards(uri_);
}

void BareMqttClient::subscribe(const std::string& topic, int qos) {
    if (!client_->subscribe(topic, qos)->wait_for(std::chrono::seconds(10)))
        throw BenchError("bare MQTT client could not subscribe to " + topic + " within 10 s");
}

void BareMqttClient::publish(const std::string& topic, const std::string& payload) {
    auto msg = mqtt::make_message(topic, payload, 1, false);
    // Paho refuses a publish when its own buffer is full; wait for room, within bounds.
    for (int attempt = 0;; ++attempt) {
        try {
            client_->publish(msg, nullptr, *ackListener_);
            return;
        } catch (const mqtt::exception& e) {
            if (attempt >= 2000) throw BenchError(std::string("bare publish kept failing: ") + e.what());
            throwIfInterrupted();
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
}

void BareMqttClient::disconnect() {
    if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(5));
}

} // namespace mto::bench
