// SPDX-License-Identifier: Apache-2.0
// Agent configuration as loaded from the TOML file given with --config.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
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
    std::int64_t mediaRateBytesPerSecond = 8 << 20;   // media connection's average rate; 0: as fast as it goes
    std::chrono::milliseconds reconnectMin{500};
    std::chrono::milliseconds reconnectMax{30000};
};

struct IntakeConfig {
    std::size_t maxPayloadBytes = 256 * 1024;
    std::size_t maxItems = 1000;
    std::filesystem::path catalogPath;
};

// One pocket of a jig: where a part lies on the bed, mm, machine coordinates (origin front-left).
struct JigSlot {
    double x = 0, y = 0;
    double width = 0, height = 0;
};

// A jig on a machine's bed, [[machines.jigs]]: pockets holding parts of the same SKU, marked in one program.
struct JigConfig {
    std::string id;                    // names the jig in events (`jig`), unique on its machine
    std::vector<JigSlot> slots;        // slot i is `slot` i in events; from `grid` (row by row from the
                                       // front-left) or from `slots`; never overlapping
    std::vector<std::string> skus;     // the SKUs it holds
};

// The first pair of slots (i < j) whose rectangles overlap (touching edges do not), or nullopt.
std::optional<std::pair<std::size_t, std::size_t>> overlappingJigSlots(const std::vector<JigSlot>& slots);

// One machine on the floor, [[machines]] in the agent's config.
struct MachineConfig {
    std::string id;                    // names the machine in events, status and mtoctl
    std::string profile;               // a [machine.<name>] of the catalog: capability, envelope, words
    std::string driver = "grbl";       // grbl (laser, cnc) | marlin | octoprint | moonraker (fdm)
    std::string port;                  // serial device, or tcp://host:port (serial drivers)
    std::string url;                   // octoprint/moonraker: http://host:port of the print host
    std::string apiKey;                // octoprint (moonraker when it wants one): from api_key or api_key_file; never logged
    std::chrono::milliseconds pollInterval{1000};   // octoprint/moonraker: how often the host's job state is read
    unsigned baud = 115200;
    std::vector<std::string> materials;   // empty: those the profile allows
    bool dryRun = false;               // GRBL: check every job in check mode ($C) before it runs
    bool characterCounting = true;
    std::chrono::milliseconds statusWhileRunning{200};
    std::chrono::milliseconds statusWhileIdle{5000};
    bool pauseOnHold = false;          // on_hold = "pause": a held order's running unit is feed-held
    bool stopOnCancel = false;         // on_cancel = "stop": a cancelled order's running unit is stopped
    std::vector<JigConfig> jigs;       // checked against the profile's envelope once the catalog is read
    std::size_t plateMaxParts = 1;     // fdm: parts the slicer may arrange on one plate (1: one part per print)
    // Marlin only.
    unsigned inFlight = 4;             // commands sent ahead of their ok; 1 = send and wait
    std::optional<std::string> pauseGcode;    // unset: the driver's defaults
    std::optional<std::string> resumeGcode;
    std::optional<std::string> cancelGcode;
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

// One station of the station display, [[station.stations]]: what its page shows.
struct StationConfig {
    std::string id;                      // in the page's URL: /station/<id>
    std::string name;                    // the page's title (default: the id)
    std::vector<std::string> machines;   // ids of [[machines]]; empty: every machine
    std::vector<std::string> scanners;   // scanner ids whose scans it shows; empty: every scanner
};

// The station display ([station]): a read-only local web page per station.
struct StationDisplayConfig {
    bool enabled = false;                // the config has a [station] section
    std::string host = "127.0.0.1";      // listen address (factory IT sets 0.0.0.0 for the shop LAN)
    unsigned short port = 8080;
    std::vector<StationConfig> stations; // never empty when enabled: one "floor" station showing everything
};
// Traveler labels, [labels] in the agent's config: one per accepted item, written under <state_dir>/labels/
// and, when a printer is configured, printed.
struct LabelsConfig {
    enum class Symbology { Code128, Qr };
    enum class PrinterKind { None, Cups, RawTcp };
    enum class PrintFormat { Pdf, Png, Zpl };

    bool enabled = true;
    Symbology symbology = Symbology::Code128;
    double widthMm = 100;
    double heightMm = 50;
    int dpi = 203;
    PrinterKind printer = PrinterKind::None;
    std::string cupsQueue;                         // cups: lp -d <cupsQueue>
    std::filesystem::path lpCommand = "lp";        // cups: the lp program (looked up on PATH without a slash)
    std::string host;                              // raw TCP: the printer's address
    std::uint16_t port = 9100;                     // raw TCP: its port
    PrintFormat printFormat = PrintFormat::Pdf;    // which of the files goes to the printer
    std::chrono::milliseconds printTimeout{10000};
    std::chrono::milliseconds retryMin{2000};      // a failed print is tried again after this, doubling
    std::chrono::milliseconds retryMax{300000};    // up to this
};

const char* toString(LabelsConfig::Symbology s);
const char* toString(LabelsConfig::PrinterKind p);
const char* toString(LabelsConfig::PrintFormat f);

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
    std::vector<CameraConfig> cameras;
    std::uint64_t mediaQuotaBytes = 2048ull << 20;      // proofs and snapshots in stateDir/media
    int progressStepPercent = 25;                    // a `progress` milestone every this many percent
    std::chrono::seconds bedClearAllowance{60};      // the forecast's time for an operator to clear a bed
    StationDisplayConfig station;
    LabelsConfig labels;
    std::vector<ScannerConfig> scanners;

    std::filesystem::path databasePath() const { return stateDir / "agent.db"; }
};

// Loads and validates the file; throws mto::Error naming the file, the key and the problem.
Config loadConfig(const std::filesystem::path& path);

// The MQTT URI with any user:password@ part removed, safe for logs.
std::string redactUri(const std::string& uri);

} // namespace mto
