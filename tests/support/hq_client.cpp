// SPDX-License-Identifier: Apache-2.0
// A test HQ over real MQTT: sends orders, re-sends those without a receipt, de-duplicates events by event_id.
#include "hq_client.hpp"

#include "uplink/socket_tuning.hpp"

namespace mto::test {

namespace json = boost::json;

class HqClient::Callbacks final : public mqtt::callback {
public:
    explicit Callbacks(HqClient& hq) : hq_(hq) {}
    void message_arrived(mqtt::const_message_ptr msg) override { hq_.onMessage(msg->get_topic(), msg->get_payload_str()); }
    void connected(const std::string&) override {
        // Re-subscribe after every (re)connect, also when the broker lost our session.
        try {
            hq_.client_->subscribe("mto/v1/" + hq_.factory_ + "/events/#", 1);
            hq_.client_->subscribe("mto/v1/" + hq_.factory_ + "/status", 1);
            if (hq_.takeMedia_) hq_.client_->subscribe("mto/v1/" + hq_.factory_ + "/media/#", 1);
        } catch (const std::exception&) {
        }
        enableNoDelayTowards(hq_.client_->get_server_uri());
    }

private:
    HqClient& hq_;
};

HqClient::HqClient(const std::string& uri, std::string factory, std::string clientId) : factory_(std::move(factory)) {
    // Room for pipelined test traffic: Paho's default buffer of 100 would throttle the test HQ.
    client_ = std::make_unique<mqtt::async_client>(uri, clientId, 100000, nullptr);
    callbacks_ = std::make_unique<Callbacks>(*this);
    client_->set_callback(*callbacks_);
}

HqClient::~HqClient() {
    try {
        disconnect();
        client_->disable_callbacks();
    } catch (const std::exception&) {
        // Shutting down a test client: nothing useful left to do with the error.
    }
}

void HqClient::connect() {
    mqtt::connect_options opts;
    opts.set_clean_session(false);
    opts.set_keep_alive_interval(5);
    opts.set_automatic_reconnect(std::chrono::milliseconds(50), std::chrono::milliseconds(500));
    opts.set_max_inflight(1000);
    client_->connect(opts)->wait();
    // `connected` subscribes asynchronously; wait until both subscriptions are in place.
    client_->subscribe("mto/v1/" + factory_ + "/events/#", 1)->wait();
    client_->subscribe("mto/v1/" + factory_ + "/status", 1)->wait();
    client_->subscribe("mto/v1/" + factory_ + "/media/#", 1)->wait();
}

void HqClient::disconnect() {
    if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(5));
}

void HqClient::sendOrder(const std::string& orderId, const std::string& payload, std::int64_t revision) {
    {
        std::lock_guard lock(mutex_);
        sent_[orderId] = {payload, revision, std::chrono::steady_clock::now()};
    }
    publishRaw(ordersTopic(), payload);
}

void HqClient::sendCommand(const std::string& payload) { publishRaw(commandsTopic(), payload); }

void HqClient::publishRaw(const std::string& topic, const std::string& payload) {
    // Paho's window is finite: wait for room instead of failing the publish.
    for (int attempt = 0;; ++attempt) {
        try {
            client_->publish(topic, payload.data(), payload.size(), 1, false);
            return;
        } catch (const mqtt::exception& e) {
            if (attempt > 2000) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
}

std::size_t HqClient::resendMissing(std::chrono::milliseconds minAge) {
    std::vector<std::pair<std::string, std::string>> todo;
    {
        std::lock_guard lock(mutex_);
        auto now = std::chrono::steady_clock::now();
        for (auto& [id, sent] : sent_)
            if (!receipts_.count(id) && now - sent.at >= minAge) {
                todo.emplace_back(id, sent.payload);
                sent.at = now;
            }
    }
    for (const auto& [id, payload] : todo) publishRaw(ordersTopic(), payload);
    return todo.size();
}

void HqClient::onMessage(const std::string& topic, const std::string& payload) {
    std::lock_guard lock(mutex_);
    if (topic.size() > 7 && topic.compare(topic.size() - 7, 7, "/status") == 0) {
        statuses_.push_back(payload);
        changed_.notify_all();
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!firstArrival_) firstArrival_ = now;
    if (auto at = topic.find("/media/"); at != std::string::npos) {
        // Whole images and parts alike; a malformed media topic is noted and otherwise ignored, as HQ would.
        mediaMessages_.emplace_back(topic, payload.size());
        try {
            if (auto image = reassembly_.add(std::string_view(topic).substr(at + 7), payload)) {
                media_[image->sha256] = std::move(image->bytes);
                lastImageArrival_ = now;
                changed_.notify_all();
            }
        } catch (const std::invalid_argument& e) {
            badMedia_.push_back(e.what());
        }
        return;
    }
    std::error_code ec;
    json::value v = json::parse(payload, ec);
    if (ec || !v.is_object()) return;
    const auto& o = v.get_object();
    SeenEvent e;
    e.topic = topic;
    e.eventId = json::value_to<std::string>(o.at("event_id"));
    if (!seenIds_.insert(e.eventId).second) {
        ++duplicates_;
        return;
    }
    e.seq = o.at("seq").to_number<std::int64_t>();
    if (o.at("order_id").is_string()) e.orderId = json::value_to<std::string>(o.at("order_id"));
    e.milestone = json::value_to<std::string>(o.at("milestone"));
    e.data = o.at("data").as_object();
    e.arrived = now;
    if (e.milestone == "received" || e.milestone == "rejected") {
        auto it = sent_.find(e.orderId);
        const auto* rev = e.data.if_contains("revision");
        if (it != sent_.end() && (!rev || rev->to_number<std::int64_t>() == it->second.revision))
            receipts_.insert(e.orderId);
        else if (it == sent_.end())
            receipts_.insert(e.orderId);
    }
    events_.push_back(std::move(e));
    changed_.notify_all();
}

std::size_t HqClient::receiptCount() {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& [id, sent] : sent_) n += receipts_.count(id);
    return n;
}

bool HqClient::hasReceipt(const std::string& orderId) {
    std::lock_guard lock(mutex_);
    return receipts_.count(orderId) != 0;
}

std::size_t HqClient::receiptsFor(const std::vector<std::string>& orderIds) {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& id : orderIds) n += receipts_.count(id);
    return n;
}

std::vector<std::string> HqClient::missingReceipts() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [id, sent] : sent_)
        if (!receipts_.count(id)) out.push_back(id);
    return out;
}

std::vector<SeenEvent> HqClient::events() {
    std::lock_guard lock(mutex_);
    return events_;
}

std::size_t HqClient::eventCount() {
    std::lock_guard lock(mutex_);
    return events_.size();
}

std::size_t HqClient::duplicateCount() {
    std::lock_guard lock(mutex_);
    return duplicates_;
}

std::optional<SeenEvent> HqClient::lastEventFor(const std::string& orderId) {
    std::lock_guard lock(mutex_);
    for (auto it = events_.rbegin(); it != events_.rend(); ++it)
        if (it->orderId == orderId) return *it;
    return std::nullopt;
}

std::string HqClient::lastStatus() {
    std::lock_guard lock(mutex_);
    return statuses_.empty() ? std::string() : statuses_.back();
}

void HqClient::ignoreMedia() {
    takeMedia_ = false;
    client_->unsubscribe("mto/v1/" + factory_ + "/media/#")->wait();
}

std::vector<std::pair<std::string, std::size_t>> HqClient::mediaMessages() {
    std::lock_guard lock(mutex_);
    return mediaMessages_;
}

std::vector<std::string> HqClient::badMedia() {
    std::lock_guard lock(mutex_);
    return badMedia_;
}

std::optional<std::chrono::steady_clock::time_point> HqClient::firstArrival() {
    std::lock_guard lock(mutex_);
    return firstArrival_;
}

std::optional<std::chrono::steady_clock::time_point> HqClient::lastImageArrival() {
    std::lock_guard lock(mutex_);
    return lastImageArrival_;
}

std::size_t HqClient::mediaCount() {
    std::lock_guard lock(mutex_);
    return media_.size();
}

std::map<std::string, std::string> HqClient::media() {
    std::lock_guard lock(mutex_);
    return media_;
}

std::vector<std::string> HqClient::statuses() {
    std::lock_guard lock(mutex_);
    return statuses_;
}

bool HqClient::waitForEvents(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
}

bool HqClient::waitForOnline(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
        return !statuses_.empty() && statuses_.back().find("\"state\":\"online\"") != std::string::npos;
    });
}

std::string makeOrder(const std::string& orderId, int items, std::int64_t revision, const std::string& text) {
    json::array arr;
    for (int i = 0; i < items; ++i)
        arr.push_back({{"item_id", std::to_string(i + 1)},
                       {"sku", "COASTER-OAK-ENGRAVED"},
                       {"qty", 1},
                       {"personalization", {{"text", text}}}});
    json::object o{{"order_id", orderId}, {"revision", revision}, {"priority", "standard"},
                   {"due_by", "2026-12-24T12:00:00Z"}, {"items", std::move(arr)}};
    return json::serialize(o);
}

std::size_t countOf(HqClient& hq, const std::string& orderId, const std::string& milestone) {
    std::size_t n = 0;
    for (const auto& e : hq.events()) n += e.orderId == orderId && e.milestone == milestone;
    return n;
}

} // namespace mto::test
