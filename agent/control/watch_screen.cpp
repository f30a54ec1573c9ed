// SPDX-License-Identifier: Apache-2.0
// Draws the floor for `mtoctl watch`: a screen redrawn in place on a terminal, plain lines anywhere else.
#include "control/watch_screen.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mto {

namespace {

constexpr const char* kHome = "\x1b[H";
constexpr const char* kClearLine = "\x1b[K";
constexpr const char* kClearBelow = "\x1b[J";
constexpr const char* kHideCursor = "\x1b[?25l";
constexpr const char* kShowCursor = "\x1b[?25h";

// Control characters (an escape sequence in a firmware message, say) would steer the terminal.
std::string terminalSafe(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) out += c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c);
    return out;
}

// Counts code points, not bytes: a UTF-8 continuation byte takes no column of its own.
std::size_t columns(const std::string& s) {
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

std::string cut(const std::string& s, std::size_t width) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && n++ == width) return s.substr(0, i);
    }
    return s;
}

std::string pad(const std::string& s, std::size_t width) {
    const std::size_t n = columns(s);
    return n >= width ? s : s + std::string(width - n, ' ');
}

std::string jobText(const FloorJob& j) {
    std::string s = j.orderId + "/" + j.itemId + " " + j.operation + " unit " + std::to_string(j.unit);
    if (j.qty > 0) s += "/" + std::to_string(j.qty);
    return terminalSafe(s);
}

std::string stateText(const FloorMachine& m) { return terminalSafe(m.bay + " (" + m.state + ")"); }

std::string progressText(const FloorMachine& m) {
    if (!m.job) {
        // No unit: a driver in trouble says why.
        const bool trouble = m.state != "idle" && m.state != "running" && !m.detail.empty();
        return trouble ? terminalSafe(m.detail) : "";
    }
    char percent[8];
    std::snprintf(percent, sizeof percent, "%3d%%", m.job->percent < 0 ? 0 : m.job->percent > 100 ? 100 : m.job->percent);
    std::string s = progressBar(m.job->percent, WatchScreen::kBarWidth) + " " + percent;
    if (m.bay == "awaiting_clear") return s + "  done, bed to clear";
    if (m.bay == "needs_attention") return s + "  stopped" + (m.reason.empty() ? "" : ": " + terminalSafe(m.reason));
    if (const std::string left = formatDuration(m.job->secondsLeft); !left.empty()) s += "  " + left + " left";
    return s;
}


} // namespace

std::string progressBar(int percent, int width) {
    if (width < 1) width = 1;
    const int p = percent < 0 ? 0 : percent > 100 ? 100 : percent;
    const int filled = p * width / 100;
    return "[" + std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(width - filled), '.') +
           "]";
}

std::string formatDuration(double seconds) {
    if (!(seconds >= 0) || !std::isfinite(seconds)) return "";
    const auto s = static_cast<long long>(std::llround(seconds));
    char buf[32];
    if (s < 60)
        std::snprintf(buf, sizeof buf, "%llds", s);
    else if (s < 3600)
        std::snprintf(buf, sizeof buf, "%lldm %02llds", s / 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%lldh %02lldm", s / 3600, (s % 3600) / 60);
    return buf;
}

std::string WatchScreen::frame(const FloorView& v) const {
    std::vector<std::string> lines;
    lines.push_back("mto-agent " + terminalSafe(v.factory) + "  " + terminalSafe(v.at) + "  " +
                    std::to_string(v.machines.size()) + " machine(s)");
    std::size_t idW = 7, stateW = 5, jobW = 3;   // the headings
    for (const auto& m : v.machines) {
        idW = std::max(idW, columns(terminalSafe(m.id)));
        stateW = std::max(stateW, columns(stateText(m)));
        if (m.job) jobW = std::max(jobW, columns(jobText(*m.job)));
    }
    lines.push_back(pad("MACHINE", idW) + "  " + pad("STATE", stateW) + "  " + pad("JOB", jobW) + "  PROGRESS");
    for (const auto& m : v.machines) {
        std::string line = pad(terminalSafe(m.id), idW) + "  " + pad(stateText(m), stateW) + "  " +
                           pad(m.job ? jobText(*m.job) : "-", jobW) + "  " + progressText(m);
        while (!line.empty() && line.back() == ' ') line.pop_back();
        lines.push_back(std::move(line));
        // Work it passes over: the operator fixes the machine (or its profile) or lets another machine run it.
        if (m.refused) {
            const FloorRefusal& r = *m.refused;
            lines.push_back("  refuses " + std::to_string(r.jobs) + " job(s), last " +
                            terminalSafe(r.orderId + "/" + r.itemId + " " + r.operation + " unit " + std::to_string(r.unit) +
                                         ": " + r.reason + (r.message.empty() ? "" : " (" + r.message + ")")));
        }
    }
    lines.emplace_back();
    if (v.queue.empty()) {
        lines.emplace_back("QUEUE  empty");
    } else {
        lines.push_back("QUEUE  next " + std::to_string(v.queue.size()) + " job(s)");
        for (const auto& e : v.queue) {
            std::string units = e.nextUnit == e.qty ? "unit " + std::to_string(e.qty) + "/" + std::to_string(e.qty)
                                                    : "units " + std::to_string(e.nextUnit) + "-" + std::to_string(e.qty) +
                                                          "/" + std::to_string(e.qty);
            std::string line = std::string(e.rush ? "  RUSH " : "       ") + terminalSafe(e.orderId + "/" + e.itemId + " " +
                                                                                 e.operation + " " + units + "  " + e.capability);
            if (!e.dueBy.empty()) line += "  due " + terminalSafe(e.dueBy);
            if (const std::string each = formatDuration(e.estimatedSeconds); !each.empty()) line += "  " + each + " each";
            lines.push_back(std::move(line));
        }
    }
    std::string work = "queued work:";
    if (v.queuedSeconds.empty()) work += " none";
    bool first = true;
    for (const auto& [capability, seconds] : v.queuedSeconds) {
        const std::string time = formatDuration(seconds);
        work += (first ? " " : ", ") + terminalSafe(capability) + " " + (time.empty() ? "?" : time);
        first = false;
    }
    lines.push_back(std::move(work));
    return compose(lines);
}

std::string WatchScreen::unreachable(const std::string& why) const {
    return compose({"mto-agent unreachable: " + terminalSafe(why), "(still trying)"});
}

std::string WatchScreen::leave() const { return terminal_ ? std::string(kShowCursor) + "\n" : std::string(); }

std::string WatchScreen::compose(const std::vector<std::string>& lines) const {
    std::string out;
    if (!terminal_) {
        for (const auto& l : lines) out += l + "\n";
        return out + "\n";
    }
    out += kHideCursor;
    out += kHome;
    // One row stays free: a newline on the last row would scroll the frame away from the top.
    const std::size_t room = static_cast<std::size_t>(rows_ - 1);
    const bool tooLong = lines.size() > room;
    // And one column: a character in the last one leaves the cursor there, where clearing the line erases it.
    const auto width = static_cast<std::size_t>(width_ > 1 ? width_ - 1 : 1);
    const std::size_t shown = tooLong ? room - 1 : lines.size();
    for (std::size_t i = 0; i < shown; ++i) out += cut(lines[i], width) + kClearLine + "\n";
    if (tooLong)
        out += cut("... " + std::to_string(lines.size() - shown) + " more line(s); a taller window shows them",
                   width) + kClearLine + "\n";
    out += kClearBelow;
    return out;
}

} // namespace mto
