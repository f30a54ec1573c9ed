// SPDX-License-Identifier: Apache-2.0
// Loads the agent's TOML configuration; every error names the file, the key and what is wrong.
#include "mto/config.hpp"

#include <set>
#include <toml++/toml.h>

#include "mto/error.hpp"
#include "intake/order_parser.hpp"

namespace mto {

namespace {

class Reader {
public:
    Reader(const std::filesystem::path& file, const toml::table& root) : file_(file.string()), root_(root) {}

    [[noreturn]] void fail(const std::string& key, const std::string& what) const {
        throw Error(file_ + ": key '" + key + "': " + what);
    }

    const toml::node* node(const std::string& key) const { return root_.at_path(key).node(); }

    std::string string(const std::string& key, std::optional<std::string> fallback) const {
        const toml::node* n = node(key);
        if (!n) {
            if (!fallback) fail(key, "missing (required)");
            return *fallback;
        }
        if (!n->is_string()) fail(key, "must be a string");
        return *n->value<std::string>();
    }

    std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t min, std::int64_t max) const {
        const toml::node* n = node(key);
        if (!n) return fallback;
        if (!n->is_integer()) fail(key, "must be an integer");
        std::int64_t v = *n->value<std::int64_t>();
        if (v < min || v > max) fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
        return v;
    }

    // Unknown keys are refused so a typo does not silently fall back to a default.
    void onlyKnown(const std::set<std::string>& known) const {
        for (const auto& [section, value] : root_) {
            std::string s(section.str());
            if (s == "machines" || s == "cameras") continue;   // arrays of tables, checked by their readers
            const toml::table* t = value.as_table();
            if (!t) {
                if (!known.count(s)) fail(s, "unknown key");
                continue;
            }
            for (const auto& [key, ignored] : *t) {
                std::string full = s + "." + std::string(key.str());
                if (!known.count(full)) fail(full, "unknown key");
            }
        }
    }

    std::filesystem::path path(const std::string& key, std::optional<std::string> fallback) const {
        std::filesystem::path p = string(key, std::move(fallback));
        if (p.empty() || p.is_absolute()) return p;
        // Relative paths are relative to the config file, so a config moved with its files still works.
        return std::filesystem::absolute(std::filesystem::path(file_).parent_path() / p);
    }

    std::vector<MachineConfig> readMachines() const {
        std::vector<MachineConfig> out;
        const toml::node* n = node("machines");
        if (!n) return out;
        const toml::array* list = n->as_array();
        if (!list) fail("machines", "must be an array of tables: [[machines]]");
        static const std::set<std::string> known{"id", "profile", "driver", "port", "baud", "materials", "dry_run",
                                                 "character_counting", "status_running_ms", "status_idle_ms", "on_hold",
                                                 "on_cancel"};
        std::set<std::string> ids;
        for (std::size_t i = 0; i < list->size(); ++i) {
            const std::string at = "machines[" + std::to_string(i) + "]";
            const toml::table* t = list->get(i)->as_table();
            if (!t) fail(at, "must be a table");
            for (const auto& [key, ignored] : *t)
                if (!known.count(std::string(key.str()))) fail(at + "." + std::string(key.str()), "unknown key");
            auto text = [&](const char* key, std::optional<std::string> fallback) {
                const toml::node* v = t->get(key);
                if (!v) {
                    if (!fallback) fail(at + "." + key, "missing (required)");
                    return *fallback;
                }
                if (!v->is_string()) fail(at + "." + key, "must be a string");
                return *v->value<std::string>();
            };
            auto number = [&](const char* key, std::int64_t fallback, std::int64_t min, std::int64_t max) {
                const toml::node* v = t->get(key);
                if (!v) return fallback;
                if (!v->is_integer()) fail(at + "." + key, "must be an integer");
                const auto x = *v->value<std::int64_t>();
                if (x < min || x > max)
                    fail(at + "." + key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
                return x;
            };
            auto flag = [&](const char* key, bool fallback) {
                const toml::node* v = t->get(key);
                if (!v) return fallback;
                if (!v->is_boolean()) fail(at + "." + key, "must be true or false");
                return *v->value<bool>();
            };
            MachineConfig m;
            m.id = text("id", std::nullopt);
            if (!OrderParser::isValidId(m.id)) fail(at + ".id", "must be 1..64 characters of A-Z a-z 0-9 . _ : -");
            if (!ids.insert(m.id).second) fail(at + ".id", "machine '" + m.id + "' is listed twice");
            m.profile = text("profile", std::nullopt);
            m.driver = text("driver", "grbl");
            if (m.driver != "grbl") fail(at + ".driver", "must be grbl (printers come with their own drivers later)");
            m.port = text("port", std::nullopt);
            if (m.port.empty()) fail(at + ".port", "must name a serial device or tcp://host:port");
            m.baud = static_cast<unsigned>(number("baud", 115200, 1200, 4000000));
            if (const toml::node* v = t->get("materials")) {
                const toml::array* a = v->as_array();
                if (!a) fail(at + ".materials", "must be an array of material names");
                for (const auto& e : *a) {
                    if (!e.is_string()) fail(at + ".materials", "must be an array of material names");
                    m.materials.push_back(*e.value<std::string>());
                }
            }
            m.dryRun = flag("dry_run", false);
            m.characterCounting = flag("character_counting", true);
            m.statusWhileRunning = std::chrono::milliseconds(number("status_running_ms", 200, 20, 60000));
            m.statusWhileIdle = std::chrono::milliseconds(number("status_idle_ms", 5000, 100, 600000));
            const std::string onHold = text("on_hold", "finish");
            if (onHold != "finish" && onHold != "pause")
                fail(at + ".on_hold", "must be \"finish\" (the running unit ends) or \"pause\" (feed hold until resumed)");
            m.pauseOnHold = onHold == "pause";
            const std::string onCancel = text("on_cancel", "finish");
            if (onCancel != "finish" && onCancel != "stop")
                fail(at + ".on_cancel", "must be \"finish\" (the running unit ends) or \"stop\" (the job stops at once)");
            m.stopOnCancel = onCancel == "stop";
            out.push_back(std::move(m));
        }
        return out;
    }

    std::vector<CameraConfig> readCameras(const std::vector<MachineConfig>& machines) const {
        std::vector<CameraConfig> out;
        const toml::node* n = node("cameras");
        if (!n) return out;
        const toml::array* list = n->as_array();
        if (!list) fail("cameras", "must be an array of tables: [[cameras]]");
        static const std::set<std::string> known{"id", "source", "machines", "jpeg_quality", "thumbnail_width",
                                                 "progress_points", "open_timeout_ms", "read_timeout_ms",
                                                 "retry_min_ms", "retry_max_ms", "idle_close_s", "keep_open",
                                                 "sharpness_min", "brightness_min", "brightness_max"};
        std::set<std::string> machineIds;
        for (const auto& m : machines) machineIds.insert(m.id);
        std::set<std::string> ids;
        for (std::size_t i = 0; i < list->size(); ++i) {
            const std::string at = "cameras[" + std::to_string(i) + "]";
            const toml::table* t = list->get(i)->as_table();
            if (!t) fail(at, "must be a table");
            for (const auto& [key, ignored] : *t)
                if (!known.count(std::string(key.str()))) fail(at + "." + std::string(key.str()), "unknown key");
            auto text = [&](const char* key) {
                const toml::node* v = t->get(key);
                if (!v) fail(at + "." + key, "missing (required)");
                if (!v->is_string()) fail(at + "." + key, "must be a string");
                return *v->value<std::string>();
            };
            auto number = [&](const char* key, std::int64_t fallback, std::int64_t min, std::int64_t max) {
                const toml::node* v = t->get(key);
                if (!v) return fallback;
                if (!v->is_integer()) fail(at + "." + key, "must be an integer");
                const auto x = *v->value<std::int64_t>();
                if (x < min || x > max)
                    fail(at + "." + key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
                return x;
            };
            auto real = [&](const char* key, double fallback, double min, double max) {
                const toml::node* v = t->get(key);
                if (!v) return fallback;
                if (!v->is_number()) fail(at + "." + key, "must be a number");
                const double x = v->is_integer() ? static_cast<double>(*v->value<std::int64_t>()) : *v->value<double>();
                if (!(x >= min && x <= max))
                    fail(at + "." + key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
                return x;
            };
            CameraConfig c;
            c.id = text("id");
            if (!OrderParser::isValidId(c.id)) fail(at + ".id", "must be 1..64 characters of A-Z a-z 0-9 . _ : -");
            if (!ids.insert(c.id).second) fail(at + ".id", "camera '" + c.id + "' is listed twice");
            c.source = text("source");
            if (c.source.empty())
                fail(at + ".source", "must name a V4L2 device, an http:// or rtsp:// stream, a video file or an image folder");
            if (c.source.find("://") == std::string::npos && c.source.rfind("/dev/", 0) != 0) {
                std::filesystem::path p = c.source;
                if (p.is_relative()) p = std::filesystem::absolute(std::filesystem::path(file_).parent_path() / p);
                if (!std::filesystem::exists(p)) fail(at + ".source", "no such file or folder " + p.string());
                c.source = p.string();
            }
            const toml::node* ms = t->get("machines");
            const toml::array* ma = ms ? ms->as_array() : nullptr;
            if (!ms) fail(at + ".machines", "missing (required): the machines this camera watches");
            if (!ma) fail(at + ".machines", "must be an array of machine ids");
            for (const auto& e : *ma) {
                if (!e.is_string()) fail(at + ".machines", "must be an array of machine ids");
                const std::string id = *e.value<std::string>();
                if (!machineIds.count(id)) fail(at + ".machines", "no [[machines]] has id '" + id + "'");
                c.machines.push_back(id);
            }
            c.jpegQuality = static_cast<int>(number("jpeg_quality", 90, 1, 100));
            c.thumbnailWidth = static_cast<int>(number("thumbnail_width", 320, 16, 4096));
            if (const toml::node* v = t->get("progress_points")) {
                const toml::array* a = v->as_array();
                if (!a) fail(at + ".progress_points", "must be an array of percentages, e.g. [50]");
                for (const auto& e : *a) {
                    if (!e.is_integer() || *e.value<std::int64_t>() < 1 || *e.value<std::int64_t>() > 99)
                        fail(at + ".progress_points", "must be an array of percentages from 1 to 99, e.g. [50]");
                    c.progressPoints.push_back(static_cast<int>(*e.value<std::int64_t>()));
                }
            }
            c.openTimeout = std::chrono::milliseconds(number("open_timeout_ms", 5000, 100, 120000));
            c.readTimeout = std::chrono::milliseconds(number("read_timeout_ms", 3000, 100, 120000));
            c.retryMin = std::chrono::milliseconds(number("retry_min_ms", 1000, 10, 600000));
            c.retryMax = std::chrono::milliseconds(number("retry_max_ms", 30000, 10, 3600000));
            if (c.retryMax < c.retryMin) fail(at + ".retry_max_ms", "must not be smaller than retry_min_ms");
            c.idleClose = std::chrono::seconds(number("idle_close_s", 30, 1, 86400));
            if (const toml::node* v = t->get("keep_open")) {
                if (!v->is_boolean()) fail(at + ".keep_open", "must be true or false");
                c.keepOpen = *v->value<bool>();
            }
            c.sharpnessMin = real("sharpness_min", 0, 0, 1e9);
            c.brightnessMin = real("brightness_min", 0, 0, 255);
            c.brightnessMax = real("brightness_max", 255, 0, 255);
            if (c.brightnessMax < c.brightnessMin) fail(at + ".brightness_max", "must not be smaller than brightness_min");
            out.push_back(std::move(c));
        }
        return out;
    }

private:
    std::string file_;
    const toml::table& root_;
};

} // namespace

std::string redactUri(const std::string& uri) {
    auto scheme = uri.find("://");
    if (scheme == std::string::npos) return uri;
    // The last '@' before the path ends the user info: a password may itself contain an unescaped '@'.
    auto authorityEnd = uri.find('/', scheme + 3);
    auto at = uri.rfind('@', authorityEnd == std::string::npos ? std::string::npos : authorityEnd);
    if (at == std::string::npos || at < scheme + 3) return uri;
    return uri.substr(0, scheme + 3) + "***@" + uri.substr(at + 1);
}

Config loadConfig(const std::filesystem::path& file) {
    toml::table root;
    try {
        root = toml::parse_file(file.string());
    } catch (const toml::parse_error& e) {
        throw Error(file.string() + ":" + std::to_string(e.source().begin.line) + ":" +
                    std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
    }
    Reader r(file, root);
    r.onlyKnown({"factory.id", "mqtt.uri", "mqtt.client_id", "mqtt.username", "mqtt.password", "mqtt.password_file",
                 "mqtt.ca_file", "mqtt.cert_file", "mqtt.key_file", "mqtt.keepalive_s", "mqtt.inflight_window",
                 "mqtt.reconnect_min_ms", "mqtt.reconnect_max_ms", "storage.state_dir", "storage.slice_cache_max_mb", "storage.media_quota_mb", "log.level",
                 "intake.max_payload_bytes", "intake.max_items", "intake.catalog", "status.interval_s"});

    Config c;
    c.sourcePath = file;
    c.factoryId = r.string("factory.id", std::nullopt);
    if (!OrderParser::isValidId(c.factoryId))
        r.fail("factory.id", "must be 1..64 characters of A-Z a-z 0-9 . _ : - (it is part of every MQTT topic)");

    c.mqtt.uri = r.string("mqtt.uri", std::nullopt);
    bool ssl = c.mqtt.uri.rfind("ssl://", 0) == 0;
    if (!ssl && c.mqtt.uri.rfind("tcp://", 0) != 0) r.fail("mqtt.uri", "must start with tcp:// or ssl://");
    if (c.mqtt.uri.find('@') != std::string::npos)
        r.fail("mqtt.uri", "must not carry credentials; use mqtt.username and mqtt.password_file");
    c.mqtt.clientId = r.string("mqtt.client_id", "mto-agent-" + c.factoryId);
    if (c.mqtt.clientId.empty() || c.mqtt.clientId.size() > 128) r.fail("mqtt.client_id", "must be 1..128 characters");
    c.mqtt.username = r.string("mqtt.username", "");
    c.mqtt.password = r.string("mqtt.password", "");
    auto passwordFile = r.path("mqtt.password_file", "");
    if (!passwordFile.empty()) {
        if (!c.mqtt.password.empty()) r.fail("mqtt.password_file", "set either mqtt.password or mqtt.password_file");
        std::FILE* f = std::fopen(passwordFile.c_str(), "r");
        if (!f) r.fail("mqtt.password_file", "cannot read " + passwordFile.string());
        char buf[1024];
        std::size_t n = std::fread(buf, 1, sizeof buf, f);
        std::fclose(f);
        c.mqtt.password.assign(buf, n);
        while (!c.mqtt.password.empty() && (c.mqtt.password.back() == '\n' || c.mqtt.password.back() == '\r'))
            c.mqtt.password.pop_back();
    }
    c.mqtt.caFile = r.path("mqtt.ca_file", "").string();
    c.mqtt.certFile = r.path("mqtt.cert_file", "").string();
    c.mqtt.keyFile = r.path("mqtt.key_file", "").string();
    for (const auto& [key, value] : {std::pair{"mqtt.ca_file", c.mqtt.caFile}, {"mqtt.cert_file", c.mqtt.certFile},
                                     {"mqtt.key_file", c.mqtt.keyFile}}) {
        // Name the key that is actually set, so the person fixing the file looks at the right line.
        if (!ssl && !value.empty()) r.fail(key, "TLS files are only used with an ssl:// URI");
        if (!value.empty() && !std::filesystem::exists(value)) r.fail(key, "file " + value + " does not exist");
    }
    c.mqtt.keepAliveSeconds = static_cast<int>(r.integer("mqtt.keepalive_s", 30, 5, 3600));
    c.mqtt.inflightWindow = static_cast<int>(r.integer("mqtt.inflight_window", 64, 1, 65535));
    c.mqtt.reconnectMin = std::chrono::milliseconds(r.integer("mqtt.reconnect_min_ms", 500, 10, 600000));
    c.mqtt.reconnectMax = std::chrono::milliseconds(r.integer("mqtt.reconnect_max_ms", 30000, 10, 3600000));
    if (c.mqtt.reconnectMax < c.mqtt.reconnectMin)
        r.fail("mqtt.reconnect_max_ms", "must not be smaller than mqtt.reconnect_min_ms");

    c.stateDir = r.path("storage.state_dir", std::nullopt);
    if (c.stateDir.empty()) r.fail("storage.state_dir", "must not be empty");
    c.sliceCacheMaxBytes = static_cast<std::uint64_t>(r.integer("storage.slice_cache_max_mb", 2048, 16, 1048576)) << 20;

    c.logLevel = r.string("log.level", "info");
    static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (!levels.count(c.logLevel)) r.fail("log.level", "must be one of trace, debug, info, warn, error, critical, off");

    c.intake.maxPayloadBytes =
        static_cast<std::size_t>(r.integer("intake.max_payload_bytes", 256 * 1024, 1024, 64 * 1024 * 1024));
    c.intake.maxItems = static_cast<std::size_t>(r.integer("intake.max_items", 1000, 1, 100000));
    c.intake.catalogPath = r.path("intake.catalog", std::nullopt);
    if (!std::filesystem::is_regular_file(c.intake.catalogPath))
        r.fail("intake.catalog", "file " + c.intake.catalogPath.string() + " does not exist");
    c.statusInterval = std::chrono::seconds(r.integer("status.interval_s", 30, 1, 86400));
    c.machines = r.readMachines();
    c.cameras = r.readCameras(c.machines);
    c.mediaQuotaBytes = static_cast<std::uint64_t>(r.integer("storage.media_quota_mb", 2048, 1, 1048576)) << 20;
    return c;
}

} // namespace mto
