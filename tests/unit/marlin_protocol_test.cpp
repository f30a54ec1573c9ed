// SPDX-License-Identifier: Apache-2.0
// Marlin's host protocol: numbered lines, checksums and what each firmware line means.
#include <gtest/gtest.h>

#include "marlin/marlin_protocol.hpp"

namespace mto::marlin {
namespace {

TEST(MarlinProtocol, ChecksumIsTheXorOfEveryByteBeforeTheStar) {
    // Worked by hand: 'N'^'0'^' '^'M'^'1'^'1'^'0'^' '^'N'^'0' = 125.
    EXPECT_EQ(checksum("N0 M110 N0"), 125);
    EXPECT_EQ(numberedLine(0, "M110 N0"), "N0 M110 N0*125");
    EXPECT_EQ(checksum(""), 0);
    const std::string line = numberedLine(1234, "G1 X10.5 Y-3 E0.2 F1200");
    EXPECT_EQ(line.rfind("N1234 G1 X10.5 Y-3 E0.2 F1200*", 0), 0u);
    const auto star = line.rfind('*');
    EXPECT_EQ(std::stoi(line.substr(star + 1)), checksum(line.substr(0, star)));
}

TEST(MarlinProtocol, SplittingANumberedLineChecksItsChecksum) {
    auto ok = splitNumberedLine(numberedLine(7, "G28"));
    EXPECT_TRUE(ok.hasNumber);
    EXPECT_EQ(ok.number, 7u);
    EXPECT_TRUE(ok.hasChecksum);
    EXPECT_TRUE(ok.checksumOk);
    EXPECT_EQ(ok.command, "G28");
    std::string bad = numberedLine(7, "G28");
    bad[3] = 'X';   // one byte changed on the wire
    EXPECT_FALSE(splitNumberedLine(bad).checksumOk);
    auto plain = splitNumberedLine("M105");
    EXPECT_FALSE(plain.hasNumber);
    EXPECT_FALSE(plain.hasChecksum);
    EXPECT_EQ(plain.command, "M105");
    EXPECT_FALSE(splitNumberedLine("N5 G1 X1*abc").checksumOk);
}

TEST(MarlinProtocol, WireFormDropsCommentsBlanksAndTheStar) {
    EXPECT_EQ(wireForm("G28 ; home all axes"), "G28");
    EXPECT_EQ(wireForm("   ; only a comment"), "");
    EXPECT_EQ(wireForm(""), "");
    EXPECT_EQ(wireForm("\tG1 X1 Y2\r"), "G1 X1 Y2");
    EXPECT_EQ(wireForm("M117 50*2 done"), "M117 502 done");
    EXPECT_EQ(wireForm("M117 Gr\xc3\xbc\xc3\x9f"), "M117 Gr");
}

TEST(MarlinProtocol, OkAndResendAreTold) {
    EXPECT_EQ(parseResponse("ok").kind, LineKind::Ok);
    const auto withTemps = parseResponse("ok T:201.3 /210.0 B:59.8 /60.0 @:127 B@:0");
    EXPECT_EQ(withTemps.kind, LineKind::Ok);
    ASSERT_TRUE(withTemps.temperatures && withTemps.temperatures->hotend && withTemps.temperatures->bed);
    EXPECT_DOUBLE_EQ(withTemps.temperatures->hotend->actual, 201.3);
    EXPECT_DOUBLE_EQ(withTemps.temperatures->bed->target, 60.0);
    auto resend = parseResponse("Resend: 42");
    EXPECT_EQ(resend.kind, LineKind::Resend);
    EXPECT_EQ(resend.resendLine, 42u);
    EXPECT_EQ(parseResponse("rs N17").resendLine, 17u);
    EXPECT_EQ(parseResponse("rs 18").kind, LineKind::Resend);
    EXPECT_EQ(parseResponse("Resend:").kind, LineKind::Other);
    EXPECT_EQ(parseResponse("okay").kind, LineKind::Other);
}

TEST(MarlinProtocol, LineErrorsAreNotFaults) {
    EXPECT_EQ(parseResponse("Error:checksum mismatch, Last Line: 5").kind, LineKind::LineError);
    EXPECT_EQ(parseResponse("Error:Line Number is not Last Line Number+1, Last Line: 9").kind, LineKind::LineError);
    EXPECT_EQ(parseResponse("Error:No Checksum with line number, Last Line: 3").kind, LineKind::LineError);
    EXPECT_EQ(parseResponse("Error:No Line Number with checksum, Last Line: 3").kind, LineKind::LineError);
}

TEST(MarlinProtocol, KillThermalRunawayAndHaltAreFatalWithTheirWords) {
    auto runaway = parseResponse("Error:Thermal Runaway, system stopped! Heater_ID: 0");
    EXPECT_EQ(runaway.kind, LineKind::Fatal);
    EXPECT_EQ(runaway.faultReason, "thermal_runaway");
    EXPECT_EQ(runaway.text, "Thermal Runaway, system stopped! Heater_ID: 0");
    auto halted = parseResponse("Error:Printer halted. kill() called!");
    EXPECT_EQ(halted.kind, LineKind::Fatal);
    EXPECT_EQ(halted.faultReason, "halted");
    EXPECT_EQ(parseResponse("Error:MAXTEMP triggered, system stopped! Heater_ID: bed").faultReason, "thermal_runaway");
    EXPECT_EQ(parseResponse("Error:Heating failed, system stopped! Heater_ID: 0").faultReason, "thermal_runaway");
    EXPECT_EQ(parseResponse("Error:Printer stopped due to errors. Fix the error and use M999 to restart.").faultReason,
              "halted");
    EXPECT_EQ(parseResponse("!!").kind, LineKind::Fatal);
    EXPECT_EQ(parseResponse("Error:Probing Failed").kind, LineKind::Error);
}

TEST(MarlinProtocol, BusyEchoStartAndTemperatureReports) {
    EXPECT_EQ(parseResponse("echo:busy: processing").kind, LineKind::Busy);
    EXPECT_EQ(parseResponse("busy: paused for user").text, "paused for user");
    auto echo = parseResponse("echo:Unknown command: \"G999\"");
    EXPECT_EQ(echo.kind, LineKind::Echo);
    EXPECT_EQ(echo.text, "Unknown command: \"G999\"");
    EXPECT_EQ(parseResponse("start").kind, LineKind::Start);
    auto report = parseResponse(" T:210.00 /210.00 B:60.00 /60.00 @:127 B@:0");
    EXPECT_EQ(report.kind, LineKind::Temperature);
    ASSERT_TRUE(report.temperatures && report.temperatures->hotend);
    EXPECT_DOUBLE_EQ(report.temperatures->hotend->target, 210.0);
    auto waiting = parseResponse("T:150.2 /215.0 B:60.1 /60.0 @:127 B@:0 W:?");
    EXPECT_EQ(waiting.kind, LineKind::Temperature);
    EXPECT_DOUBLE_EQ(waiting.temperatures->hotend->actual, 150.2);
    auto multi = parseTemperatures("T0:200.0 /200.0 T1:25.0 /0.0 B:55.0 /60.0");
    ASSERT_TRUE(multi && multi->hotend && multi->bed);
    EXPECT_DOUBLE_EQ(multi->hotend->actual, 200.0);
    EXPECT_DOUBLE_EQ(multi->bed->actual, 55.0);
    EXPECT_FALSE(parseTemperatures("echo:nothing here"));
    EXPECT_EQ(describe(*multi), "hotend 200.0/200 °C, bed 55.0/60 °C");
}

TEST(MarlinProtocol, M115IsSplitIntoItsFields) {
    const std::string line =
        "FIRMWARE_NAME:Marlin 2.1.2 (Aug  6 2023 12:00:00) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin "
        "PROTOCOL_VERSION:1.0 MACHINE_TYPE:Prusa i3 MK3S EXTRUDER_COUNT:1 UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff";
    EXPECT_EQ(parseResponse(line).kind, LineKind::FirmwareInfo);
    const auto info = parseFirmwareInfo(line);
    EXPECT_EQ(info.name(), "Marlin");
    EXPECT_EQ(info.version(), "2.1.2");
    EXPECT_EQ(info.field("MACHINE_TYPE"), "Prusa i3 MK3S");
    EXPECT_EQ(info.field("EXTRUDER_COUNT"), "1");
    EXPECT_EQ(info.field("SOURCE_CODE_URL"), "github.com/MarlinFirmware/Marlin");
    EXPECT_EQ(info.field("UUID"), "cede2a2f-41a2-4748-9b12-c55c62f367ff");
    EXPECT_EQ(parseFirmwareInfo("FIRMWARE_NAME:RepRapFirmware for Duet 3").name(), "RepRapFirmware");
    EXPECT_EQ(parseResponse("Cap:AUTOREPORT_TEMP:1").kind, LineKind::Capability);
    auto cap = parseCapability("Cap:AUTOREPORT_TEMP:1");
    ASSERT_TRUE(cap);
    EXPECT_EQ(cap->first, "AUTOREPORT_TEMP");
    EXPECT_TRUE(cap->second);
    EXPECT_FALSE(parseCapability("Cap:EEPROM:0")->second);
    EXPECT_FALSE(parseCapability("Cap:BROKEN"));
}

TEST(MarlinProtocol, LongCommandsAreKnown) {
    EXPECT_TRUE(isLongCommand("M109 S215"));
    EXPECT_TRUE(isLongCommand("m190 S60"));
    EXPECT_TRUE(isLongCommand("G28"));
    EXPECT_TRUE(isLongCommand("G29"));
    EXPECT_FALSE(isLongCommand("G1 X10"));
    EXPECT_FALSE(isLongCommand("M104 S215"));
    EXPECT_FALSE(isLongCommand("G280"));
}

} // namespace
} // namespace mto::marlin
