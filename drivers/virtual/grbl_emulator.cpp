// SPDX-License-Identifier: Apache-2.0
// GRBL 1.1h emulation: the serial receive path, line parser, planner, motion timing and reports of the
// firmware (grbl/serial.c, protocol.c, gcode.c, system.c, report.c), driven by one io_context.
#include "virtual/grbl_emulator.hpp"

#include "mto/error.hpp"
#include "virtual/pty.hpp"

#include <algorithm>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <vector>

namespace mto::virt {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using Vec3 = std::array<double, 3>;

namespace {

// Sizes of the stock 1.1h build for an ATmega328p (serial.h, planner.h, protocol.h).
constexpr std::size_t kRxBufferSize = 128;
constexpr std::size_t kTxBufferSize = 104;
constexpr std::size_t kPlannerBlocks = 15;   // BLOCK_BUFFER_SIZE 16, one slot of the ring kept empty
constexpr std::size_t kLineBufferSize = 80;  // LINE_BUFFER_SIZE: 79 characters plus the terminator
constexpr double kMmPerInch = 25.4;
constexpr auto kGrblHostPollInterval = std::chrono::milliseconds(20);
constexpr auto kAlarmReportDelay = std::chrono::milliseconds(500);   // delay_ms(500) in report_alarm_message

// Status codes (report.h) used here.
enum Status : int {
    kOk = 0,
    kExpectedCommandLetter = 1,
    kBadNumberFormat = 2,
    kInvalidStatement = 3,
    kNegativeValue = 4,
    kSettingDisabled = 5,
    kStepPulseMin = 6,
    kIdleError = 8,
    kGcodeLock = 9,
    kSoftLimitError = 10,
    kOverflow = 11,
    kUnsupportedCommand = 20,
    kModalGroupViolation = 21,
    kUndefinedFeedRate = 22,
    kCommandValueNotInteger = 23,
    kAxisCommandConflict = 24,
    kWordRepeated = 25,
    kNoAxisWords = 26,
    kInvalidLineNumber = 27,
    kValueWordMissing = 28,
    kUnsupportedCoordSys = 29,
    kG53InvalidMotionMode = 30,
    kAxisWordsExist = 31,
    kNoAxisWordsInPlane = 32,
    kInvalidTarget = 33,
    kArcRadiusError = 34,
    kNoOffsetsInPlane = 35,
    kUnusedWords = 36,
    kG43DynamicAxisError = 37,
    kMaxValueExceeded = 38,
};

const char* const kBanner = "\r\nGrbl 1.1h ['$' for help]\r\n";

std::string fmt(double v, int decimals)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

// read_float() of nuts_bolts.c: optional sign, digits with at most one '.', no exponent.
bool readFloat(const std::string& line, std::size_t& i, double& out)
{
    std::size_t p = i;
    bool negative = false;
    if (p < line.size() && (line[p] == '-' || line[p] == '+')) {
        negative = line[p] == '-';
        ++p;
    }
    double value = 0, scale = 1;
    bool decimal = false;
    int digits = 0;
    while (p < line.size()) {
        char c = line[p];
        if (c >= '0' && c <= '9') {
            ++digits;
            if (decimal) {
                scale /= 10;
                value += (c - '0') * scale;
            } else {
                value = value * 10 + (c - '0');
            }
        } else if (c == '.' && !decimal) {
            decimal = true;
        } else {
            break;
        }
        ++p;
    }
    if (digits == 0) {
        return false;
    }
    out = negative ? -value : value;
    i = p;
    return true;
}

} // namespace

// One emulated controller. Invariants: everything below is touched only on the io_context's thread; the
// planner holds at most kPlannerBlocks blocks and the RX ring at most kRxBufferSize bytes; a segment is
// active exactly while the state is Run or Hold with the hold not yet complete.
class GrblMachine {
public:
    GrblMachine(asio::io_context& io, GrblEmulatorOptions options);
    ~GrblMachine();

    std::string devicePath() const
    {
        if (!opts_.linkPath.empty()) return opts_.linkPath;
        return slavePath_;
    }
    void setLogger(std::function<void(std::string_view)> l) { logger_ = std::move(l); }

    void injectAlarm(int code);
    void failLine(std::uint64_t n, int code) { failLines_[n] = code; }
    void loseOk(std::uint64_t n) { loseOks_[n] = true; }
    void atGcodeLine(std::uint64_t n, std::function<void()> action) { gcodeLineActions_.emplace(n, std::move(action)); }
    void stall(bool on);
    void disconnect();
    void reconnect();

    std::uint64_t linesReceived() const { return linesReceived_; }
    std::uint64_t gcodeLinesReceived() const { return gcodeLinesReceived_; }
    std::uint64_t bytesLost() const { return bytesLost_; }
    std::uint64_t statusQueries() const { return statusQueries_; }
    double lowestZ() const { return lowestZ_; }
    double highestSpindle() const { return highestSpindle_; }
    std::string stateName() const;
    Vec3 position() const { return currentPosition(); }
    double spindleOutput() const { return spindleOutputNow(); }
    bool laserOnDuringRapid() const { return laserOnDuringRapid_; }
    bool hostConnected() const { return connected_; }
    int plannerBlocks() const { return static_cast<int>(planner_.size()); }
    std::uint64_t resets() const { return resets_; }

private:
    enum class RunState { Idle, Run, Hold, Alarm, Check, Sleep };

    // A trapezoid: from v0 up to vPeak at acceleration a, cruise, down to zero at a, over distance d. Units
    // mm, mm/s, mm/s^2, s of machine time.
    struct Profile {
        double v0 = 0, vPeak = 0, a = 1, d = 0;
        double ta = 0, tc = 0, td = 0, da = 0, dc = 0;

        static Profile make(double v0, double vNominal, double a, double d)
        {
            Profile p;
            p.v0 = v0;
            p.a = a;
            p.d = d;
            double vp = std::max(vNominal, v0);
            double da = (vp * vp - v0 * v0) / (2 * a);
            double dd = vp * vp / (2 * a);
            if (da + dd > d) {   // never reaches the nominal rate: a triangle
                vp = std::sqrt(std::max(v0 * v0, (2 * a * d + v0 * v0) / 2));
                da = (vp * vp - v0 * v0) / (2 * a);
                dd = vp * vp / (2 * a);
            }
            p.vPeak = vp;
            p.da = da;
            p.dc = std::max(0.0, d - da - dd);
            p.ta = (vp - v0) / a;
            p.tc = vp > 0 ? p.dc / vp : 0;
            p.td = vp / a;
            return p;
        }
        double duration() const { return ta + tc + td; }
        double distanceAt(double t) const
        {
            if (t <= 0) return 0;
            if (t < ta) return v0 * t + a * t * t / 2;
            t -= ta;
            if (t < tc) return da + vPeak * t;
            t -= tc;
            if (t < td) return da + dc + vPeak * t - a * t * t / 2;
            return d;
        }
        double speedAt(double t) const
        {
            if (t <= 0) return v0;
            if (t < ta) return v0 + a * t;
            t -= ta;
            if (t < tc) return vPeak;
            t -= tc;
            if (t < td) return vPeak - a * t;
            return 0;
        }
    };

    struct Modal {
        int motion = 0;        // 0 1 2 3, 80 = none
        int coordSelect = 0;   // G54 + n
        int plane = 0;         // G17 + n
        bool inches = false;
        bool incremental = false;
        bool inverseTime = false;
        int spindle = 5;       // M3 M4 M5
        bool flood = false;
    };
    struct GcState {
        Modal modal;
        double feed = 0;   // mm/min, or 1/min in G93
        double spindle = 0;
        int tool = 0;
        Vec3 position{};   // machine coordinates of the parser's end point
        Vec3 g92{};
        double toolLengthOffset = 0;
    };
    struct Block {
        Vec3 target{};
        bool rapid = false;
        double feed = 0;     // mm/min
        double spindle = 0;  // programmed S for a laser-mode motion
        bool laserOff = false;
        int spindleMode = 5;
    };
    enum class ActionKind { Sync, Spindle, Coolant, Dwell, Motion, WcoChanged, ProgramEnd, Pause, Home };
    struct Action {
        ActionKind kind;
        int mode = 0;
        double value = 0;
        Block block{};
    };
    struct LineJob {
        std::deque<Action> actions;
        std::string output;          // sent before the status line (reports of $ commands)
        int status = kOk;
        bool silent = false;         // loseOk
        enum class After { Nothing, Reset, Sleep } after = After::Nothing;
        bool dwellStarted = false;
        bool dwellDone = false;
    };

    // Connection and wire.
    void openPty();
    void closePty();
    void watchHost();
    void startRead();
    void onRead(const boost::system::error_code& ec, std::size_t n);
    void hostGone();
    void deliverRx();
    void uartReceive(unsigned char c);
    void emit(const std::string& text);
    void pumpTx();
    double byteSeconds() const { return 10.0 / std::max(1u, opts_.baud); }

    // Firmware.
    void powerOn();
    void resetSystem();   // the re-initialisation at the top of main()'s loop, then the banner
    void softReset();
    void mainLoop();
    bool mainStep();
    void completeLine();
    void executeLine(const std::string& line, LineJob& job);
    int executeSystem(const std::string& line, LineJob& job);
    int executeGcode(const std::string& line, LineJob& job);
    bool runActions();
    void finishJob();
    void gcInit();

    // Motion.
    bool plannerBusy() const { return !planner_.empty() || state_ == RunState::Run; }
    void cycleStart();
    void startSegment(double v0);
    void onSegmentDone();
    void feedHold();
    Vec3 currentPosition() const;
    double currentSpeed() const;   // mm/s
    double machineSecondsSince(Clock::time_point t) const;
    double spindleOutputNow() const;
    double clampRpm(double rpm) const;
    void setSpindle(int mode, double rpm);
    void applyOverride(unsigned char c);

    // Reports.
    std::string statusReport();
    std::string settingsReport() const;
    std::string gcodeModes() const;
    std::string ngcParameters() const;
    Vec3 wco() const;
    int storeSetting(int n, double v);
    void loadDefaultSettings();
    double setting(int n) const { return settings_.at(n); }
    bool laserMode() const { return setting(32) != 0; }
    void log(const std::string& s)
    {
        if (logger_) logger_(s);
    }
    // Wraps a completion handler so that it does nothing once this object is gone: a completion queued
    // before a close or cancel may still be delivered with success afterwards.
    template <class F>
    auto guarded(F f)
    {
        return [life = std::weak_ptr<int>(alive_), f = std::move(f)](auto&&... args) mutable {
            if (life.expired()) return;
            f(std::forward<decltype(args)>(args)...);
        };
    }

    asio::io_context& io_;
    GrblEmulatorOptions opts_;
    std::function<void(std::string_view)> logger_;

    // Connection.
    std::unique_ptr<asio::posix::stream_descriptor> master_;
    std::string slavePath_;
    bool plugged_ = false;
    bool connected_ = false;
    bool stalled_ = false;
    bool reading_ = false;
    bool writing_ = false;
    asio::steady_timer hostTimer_;
    asio::steady_timer rxTimer_;
    asio::steady_timer txTimer_;
    std::array<unsigned char, 512> readBuf_{};
    std::deque<unsigned char> wire_;         // bytes the host wrote that are still "on the line"
    Clock::time_point nextRxAt_{};
    std::string txQueue_;                    // GRBL's TX buffer plus what waits to get into it
    std::string txChunk_;

    // Serial receive and line assembly (serial.c, protocol_main_loop).
    std::deque<unsigned char> rx_;
    std::string line_;
    bool commentParen_ = false, commentSemicolon_ = false, overflow_ = false;
    bool lineComplete_ = false;
    std::optional<LineJob> job_;
    bool inMainLoop_ = false, mainAgain_ = false;

    // System state.
    RunState state_ = RunState::Idle;
    bool holdComplete_ = false;
    bool criticalLock_ = false;   // after ALARM:1/2 nothing but a reset is served
    bool resetting_ = false;      // the 500 ms between ALARM:N and the banner
    asio::steady_timer resetTimer_;
    int reportWcoCounter_ = 0, reportOvrCounter_ = 0;
    int feedOvr_ = 100, rapidOvr_ = 100, spindleOvr_ = 100;

    // Parser and settings (EEPROM survives resets, the parser state does not).
    GcState gc_;
    std::map<int, double> settings_;
    std::array<Vec3, 6> coordSystems_{};
    Vec3 g28_{}, g30_{};
    std::array<std::string, 2> startupLines_;
    std::string buildInfo_;

    // Planner and motion.
    std::deque<Block> planner_;
    Vec3 position_{};             // machine position at the start of the active segment (or now, at rest)
    Vec3 unit_{};
    Profile profile_;
    bool segmentActive_ = false;
    double segmentNominal_ = 0;   // mm/s the block was planned at (for M4 laser power scaling)
    Clock::time_point segmentStart_{};
    asio::steady_timer motionTimer_;
    asio::steady_timer dwellTimer_;
    int spindleMode_ = 5;         // actual spindle direction (M3/M4/M5)
    double spindleRpm_ = 0;       // actual output at rest (sys.spindle_speed)
    bool flood_ = false;
    bool laserOnDuringRapid_ = false;

    // Counters and fault injection.
    std::uint64_t linesReceived_ = 0;
    std::uint64_t gcodeLinesReceived_ = 0;   // of them, lines with G-code (not empty, not a $ command)
    std::uint64_t bytesLost_ = 0;
    std::uint64_t statusQueries_ = 0;        // '?' bytes taken off the line, answered or not
    double lowestZ_ = 0;                      // the lowest machine Z a move ended at
    double highestSpindle_ = 0;               // the highest spindle speed / laser power set by M3/M4
    std::uint64_t resets_ = 0;
    std::map<std::uint64_t, int> failLines_;
    std::map<std::uint64_t, bool> loseOks_;
    std::multimap<std::uint64_t, std::function<void()>> gcodeLineActions_;   // by G-code line number

    unsigned segmentId_ = 0;   // which motion timer expiry is current
    unsigned dwellId_ = 0;
    unsigned epoch_ = 0;   // bumped with each pty, so late completions of a closed one are ignored
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

GrblMachine::GrblMachine(asio::io_context& io, GrblEmulatorOptions options)
    : io_(io), opts_(std::move(options)), hostTimer_(io), rxTimer_(io), txTimer_(io), resetTimer_(io),
      motionTimer_(io), dwellTimer_(io)
{
    if (!(opts_.speedFactor > 0)) {
        throw Error("GRBL emulator: speed factor must be above zero");
    }
    if (opts_.baud == 0) {
        throw Error("GRBL emulator: baud rate must be above zero");
    }
    loadDefaultSettings();
    buildInfo_ = opts_.buildInfo;
    openPty();
    powerOn();
    watchHost();
}

// The "defaults" of this board are the options it was built with.
void GrblMachine::loadDefaultSettings()
{
    settings_ = {
        {0, 10}, {1, 25}, {2, 0}, {3, 0}, {4, 0}, {5, 0}, {6, 0}, {10, double(opts_.statusMask)},
        {11, 0.010}, {12, 0.002}, {13, 0}, {20, 0}, {21, 0}, {22, 0}, {23, 0}, {24, 25}, {25, 500},
        {26, 250}, {27, 1}, {30, opts_.maxSpindle}, {31, opts_.minSpindle}, {32, opts_.laserMode ? 1.0 : 0.0},
    };
    for (int i = 0; i < 3; ++i) {
        settings_[100 + i] = 250;
        settings_[110 + i] = opts_.maxRate[i];
        settings_[120 + i] = opts_.acceleration[i];
        settings_[130 + i] = opts_.maxTravel[i];
    }
}

GrblMachine::~GrblMachine()
{
    closePty();
}

// ---------------------------------------------------------------------------------------------------------
// Connection: the pty master, host open/close detection, bytes paced at the line rate.

void GrblMachine::openPty()
{
    Pty pty;
    slavePath_ = pty.slavePath();
    if (!opts_.linkPath.empty()) {
        publishLink(opts_.linkPath, slavePath_);
    }
    master_ = std::make_unique<asio::posix::stream_descriptor>(io_, pty.releaseMaster());
    ++epoch_;
    master_->non_blocking(true);
    plugged_ = true;
    connected_ = false;
}

void GrblMachine::closePty()
{
    hostTimer_.cancel();
    rxTimer_.cancel();
    txTimer_.cancel();
    if (master_) {
        boost::system::error_code ignored;
        master_->close(ignored);
        master_.reset();
    }
    if (!opts_.linkPath.empty() && !slavePath_.empty()) {
        removeLink(opts_.linkPath, slavePath_);
    }
    plugged_ = false;
    connected_ = false;
    reading_ = false;
    writing_ = false;
    wire_.clear();
    txQueue_.clear();
}

// While no host holds the slave open the master reports a hang-up; polled on a modest timer only then.
void GrblMachine::watchHost()
{
    if (!plugged_ || connected_) return;
    if (!Pty::slaveClosed(master_->native_handle())) {
        connected_ = true;
        log("host opened " + devicePath());
        if (opts_.resetOnOpen) {
            // DTR on open resets a USB board: a power-on without power loss.
            powerOn();
        }
        startRead();
        pumpTx();
        return;
    }
    hostTimer_.expires_after(kGrblHostPollInterval);
    hostTimer_.async_wait(guarded([this](const boost::system::error_code& ec) {
        if (!ec) watchHost();
    }));
}

void GrblMachine::startRead()
{
    if (reading_ || stalled_ || !connected_ || !master_) return;
    if (wire_.size() >= 1024) return;   // the rest waits in the kernel, as in a host's serial driver
    reading_ = true;
    master_->async_read_some(asio::buffer(readBuf_),
                             guarded([this, epoch = epoch_](const boost::system::error_code& ec, std::size_t n) {
                                 if (epoch != epoch_) return;
                                 // Aborted: the master was closed, perhaps with this object.
                                 if (ec != asio::error::operation_aborted) onRead(ec, n);
                             }));
}

void GrblMachine::onRead(const boost::system::error_code& ec, std::size_t n)
{
    reading_ = false;
    if (!master_) return;
    if (ec) {
        hostGone();
        return;
    }
    auto now = Clock::now();
    if (wire_.empty()) {
        nextRxAt_ = std::max(nextRxAt_, now);
    }
    wire_.insert(wire_.end(), readBuf_.begin(), readBuf_.begin() + static_cast<std::ptrdiff_t>(n));
    deliverRx();
    startRead();
}

void GrblMachine::hostGone()
{
    // EIO on the master: the last host closed the slave. The board keeps running (a USB board is reset by
    // the next open, not by the close); what it sends meanwhile goes nowhere.
    if (!connected_) return;
    log("host closed " + devicePath());
    connected_ = false;
    wire_.clear();
    txQueue_.clear();
    rxTimer_.cancel();
    watchHost();
}

// Hands bytes to the UART at the line rate: each byte lands 10/baud s after the previous one.
void GrblMachine::deliverRx()
{
    auto now = Clock::now();
    auto byteTime = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(byteSeconds()));
    while (!wire_.empty() && !stalled_) {
        if (nextRxAt_ + byteTime > now) break;
        nextRxAt_ += byteTime;
        unsigned char c = wire_.front();
        wire_.pop_front();
        uartReceive(c);
        if (!master_) return;   // a fault injected from a logger callback may have unplugged us
    }
    if (!wire_.empty() && !stalled_) {
        rxTimer_.expires_at(nextRxAt_ + byteTime);
        rxTimer_.async_wait(guarded([this](const boost::system::error_code& ec) {
            if (!ec) deliverRx();
        }));
    }
    startRead();
}

// The RX interrupt: realtime commands are picked off, everything else goes into the 128-byte ring or is
// lost when the ring is full.
void GrblMachine::uartReceive(unsigned char c)
{
    switch (c) {
    case 0x18:
        softReset();
        return;
    case '?':
        ++statusQueries_;
        if (!criticalLock_ && !resetting_) emit(statusReport());
        return;
    case '~':
        if (!criticalLock_ && !resetting_) cycleStart();
        return;
    case '!':
        if (!criticalLock_ && !resetting_) feedHold();
        return;
    default:
        break;
    }
    if (c > 0x7F) {
        if (!criticalLock_ && !resetting_) applyOverride(c);
        return;
    }
    if (rx_.size() >= kRxBufferSize) {
        ++bytesLost_;
        return;
    }
    rx_.push_back(c);
    mainLoop();
}

void GrblMachine::emit(const std::string& text)
{
    if (!connected_) return;   // a board talking to an unplugged cable
    txQueue_ += text;
    pumpTx();
}

// Writes at the line rate, a few milliseconds' worth of bytes at a time.
void GrblMachine::pumpTx()
{
    if (writing_ || stalled_ || !connected_ || !master_ || txQueue_.empty()) return;
    std::size_t chunk = std::max<std::size_t>(1, static_cast<std::size_t>(opts_.baud / 10 * 0.003));
    chunk = std::min(chunk, txQueue_.size());
    txChunk_ = txQueue_.substr(0, chunk);
    txQueue_.erase(0, chunk);
    writing_ = true;
    auto started = Clock::now();
    asio::async_write(*master_, asio::buffer(txChunk_),
                      guarded([this, started, chunk, epoch = epoch_](const boost::system::error_code& ec, std::size_t) {
                          if (ec == asio::error::operation_aborted || epoch != epoch_ || !master_) return;
                          if (ec) {
                              writing_ = false;
                              hostGone();
                              return;
                          }
                          auto due = started + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(byteSeconds() * double(chunk)));
                          txTimer_.expires_at(due);
                          txTimer_.async_wait(guarded([this, epoch](const boost::system::error_code& e) {
                              if (e || epoch != epoch_) return;
                              writing_ = false;
                              bool wasFull = txQueue_.size() + txChunk_.size() > kTxBufferSize;
                              pumpTx();
                              if (wasFull) mainLoop();
                          }));
                      }));
}

void GrblMachine::stall(bool on)
{
    stalled_ = on;
    if (!on) {
        deliverRx();
        pumpTx();
    }
}

void GrblMachine::disconnect()
{
    if (!plugged_) return;
    log("unplugged " + devicePath());
    closePty();
    motionTimer_.cancel();
    dwellTimer_.cancel();
    resetTimer_.cancel();
    segmentActive_ = false;
}

void GrblMachine::reconnect()
{
    if (plugged_) disconnect();
    openPty();
    log("plugged in " + devicePath());
    powerOn();
    watchHost();
}

// ---------------------------------------------------------------------------------------------------------
// Resets.

void GrblMachine::powerOn()
{
    motionTimer_.cancel();
    dwellTimer_.cancel();
    resetTimer_.cancel();
    segmentActive_ = false;
    position_ = {};
    criticalLock_ = false;
    resetting_ = false;
    // HOMING_INIT_LOCK: with homing enabled the board starts locked.
    state_ = setting(22) != 0 ? RunState::Alarm : RunState::Idle;
    resetSystem();
}

void GrblMachine::resetSystem()
{
    motionTimer_.cancel();
    dwellTimer_.cancel();
    if (segmentActive_) {
        position_ = currentPosition();
        segmentActive_ = false;
    }
    resetting_ = false;
    criticalLock_ = false;
    holdComplete_ = false;
    reportWcoCounter_ = reportOvrCounter_ = 0;
    feedOvr_ = rapidOvr_ = spindleOvr_ = 100;
    rx_.clear();   // serial_reset_read_buffer()
    line_.clear();
    commentParen_ = commentSemicolon_ = overflow_ = lineComplete_ = false;
    job_.reset();
    planner_.clear();
    spindleMode_ = 5;
    spindleRpm_ = 0;
    flood_ = false;
    laserOnDuringRapid_ = false;
    gcInit();
    ++resets_;
    emit(kBanner);
    if (state_ == RunState::Alarm || state_ == RunState::Sleep) {
        state_ = RunState::Alarm;
        emit("[MSG:'$H'|'$X' to unlock]\r\n");
        log("reset, locked in alarm");
    } else {
        state_ = RunState::Idle;
        log("reset");
    }
    mainLoop();
}

// 0x18 (mc_reset): a reset while the machine moves loses position, hence ALARM:3.
void GrblMachine::softReset()
{
    if (resetting_) return;
    bool moving = state_ == RunState::Run || (state_ == RunState::Hold && segmentActive_);
    spindleMode_ = 5;
    spindleRpm_ = 0;
    flood_ = false;
    if (segmentActive_) {
        position_ = currentPosition();
        segmentActive_ = false;
    }
    motionTimer_.cancel();
    dwellTimer_.cancel();
    if (criticalLock_ || !moving) {
        resetSystem();
        return;
    }
    state_ = RunState::Alarm;
    emit("ALARM:3\r\n");
    log("ALARM:3 (reset while in motion)");
    resetting_ = true;
    resetTimer_.expires_after(kAlarmReportDelay);
    resetTimer_.async_wait(guarded([this](const boost::system::error_code& ec) {
        if (!ec && resetting_) resetSystem();
    }));
}

void GrblMachine::injectAlarm(int code)
{
    if (!plugged_ || resetting_ || criticalLock_) return;
    // Alarms come with mc_reset(): motion, spindle and coolant stop at once.
    if (segmentActive_) {
        position_ = currentPosition();
        segmentActive_ = false;
    }
    motionTimer_.cancel();
    dwellTimer_.cancel();
    spindleMode_ = 5;
    spindleRpm_ = 0;
    flood_ = false;
    planner_.clear();
    state_ = RunState::Alarm;
    emit("ALARM:" + std::to_string(code) + "\r\n");
    log("ALARM:" + std::to_string(code) + " injected");
    if (code == 1 || code == 2) {
        // Hard and soft limits are critical: the firmware blocks in a loop serving nothing but a reset.
        emit("[MSG:Reset to continue]\r\n");
        criticalLock_ = true;
        return;
    }
    resetting_ = true;
    resetTimer_.expires_after(kAlarmReportDelay);
    resetTimer_.async_wait(guarded([this](const boost::system::error_code& ec) {
        if (!ec && resetting_) resetSystem();
    }));
}

void GrblMachine::gcInit()
{
    GcState fresh;
    fresh.position = position_;
    gc_ = fresh;
}

// ---------------------------------------------------------------------------------------------------------
// protocol_main_loop: read characters, assemble a line, execute it; blocked while a line waits on the
// planner (planner sync, full planner, dwell), during a hold, and while the TX buffer is full.

void GrblMachine::mainLoop()
{
    if (inMainLoop_) {
        mainAgain_ = true;
        return;
    }
    inMainLoop_ = true;
    do {
        mainAgain_ = false;
        while (mainStep()) {
        }
        // protocol_auto_cycle_start(): nothing more to parse right now, so run what is queued.
        if (state_ == RunState::Idle && !planner_.empty() && !criticalLock_ && !resetting_) {
            cycleStart();
        }
    } while (mainAgain_);
    inMainLoop_ = false;
}

bool GrblMachine::mainStep()
{
    if (!plugged_ || criticalLock_ || resetting_ || state_ == RunState::Sleep) return false;
    if (txQueue_.size() > kTxBufferSize) return false;   // serial_write() waits for room
    if (job_) {
        if (state_ == RunState::Hold) return false;   // suspended
        if (!runActions()) return false;
        finishJob();
        return true;
    }
    if (lineComplete_) {
        if (state_ == RunState::Hold) return false;
        completeLine();
        return true;
    }
    if (rx_.empty()) return false;
    unsigned char c = rx_.front();
    rx_.pop_front();
    if (c == '\n' || c == '\r') {
        lineComplete_ = true;
        return true;
    }
    if (overflow_ || commentParen_ || commentSemicolon_) {
        if (c == ')' && commentParen_) commentParen_ = false;
        return true;
    }
    if (c <= ' ' || c == '/') return true;
    if (c == '(') {
        commentParen_ = true;
    } else if (c == ';') {
        commentSemicolon_ = true;
    } else if (line_.size() >= kLineBufferSize - 1) {
        overflow_ = true;
    } else {
        line_ += static_cast<char>(std::toupper(c));
    }
    return true;
}

void GrblMachine::completeLine()
{
    std::string line = std::move(line_);
    bool overflow = overflow_;
    line_.clear();
    commentParen_ = commentSemicolon_ = overflow_ = lineComplete_ = false;
    std::uint64_t n = ++linesReceived_;
    if (!line.empty() && line[0] != '$') {
        ++gcodeLinesReceived_;
        // Taken out before they run: an action may add more, and each runs once.
        auto range = gcodeLineActions_.equal_range(gcodeLinesReceived_);
        std::vector<std::function<void()>> due;
        for (auto it = range.first; it != range.second; ++it) due.push_back(std::move(it->second));
        gcodeLineActions_.erase(range.first, range.second);
        for (auto& action : due) action();
    }

    job_.emplace();
    LineJob& job = *job_;
    job.silent = loseOks_.erase(n) > 0;
    if (auto f = failLines_.find(n); f != failLines_.end()) {
        job.status = f->second;
        failLines_.erase(f);
    } else if (overflow) {
        job.status = kOverflow;
    } else if (line.empty()) {
        job.status = kOk;
    } else if (line[0] == '$') {
        job.status = executeSystem(line, job);
    } else if (state_ == RunState::Alarm) {
        job.status = kGcodeLock;
    } else {
        job.status = executeGcode(line, job);
    }
    if (job.status != kOk) {
        job.actions.clear();
        job.after = LineJob::After::Nothing;
    }
}

void GrblMachine::finishJob()
{
    LineJob job = std::move(*job_);
    job_.reset();
    std::string out = job.output;
    if (!job.silent) {
        out += job.status == kOk ? std::string("ok\r\n") : "error:" + std::to_string(job.status) + "\r\n";
    }
    emit(out);
    if (job.after == LineJob::After::Reset) {
        resetSystem();
    } else if (job.after == LineJob::After::Sleep) {
        state_ = RunState::Sleep;
        spindleMode_ = 5;
        spindleRpm_ = 0;
        flood_ = false;
        emit("[MSG:Sleeping]\r\n");
    }
}

// Runs the current line's actions in the firmware's order; false while one of them waits.
bool GrblMachine::runActions()
{
    LineJob& job = *job_;
    while (!job.actions.empty()) {
        Action& a = job.actions.front();
        switch (a.kind) {
        case ActionKind::Sync:   // protocol_buffer_synchronize()
            if (plannerBusy()) {
                if (state_ == RunState::Idle) cycleStart();
                return false;
            }
            break;
        case ActionKind::Spindle:
            setSpindle(a.mode, a.value);
            break;
        case ActionKind::Coolant:
            flood_ = a.mode != 0;
            break;
        case ActionKind::WcoChanged:
            reportWcoCounter_ = 0;
            break;
        case ActionKind::Dwell:
            if (!job.dwellStarted) {
                job.dwellStarted = true;
                dwellTimer_.expires_after(std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>(a.value / opts_.speedFactor)));
                dwellTimer_.async_wait(guarded([this, id = ++dwellId_](const boost::system::error_code& ec) {
                    if (ec || !job_ || id != dwellId_) return;
                    job_->dwellDone = true;
                    mainLoop();
                }));
            }
            if (!job.dwellDone) return false;
            break;
        case ActionKind::Motion:   // mc_line(): waits for room in the planner
            if (planner_.size() >= kPlannerBlocks) {
                if (state_ == RunState::Idle) cycleStart();
                return false;
            }
            planner_.push_back(a.block);
            break;
        case ActionKind::ProgramEnd:
            spindleMode_ = 5;
            spindleRpm_ = 0;
            flood_ = false;
            job.output += "[MSG:Pgm End]\r\n";
            break;
        case ActionKind::Pause:   // M0: a feed hold once the planner is empty
            if (a.mode == 0) {
                a.mode = 1;
                state_ = RunState::Hold;
                holdComplete_ = true;
                return false;
            }
            break;
        case ActionKind::Home:
            position_ = {};
            gc_.position = {};
            if (state_ == RunState::Alarm) state_ = RunState::Idle;
            break;
        }
        job.actions.pop_front();
    }
    return true;
}

// ---------------------------------------------------------------------------------------------------------
// '$' system commands (system_execute_line).

int GrblMachine::executeSystem(const std::string& line, LineJob& job)
{
    bool idleOrAlarm = state_ == RunState::Idle || state_ == RunState::Alarm;
    if (line.size() == 1) {
        job.output = "[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]\r\n";
        return kOk;
    }
    char c = line[1];
    if (c == 'J') {
        // Jogging is not emulated; the firmware would accept "$J=" lines while idle.
        if (!(state_ == RunState::Idle)) return kIdleError;
        return kInvalidStatement;
    }
    if (c == '$' || c == 'G' || c == 'C' || c == 'X') {
        if (line.size() != 2) return kInvalidStatement;
        switch (c) {
        case '$':
            if (state_ == RunState::Run || state_ == RunState::Hold) return kIdleError;
            job.output = settingsReport();
            return kOk;
        case 'G':
            job.output = gcodeModes();
            return kOk;
        case 'C':
            if (state_ == RunState::Check) {
                job.output = "[MSG:Disabled]\r\n";
                job.after = LineJob::After::Reset;
                return kOk;
            }
            if (state_ != RunState::Idle) return kIdleError;
            state_ = RunState::Check;
            job.output = "[MSG:Enabled]\r\n";
            return kOk;
        case 'X':
            if (state_ == RunState::Alarm) {
                job.output = "[MSG:Caution: Unlocked]\r\n";
                state_ = RunState::Idle;
                log("unlocked ($X)");
            }
            return kOk;
        }
    }
    if (!idleOrAlarm) return kIdleError;
    switch (c) {
    case '#':
        if (line.size() != 2) return kInvalidStatement;
        job.output = ngcParameters();
        return kOk;
    case 'H':
        if (setting(22) == 0) return kSettingDisabled;
        if (line.size() != 2) return kInvalidStatement;
        // Homing is a moment's work here: the machine is at its origin at once.
        job.actions.push_back({ActionKind::Home});
        return kOk;
    case 'S':
        if (line != "$SLP") return kInvalidStatement;
        job.after = LineJob::After::Sleep;
        return kOk;
    case 'I':
        if (line.size() == 2) {
            job.output = "[VER:1.1h.20190830:" + buildInfo_ + "]\r\n[OPT:V,15,128]\r\n";
            return kOk;
        }
        if (line[2] != '=') return kInvalidStatement;
        buildInfo_ = line.substr(3);
        return kOk;
    case 'R': {
        if (line.size() != 6 || line.compare(0, 5, "$RST=") != 0) return kInvalidStatement;
        char what = line[5];
        if (what != '$' && what != '#' && what != '*') return kInvalidStatement;
        if (what == '$' || what == '*') loadDefaultSettings();
        if (what == '#' || what == '*') {
            coordSystems_ = {};
            g28_ = g30_ = {};
        }
        job.output = "[MSG:Restoring defaults]\r\n";
        job.after = LineJob::After::Reset;
        return kOk;
    }
    case 'N':
        if (line.size() == 2) {
            job.output = "$N0=" + startupLines_[0] + "\r\n$N1=" + startupLines_[1] + "\r\n";
            return kOk;
        }
        if (state_ != RunState::Idle) return kIdleError;
        {
            std::size_t i = 2;
            double n = 0;
            if (!readFloat(line, i, n)) return kBadNumberFormat;
            if (i >= line.size() || line[i] != '=') return kInvalidStatement;
            if (n < 0 || n > 1) return kInvalidStatement;
            // Stored only: startup lines are not executed at reset by the emulator.
            startupLines_[static_cast<std::size_t>(n)] = line.substr(i + 1);
        }
        return kOk;
    default: {
        std::size_t i = 1;
        double parameter = 0, value = 0;
        if (!readFloat(line, i, parameter)) return kBadNumberFormat;
        if (i >= line.size() || line[i] != '=') return kInvalidStatement;
        ++i;
        if (!readFloat(line, i, value)) return kBadNumberFormat;
        if (i != line.size() || parameter > 255) return kInvalidStatement;
        return storeSetting(static_cast<int>(parameter), value);
    }
    }
}

int GrblMachine::storeSetting(int n, double v)
{
    if (v < 0) return kNegativeValue;
    if (settings_.find(n) == settings_.end()) return kInvalidStatement;
    if (n == 0 && std::trunc(v) < 3) return kStepPulseMin;
    if (n == 20 && std::trunc(v) != 0 && setting(22) == 0) return kSoftLimitError;
    bool integer = n < 100 && n != 11 && n != 12 && n != 24 && n != 25 && n != 27 && n != 30 && n != 31;
    settings_[n] = integer ? std::trunc(v) : v;
    if (n == 22 && std::trunc(v) == 0) settings_[20] = 0;
    return kOk;
}

// ---------------------------------------------------------------------------------------------------------
// G-code (gc_execute_line): parse, check, then queue the actions in the firmware's order of execution.

int GrblMachine::executeGcode(const std::string& line, LineJob& job)
{
    enum Word { F, I, J, K, L, N, P, R, S, T, X, Y, Z, WordCount };
    Modal m = gc_.modal;
    std::array<double, WordCount> v{};
    unsigned words = 0;
    unsigned groups = 0;   // bits: 0 non-modal, 1 motion, 2 plane, 3 distance, 5 feed mode, 6 units,
                           // 7 cutter comp, 8 tool length, 12 coord, 13 path, 14 program, 15 spindle, 16 coolant
    enum AxisCommand { None, NonModal, MotionMode, ToolLength } axisCommand = None;
    int nonModal = 0;   // 4, 10, 28, 30, 53, 92, 281 (G28.1), 301, 921 (G92.1)
    int programFlow = 0;   // 0, 2, 30, -1 for M0
    bool tloChange = false;
    bool tloCancel = false;

    std::size_t i = 0;
    while (i < line.size()) {
        char letter = line[i];
        if (letter < 'A' || letter > 'Z') return kExpectedCommandLetter;
        ++i;
        double value = 0;
        if (!readFloat(line, i, value)) return kBadNumberFormat;
        int intValue = static_cast<int>(std::trunc(value));
        int mantissa = static_cast<int>(std::lround(100 * (value - intValue)));
        int group = -1;
        if (letter == 'G') {
            switch (intValue) {
            case 10: case 28: case 30: case 92:
                if (mantissa == 0) {
                    if (axisCommand) return kAxisCommandConflict;
                    axisCommand = NonModal;
                }
                [[fallthrough]];
            case 4: case 53:
                group = 0;
                nonModal = intValue;
                if (intValue == 28 || intValue == 30 || intValue == 92) {
                    if (!(mantissa == 0 || mantissa == 10)) return kUnsupportedCommand;
                    if (mantissa == 10) nonModal = intValue * 10 + 1;
                    mantissa = 0;
                }
                break;
            case 0: case 1: case 2: case 3:
                if (axisCommand) return kAxisCommandConflict;
                axisCommand = MotionMode;
                [[fallthrough]];
            case 80:
                group = 1;
                m.motion = intValue;
                break;
            case 38:
                // Probing is not emulated (the firmware supports G38.2..G38.5).
                return kUnsupportedCommand;
            case 17: case 18: case 19:
                group = 2;
                m.plane = intValue - 17;
                break;
            case 90: case 91:
                if (mantissa == 0) {
                    group = 3;
                    m.incremental = intValue == 91;
                } else {
                    group = 4;
                    if (mantissa != 10 || intValue == 90) return kUnsupportedCommand;
                    mantissa = 0;
                }
                break;
            case 93: case 94:
                group = 5;
                m.inverseTime = intValue == 93;
                break;
            case 20: case 21:
                group = 6;
                m.inches = intValue == 20;
                break;
            case 40:
                group = 7;
                break;
            case 43: case 49:
                group = 8;
                if (axisCommand) return kAxisCommandConflict;
                axisCommand = ToolLength;
                tloChange = true;
                if (intValue == 49) {
                    tloCancel = true;
                } else if (mantissa != 10) {
                    return kUnsupportedCommand;
                }
                mantissa = 0;
                break;
            case 54: case 55: case 56: case 57: case 58: case 59:
                group = 12;
                m.coordSelect = intValue - 54;
                break;
            case 61:
                group = 13;
                if (mantissa != 0) return kUnsupportedCommand;
                break;
            default:
                return kUnsupportedCommand;
            }
            if (mantissa > 0) return kCommandValueNotInteger;
        } else if (letter == 'M') {
            if (mantissa > 0) return kCommandValueNotInteger;
            switch (intValue) {
            case 0: case 1: case 2: case 30:
                group = 14;
                if (intValue == 0) programFlow = -1;
                if (intValue == 2 || intValue == 30) programFlow = intValue;
                break;
            case 3: case 4: case 5:
                group = 15;
                m.spindle = intValue;
                break;
            case 8: case 9:   // M7 needs ENABLE_M7, which the stock build leaves out
                group = 16;
                m.flood = intValue == 8;
                break;
            default:
                return kUnsupportedCommand;
            }
        }
        if (group >= 0) {
            if (groups & (1u << group)) return kModalGroupViolation;
            groups |= 1u << group;
            continue;
        }
        int word = -1;
        switch (letter) {
        case 'F': word = F; break;
        case 'I': word = I; break;
        case 'J': word = J; break;
        case 'K': word = K; break;
        case 'L': word = L; break;
        case 'N': word = N; break;
        case 'P': word = P; break;
        case 'R': word = R; break;
        case 'S': word = S; break;
        case 'T':
            word = T;
            if (value > 255) return kMaxValueExceeded;
            break;
        case 'X': word = X; break;
        case 'Y': word = Y; break;
        case 'Z': word = Z; break;
        default: return kUnsupportedCommand;
        }
        if (words & (1u << word)) return kWordRepeated;
        if ((word == F || word == N || word == P || word == T || word == S) && value < 0) return kNegativeValue;
        words |= 1u << word;
        v[static_cast<std::size_t>(word)] = (word == T || word == L) ? intValue : value;
    }

    auto has = [&](int w) { return (words & (1u << w)) != 0; };
    unsigned axisWords = (has(X) ? 1u : 0u) | (has(Y) ? 2u : 0u) | (has(Z) ? 4u : 0u);
    unsigned used = (1u << N) | (1u << F) | (1u << S) | (1u << T);
    if (axisWords && !axisCommand) axisCommand = MotionMode;
    if (has(N) && v[N] > 9999999) return kInvalidLineNumber;

    // Feed rate (mm/min, or 1/min in inverse time).
    double feed = gc_.feed;
    if (m.inverseTime) {
        feed = has(F) ? v[F] : 0;
        if (axisCommand == MotionMode && m.motion != 80 && m.motion != 0 && !has(F)) return kUndefinedFeedRate;
    } else if (!gc_.modal.inverseTime) {
        if (has(F)) feed = m.inches ? v[F] * kMmPerInch : v[F];
    } else {
        feed = has(F) ? (m.inches ? v[F] * kMmPerInch : v[F]) : 0;
    }
    double spindle = has(S) ? v[S] : gc_.spindle;
    if (nonModal == 4) {
        if (!has(P)) return kValueWordMissing;
        used |= 1u << P;
    }
    Vec3 xyz{v[X], v[Y], v[Z]};
    if (m.inches) {
        for (auto& a : xyz) a *= kMmPerInch;
    }
    double tlo = gc_.toolLengthOffset;
    if (axisCommand == ToolLength) {
        if (!tloCancel && axisWords != 4u) return kG43DynamicAxisError;
        tlo = tloCancel ? 0 : xyz[2];
    }
    Vec3 coordSystem = coordSystems_[static_cast<std::size_t>(m.coordSelect)];
    Vec3 g92 = gc_.g92;
    Vec3 target = gc_.position;
    std::optional<std::pair<int, Vec3>> coordWrite;
    Vec3 intermediate{};
    bool goHome = false;
    switch (nonModal) {
    case 10: {
        if (!axisWords) return kNoAxisWords;
        if (!has(P) || !has(L)) return kValueWordMissing;
        used |= (1u << P) | (1u << L);
        int p = static_cast<int>(std::trunc(v[P]));
        if (p > 6) return kUnsupportedCoordSys;
        int l = static_cast<int>(v[L]);
        if (l != 20 && !(l == 2 && !has(R))) return kUnsupportedCommand;
        int index = p > 0 ? p - 1 : m.coordSelect;
        Vec3 data = coordSystems_[static_cast<std::size_t>(index)];
        for (int a = 0; a < 3; ++a) {
            if (!(axisWords & (1u << a))) continue;
            double val = xyz[static_cast<std::size_t>(a)];
            if (l == 20) {
                val = gc_.position[static_cast<std::size_t>(a)] - g92[static_cast<std::size_t>(a)] - val;
                if (a == 2) val -= gc_.toolLengthOffset;
            }
            data[static_cast<std::size_t>(a)] = val;
        }
        coordWrite = std::make_pair(index, data);
        axisWords = 0;
        break;
    }
    case 92:
        if (!axisWords) return kNoAxisWords;
        for (int a = 0; a < 3; ++a) {
            auto k = static_cast<std::size_t>(a);
            if (axisWords & (1u << a)) {
                g92[k] = gc_.position[k] - coordSystem[k] - xyz[k];
                if (a == 2) g92[k] -= gc_.toolLengthOffset;
            }
        }
        axisWords = 0;
        break;
    default:
        if (axisCommand != ToolLength && axisWords) {
            for (int a = 0; a < 3; ++a) {
                auto k = static_cast<std::size_t>(a);
                if (!(axisWords & (1u << a))) continue;
                if (nonModal == 53) {
                    target[k] = xyz[k];
                } else if (!m.incremental) {
                    target[k] = xyz[k] + coordSystem[k] + g92[k] + (a == 2 ? tlo : 0.0);
                } else {
                    target[k] = gc_.position[k] + xyz[k];
                }
            }
        }
        if (nonModal == 28 || nonModal == 30) {
            intermediate = target;
            target = nonModal == 28 ? g28_ : g30_;
            goHome = true;
        }
        if (nonModal == 53 && !(m.motion == 0 || m.motion == 1)) return kG53InvalidMotionMode;
        break;
    }

    if (m.motion == 80) {
        if (axisWords && axisCommand == MotionMode) return kAxisWordsExist;
    } else if (axisCommand == MotionMode) {
        if (m.motion == 0) {
            if (!axisWords) axisCommand = None;
        } else {
            if (feed == 0.0) return kUndefinedFeedRate;
            if (m.motion == 1) {
                if (!axisWords) axisCommand = None;
            } else {
                // Arcs: checked as the firmware does, then run as a straight line (see below).
                int a0 = m.plane == 0 ? 0 : (m.plane == 1 ? 2 : 1);
                int a1 = m.plane == 0 ? 1 : (m.plane == 1 ? 0 : 2);
                if (!axisWords) return kNoAxisWords;
                if (!(axisWords & ((1u << a0) | (1u << a1)))) return kNoAxisWordsInPlane;
                double x = target[static_cast<std::size_t>(a0)] - gc_.position[static_cast<std::size_t>(a0)];
                double y = target[static_cast<std::size_t>(a1)] - gc_.position[static_cast<std::size_t>(a1)];
                if (has(R)) {
                    used |= 1u << R;
                    if (target == gc_.position) return kInvalidTarget;
                    double r = m.inches ? v[R] * kMmPerInch : v[R];
                    if (4.0 * r * r - x * x - y * y < 0) return kArcRadiusError;
                } else {
                    unsigned ijk = (has(I) ? 1u : 0u) | (has(J) ? 2u : 0u) | (has(K) ? 4u : 0u);
                    if (!(ijk & ((1u << a0) | (1u << a1)))) return kNoOffsetsInPlane;
                    used |= (1u << I) | (1u << J) | (1u << K);
                    std::array<double, 3> off{v[I], v[J], v[K]};
                    if (m.inches) {
                        for (auto& o : off) o *= kMmPerInch;
                    }
                    double i0 = off[static_cast<std::size_t>(a0)], j0 = off[static_cast<std::size_t>(a1)];
                    double r = std::hypot(i0, j0);
                    double tr = std::hypot(x - i0, y - j0);
                    double delta = std::fabs(tr - r);
                    if (delta > 0.005 && (delta > 0.5 || delta > 0.001 * r)) return kInvalidTarget;
                }
            }
        }
    }
    if (axisCommand) used |= (1u << X) | (1u << Y) | (1u << Z);
    if (words & ~used) return kUnusedWords;

    // ---- Execute: update the parser state now (nothing reads it before the line's answer) and queue
    // what must happen in order, waiting on the planner where the firmware does.
    bool check = state_ == RunState::Check;
    bool laser = laserMode();
    bool cutting = m.motion == 1 || m.motion == 2 || m.motion == 3;
    bool laserDisable = laser && !cutting;
    bool laserIsMotion = laser && axisWords && axisCommand == MotionMode;
    bool forceSync = false;
    if (laser && !laserIsMotion && gc_.modal.spindle == 3) {
        bool wasCutting = gc_.modal.motion == 1 || gc_.modal.motion == 2 || gc_.modal.motion == 3;
        forceSync = wasCutting ? laserDisable : !laserDisable;
    }
    auto sync = [&] {
        if (!check) job.actions.push_back({ActionKind::Sync});
    };

    gc_.modal.inverseTime = m.inverseTime;
    gc_.feed = feed;
    if (gc_.spindle != spindle || forceSync) {
        if (gc_.modal.spindle != 5 && !laserIsMotion) {
            sync();
            if (!check) job.actions.push_back({ActionKind::Spindle, gc_.modal.spindle, laserDisable ? 0.0 : spindle});
        }
        gc_.spindle = spindle;
    }
    double plannerSpindle = laserDisable ? 0.0 : gc_.spindle;
    if (has(T)) gc_.tool = static_cast<int>(v[T]);
    if (gc_.modal.spindle != m.spindle) {
        sync();
        if (!check) job.actions.push_back({ActionKind::Spindle, m.spindle, plannerSpindle});
        gc_.modal.spindle = m.spindle;
    }
    if (gc_.modal.flood != m.flood) {
        sync();
        if (!check) job.actions.push_back({ActionKind::Coolant, m.flood ? 1 : 0});
        gc_.modal.flood = m.flood;
    }
    if (nonModal == 4) {
        sync();
        if (!check) job.actions.push_back({ActionKind::Dwell, 0, v[P]});
    }
    gc_.modal.plane = m.plane;
    gc_.modal.inches = m.inches;
    auto wcoChanged = [&] {
        sync();
        job.actions.push_back({ActionKind::WcoChanged});
    };
    if (tloChange && gc_.toolLengthOffset != tlo) {
        gc_.toolLengthOffset = tlo;
        wcoChanged();
    }
    if (gc_.modal.coordSelect != m.coordSelect) {
        gc_.modal.coordSelect = m.coordSelect;
        wcoChanged();
    }
    gc_.modal.incremental = m.incremental;

    auto queueMotion = [&](const Vec3& to, bool rapid) {
        if (check) return;
        Block b;
        b.target = to;
        b.rapid = rapid;
        b.feed = feed;
        if (m.inverseTime && !rapid) {
            // G93: F is the inverse of the move's time in minutes.
            Vec3 from = job.actions.empty() || job.actions.back().kind != ActionKind::Motion
                            ? gc_.position
                            : job.actions.back().block.target;
            double d = std::hypot(to[0] - from[0], to[1] - from[1], to[2] - from[2]);
            b.feed = d * feed;
        }
        b.spindle = plannerSpindle;
        b.laserOff = laserDisable;
        b.spindleMode = gc_.modal.spindle;
        job.actions.push_back({ActionKind::Motion, 0, 0, b});
    };
    switch (nonModal) {
    case 10:
        coordSystems_[static_cast<std::size_t>(coordWrite->first)] = coordWrite->second;
        if (coordWrite->first == gc_.modal.coordSelect) wcoChanged();
        break;
    case 28: case 30:
        if (axisWords) queueMotion(intermediate, true);
        queueMotion(target, true);
        gc_.position = target;
        break;
    case 281: g28_ = gc_.position; break;
    case 301: g30_ = gc_.position; break;
    case 92:
        gc_.g92 = g92;
        wcoChanged();
        break;
    case 921:
        gc_.g92 = {};
        wcoChanged();
        break;
    default:
        break;
    }
    (void)goHome;
    gc_.modal.motion = m.motion;
    if (m.motion != 80 && axisCommand == MotionMode) {
        // Arcs (G2/G3) run as one straight block to their end point: their time and path are approximate.
        queueMotion(target, m.motion == 0);
        gc_.position = target;
    }
    if (programFlow != 0) {
        sync();
        if (programFlow == -1) {
            if (!check) job.actions.push_back({ActionKind::Pause});
        } else {
            gc_.modal.motion = 1;
            gc_.modal.plane = 0;
            gc_.modal.incremental = false;
            gc_.modal.inverseTime = false;
            gc_.modal.coordSelect = 0;
            gc_.modal.spindle = 5;
            gc_.modal.flood = false;
            if (check) {
                job.output += "[MSG:Pgm End]\r\n";
            } else {
                job.actions.push_back({ActionKind::WcoChanged});
                job.actions.push_back({ActionKind::ProgramEnd});
            }
        }
    }
    return kOk;
}

// ---------------------------------------------------------------------------------------------------------
// Motion. Each planner block runs as its own trapezoid that starts and ends at rest: junction speeds are
// not planned, so a program of many short moves takes longer here than on the real controller.

double GrblMachine::machineSecondsSince(Clock::time_point t) const
{
    return std::chrono::duration<double>(Clock::now() - t).count() * opts_.speedFactor;
}

Vec3 GrblMachine::currentPosition() const
{
    if (!segmentActive_) return position_;
    double s = profile_.distanceAt(machineSecondsSince(segmentStart_));
    return {position_[0] + unit_[0] * s, position_[1] + unit_[1] * s, position_[2] + unit_[2] * s};
}

double GrblMachine::currentSpeed() const
{
    if (!segmentActive_) return 0;
    return profile_.speedAt(machineSecondsSince(segmentStart_));
}

void GrblMachine::cycleStart()
{
    if (state_ == RunState::Idle) {
        if (planner_.empty()) return;
        state_ = RunState::Run;
        startSegment(0);
        return;
    }
    if (state_ == RunState::Hold && holdComplete_) {
        holdComplete_ = false;
        if (job_ && !job_->actions.empty() && job_->actions.front().kind == ActionKind::Pause) {
            job_->actions.front().mode = 1;
        }
        if (!planner_.empty()) {
            state_ = RunState::Run;
            startSegment(0);
        } else {
            state_ = RunState::Idle;
        }
        mainLoop();
    }
}

// Starts (or resumes after a hold) the head block from the current position.
void GrblMachine::startSegment(double v0)
{
    while (!planner_.empty()) {
        const Block& b = planner_.front();
        Vec3 delta{b.target[0] - position_[0], b.target[1] - position_[1], b.target[2] - position_[2]};
        double d = std::hypot(delta[0], delta[1], delta[2]);
        if (d < 1e-6) {   // nothing to move (the firmware would not even have queued it)
            position_ = b.target;
            planner_.pop_front();
            continue;
        }
        double rateLimit = 1e300, accel = 1e300;
        for (std::size_t k = 0; k < 3; ++k) {
            unit_[k] = delta[k] / d;
            double u = std::fabs(unit_[k]);
            if (u > 1e-12) {
                rateLimit = std::min(rateLimit, setting(110 + int(k)) / u);
                accel = std::min(accel, setting(120 + int(k)) / u);
            }
        }
        double nominal = b.rapid ? rateLimit * rapidOvr_ / 100.0 : std::min(b.feed * feedOvr_ / 100.0, rateLimit);
        nominal = std::max(nominal, 1.0) / 60.0;   // mm/s
        accel = std::max(accel, 1e-3);
        segmentNominal_ = nominal;
        profile_ = Profile::make(v0, nominal, accel, d);
        segmentStart_ = Clock::now();
        segmentActive_ = true;
        if (b.rapid && spindleOutputNow() > 0) laserOnDuringRapid_ = true;
        motionTimer_.expires_after(std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(profile_.duration() / opts_.speedFactor)));
        motionTimer_.async_wait(guarded([this, id = ++segmentId_](const boost::system::error_code& ec) {
            if (!ec && id == segmentId_) onSegmentDone();
        }));
        return;
    }
    // Nothing left to run.
    segmentActive_ = false;
    if (state_ == RunState::Run) state_ = RunState::Idle;
}

void GrblMachine::onSegmentDone()
{
    if (!segmentActive_) return;
    Vec3 end = currentPosition();
    segmentActive_ = false;
    if (state_ == RunState::Hold) {
        // Deceleration of a feed hold is over: Hold:0, ready to resume the rest of the block.
        position_ = end;
        holdComplete_ = true;
        return;
    }
    const Block b = planner_.front();
    planner_.pop_front();
    position_ = b.target;
    lowestZ_ = std::min(lowestZ_, position_[2]);
    if (laserMode()) {
        // M4 (dynamic power) switches the beam off at the end of motion; M3 keeps the last block's power.
        spindleRpm_ = (spindleMode_ == 3 && !b.laserOff) ? clampRpm(b.spindle) : 0.0;
    }
    if (!planner_.empty()) {
        startSegment(0);
    } else {
        state_ = RunState::Idle;
    }
    mainLoop();
}

void GrblMachine::feedHold()
{
    if (state_ == RunState::Run) {
        if (!segmentActive_) return;
        double t = machineSecondsSince(segmentStart_);
        double s = profile_.distanceAt(t);
        double speed = profile_.speedAt(t);
        for (std::size_t k = 0; k < 3; ++k) position_[k] += unit_[k] * s;
        double a = profile_.a;
        profile_ = Profile::make(speed, speed, a, speed * speed / (2 * a));
        segmentStart_ = Clock::now();
        state_ = RunState::Hold;
        holdComplete_ = false;
        motionTimer_.cancel();
        motionTimer_.expires_after(std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(profile_.duration() / opts_.speedFactor)));
        motionTimer_.async_wait(guarded([this, id = ++segmentId_](const boost::system::error_code& ec) {
            if (!ec && id == segmentId_) onSegmentDone();
        }));
    } else if (state_ == RunState::Idle) {
        state_ = RunState::Hold;
        holdComplete_ = true;
    }
}

double GrblMachine::clampRpm(double rpm) const
{
    double mx = setting(30), mn = setting(31);
    rpm *= spindleOvr_ / 100.0;
    if (mn >= mx || rpm >= mx) return mx;
    if (rpm <= mn) return rpm == 0 ? 0 : mn;
    return rpm;
}

void GrblMachine::setSpindle(int mode, double rpm)
{
    spindleMode_ = mode;
    if (mode == 5) {
        spindleRpm_ = 0;
        return;
    }
    if (laserMode() && mode == 4) rpm = 0;   // dynamic laser power is off while nothing moves
    spindleRpm_ = clampRpm(rpm);
    highestSpindle_ = std::max(highestSpindle_, spindleRpm_);
}

double GrblMachine::spindleOutputNow() const
{
    if (spindleMode_ == 5) return 0;
    if (laserMode() && segmentActive_ && !planner_.empty() && state_ == RunState::Run) {
        const Block& b = planner_.front();
        if (b.laserOff || b.rapid) return 0;
        double rpm = clampRpm(b.spindle);
        if (spindleMode_ == 4 && segmentNominal_ > 0) {
            rpm *= std::min(1.0, currentSpeed() / segmentNominal_);
        }
        return rpm;
    }
    return spindleRpm_;
}

void GrblMachine::applyOverride(unsigned char c)
{
    auto clamp = [](int x) { return std::clamp(x, 10, 200); };
    int f = feedOvr_, r = rapidOvr_, s = spindleOvr_;
    switch (c) {
    case 0x90: f = 100; break;
    case 0x91: f = clamp(f + 10); break;
    case 0x92: f = clamp(f - 10); break;
    case 0x93: f = clamp(f + 1); break;
    case 0x94: f = clamp(f - 1); break;
    case 0x95: r = 100; break;
    case 0x96: r = 50; break;
    case 0x97: r = 25; break;
    case 0x99: s = 100; break;
    case 0x9A: s = clamp(s + 10); break;
    case 0x9B: s = clamp(s - 10); break;
    case 0x9C: s = clamp(s + 1); break;
    case 0x9D: s = clamp(s - 1); break;
    case 0xA0:
        if (state_ == RunState::Idle || state_ == RunState::Run || state_ == RunState::Hold) {
            flood_ = !flood_;
            gc_.modal.flood = flood_;
            reportOvrCounter_ = 0;
        }
        return;
    default:
        return;   // other extended bytes are thrown away, never buffered
    }
    if (f != feedOvr_ || r != rapidOvr_ || s != spindleOvr_) {
        // Takes effect from the next block here; the firmware re-plans the running one.
        feedOvr_ = f;
        rapidOvr_ = r;
        spindleOvr_ = s;
        reportOvrCounter_ = 0;
    }
}

// ---------------------------------------------------------------------------------------------------------
// Reports (report.c).

std::string GrblMachine::stateName() const
{
    switch (state_) {
    case RunState::Idle: return "Idle";
    case RunState::Run: return "Run";
    case RunState::Hold: return holdComplete_ ? "Hold:0" : "Hold:1";
    case RunState::Alarm: return "Alarm";
    case RunState::Check: return "Check";
    case RunState::Sleep: return "Sleep";
    }
    return "Idle";
}

Vec3 GrblMachine::wco() const
{
    Vec3 w{};
    const Vec3& cs = coordSystems_[static_cast<std::size_t>(gc_.modal.coordSelect)];
    for (std::size_t k = 0; k < 3; ++k) w[k] = cs[k] + gc_.g92[k];
    w[2] += gc_.toolLengthOffset;
    return w;
}

std::string GrblMachine::statusReport()
{
    bool inches = setting(13) != 0;
    auto axes = [&](const Vec3& p) {
        std::string s;
        for (std::size_t k = 0; k < 3; ++k) {
            if (k) s += ',';
            s += inches ? fmt(p[k] / kMmPerInch, 4) : fmt(p[k], 3);
        }
        return s;
    };
    int mask = static_cast<int>(setting(10));
    Vec3 pos = currentPosition();
    Vec3 w = wco();
    std::string r = "<" + stateName();
    if (mask & 1) {
        r += "|MPos:" + axes(pos);
    } else {
        r += "|WPos:" + axes({pos[0] - w[0], pos[1] - w[1], pos[2] - w[2]});
    }
    if (mask & 2) {
        r += "|Bf:" + std::to_string(kPlannerBlocks - planner_.size()) + "," +
             std::to_string(kRxBufferSize - rx_.size());
    }
    double rate = currentSpeed() * 60;
    r += "|FS:" + (inches ? fmt(rate / kMmPerInch, 1) : fmt(rate, 0)) + "," + fmt(spindleOutputNow(), 0);
    bool busy = state_ == RunState::Run || state_ == RunState::Hold;
    if (reportWcoCounter_ > 0) {
        --reportWcoCounter_;
    } else {
        reportWcoCounter_ = busy ? 30 - 1 : 10 - 1;
        if (reportOvrCounter_ == 0) reportOvrCounter_ = 1;
        r += "|WCO:" + axes(w);
    }
    if (reportOvrCounter_ > 0) {
        --reportOvrCounter_;
    } else {
        reportOvrCounter_ = busy ? 20 - 1 : 10 - 1;
        r += "|Ov:" + std::to_string(feedOvr_) + "," + std::to_string(rapidOvr_) + "," +
             std::to_string(spindleOvr_);
        double out = spindleOutputNow();
        if (out > 0 || flood_) {
            r += "|A:";
            if (out > 0) r += spindleMode_ == 4 ? "C" : "S";
            if (flood_) r += "F";
        }
    }
    return r + ">\r\n";
}

std::string GrblMachine::settingsReport() const
{
    std::string out;
    for (const auto& [n, value] : settings_) {
        int decimals = 3;
        bool integer = n < 100 && n != 11 && n != 12 && n != 24 && n != 25 && n != 27;
        if (n == 30 || n == 31) decimals = 0;
        out += "$" + std::to_string(n) + "=" +
               (integer && n != 30 && n != 31 ? std::to_string(static_cast<int>(value) & 0xFF) : fmt(value, decimals)) +
               "\r\n";
    }
    return out;
}

std::string GrblMachine::gcodeModes() const
{
    const Modal& m = gc_.modal;
    std::string s = "[GC:G" + std::to_string(m.motion);
    s += " G" + std::to_string(54 + m.coordSelect);
    s += " G" + std::to_string(17 + m.plane);
    s += m.inches ? " G20" : " G21";
    s += m.incremental ? " G91" : " G90";
    s += m.inverseTime ? " G93" : " G94";
    s += " M" + std::to_string(m.spindle);
    s += m.flood ? " M8" : " M9";
    s += " T" + std::to_string(gc_.tool);
    s += " F" + (m.inches ? fmt(gc_.feed / kMmPerInch, 1) : fmt(gc_.feed, 0));
    s += " S" + fmt(gc_.spindle, 0);
    return s + "]\r\n";
}

std::string GrblMachine::ngcParameters() const
{
    auto axes = [](const Vec3& p) { return fmt(p[0], 3) + "," + fmt(p[1], 3) + "," + fmt(p[2], 3); };
    std::string s;
    for (int i = 0; i < 6; ++i) s += "[G" + std::to_string(54 + i) + ":" + axes(coordSystems_[std::size_t(i)]) + "]\r\n";
    s += "[G28:" + axes(g28_) + "]\r\n[G30:" + axes(g30_) + "]\r\n";
    s += "[G92:" + axes(gc_.g92) + "]\r\n";
    s += "[TLO:" + fmt(gc_.toolLengthOffset, 3) + "]\r\n";
    s += "[PRB:0.000,0.000,0.000:0]\r\n";
    return s;
}

// ---------------------------------------------------------------------------------------------------------

GrblEmulator::GrblEmulator(asio::io_context& io, GrblEmulatorOptions options)
    : machine_(std::make_unique<GrblMachine>(io, std::move(options)))
{
}

GrblEmulator::~GrblEmulator() = default;

std::string GrblEmulator::devicePath() const { return machine_->devicePath(); }
void GrblEmulator::setLogger(std::function<void(std::string_view)> logger) { machine_->setLogger(std::move(logger)); }
void GrblEmulator::injectAlarm(int code) { machine_->injectAlarm(code); }
void GrblEmulator::failLine(std::uint64_t lineNo, int errorCode) { machine_->failLine(lineNo, errorCode); }
void GrblEmulator::loseOk(std::uint64_t lineNo) { machine_->loseOk(lineNo); }
void GrblEmulator::atGcodeLine(std::uint64_t n, std::function<void()> action)
{
    machine_->atGcodeLine(n, std::move(action));
}
void GrblEmulator::stall(bool on) { machine_->stall(on); }
void GrblEmulator::disconnect() { machine_->disconnect(); }
void GrblEmulator::reconnect() { machine_->reconnect(); }
std::uint64_t GrblEmulator::linesReceived() const { return machine_->linesReceived(); }
std::uint64_t GrblEmulator::gcodeLinesReceived() const { return machine_->gcodeLinesReceived(); }
std::uint64_t GrblEmulator::bytesLost() const { return machine_->bytesLost(); }
std::uint64_t GrblEmulator::statusQueries() const { return machine_->statusQueries(); }
double GrblEmulator::lowestZ() const { return machine_->lowestZ(); }
double GrblEmulator::highestSpindle() const { return machine_->highestSpindle(); }
std::string GrblEmulator::state() const { return machine_->stateName(); }
std::array<double, 3> GrblEmulator::position() const { return machine_->position(); }
double GrblEmulator::spindleOutput() const { return machine_->spindleOutput(); }
bool GrblEmulator::laserOnDuringRapid() const { return machine_->laserOnDuringRapid(); }
bool GrblEmulator::hostConnected() const { return machine_->hostConnected(); }
int GrblEmulator::plannerBlocks() const { return machine_->plannerBlocks(); }
std::uint64_t GrblEmulator::resets() const { return machine_->resets(); }

} // namespace mto::virt
