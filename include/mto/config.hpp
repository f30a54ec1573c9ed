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

// One barcode scanner, [[scanners]] in the agent's config.
struct ScannerConfig {
    std::string id;                    // names the scanner in scans, events and status
    std::string kind;                  // evdev | serial | line
    std::string path;                  // evdev: /dev/input/by-id/... (or a FIFO or file of recorded events)
    std::string port;                  // serial: device, or tcp://host:port
    unsigned baud = 9600;              // serial
    std::string listen;                // line: host:port of the TCP line input (a loopback address)
    std::string station;               // where it hangs; shown with its scans (defaults to the id)
    std::chrono::seconds contextTimeout{120};   // operator and item are forgotten after this long without a scan
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
    std::vector<ScannerConfig> scanners;

    std::filesystem::path databasePath() const { return stateDir / "agent.db"; }
};

// Loads and validates the file; throws mto::Error naming the file, the key and the problem.
Config loadConfig(const std::filesystem::path& path);

// The MQTT URI with any user:password@ part removed, safe for logs.
std::string redactUri(const std::string& uri);

} // namespace mto
