// SPDX-License-Identifier: Apache-2.0
// Marlin 2.1 emulation: the serial line checks of queue.cpp (line numbers, checksums, Resend), the command
// buffer, a planner of timed moves, heaters that take time, host keep-alive, M155 auto-report and kill().
#include "virtual/marlin_emulator.hpp"

#include "marlin/marlin_protocol.hpp"
#include "mto/error.hpp"
#include "virtual/pty.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <optional>
#include <random>
#include <set>

namespace mto::virt {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kMarlinHostPollInterval = std::chrono::milliseconds(20);
constexpr auto kBootTime = std::chrono::milliseconds(50);
constexpr double kTempWindow = 1.0;   // TEMP_WINDOW: M109/M190 are done within this many degrees

Clock::duration realSeconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::max(0.0, s)));
}

std::string fmt1(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

// The value after letter `c` in a command ("G1 X10 F600": 'F' → 600).
std::optional<double> word(const std::string& cmd, char c) {
    for (std::size_t i = 0; i < cmd.size(); ++i) {
        if (std::toupper(static_cast<unsigned char>(cmd[i])) != c) continue;
        if (i > 0 && cmd[i - 1] != ' ') continue;
        char* end = nullptr;
        const double v = std::strtod(cmd.c_str() + i + 1, &end);
        if (end != cmd.c_str() + i + 1) return v;
    }
    return std::nullopt;
}

std::string code(const std::string& cmd) {
    std::string out;
    for (char c : cmd) {
        if (c == ' ') break;
        out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
    // G01 and G1 are the same word.
    if (out.size() > 2 && (out[0] == 'G' || out[0] == 'M') && out[1] == '0') out.erase(1, 1);
    return out;
}

} // namespace

// One emulated printer. Invariants: everything is touched on the io_context's thread only; the command
// buffer holds at most options.commandBuffer commands and only its front one runs; planner moves end in order.
class MarlinMachine {
public:
    MarlinMachine(asio::io_context& io, MarlinEmulatorOptions options)
        : io_(io), opts_(std::move(options)), hostTimer_(io), rxTimer_(io), txTimer_(io), bootTimer_(io),
          execTimer_(io), busyTimer_(io), autoTimer_(io), rng_(opts_.randomSeed) {
        if (!(opts_.speedFactor > 0)) throw Error("Marlin emulator: speed factor must be above zero");
        if (opts_.baud == 0) throw Error("Marlin emulator: baud rate must be above zero");
        if (opts_.commandBuffer == 0 || opts_.plannerBlocks == 0)
            throw Error("Marlin emulator: command buffer and planner need at least one slot");
        openPty();
        powerOn();
        watchHost();
    }
    ~MarlinMachine() { closePty(); }

    std::string devicePath() const { return opts_.linkPath.empty() ? slavePath_ : opts_.linkPath; }
    void setLogger(std::function<void(std::string_view)> l) { logger_ = std::move(l); }

    void setChecksumErrorRate(double r) { opts_.checksumErrorRate = r; }
    void loseLine(std::uint64_t n) { lostLines_.insert(n); }
    void thermalRunaway() {
        kill({"Thermal Runaway, system stopped! Heater_ID: 0", "Printer halted. kill() called!"});
    }
    void halt(const std::string& why) { kill({why}); }
    void disconnectAfterLines(std::uint64_t n) { disconnectAfter_ = accepted_ + n; }
    void disconnect() {
        if (!plugged_) return;
        log("unplugged " + devicePath());
        closePty();
        stopFirmware();
    }
    void reconnect() {
        if (plugged_) disconnect();
        openPty();
        log("plugged in " + devicePath());
        powerOn();
        watchHost();
    }

    const std::vector<std::string>& executed() const { return executed_; }
    std::uint64_t linesReceived() const { return linesReceived_; }
    std::uint64_t resendsRequested() const { return resendsRequested_; }
    double hotend() { return heater(hotend_).actual; }
    double bed() { return heater(bed_).actual; }
    bool halted() const { return halted_; }
    bool hostConnected() const { return connected_; }
    std::uint64_t resets() const { return resets_; }

private:
    struct Heater {
        double actual = 25, target = 0;
        Clock::time_point at = Clock::now();
    };

    template <typename F>
    auto guarded(F f) {
        return [life = std::weak_ptr<int>(alive_), f = std::move(f)](auto&&... args) mutable {
            if (life.expired()) return;
            f(std::forward<decltype(args)>(args)...);
        };
    }
    void log(const std::string& line) {
        if (logger_) logger_(line);
    }
    double byteSeconds() const { return 10.0 / opts_.baud; }

    // -----------------------------------------------------------------------------------------------------
    // The pty: host open/close, bytes in and out (at the line rate when pacing).

    void openPty() {
        Pty pty;
        slavePath_ = pty.slavePath();
        if (!opts_.linkPath.empty()) publishLink(opts_.linkPath, slavePath_);
        master_ = std::make_unique<asio::posix::stream_descriptor>(io_, pty.releaseMaster());
        master_->non_blocking(true);
        ++epoch_;
        plugged_ = true;
        connected_ = false;
    }

    void closePty() {
        hostTimer_.cancel();
        rxTimer_.cancel();
        txTimer_.cancel();
        if (master_) {
            boost::system::error_code ignored;
            master_->close(ignored);
            master_.reset();
        }
        if (!opts_.linkPath.empty() && !slavePath_.empty()) removeLink(opts_.linkPath, slavePath_);
        plugged_ = connected_ = reading_ = writing_ = false;
        wire_.clear();
        serial_.clear();
        txQueue_.clear();
    }

    void watchHost() {
        if (!plugged_ || connected_) return;
        if (!Pty::slaveClosed(master_->native_handle())) {
            connected_ = true;
            log("host opened " + devicePath());
            if (opts_.resetOnOpen) powerOn();   // DTR resets a USB board
            startRead();
            pumpTx();
            return;
        }
        hostTimer_.expires_after(kMarlinHostPollInterval);
        hostTimer_.async_wait(guarded([this](const boost::system::error_code& ec) {
            if (!ec) watchHost();
        }));
    }

    void startRead() {
        if (reading_ || !connected_ || !master_) return;
        if (wire_.size() + serial_.size() >= 8192) return;   // the rest waits in the kernel
        reading_ = true;
        master_->async_read_some(asio::buffer(readBuf_),
                                 guarded([this, epoch = epoch_](const boost::system::error_code& ec, std::size_t n) {
                                     if (epoch != epoch_ || ec == asio::error::operation_aborted) return;
                                     reading_ = false;
                                     if (ec) return hostGone();
                                     if (wire_.empty()) nextRxAt_ = std::max(nextRxAt_, Clock::now());
                                     wire_.insert(wire_.end(), readBuf_.begin(), readBuf_.begin() + static_cast<std::ptrdiff_t>(n));
                                     deliverRx();
                                 }));
    }

    void hostGone() {
        if (!connected_) return;
        log("host closed " + devicePath());
        // What reached the board before the port closed is still run; what it says goes nowhere.
        connected_ = false;
        txQueue_.clear();
        watchHost();
    }

    // Bytes reach the UART 10/baud s apart when pacing, at once otherwise.
    void deliverRx() {
        if (!opts_.pacing) {
            serial_.append(wire_.begin(), wire_.end());
            wire_.clear();
        } else {
            const auto now = Clock::now();
            const auto byteTime = realSeconds(byteSeconds());
            while (!wire_.empty() && nextRxAt_ + byteTime <= now) {
                nextRxAt_ += byteTime;
                serial_.push_back(wire_.front());
                wire_.pop_front();
            }
            if (!wire_.empty()) {
                rxTimer_.expires_at(nextRxAt_ + byteTime);
                rxTimer_.async_wait(guarded([this](const boost::system::error_code& ec) {
                    if (!ec) deliverRx();
                }));
            }
        }
        readSerial();
        startRead();
    }

    void emit(const std::string& text) {
        if (!connected_) return;   // talking to an unplugged cable
        txQueue_ += text;
        pumpTx();
    }

    void pumpTx() {
        if (writing_ || !connected_ || !master_ || txQueue_.empty()) return;
        std::size_t chunk = txQueue_.size();
        if (opts_.pacing) chunk = std::min(chunk, std::max<std::size_t>(1, static_cast<std::size_t>(opts_.baud / 10 * 0.003)));
        txChunk_ = txQueue_.substr(0, chunk);
        txQueue_.erase(0, chunk);
        writing_ = true;
        const auto started = Clock::now();
        asio::async_write(*master_, asio::buffer(txChunk_),
                          guarded([this, started, chunk, epoch = epoch_](const boost::system::error_code& ec, std::size_t) {
                              if (ec == asio::error::operation_aborted || epoch != epoch_ || !master_) return;
                              if (ec) {
                                  writing_ = false;
                                  return hostGone();
                              }
                              if (!opts_.pacing) {
                                  writing_ = false;
                                  return pumpTx();
                              }
                              txTimer_.expires_at(started + realSeconds(byteSeconds() * double(chunk)));
                              txTimer_.async_wait(guarded([this, epoch](const boost::system::error_code& e) {
                                  if (e || epoch != epoch_) return;
                                  writing_ = false;
                                  pumpTx();
                              }));
                          }));
    }

    // -----------------------------------------------------------------------------------------------------
    // Firmware: boot, the serial line checks, the command buffer.

    // A handler that had already expired when its timer was cancelled still runs (cancel() cannot take it
    // back): each one checks that the firmware run it was armed in is still the current one. Without that, a
    // boot timer armed at construction and due by the time a late host open is noticed said "start" and
    // took lines at once, and the open's own reset said "start" again 50 ms later, in the middle of a job.
    void stopFirmware() {
        ++run_;
        bootTimer_.cancel();
        execTimer_.cancel();
        busyTimer_.cancel();
        autoTimer_.cancel();
        commands_.clear();
        blockEnds_.clear();
        frontBegun_ = false;
        busy_ = false;
    }

    void powerOn() {
        stopFirmware();
        ++resets_;
        halted_ = false;
        lastN_ = 0;
        booting_ = true;
        serial_.clear();
        wire_.clear();
        hotend_ = {heater(hotend_).actual, 0, Clock::now()};
        bed_ = {heater(bed_).actual, 0, Clock::now()};
        pos_ = {0, 0, 0, 0};
        relative_ = false;
        relativeE_ = false;
        feed_ = 1500;
        autoReportS_ = 0;
        bootTimer_.expires_after(kBootTime);
        bootTimer_.async_wait(guarded([this, run = run_](const boost::system::error_code& ec) {
            if (ec || run != run_) return;
            booting_ = false;
            emit("start\necho:" + opts_.firmwareName + " " + opts_.version +
                 "\necho: Last Updated: 2023-08-06 | Author: (mto emulator)\necho:Compiled: Dec  1 2026\n"
                 "echo: Free Memory: 3012  PlannerBufferBytes: 1392\n");
            readSerial();
        }));
    }

    void kill(const std::vector<std::string>& words) {
        if (halted_) return;
        for (const auto& w : words) emit("Error:" + w + "\n");
        log("halted: " + words.back());
        stopFirmware();
        halted_ = true;
        hotend_ = {heater(hotend_).actual, 0, Clock::now()};
        bed_ = {heater(bed_).actual, 0, Clock::now()};
    }

    // get_serial_commands(): lines are taken while the command buffer has room.
    void takeLines() {
        while (!booting_ && !halted_ && master_ && commands_.size() < opts_.commandBuffer) {
            const auto nl = serial_.find_first_of("\n\r");
            if (nl == std::string::npos) break;
            std::string line = serial_.substr(0, nl);
            serial_.erase(0, nl + 1);
            onLine(line);
        }
    }
    void readSerial() {
        takeLines();
        runQueue();
    }

    void lineError(const std::string& what) {
        ++resendsRequested_;
        serial_.clear();   // "Clear out the RX buffer"
        emit("Error:" + what + std::to_string(lastN_) + "\nResend: " + std::to_string(lastN_ + 1) + "\nok\n");
    }

    void onLine(std::string line) {
        if (auto semi = line.find(';'); semi != std::string::npos) line.erase(semi);
        while (!line.empty() && line.back() == ' ') line.pop_back();
        while (!line.empty() && line.front() == ' ') line.erase(0, 1);
        if (line.empty()) return;
        ++linesReceived_;
        if (lostLines_.count(linesReceived_)) {
            log("line " + std::to_string(linesReceived_) + " lost on the wire");
            return;
        }
        const auto parts = marlin::splitNumberedLine(line);
        std::string command = parts.command;
        if (parts.hasNumber) {
            const bool m110 = code(command) == "M110";
            if (parts.number != lastN_ + 1 && !m110) return lineError("Line Number is not Last Line Number+1, Last Line: ");
            if (!parts.hasChecksum) return lineError("No Checksum with line number, Last Line: ");
            std::uniform_real_distribution<double> coin(0, 1);
            if (!parts.checksumOk || (!m110 && opts_.checksumErrorRate > 0 && coin(rng_) < opts_.checksumErrorRate))
                return lineError("checksum mismatch, Last Line: ");
            lastN_ = parts.number;
            if (m110) lastN_ = static_cast<std::uint64_t>(word(command.substr(4), 'N').value_or(static_cast<double>(parts.number)));
            ++accepted_;
        } else if (parts.hasChecksum) {
            return lineError("No Line Number with checksum, Last Line: ");
        }
        commands_.push_back(command);
        if (disconnectAfter_ && accepted_ >= *disconnectAfter_) {
            disconnectAfter_.reset();
            asio::post(io_, guarded([this] { disconnect(); }));
        }
    }

    // -----------------------------------------------------------------------------------------------------
    // Running commands: the front one runs; it may wait for the planner, a heater or a timer.

    void runQueue() {
        while (!commands_.empty() && !halted_ && master_) {
            const auto waitUntil = step(commands_.front());
            if (waitUntil) {
                setBusy(true);
                execTimer_.expires_at(*waitUntil);
                execTimer_.async_wait(guarded([this, run = run_](const boost::system::error_code& ec) {
                    if (!ec && run == run_) readSerial();
                }));
                return;
            }
            if (halted_) return;
            executed_.push_back(commands_.front());
            commands_.pop_front();
            frontBegun_ = false;
            takeLines();
        }
        setBusy(false);
        startRead();
    }

    void setBusy(bool on) {
        if (on == busy_) return;
        busy_ = on;
        if (!on) {
            busyTimer_.cancel();
            return;
        }
        armBusy();
    }

    void armBusy() {
        busyTimer_.expires_after(std::chrono::milliseconds(opts_.busyIntervalMs));
        busyTimer_.async_wait(guarded([this, run = run_](const boost::system::error_code& ec) {
            if (ec || run != run_ || !busy_ || halted_) return;
            emit("echo:busy: processing\n");
            armBusy();
        }));
    }

    Heater& heater(Heater& h) {
        const auto now = Clock::now();
        const double dt = std::chrono::duration<double>(now - h.at).count() * opts_.speedFactor;
        h.at = now;
        const double rate = &h == &hotend_ ? opts_.hotendRate : opts_.bedRate;
        if (h.target > h.actual) h.actual = std::min(h.target, h.actual + rate * dt);
        else h.actual = std::max(std::max(h.target, opts_.ambient), h.actual - rate / 2 * dt);
        return h;
    }

    std::string temperatures() {
        const auto& t = heater(hotend_);
        const auto& b = heater(bed_);
        return "T:" + fmt1(t.actual) + " /" + fmt1(t.target) + " B:" + fmt1(b.actual) + " /" + fmt1(b.target) +
               " @:" + (t.target > t.actual ? "127" : "0") + " B@:" + (b.target > b.actual ? "127" : "0");
    }

    void armAutoReport() {
        autoTimer_.cancel();
        if (autoReportS_ == 0) return;
        autoTimer_.expires_after(std::chrono::seconds(autoReportS_));
        autoTimer_.async_wait(guarded([this, run = run_](const boost::system::error_code& ec) {
            if (ec || run != run_ || halted_) return;
            emit(" " + temperatures() + "\n");
            armAutoReport();
        }));
    }

    std::optional<Clock::time_point> plannerDrained() {
        const auto now = Clock::now();
        while (!blockEnds_.empty() && blockEnds_.front() <= now) blockEnds_.pop_front();
        if (blockEnds_.empty()) return std::nullopt;
        return blockEnds_.back();
    }

    // One step of the front command: nullopt when it is done (ok sent), else when to look again.
    std::optional<Clock::time_point> step(const std::string& cmd) {
        const auto now = Clock::now();
        const std::string c = code(cmd);
        const bool begin = !frontBegun_;
        frontBegun_ = true;
        if (c == "G0" || c == "G1") {
            while (!blockEnds_.empty() && blockEnds_.front() <= now) blockEnds_.pop_front();
            if (blockEnds_.size() >= opts_.plannerBlocks) return blockEnds_.front();
            move(cmd, now);
            emit("ok\n");
            return std::nullopt;
        }
        if (c == "G28" || c == "G29" || c == "G4") {
            if (begin) waitingDrain_ = true;
            if (waitingDrain_) {
                if (auto d = plannerDrained()) return d;
                waitingDrain_ = false;
                double s = c == "G28" ? opts_.homingSeconds : c == "G29" ? opts_.probingSeconds : 0;
                if (c == "G4") s = word(cmd, 'P').value_or(0) / 1000.0 + word(cmd, 'S').value_or(0);
                until_ = now + realSeconds(s / opts_.speedFactor);
            }
            if (now < until_) return until_;
            if (c == "G28") pos_ = {0, 0, 0, pos_[3]};
            emit("ok\n");
            return std::nullopt;
        }
        if (c == "M400") {
            if (auto d = plannerDrained()) return d;
            emit("ok\n");
            return std::nullopt;
        }
        if (c == "M104" || c == "M109" || c == "M140" || c == "M190") {
            Heater& h = (c == "M104" || c == "M109") ? hotend_ : bed_;
            if (begin) {
                heater(h);
                if (auto s = word(cmd, 'S')) h.target = *s;
                else if (auto r = word(cmd, 'R')) h.target = *r;
                lastTempLine_ = now;
            }
            if (c == "M109" || c == "M190") {
                const auto& cur = heater(h);
                const bool cooling = word(cmd, 'R').has_value();
                const bool reached = cur.target <= 0 || std::fabs(cur.actual - cur.target) <= kTempWindow ||
                                     (!cooling && cur.actual >= cur.target);
                if (!reached) {
                    // Marlin prints the temperatures once a second while it waits.
                    if (now - lastTempLine_ >= std::chrono::seconds(1)) {
                        lastTempLine_ = now;
                        emit(temperatures() + " W:?\n");
                    }
                    const double rate = (&h == &hotend_ ? opts_.hotendRate : opts_.bedRate) * opts_.speedFactor;
                    const double left = std::fabs(cur.target - cur.actual) / rate;
                    return now + std::min(realSeconds(left) + std::chrono::milliseconds(1),
                                          std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(250)));
                }
            }
            emit("ok\n");
            return std::nullopt;
        }
        if (c == "M105") {
            emit("ok " + temperatures() + "\n");
            return std::nullopt;
        }
        if (c == "M155") {
            autoReportS_ = static_cast<unsigned>(std::max(0.0, word(cmd, 'S').value_or(0)));
            armAutoReport();
            emit("ok\n");
            return std::nullopt;
        }
        if (c == "M115") {
            emit("FIRMWARE_NAME:" + opts_.firmwareName + " " + opts_.version +
                 " (Dec  1 2026 00:00:00) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin PROTOCOL_VERSION:1.0 "
                 "MACHINE_TYPE:" + opts_.machineType + " EXTRUDER_COUNT:1 UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff\n"
                 "Cap:SERIAL_XON_XOFF:0\nCap:BINARY_FILE_TRANSFER:0\nCap:EEPROM:1\nCap:AUTOREPORT_TEMP:" +
                 std::string(opts_.autoReportTemp ? "1" : "0") +
                 "\nCap:PROGRESS:0\nCap:PRINT_JOB:1\nCap:HOST_ACTION_COMMANDS:0\nCap:EMERGENCY_PARSER:0\nok\n");
            return std::nullopt;
        }
        if (c == "M112") {
            kill({"Printer halted. kill() called!"});
            return std::nullopt;
        }
        if (c == "G90") relative_ = false;
        else if (c == "G91") relative_ = true;
        else if (c == "M82") relativeE_ = false;
        else if (c == "M83") relativeE_ = true;
        else if (c == "G92") {
            const char axes[] = {'X', 'Y', 'Z', 'E'};
            for (int i = 0; i < 4; ++i)
                if (auto v = word(cmd, axes[i])) pos_[static_cast<std::size_t>(i)] = *v;
        } else if (c.empty() || (c[0] != 'G' && c[0] != 'M' && c[0] != 'T' && c != "M110")) {
            emit("echo:Unknown command: \"" + cmd + "\"\n");
        }
        emit("ok\n");
        return std::nullopt;
    }

    void move(const std::string& cmd, Clock::time_point now) {
        if (auto f = word(cmd, 'F')) feed_ = std::max(1.0, *f);
        const char axes[] = {'X', 'Y', 'Z', 'E'};
        std::array<double, 4> target = pos_;
        for (int i = 0; i < 4; ++i) {
            if (auto v = word(cmd, axes[i])) {
                const bool rel = i == 3 ? (relative_ || relativeE_) : relative_;
                target[static_cast<std::size_t>(i)] = rel ? pos_[static_cast<std::size_t>(i)] + *v : *v;
            }
        }
        const double dx = target[0] - pos_[0], dy = target[1] - pos_[1], dz = target[2] - pos_[2], de = target[3] - pos_[3];
        double dist = std::sqrt(dx * dx + dy * dy + dz * dz);
        if (dist == 0) dist = std::fabs(de);
        pos_ = target;
        if (dist == 0) return;
        const double seconds = dist / (feed_ / 60.0) / opts_.speedFactor;
        const auto start = blockEnds_.empty() ? now : std::max(now, blockEnds_.back());
        blockEnds_.push_back(start + realSeconds(seconds));
    }

    asio::io_context& io_;
    MarlinEmulatorOptions opts_;
    asio::steady_timer hostTimer_, rxTimer_, txTimer_, bootTimer_, execTimer_, busyTimer_, autoTimer_;
    std::mt19937 rng_;
    std::function<void(std::string_view)> logger_;

    std::unique_ptr<asio::posix::stream_descriptor> master_;
    std::string slavePath_;
    bool plugged_ = false, connected_ = false, reading_ = false, writing_ = false;
    std::array<char, 4096> readBuf_{};
    std::deque<char> wire_;          // read from the pty, not yet at the UART (pacing)
    Clock::time_point nextRxAt_{};
    std::string serial_;             // at the UART, not yet taken as a line (Marlin's RX buffer)
    std::string txQueue_, txChunk_;

    bool booting_ = false, halted_ = false, busy_ = false;
    std::uint64_t lastN_ = 0, linesReceived_ = 0, accepted_ = 0, resendsRequested_ = 0, resets_ = 0;
    std::set<std::uint64_t> lostLines_;
    std::optional<std::uint64_t> disconnectAfter_;
    std::deque<std::string> commands_;
    bool frontBegun_ = false, waitingDrain_ = false;
    Clock::time_point until_{}, lastTempLine_{};
    std::deque<Clock::time_point> blockEnds_;
    std::array<double, 4> pos_{};
    bool relative_ = false, relativeE_ = false;
    double feed_ = 1500;
    Heater hotend_, bed_;
    unsigned autoReportS_ = 0;
    std::vector<std::string> executed_;
    unsigned epoch_ = 0;   // bumped with each pty: late completions of a closed one are ignored
    unsigned run_ = 0;     // bumped by each power-on, kill() and unplug: late firmware timers are ignored
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

MarlinEmulator::MarlinEmulator(asio::io_context& io, MarlinEmulatorOptions options)
    : machine_(std::make_unique<MarlinMachine>(io, std::move(options))) {}
MarlinEmulator::~MarlinEmulator() = default;
std::string MarlinEmulator::devicePath() const { return machine_->devicePath(); }
void MarlinEmulator::setLogger(std::function<void(std::string_view)> logger) { machine_->setLogger(std::move(logger)); }
void MarlinEmulator::setChecksumErrorRate(double rate) { machine_->setChecksumErrorRate(rate); }
void MarlinEmulator::loseLine(std::uint64_t n) { machine_->loseLine(n); }
void MarlinEmulator::thermalRunaway() { machine_->thermalRunaway(); }
void MarlinEmulator::halt(const std::string& why) { machine_->halt(why); }
void MarlinEmulator::disconnectAfterLines(std::uint64_t n) { machine_->disconnectAfterLines(n); }
void MarlinEmulator::disconnect() { machine_->disconnect(); }
void MarlinEmulator::reconnect() { machine_->reconnect(); }
const std::vector<std::string>& MarlinEmulator::executed() const { return machine_->executed(); }
std::uint64_t MarlinEmulator::linesReceived() const { return machine_->linesReceived(); }
std::uint64_t MarlinEmulator::resendsRequested() const { return machine_->resendsRequested(); }
double MarlinEmulator::hotend() const { return machine_->hotend(); }
double MarlinEmulator::bed() const { return machine_->bed(); }
bool MarlinEmulator::halted() const { return machine_->halted(); }
bool MarlinEmulator::hostConnected() const { return machine_->hostConnected(); }
std::uint64_t MarlinEmulator::resets() const { return machine_->resets(); }

} // namespace mto::virt
