// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: any bytes a printer (or line noise) sends, and any program line, through the Marlin
// protocol's parsers: each ends in a classification, never a crash or a read past the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "marlin/marlin_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto r = mto::marlin::parseResponse(text);
    if (r.kind == mto::marlin::LineKind::Fatal && r.faultReason.empty()) std::abort();
    (void)mto::marlin::parseFirmwareInfo(text).version();
    (void)mto::marlin::parseCapability(text);
    if (auto t = mto::marlin::parseTemperatures(text)) (void)mto::marlin::describe(*t);
    const std::string wire = mto::marlin::wireForm(text);
    if (wire.find_first_of(";*\n") != std::string::npos) std::abort();
    // What the host sends must be what the firmware reads back.
    const auto split = mto::marlin::splitNumberedLine(mto::marlin::numberedLine(size, wire));
    if (!split.hasNumber || split.number != size || !split.checksumOk) std::abort();
    (void)mto::marlin::isLongCommand(text);
    return 0;
}
