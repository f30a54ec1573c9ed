// SPDX-License-Identifier: Apache-2.0
// The keyboard-wedge decoder: recorded input_event streams (shift, caps lock, Enter, split reads) become
// the text a scanner typed; the line splitter cuts serial and line-input bytes into scans.
#include <gtest/gtest.h>

#include <linux/input.h>

#include <string>
#include <vector>

#include "scan/evdev_decoder.hpp"
#include "scan/line_splitter.hpp"

namespace mto {
namespace {

void add(std::string& out, unsigned short type, unsigned short code, int value) {
    input_event e{};
    e.type = type;
    e.code = code;
    e.value = value;
    out.append(reinterpret_cast<const char*>(&e), sizeof e);
}

// A key pressed and released as a scanner sends it: EV_MSC scan code, EV_KEY press, SYN, release, SYN.
void key(std::string& out, unsigned short code) {
    add(out, EV_MSC, MSC_SCAN, 0x70000 + code);
    add(out, EV_KEY, code, 1);
    add(out, EV_SYN, SYN_REPORT, 0);
    add(out, EV_KEY, code, 0);
    add(out, EV_SYN, SYN_REPORT, 0);
}

void typeShifted(std::string& out, unsigned short code, unsigned short shiftKey = KEY_LEFTSHIFT) {
    add(out, EV_KEY, shiftKey, 1);
    key(out, code);
    add(out, EV_KEY, shiftKey, 0);
}

TEST(EvdevDecoder, ARecordedOperatorBadgeWithShiftAndEnterDecodesToItsText) {
    std::string rec;
    typeShifted(rec, KEY_O);
    typeShifted(rec, KEY_P, KEY_RIGHTSHIFT);
    typeShifted(rec, KEY_SEMICOLON);   // ':'
    for (auto k : {KEY_A, KEY_N, KEY_A, KEY_DOT, KEY_K}) key(rec, k);
    key(rec, KEY_ENTER);
    EvdevDecoder d;
    EXPECT_EQ(d.feed(rec), std::vector<std::string>{"OP:ana.k"});
}

TEST(EvdevDecoder, RecordsCutAnywhereByTheReadsGiveTheSameScans) {
    std::string rec;
    // MTO:I:ORD-7/1 then Enter, then MTO:A:QC_PASS on the keypad's Enter.
    for (auto k : {KEY_M, KEY_T, KEY_O}) typeShifted(rec, k);
    typeShifted(rec, KEY_SEMICOLON);
    typeShifted(rec, KEY_I);
    typeShifted(rec, KEY_SEMICOLON);
    for (auto k : {KEY_O, KEY_R, KEY_D}) typeShifted(rec, k);
    key(rec, KEY_MINUS);
    key(rec, KEY_7);
    key(rec, KEY_SLASH);
    key(rec, KEY_1);
    key(rec, KEY_ENTER);
    for (auto k : {KEY_M, KEY_T, KEY_O}) typeShifted(rec, k);
    typeShifted(rec, KEY_SEMICOLON);
    typeShifted(rec, KEY_A);
    typeShifted(rec, KEY_SEMICOLON);
    typeShifted(rec, KEY_Q);
    typeShifted(rec, KEY_C);
    typeShifted(rec, KEY_MINUS);   // '_'
    for (auto k : {KEY_P, KEY_A, KEY_S, KEY_S}) typeShifted(rec, k);
    key(rec, KEY_KPENTER);
    const std::vector<std::string> want{"MTO:I:ORD-7/1", "MTO:A:QC_PASS"};
    for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, sizeof(input_event) - 1, sizeof(input_event) + 3,
                              rec.size()}) {
        EvdevDecoder d;
        std::vector<std::string> got;
        for (std::size_t at = 0; at < rec.size(); at += chunk)
            for (auto& s : d.feed(std::string_view(rec).substr(at, chunk))) got.push_back(s);
        EXPECT_EQ(got, want) << "reads of " << chunk << " bytes";
    }
}

TEST(EvdevDecoder, CapsLockFlipsLettersOnlyAndShiftFlipsThemBack) {
    std::string rec;
    key(rec, KEY_CAPSLOCK);
    key(rec, KEY_A);
    typeShifted(rec, KEY_B);
    key(rec, KEY_1);
    key(rec, KEY_CAPSLOCK);
    key(rec, KEY_C);
    key(rec, KEY_ENTER);
    EvdevDecoder d;
    EXPECT_EQ(d.feed(rec), std::vector<std::string>{"Ab1c"});
}

TEST(EvdevDecoder, ReleasesBareEntersAndUnknownKeysTypeNothing) {
    std::string rec;
    key(rec, KEY_ENTER);           // no scan
    key(rec, KEY_F5);              // types nothing, counted
    add(rec, EV_KEY, KEY_X, 0);    // a release alone
    key(rec, KEY_Z);
    add(rec, EV_KEY, KEY_Z, 2);    // auto-repeat types again
    key(rec, KEY_ENTER);
    EvdevDecoder d;
    EXPECT_EQ(d.feed(rec), std::vector<std::string>{"zz"});
    EXPECT_EQ(d.unknownKeys(), 1u);
}

TEST(EvdevDecoder, AResetForgetsAHalfTypedScanAndAHeldShift) {
    std::string rec;
    add(rec, EV_KEY, KEY_LEFTSHIFT, 1);
    key(rec, KEY_Q);
    EvdevDecoder d;
    EXPECT_TRUE(d.feed(rec).empty());
    d.reset();
    std::string more;
    key(more, KEY_W);
    key(more, KEY_ENTER);
    EXPECT_EQ(d.feed(more), std::vector<std::string>{"w"});
}

TEST(EvdevDecoder, AnEndlessScanIsCutAtItsLimit) {
    std::string rec;
    for (std::size_t i = 0; i < EvdevDecoder::kMaxScan + 50; ++i) key(rec, KEY_9);
    key(rec, KEY_ENTER);
    EvdevDecoder d;
    auto scans = d.feed(rec);
    ASSERT_EQ(scans.size(), 1u);
    EXPECT_EQ(scans[0].size(), EvdevDecoder::kMaxScan);
}

TEST(UsKeyChar, MapsTheUsLayoutWithAndWithoutShift) {
    EXPECT_EQ(usKeyChar(KEY_2, false), '2');
    EXPECT_EQ(usKeyChar(KEY_2, true), '@');
    EXPECT_EQ(usKeyChar(KEY_MINUS, true), '_');
    EXPECT_EQ(usKeyChar(KEY_SLASH, false), '/');
    EXPECT_EQ(usKeyChar(KEY_SEMICOLON, true), ':');
    EXPECT_EQ(usKeyChar(KEY_G, true), 'G');
    EXPECT_EQ(usKeyChar(KEY_KP5, false), '5');
    EXPECT_EQ(usKeyChar(KEY_LEFTCTRL, false), std::nullopt);
}

TEST(LineSplitter, CrLfOrBothEndALineAndOddBytesBecomeQuestionMarks) {
    LineSplitter s;
    EXPECT_TRUE(s.feed("MTO:A:PA").empty());
    EXPECT_EQ(s.feed("CKED\r\nOP:ana\rX\x01\xff\n\n"), (std::vector<std::string>{"MTO:A:PACKED", "OP:ana", "X??"}));
    std::string longLine(LineSplitter::kMaxLine + 10, 'a');
    auto lines = s.feed(longLine + "\n");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].size(), LineSplitter::kMaxLine);
}

} // namespace
} // namespace mto
