// SPDX-License-Identifier: Apache-2.0
// What `mtoctl watch` draws: bars, percents, times left, the queue, plain lines and the in-place terminal redraw.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "control/watch_screen.hpp"

namespace mto {
namespace {

FloorView sampleFloor() {
    FloorView v;
    v.factory = "f1";
    v.at = "2026-11-26T05:30:00.000Z";
    v.machines.push_back({"laser-1", "laser-400", "laser", "running", "running", "", FloorJob{"ORD-1", "1", "laser_engrave", 1, 2, 42, 65}, ""});
    v.machines.push_back({"laser-2", "laser-400", "laser", "awaiting_clear", "idle", "", FloorJob{"ORD-2", "7", "laser_engrave", 3, 3, 100, 0}, ""});
    v.machines.push_back({"cnc-1", "cnc-600", "cnc", "needs_attention", "alarm", "ALARM:1 hard limit",
                          FloorJob{"ORD-3", "2", "cnc_profile", 1, 0, 15, -1}, "alarm"});
    v.machines.push_back({"laser-3", "laser-400", "laser", "ready", "disconnected", "cannot open /dev/ttyUSB3", std::nullopt, ""});
    v.queue.push_back({"ORD-9", "1", "laser_engrave", "laser", 2, 3, true, "2026-12-01T10:00:00Z", 60});
    v.queue.push_back({"ORD-7", "1", "cnc_engrave", "cnc", 1, 1, false, "", 90});
    v.queuedSeconds = {{"cnc", 90}, {"laser", 9000}};
    return v;
}

std::vector<std::string> screenLines(const std::string& text, const std::string& end = "\n") {
    std::vector<std::string> out;
    std::size_t from = 0;
    for (std::size_t at; (at = text.find(end, from)) != std::string::npos; from = at + end.size())
        out.push_back(text.substr(from, at - from));
    return out;
}

std::string lineWith(const std::string& frame, const std::string& needle) {
    for (const auto& l : screenLines(frame))
        if (l.find(needle) != std::string::npos) return l;
    return "<no line with " + needle + ">";
}

TEST(WatchScreen, AProgressBarFillsItsWidthInProportionAndClampsPercentsOutOfRange) {
    EXPECT_EQ(progressBar(40, 20), "[########............]");
    EXPECT_EQ(progressBar(0, 10), "[..........]");
    EXPECT_EQ(progressBar(100, 10), "[##########]");
    EXPECT_EQ(progressBar(99, 20), "[###################.]") << "full only when done";
    EXPECT_EQ(progressBar(250, 10), "[##########]");
    EXPECT_EQ(progressBar(-5, 10), "[..........]");
}

TEST(WatchScreen, DurationsReadAsSecondsMinutesOrHoursAndAnUnknownOneIsLeftOut) {
    EXPECT_EQ(formatDuration(0), "0s");
    EXPECT_EQ(formatDuration(42.4), "42s");
    EXPECT_EQ(formatDuration(59.6), "1m 00s");
    EXPECT_EQ(formatDuration(187), "3m 07s");
    EXPECT_EQ(formatDuration(7500), "2h 05m");
    EXPECT_EQ(formatDuration(-1), "");
    EXPECT_EQ(formatDuration(std::nan("")), "");
    EXPECT_EQ(formatDuration(INFINITY), "");
}

TEST(WatchScreen, APlainFrameShowsEachMachineWithStateJobBarPercentAndTimeLeftThenTheQueue) {
    const std::string frame = WatchScreen(false, 0, 0).frame(sampleFloor());
    EXPECT_EQ(frame.find('\x1b'), std::string::npos) << "no terminal control when not on a terminal";
    ASSERT_GE(frame.size(), 2u);
    EXPECT_EQ(frame.substr(frame.size() - 2), "\n\n") << "frames are separated by an empty line";

    const std::string running = lineWith(frame, "laser-1");
    EXPECT_NE(running.find("running (running)"), std::string::npos) << running;
    EXPECT_NE(running.find("ORD-1/1 laser_engrave unit 1/2"), std::string::npos) << running;
    EXPECT_NE(running.find("[########............]  42%  1m 05s left"), std::string::npos) << running;

    const std::string done = lineWith(frame, "laser-2");
    EXPECT_NE(done.find("awaiting_clear (idle)"), std::string::npos) << done;
    EXPECT_NE(done.find("[####################] 100%  done, bed to clear"), std::string::npos) << done;

    const std::string stopped = lineWith(frame, "cnc-1");
    EXPECT_NE(stopped.find("needs_attention (alarm)"), std::string::npos) << stopped;
    EXPECT_NE(stopped.find("unit 1 "), std::string::npos) << "no qty known: " << stopped;
    EXPECT_NE(stopped.find(" 15%  stopped: alarm"), std::string::npos) << stopped;
    EXPECT_EQ(stopped.find("left"), std::string::npos) << stopped;

    const std::string idle = lineWith(frame, "laser-3");
    EXPECT_NE(idle.find("ready (disconnected)"), std::string::npos) << idle;
    EXPECT_NE(idle.find("cannot open /dev/ttyUSB3"), std::string::npos) << "a driver in trouble says why: " << idle;

    // The columns line up: every machine's state starts where the heading's does.
    const auto column = lineWith(frame, "MACHINE").find("STATE");
    EXPECT_EQ(running.find("running"), column);
    EXPECT_EQ(idle.find("ready"), column);

    EXPECT_NE(lineWith(frame, "ORD-9").find("RUSH ORD-9/1 laser_engrave units 2-3/3  laser  due 2026-12-01T10:00:00Z  1m 00s each"),
              std::string::npos)
        << frame;
    EXPECT_NE(lineWith(frame, "ORD-7").find("ORD-7/1 cnc_engrave unit 1/1  cnc  1m 30s each"), std::string::npos) << frame;
    EXPECT_NE(frame.find("queued work: cnc 1m 30s, laser 2h 30m"), std::string::npos) << frame;
}

TEST(WatchScreen, AMachineThatRefusesJobsGetsALineSayingHowManyAndWhy) {
    FloorView v = sampleFloor();
    v.machines[0].refused = FloorRefusal{2, "ORD-5", "1", "laser_engrave", 1, "spindle_range",
                                         "the program asks for S1000 but $30 is 500"};
    const std::string frame = WatchScreen(false, 0, 0).frame(v);
    const auto lines = screenLines(frame);
    auto at = std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l.rfind("laser-1", 0) == 0; });
    ASSERT_NE(at, lines.end());
    ASSERT_NE(at + 1, lines.end());
    EXPECT_EQ(*(at + 1), "  refuses 2 job(s), last ORD-5/1 laser_engrave unit 1: spindle_range (the program asks for "
                         "S1000 but $30 is 500)");
    EXPECT_EQ(frame.find("refuses", frame.find("laser-2")), std::string::npos) << "only the machine that refuses";
}

TEST(WatchScreen, AnEmptyFloorSaysSo) {
    FloorView v;
    v.factory = "f1";
    const std::string frame = WatchScreen(false, 0, 0).frame(v);
    EXPECT_NE(frame.find("0 machine(s)"), std::string::npos) << frame;
    EXPECT_NE(frame.find("QUEUE  empty"), std::string::npos) << frame;
    EXPECT_NE(frame.find("queued work: none"), std::string::npos) << frame;
}

TEST(WatchScreen, OnATerminalAFrameRedrawsInPlaceAndFitsTheWindow) {
    const int width = 40, rows = 8;
    const std::string frame = WatchScreen(true, width, rows).frame(sampleFloor());
    ASSERT_EQ(frame.rfind("\x1b[?25l\x1b[H", 0), 0u) << "cursor hidden and home first";
    ASSERT_GE(frame.size(), 3u);
    EXPECT_EQ(frame.substr(frame.size() - 3), "\x1b[J") << "the rest of the last frame is cleared";
    const std::string body = frame.substr(9, frame.size() - 12);
    const auto lines = screenLines(body, "\x1b[K\n");
    EXPECT_EQ(lines.size(), static_cast<std::size_t>(rows - 1)) << "one row stays free so nothing scrolls";
    for (const auto& l : lines) EXPECT_LT(l.size(), static_cast<std::size_t>(width)) << l;
    EXPECT_NE(lines.back().find("more line(s)"), std::string::npos) << lines.back();
    EXPECT_EQ(WatchScreen(true, 80, 24).leave(), "\x1b[?25h\n") << "the cursor comes back";
    EXPECT_EQ(WatchScreen(false, 80, 24).leave(), "");
}

TEST(WatchScreen, ControlCharactersFromMachinesNeverReachTheTerminal) {
    FloorView v = sampleFloor();
    v.machines[3].detail = "\x1b]0;owned\x07 port gone\r";
    const std::string frame = WatchScreen(true, 200, 50).frame(v);
    EXPECT_EQ(frame.find("\x1b]"), std::string::npos);
    EXPECT_EQ(frame.find('\x07'), std::string::npos);
    EXPECT_EQ(frame.find('\r'), std::string::npos);
    EXPECT_NE(frame.find("?]0;owned? port gone?"), std::string::npos) << frame;
}

TEST(WatchScreen, AnUnreachableAgentIsShownInPlaceOfTheFloor) {
    const std::string frame = WatchScreen(false, 0, 0).unreachable("cannot reach the agent at /x: No such file");
    EXPECT_EQ(frame, "mto-agent unreachable: cannot reach the agent at /x: No such file\n(still trying)\n\n");
}

} // namespace
} // namespace mto
