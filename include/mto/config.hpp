// SPDX-License-Identifier: Apache-2.0
// Agent configuration as loaded from the TOML file given with --config.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mto {

struct MqttConfig {
    std::string uri;          // tcp://host:port or ssl://host:port
    std::string clientId;
    std::string username;
    std::string password;     // never logged
    std::string caFile;       // ssl:// only
    std::string certFile;     // ssl:// only, client certificate
    std::string keyFile;      // ssl:// only
    int keepAliveSeconds = 30;
    int inflightWindow = 64;
    std::chrono::milliseconds reconnectMin{500};
    std::chrono::milliseconds reconnectMax{30000};
};

struct IntakeConfig {
    std::size_t maxPayloadBytes = 256 * 1024;
    std::size_t maxItems = 1000;
    std::filesystem::path catalogPath;
};

// One machine on the floor, [[machines]] in the agent's config.
struct MachineConfig {
    std::string id;                    // names the machine in events, status and mtoctl
    std::string profile;               // a [machine.<name>] of the catalog: capability, envelope, words
    std::string driver = "grbl";
    std::string port;                  // serial device, or tcp://host:port
    unsigned baud = 115200;
    std::vector<std::string> materials;   // empty: those the profile allows
    bool dryRun = false;               // GRBL: check every job in check mode ($C) before it runs
    bool characterCounting = true;
    std::chrono::milliseconds statusWhileRunning{200};
    std::chrono::milliseconds statusWhileIdle{5000};
    bool pauseOnHold = false;          // on_hold = "pause": a held order's running unit is feed-held
    bool stopOnCancel = false;         // on_cancel = "stop": a cancelled order's running unit is stopped
};

// One QC camera, [[cameras]] in the agent's config.
struct CameraConfig {
    std::string id;                       // names the camera in events and status
    std::string source;                   // /dev/videoN, http(s)://… MJPEG, rtsp://…, a video file or an image folder
    std::vector<std::string> machines;    // the machines it watches
    int jpegQuality = 90;                 // 1..100
    int thumbnailWidth = 320;             // px
    std::vector<int> progressPoints;      // percent of a unit at which a progress photo is taken, e.g. {50}
    std::chrono::milliseconds openTimeout{5000};
    std::chrono::milliseconds readTimeout{3000};
    std::chrono::milliseconds retryMin{1000};    // reconnect backoff after a failure: doubles up to retryMax
    std::chrono::milliseconds retryMax{30000};
    std::chrono::milliseconds idleClose{30000};  // an opened camera no shot asked for this long is closed again
    bool keepOpen = false;                // open from the start and keep streaming (shots are instant)
    double sharpnessMin = 0;              // variance of the Laplacian below this flags `blurred` (0: never)
    double brightnessMin = 0;             // mean gray below this flags `dark` (0: never)
    double brightnessMax = 255;           // mean gray above this flags `overexposed` (255: never)
};

struct Config {
    std::filesystem::path sourcePath;   // the file this was loaded from
    std::string factoryId;
    MqttConfig mqtt;
    IntakeConfig intake;
    std::filesystem::path stateDir;
    std::uint64_t sliceCacheMaxBytes = 2048ull << 20;   // sliced prints kept in stateDir/slice-cache
    std::string logLevel = "info";
    std::chrono::seconds statusInterval{30};
    std::vector<MachineConfig> machines;
    std::vector<CameraConfig> cameras;
    std::uint64_t mediaQuotaBytes = 2048ull << 20;      // proofs and snapshots in stateDir/media

    std::filesystem::path databasePath() const { return stateDir / "agent.db"; }
};

// Loads and validates the file; throws mto::Error naming the file, the key and the problem.
Config loadConfig(const std::filesystem::path& path);

// The MQTT URI with any user:password@ part removed, safe for logs.
std::string redactUri(const std::string& uri);

} // namespace mto
