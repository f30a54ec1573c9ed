// SPDX-License-Identifier: Apache-2.0
// Draws the floor for `mtoctl watch`: a screen redrawn in place on a terminal, plain lines anywhere else.
#pragma once

#include <string>
#include <vector>

#include "control/floor_view.hpp"

namespace mto {

// Stateless; any thread. On a terminal each frame starts at the top left, every line clears what was left of
// the last frame's line, and the frame ends by clearing the rest of the screen, so nothing flickers or
// lingers; lines are cut to the terminal's width and the frame to its height, so nothing scrolls. Anywhere else a frame is plain lines followed
// by an empty one. Text the agent got from machines or HQ is printed without its control characters.
class WatchScreen {
public:
    // `width` and `rows` are the terminal's size (used on a terminal only; 0 when unknown).
    WatchScreen(bool terminal, int width, int rows)
        : terminal_(terminal), width_(width > 0 ? width : 80), rows_(rows > 1 ? rows : 24) {}

    std::string frame(const FloorView& v) const;
    // A frame saying the agent cannot be reached (watch keeps trying).
    std::string unreachable(const std::string& why) const;
    // What a terminal needs when watch ends: the cursor back and a fresh line.
    std::string leave() const;

    static constexpr int kBarWidth = 20;

private:
    std::string compose(const std::vector<std::string>& lines) const;

    bool terminal_;
    int width_;
    int rows_;
};

// "[########............]" for 40 % at width 20 (the width counts the cells between the brackets).
std::string progressBar(int percent, int width);
// "42s", "3m 07s", "2h 05m"; "" when unknown (negative or not a number).
std::string formatDuration(double seconds);

} // namespace mto
