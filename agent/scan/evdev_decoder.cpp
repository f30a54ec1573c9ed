// SPDX-License-Identifier: Apache-2.0
// Turns the key events of a keyboard-wedge barcode scanner (Linux evdev) into the text it typed.
#include "scan/evdev_decoder.hpp"

#include <cstring>

namespace mto {

namespace {

struct KeyChars {
    unsigned short code;
    char plain;
    char shifted;
};

// The US layout's printable keys (letters are handled apart, for caps lock).
constexpr KeyChars kKeys[] = {
    {KEY_1, '1', '!'},          {KEY_2, '2', '@'},         {KEY_3, '3', '#'},          {KEY_4, '4', '$'},
    {KEY_5, '5', '%'},          {KEY_6, '6', '^'},         {KEY_7, '7', '&'},          {KEY_8, '8', '*'},
    {KEY_9, '9', '('},          {KEY_0, '0', ')'},         {KEY_MINUS, '-', '_'},      {KEY_EQUAL, '=', '+'},
    {KEY_LEFTBRACE, '[', '{'},  {KEY_RIGHTBRACE, ']', '}'}, {KEY_SEMICOLON, ';', ':'}, {KEY_APOSTROPHE, '\'', '"'},
    {KEY_GRAVE, '`', '~'},      {KEY_BACKSLASH, '\\', '|'}, {KEY_COMMA, ',', '<'},     {KEY_DOT, '.', '>'},
    {KEY_SLASH, '/', '?'},      {KEY_SPACE, ' ', ' '},     {KEY_TAB, '\t', '\t'},
    {KEY_KP0, '0', '0'},        {KEY_KP1, '1', '1'},       {KEY_KP2, '2', '2'},        {KEY_KP3, '3', '3'},
    {KEY_KP4, '4', '4'},        {KEY_KP5, '5', '5'},       {KEY_KP6, '6', '6'},        {KEY_KP7, '7', '7'},
    {KEY_KP8, '8', '8'},        {KEY_KP9, '9', '9'},       {KEY_KPMINUS, '-', '-'},    {KEY_KPPLUS, '+', '+'},
    {KEY_KPDOT, '.', '.'},      {KEY_KPSLASH, '/', '/'},   {KEY_KPASTERISK, '*', '*'},
};

// Letter keys in the order of their characters (the key codes follow the keyboard rows, not the alphabet).
constexpr unsigned short kLetters[26] = {KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I,
                                         KEY_J, KEY_K, KEY_L, KEY_M, KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R,
                                         KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z};

std::optional<char> letter(unsigned short code) {
    for (int i = 0; i < 26; ++i)
        if (kLetters[i] == code) return static_cast<char>('a' + i);
    return std::nullopt;
}

bool isModifier(unsigned short code) {
    switch (code) {
    case KEY_LEFTSHIFT: case KEY_RIGHTSHIFT: case KEY_LEFTCTRL: case KEY_RIGHTCTRL: case KEY_LEFTALT:
    case KEY_RIGHTALT: case KEY_LEFTMETA: case KEY_RIGHTMETA: case KEY_CAPSLOCK: case KEY_NUMLOCK:
        return true;
    default:
        return false;
    }
}

} // namespace

std::optional<char> usKeyChar(unsigned short code, bool shift) {
    if (auto c = letter(code)) return shift ? static_cast<char>(*c - 'a' + 'A') : *c;
    for (const auto& k : kKeys)
        if (k.code == code) return shift ? k.shifted : k.plain;
    return std::nullopt;
}

std::vector<std::string> EvdevDecoder::feed(std::string_view bytes) {
    std::vector<std::string> scans;
    partial_.append(bytes);
    std::size_t at = 0;
    while (partial_.size() - at >= sizeof(input_event)) {
        input_event e;
        std::memcpy(&e, partial_.data() + at, sizeof e);
        at += sizeof e;
        if (auto scan = feed(e)) scans.push_back(std::move(*scan));
    }
    partial_.erase(0, at);
    return scans;
}

std::optional<std::string> EvdevDecoder::feed(const input_event& e) {
    if (e.type != EV_KEY) return std::nullopt;   // EV_SYN, EV_MSC scan codes, LEDs: nothing typed
    const bool down = e.value != 0;               // 1 press, 2 auto-repeat, 0 release
    if (e.code == KEY_LEFTSHIFT) leftShift_ = down;
    if (e.code == KEY_RIGHTSHIFT) rightShift_ = down;
    if (e.value != 1 && e.value != 2) return std::nullopt;
    if (e.code == KEY_CAPSLOCK && e.value == 1) capsLock_ = !capsLock_;
    if (e.code == KEY_ENTER || e.code == KEY_KPENTER) {
        std::string scan;
        scan.swap(text_);
        if (scan.empty()) return std::nullopt;   // a bare Enter is no scan
        return scan;
    }
    if (isModifier(e.code)) return std::nullopt;
    const bool shift = leftShift_ || rightShift_;
    std::optional<char> c = usKeyChar(e.code, shift);
    // Caps lock flips letters only, and shift flips them back.
    if (c && letter(e.code) && capsLock_) c = usKeyChar(e.code, !shift);
    if (!c) {
        ++unknownKeys_;
        return std::nullopt;
    }
    if (text_.size() < kMaxScan) text_.push_back(*c);
    return std::nullopt;
}

void EvdevDecoder::reset() {
    partial_.clear();
    text_.clear();
    leftShift_ = rightShift_ = capsLock_ = false;
}

} // namespace mto
