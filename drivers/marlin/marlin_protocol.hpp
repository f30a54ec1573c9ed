// SPDX-License-Identifier: Apache-2.0
// Marlin's host protocol as text: numbered lines with checksums, and the lines the firmware answers with.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace mto::marlin {

// XOR of every byte, as Marlin checks the text before '*'.
std::uint8_t checksum(std::string_view text);

// "N<n> <command>*<checksum>" (no line ending).
std::string numberedLine(std::uint64_t n, std::string_view command);

// A program line as it goes on the wire: the ';' comment cut off, surrounding blanks trimmed, bytes Marlin
// would misread (control characters, non-ASCII, '*' which starts the checksum) dropped. Empty when nothing
// is left to send.
std::string wireForm(std::string_view programLine);

// A numbered line taken apart, as the firmware does before running it.
struct NumberedLine {
    bool hasNumber = false;
    std::uint64_t number = 0;
    bool hasChecksum = false;
    bool checksumOk = false;
    std::string command;   // between "N<n> " and '*'
};
NumberedLine splitNumberedLine(std::string_view line);

struct Heater {
    double actual = 0;
    double target = 0;
};

// "T:210.0 /210.0 B:60.0 /60.0 @:127 B@:0": what a temperature report says.
struct Temperatures {
    std::optional<Heater> hotend;   // T: or T0:
    std::optional<Heater> bed;      // B:
};
// Whether the line holds a temperature report (alone, after "ok", or during M109/M190) and what it says.
std::optional<Temperatures> parseTemperatures(std::string_view line);
// "hotend 205.3/210 °C, bed 60.0/60 °C"
std::string describe(const Temperatures& t);

// What a firmware line means to the host.
enum class LineKind {
    Ok,           // "ok", perhaps with a temperature report after it
    Resend,       // "Resend: N" or "rs N": the firmware wants line N next
    Busy,         // "busy: processing" (or "echo:busy: ..."): a long command is still running
    LineError,    // "Error:checksum mismatch, Last Line: n" and its kin: a Resend follows
    Fatal,        // kill(), "Printer halted", thermal runaway, heating failed, MINTEMP/MAXTEMP, "!!"
    Error,        // any other "Error:" line
    Echo,         // "echo:..." (not busy)
    Temperature,  // a temperature report on its own (M155 auto-report, M109 waiting)
    Start,        // "start": the board has just reset
    FirmwareInfo, // the M115 line: "FIRMWARE_NAME:Marlin 2.1.2 ..."
    Capability,   // "Cap:AUTOREPORT_TEMP:1"
    Other,
};

struct Response {
    LineKind kind = LineKind::Other;
    std::uint64_t resendLine = 0;       // Resend
    std::string text;                   // the firmware's words without the "Error:"/"echo:" prefix
    std::string faultReason;            // Fatal: thermal_runaway | halted
    std::optional<Temperatures> temperatures;
};
Response parseResponse(std::string_view line);

// The M115 report: "FIRMWARE_NAME:Marlin 2.1.2 (Aug  6 2023) SOURCE_CODE_URL:... MACHINE_TYPE:MK3S
// EXTRUDER_COUNT:1 UUID:...", split into its fields (values may hold spaces).
struct FirmwareInfo {
    std::map<std::string, std::string> fields;
    std::string name() const;      // "Marlin" (the first word of FIRMWARE_NAME)
    std::string version() const;   // "2.1.2" (the second), empty when absent
    std::string field(const std::string& key) const;
};
FirmwareInfo parseFirmwareInfo(std::string_view line);

// "Cap:AUTOREPORT_TEMP:1" → {"AUTOREPORT_TEMP", true}
std::optional<std::pair<std::string, bool>> parseCapability(std::string_view line);

// Commands during which Marlin may be silent but busy for a long time: waits for heat, homing, probing.
bool isLongCommand(std::string_view command);

} // namespace mto::marlin
