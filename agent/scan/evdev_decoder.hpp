// SPDX-License-Identifier: Apache-2.0
// Turns the key events of a keyboard-wedge barcode scanner (Linux evdev) into the text it typed.
#pragma once

#include <linux/input.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mto {

// The character a key types on a US keyboard layout, with or without shift; nullopt for keys that type
// nothing a barcode can hold (modifiers, function keys, arrows).
std::optional<char> usKeyChar(unsigned short code, bool shift);

// Thread-bound. Feed it the bytes read from an evdev device (any split: a record cut in two by a read is
// completed by the next one); each Enter (KEY_ENTER, KEY_KPENTER) ends a scan. Only key presses and
// auto-repeats type; releases only matter for shift. Caps lock is tracked, as a scanner may toggle it.
class EvdevDecoder {
public:
    // A scan longer than this is cut here; the rest up to Enter is dropped (the workflow refuses it).
    static constexpr std::size_t kMaxScan = 512;

    // The scans completed by these bytes, in order.
    std::vector<std::string> feed(std::string_view bytes);
    // The same for one record.
    std::optional<std::string> feed(const input_event& e);
    // Forget a half-typed scan and the modifier state (the device went away).
    void reset();
    // Key presses that type nothing known (counted so a layout problem shows in the log).
    std::size_t unknownKeys() const { return unknownKeys_; }

private:
    std::string partial_;        // bytes of a record cut by the read
    std::string text_;           // the scan typed so far
    bool leftShift_ = false;
    bool rightShift_ = false;
    bool capsLock_ = false;
    std::size_t unknownKeys_ = 0;
};

} // namespace mto
