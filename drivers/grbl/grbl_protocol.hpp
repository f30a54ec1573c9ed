// SPDX-License-Identifier: Apache-2.0
// GRBL 1.1 host protocol: reading what the firmware sends (status reports, ok/error/alarm, settings, build
// info, feedback messages), with the firmware's error and alarm codes decoded to text.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mto::grbl {

// Realtime commands: single bytes GRBL acts on as soon as they arrive, outside the line buffer.
inline constexpr char kStatusQuery = '?';
inline constexpr char kCycleStart = '~';
inline constexpr char kFeedHold = '!';
inline constexpr char kSoftReset = 0x18;

// GRBL's serial receive buffer (RX_BUFFER_SIZE in the firmware); character-counting keeps the bytes of
// unacknowledged lines at or below this.
inline constexpr std::size_t kRxBufferBytes = 128;

// GRBL's line buffer (LINE_BUFFER_SIZE): a line whose wire form has more than kLineBufferBytes - 1
// characters is thrown away and answered with error:11.
inline constexpr std::size_t kLineBufferBytes = 80;

struct Axes {
    double x = 0, y = 0, z = 0;
};

// One realtime status report: <State|MPos:..|Bf:..|FS:..|...>. Fields GRBL did not send stay empty.
struct StatusReport {
    std::string state;                  // Idle, Run, Hold, Jog, Alarm, Door, Check, Home, Sleep
    std::optional<int> subState;        // Hold:0/1, Door:0..3
    std::optional<Axes> machinePos;     // MPos
    std::optional<Axes> workPos;        // WPos
    std::optional<Axes> workOffset;     // WCO
    std::optional<int> plannerFree;     // Bf: first number, free planner blocks
    std::optional<int> rxFree;          // Bf: second number, free bytes in the receive buffer
    std::optional<long> lineNumber;     // Ln
    std::optional<double> feed;         // F or first of FS
    std::optional<double> spindle;      // second of FS
    std::string pins;                   // Pn: letters as sent (XYZPDHRS)
    std::optional<int> feedOverride, rapidOverride, spindleOverride;   // Ov
    std::string accessories;            // A: letters as sent (S, C, F, M)
};

// Parses "<...>"; nullopt when the line is not a well-formed status report. Unknown fields are ignored.
std::optional<StatusReport> parseStatusReport(std::string_view line);

enum class LineKind {
    Ok,          // ok
    Error,       // error:N (code)
    Alarm,       // ALARM:N (code)
    Status,      // <...>
    Welcome,     // Grbl 1.1h ['$' for help]   (text = version, "1.1h")
    Setting,     // $N=value                   (code = N, text = value as sent)
    Message,     // [MSG:...]                  (text = inside)
    GCodeState,  // [GC:...]                   (text = inside)
    Version,     // [VER:...]                  (text = inside)
    Options,     // [OPT:...]                  (text = inside)
    Feedback,    // any other [XXX:...] or [...] (text = inside, with its tag)
    Startup,     // >G54G20:ok  (startup line executed)
    Empty,       // blank line
    Other,       // anything else (echo, garbage after a reset)
};

struct ResponseLine {
    LineKind kind = LineKind::Other;
    int code = 0;
    std::string text;
};

// Classifies one line without its line ending (a trailing '\r' is tolerated).
ResponseLine classify(std::string_view line);

// GRBL 1.1's own words for its codes; "unknown error N" / "unknown alarm N" for codes it does not define.
std::string errorText(int code);
std::string alarmText(int code);

// $$ output: $N=value lines collected.
struct Settings {
    std::map<int, double> values;
    std::optional<double> get(int n) const;
    bool laserMode() const;                    // $32
    std::optional<double> maxSpindle() const;  // $30
    std::optional<double> minSpindle() const;  // $31
    // $130/$131/$132: maximum travel of X, Y, Z in mm.
    std::optional<Axes> maxTravel() const;
};

// Parses "$N=value" into the settings; false when the line is not a setting.
bool parseSetting(std::string_view line, Settings& into);

// [VER:1.1h.20190830:some name] and [OPT:VL,15,128]: build date, planner blocks, receive buffer bytes.
struct BuildInfo {
    std::string version;        // 1.1h.20190830
    std::string name;           // the user's build info string, may be empty
    std::string options;        // option letters (V, N, M, C, P, Z, H, T, A, D, 0, S, R, L, +, *, $, I, E, W, 2)
    std::optional<int> plannerBlocks;
    std::optional<int> rxBufferBytes;
};
// Reads a [VER:..] or [OPT:..] line into `into`; false for other lines.
bool parseBuildInfo(std::string_view line, BuildInfo& into);

// [GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0] split into its words.
std::vector<std::string> parseGCodeState(std::string_view line);

// GRBL strips spaces and comments and upper-cases before it counts a line; the host sends the line as it
// will be counted. Returns the line as it goes on the wire (no line ending), empty when nothing is left.
std::string wireForm(std::string_view programLine);

// The seconds a line in wire form dwells: its P word when it holds G4 (GRBL 1.1 reads P as seconds); nullopt
// for any other line or a P GRBL would refuse. GRBL reports Idle during a dwell, so the host must know it.
std::optional<double> dwellSeconds(std::string_view wireLine);

} // namespace mto::grbl
