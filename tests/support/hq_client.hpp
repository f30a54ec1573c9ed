// SPDX-License-Identifier: Apache-2.0
// A test HQ over real MQTT: sends orders, re-sends those without a receipt, de-duplicates events by event_id.
#pragma once

#include <boost/json.hpp>
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mqtt/async_client.h>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "media/media_parts.hpp"

namespace mto::test {

struct SeenEvent {
    std::string topic;
    std::string eventId;
    std::int64_t seq = 0;
    std::string orderId;
    std::string milestone;
    boost::json::object data;
    std::chrono::steady_clock::time_point arrived;
};

// Thread-safe: Paho's thread records events, the test thread reads them under the same mutex.
class HqClient {
public:
    HqClient(const std::string& uri, std::string factory, std::string clientId = "test-hq");
    ~HqClient();

    void connect();
    void disconnect();
    bool isConnected() const { return client_->is_connected(); }

    // Publishes at QoS1 and remembers it; a receipt is a received/rejected event of that order (and revision).
    void sendOrder(const std::string& orderId, const std::string& payload, std::int64_t revision = 1);
    void sendCommand(const std::string& payload);
    void publishRaw(const std::string& topic, const std::string& payload);
    // Re-sends every remembered order that has no receipt yet and was last sent at least
    // `minAge` ago (as a real HQ does: a re-send storm only buries the receipts); returns how many.
    std::size_t resendMissing(std::chrono::milliseconds minAge = std::chrono::seconds(2));

    std::size_t receiptCount();
    bool hasReceipt(const std::string& orderId);
    // How many of these orders have a receipt, whoever sent them (receiptCount() knows only its own).
    std::size_t receiptsFor(const std::vector<std::string>& orderIds);
    std::vector<std::string> missingReceipts();
    // De-duplicated events in arrival order.
    std::vector<SeenEvent> events();
    std::size_t eventCount();
    std::size_t duplicateCount();
    std::optional<SeenEvent> lastEventFor(const std::string& orderId);
    std::string lastStatus();
    std::vector<std::string> statuses();
    // Media (proof images, snapshots) by the sha256 in their topic, put together from their parts.
    std::map<std::string, std::string> media();
    std::size_t mediaCount();
    // Media messages whose topic made no sense, with the reason (parts of one image disagreeing on their count...).
    std::vector<std::string> badMedia();
    // When the first event or media message came, and when the last image was complete (for timing a drain
    // from HQ's side); nullopt before any came.
    std::optional<std::chrono::steady_clock::time_point> firstArrival();
    std::optional<std::chrono::steady_clock::time_point> lastImageArrival();
    // Every media message as it came: its topic and payload size.
    std::vector<std::pair<std::string, std::size_t>> mediaMessages();
    // Stops taking media on this connection (as an HQ does that takes images on a connection of its own,
    // so a backlog of images never queues ahead of events at the broker).
    void ignoreMedia();
    bool waitForEvents(std::size_t n, std::chrono::milliseconds timeout);
    // Waits for a retained status saying online: the agent subscribes before it says so.
    bool waitForOnline(std::chrono::milliseconds timeout);

    std::string ordersTopic() const { return "mto/v1/" + factory_ + "/orders"; }
    std::string commandsTopic() const { return "mto/v1/" + factory_ + "/commands"; }

private:
    class Callbacks;
    void onMessage(const std::string& topic, const std::string& payload);

    std::string factory_;
    std::unique_ptr<mqtt::async_client> client_;
    std::unique_ptr<Callbacks> callbacks_;
    std::mutex mutex_;
    std::condition_variable changed_;
    struct Sent {
        std::string payload;
        std::int64_t revision = 1;
        std::chrono::steady_clock::time_point at;
    };
    std::map<std::string, Sent> sent_;
    std::set<std::string> receipts_;
    std::set<std::string> seenIds_;
    std::vector<SeenEvent> events_;
    std::size_t duplicates_ = 0;
    std::vector<std::string> statuses_;
    std::map<std::string, std::string> media_;
    MediaReassembly reassembly_;
    std::vector<std::string> badMedia_;
    std::vector<std::pair<std::string, std::size_t>> mediaMessages_;
    std::optional<std::chrono::steady_clock::time_point> firstArrival_, lastImageArrival_;
    std::atomic<bool> takeMedia_{true};
};

// How many events of `milestone` HQ has seen for the order.
std::size_t countOf(HqClient& hq, const std::string& orderId, const std::string& milestone);

// A minimal valid order with `items` items of a known SKU.
std::string makeOrder(const std::string& orderId, int items = 1, std::int64_t revision = 1,
                      const std::string& text = "Ada");

} // namespace mto::test
