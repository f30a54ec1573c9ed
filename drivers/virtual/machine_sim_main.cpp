// SPDX-License-Identifier: Apache-2.0
// mto-machine-sim: emulated GRBL machines (with injected faults on request) and Marlin printers on pseudo-terminals
// (and optionally TCP) and test OctoPrint/Moonraker print hosts on loopback, for the demo and for trying the agent
// without machines.
#include "virtual/grbl_emulator.hpp"
#include "virtual/marlin_emulator.hpp"
#include "virtual/moonraker_server.hpp"
#include "virtual/octoprint_server.hpp"
#include "virtual/pty.hpp"

#include "mto/error.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/program_options.hpp>
#include <charconv>
#include <chrono>
#include <fcntl.h>
#include <functional>
#include <iostream>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace asio = boost::asio;
namespace po = boost::program_options;
using asio::ip::tcp;

namespace {

// A serial-to-network bridge: one TCP client at a time is joined to the emulator's pty slave, as an
// ESP8266/ser2net bridge joins a socket to the board's UART. Thread-bound to the one io_context.
class TcpBridge {
public:
    TcpBridge(asio::io_context& io, unsigned short port, std::string device)
        : io_(io), acceptor_(io, tcp::endpoint(tcp::v4(), port)), device_(std::move(device))
    {
        accept();
    }
    unsigned short port() const { return acceptor_.local_endpoint().port(); }

private:
    struct Session : std::enable_shared_from_this<Session> {
        Session(tcp::socket s, asio::posix::stream_descriptor d) : socket(std::move(s)), serial(std::move(d)) {}
        tcp::socket socket;
        asio::posix::stream_descriptor serial;
        std::array<char, 1024> up{}, down{};
        void close()
        {
            boost::system::error_code ignored;
            socket.close(ignored);
            serial.close(ignored);
        }
        void pumpUp()   // network -> board
        {
            auto self = shared_from_this();
            socket.async_read_some(asio::buffer(up), [self](boost::system::error_code ec, std::size_t n) {
                if (ec) return self->close();
                asio::async_write(self->serial, asio::buffer(self->up, n),
                                  [self](boost::system::error_code e, std::size_t) {
                                      if (e) return self->close();
                                      self->pumpUp();
                                  });
            });
        }
        void pumpDown()   // board -> network
        {
            auto self = shared_from_this();
            serial.async_read_some(asio::buffer(down), [self](boost::system::error_code ec, std::size_t n) {
                if (ec) return self->close();
                asio::async_write(self->socket, asio::buffer(self->down, n),
                                  [self](boost::system::error_code e, std::size_t) {
                                      if (e) return self->close();
                                      self->pumpDown();
                                  });
            });
        }
    };

    void accept()
    {
        acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted) return;
            if (!ec) {
                if (auto old = session_.lock()) old->close();
                int fd = ::open(device_.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
                if (fd < 0) {
                    std::cerr << "mto-machine-sim: cannot open " << device_ << " for the TCP bridge\n";
                } else {
                    mto::virt::Pty::makeRaw(fd);
                    auto s = std::make_shared<Session>(std::move(socket), asio::posix::stream_descriptor(io_, fd));
                    session_ = s;
                    s->pumpUp();
                    s->pumpDown();
                }
            }
            accept();
        });
    }

    asio::io_context& io_;
    tcp::acceptor acceptor_;
    std::string device_;
    std::weak_ptr<Session> session_;
};

// A fault the options ask every emulated GRBL machine to show once, at a line of the program it is sent.
struct GrblLineFault {
    enum class Kind { Error, LoseOk, Alarm, Stall, Disconnect };
    Kind kind = Kind::Error;
    std::uint64_t line = 0;          // the n-th line of G-code the machine takes (1-based)
    int code = 0;                    // error:CODE, ALARM:CODE
    std::optional<double> seconds;   // stall or unplug this long; none: for good
};

struct GrblFaultOption {
    const char* name;
    GrblLineFault::Kind kind;
    const char* shape;        // what the value looks like
    const char* help;
};

const GrblFaultOption kGrblFaultOptions[] = {
    {"fail-line", GrblLineFault::Kind::Error, "LINE:CODE",
     "LINE answers error:CODE (1..38) instead of ok and is not executed"},
    {"lose-ok", GrblLineFault::Kind::LoseOk, "LINE", "LINE is executed but its ok is never sent"},
    {"alarm-at", GrblLineFault::Kind::Alarm, "LINE:CODE",
     "ALARM:CODE (1..10) just after LINE is taken: motion, spindle and laser stop; after 1 or 2 (hard or soft "
     "limit) the board answers nothing until a reset (Ctrl-X), after the others it resets itself and stays "
     "locked in Alarm until $X"},
    {"stall-at", GrblLineFault::Kind::Stall, "LINE[:SECONDS]",
     "just after LINE the controller stops reading and answering (status reports too), for SECONDS of real "
     "time or for good"},
    {"disconnect-at", GrblLineFault::Kind::Disconnect, "LINE[:SECONDS]",
     "just after LINE the cable is pulled: the pty closes and PATH goes away; after SECONDS a new pty appears "
     "at PATH with a freshly powered board, without SECONDS it stays unplugged"},
};

bool parseWholeNumber(std::string_view text, std::uint64_t& out)
{
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

// "LINE", "LINE:CODE" or "LINE:SECONDS" as the option wants; an empty string when it is well-formed, else
// what is wrong with it.
std::string parseGrblLineFault(const GrblFaultOption& option, const std::string& text, GrblLineFault& out)
{
    const std::string usage = std::string("--") + option.name + " wants " + option.shape + ", got '" + text + "'";
    out = {};
    out.kind = option.kind;
    const auto colon = text.find(':');
    const std::string_view lineText = std::string_view(text).substr(0, colon);
    if (!parseWholeNumber(lineText, out.line) || out.line == 0)
        return usage + ": LINE is a line of G-code counted from 1";
    const bool hasValue = colon != std::string::npos;
    const std::string valueText = hasValue ? text.substr(colon + 1) : std::string();
    switch (option.kind) {
    case GrblLineFault::Kind::LoseOk:
        if (hasValue) return usage;
        return {};
    case GrblLineFault::Kind::Error:
    case GrblLineFault::Kind::Alarm: {
        const int maxCode = option.kind == GrblLineFault::Kind::Error ? 38 : 10;
        std::uint64_t code = 0;
        if (!hasValue) return usage;
        if (!parseWholeNumber(valueText, code) || code < 1 || code > static_cast<std::uint64_t>(maxCode))
            return usage + ": CODE is a GRBL 1.1 " + (maxCode == 38 ? "error" : "alarm") + " code from 1 to " +
                   std::to_string(maxCode);
        out.code = static_cast<int>(code);
        return {};
    }
    case GrblLineFault::Kind::Stall:
    case GrblLineFault::Kind::Disconnect: {
        if (!hasValue) return {};
        double seconds = 0;
        auto [end, ec] = std::from_chars(valueText.data(), valueText.data() + valueText.size(), seconds);
        if (ec != std::errc() || end != valueText.data() + valueText.size() || valueText.empty() ||
            !(seconds > 0) || seconds > 86400)
            return usage + ": SECONDS is above 0 and at most 86400 (leave it out for good)";
        out.seconds = seconds;
        return {};
    }
    }
    return usage;
}

std::string describeGrblLineFault(const GrblLineFault& f)
{
    const std::string at = "line " + std::to_string(f.line) + " of G-code";
    std::ostringstream howLong;
    if (f.seconds)
        howLong << " for " << *f.seconds << " s";
    else
        howLong << " for good";
    switch (f.kind) {
    case GrblLineFault::Kind::Error: return at + " answers error:" + std::to_string(f.code);
    case GrblLineFault::Kind::LoseOk: return at + " loses its ok";
    case GrblLineFault::Kind::Alarm: return "ALARM:" + std::to_string(f.code) + " after " + at;
    case GrblLineFault::Kind::Stall: return "stalls after " + at + howLong.str();
    case GrblLineFault::Kind::Disconnect: return "unplugged after " + at + howLong.str();
    }
    return at;
}

// Arms the faults on one machine. Faults that reset, silence or unplug the board are posted: they must not run
// inside its line handling. `timers` outlive the machine's pending waits (they are cleared before it is).
void armGrblLineFaults(asio::io_context& io, mto::virt::GrblEmulator& machine, const std::string& name,
                       const std::vector<GrblLineFault>& faults, std::list<asio::steady_timer>& timers)
{
    for (const auto& f : faults) {
        auto* m = &machine;
        auto note = [name, text = describeGrblLineFault(f)] { std::cerr << name << ": fault: " << text << "\n"; };
        std::function<void()> action;
        switch (f.kind) {
        case GrblLineFault::Kind::Error:
            action = [m, note, code = f.code] {
                note();
                m->failLine(m->linesReceived(), code);
            };
            break;
        case GrblLineFault::Kind::LoseOk:
            action = [m, note] {
                note();
                m->loseOk(m->linesReceived());
            };
            break;
        case GrblLineFault::Kind::Alarm:
            action = [&io, m, note, code = f.code] {
                note();
                asio::post(io, [m, code] { m->injectAlarm(code); });
            };
            break;
        case GrblLineFault::Kind::Stall:
        case GrblLineFault::Kind::Disconnect: {
            const bool unplug = f.kind == GrblLineFault::Kind::Disconnect;
            action = [&io, &timers, m, note, name, unplug, seconds = f.seconds] {
                note();
                asio::post(io, [&io, &timers, m, name, unplug, seconds] {
                    if (unplug)
                        m->disconnect();
                    else
                        m->stall(true);
                    if (!seconds) return;
                    auto& timer = timers.emplace_back(io);
                    timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(*seconds)));
                    timer.async_wait([m, name, unplug](const boost::system::error_code& ec) {
                        if (ec) return;
                        std::cerr << name << ": fault over: " << (unplug ? "plugged in again" : "answering again")
                                  << "\n";
                        if (unplug)
                            m->reconnect();
                        else
                            m->stall(false);
                    });
                });
            };
            break;
        }
        }
        machine.atGcodeLine(f.line, std::move(action));
    }
}

bool parseTravel(const std::string& text, double (&out)[3])
{
    std::istringstream in(text);
    char comma1 = 0, comma2 = 0;
    if (!(in >> out[0] >> comma1 >> out[1] >> comma2 >> out[2]) || comma1 != ',' || comma2 != ',') return false;
    in >> std::ws;
    return in.eof() && out[0] > 0 && out[1] > 0 && out[2] > 0;
}

} // namespace

int main(int argc, char** argv)
{
    po::options_description desc(
        "Usage: mto-machine-sim [--grbl PATH ...] [--marlin PATH ...] [--octoprint PORT] [--moonraker PORT] [options]\n"
        "                       [GRBL faults]\n"
        "Runs emulated GRBL 1.1h controllers and Marlin 2.1 printers, each on a pseudo-terminal published at PATH\n"
        "(a symlink), and test OctoPrint and Moonraker hosts on 127.0.0.1 (PORT 0: a free port; the URL is printed\n"
        "on stdout).\n"
        "Options");
    std::vector<std::string> grblPaths, marlinPaths;
    double checksumErrors = 0;
    unsigned baud = 115200;
    double speed = 1.0, maxSpindle = 1000;
    std::string travel;
    unsigned tcpPort = 0;
    unsigned octoprintPort = 0, moonrakerPort = 0;
    std::string apiKey = "mto-sim-key";
    double printSeconds = 600;
    desc.add_options()
        ("help,h", "print this help")
        ("grbl", po::value(&grblPaths)->composing(), "publish an emulated GRBL machine at PATH (repeatable)")
        ("marlin", po::value(&marlinPaths)->composing(), "publish an emulated Marlin FDM printer at PATH (repeatable)")
        ("pacing", "Marlin: move bytes at the line rate (baud/10 bytes a second), as a real serial line does")
        ("checksum-errors", po::value(&checksumErrors)->default_value(0),
         "Marlin: share of numbered lines (0..1) that arrive with a bad checksum and are asked for again")
        ("baud", po::value(&baud)->default_value(115200), "serial line rate in both directions")
        ("speed", po::value(&speed)->default_value(1.0), "run motion and dwells this many times faster")
        ("laser", "laser mode ($32=1)")
        ("max-spindle", po::value(&maxSpindle)->default_value(1000), "$30, maximum spindle speed / laser power")
        ("travel", po::value(&travel), "X,Y,Z maximum travel in mm ($130..$132), e.g. 400,400,50")
        ("no-reset-on-open", "do not reset when a host opens the port (a network bridge; banner after Ctrl-X)")
        ("tcp", po::value(&tcpPort), "also serve machine i on TCP port PORT+i, as a serial-to-network bridge "
                                     "(implies --no-reset-on-open)")
        ("octoprint", po::value(&octoprintPort), "serve a test OctoPrint on 127.0.0.1:PORT (0: a free port)")
        ("moonraker", po::value(&moonrakerPort), "serve a test Moonraker on 127.0.0.1:PORT (0: a free port)")
        ("api-key", po::value(&apiKey)->default_value("mto-sim-key"),
         "the X-Api-Key the test OctoPrint wants (Moonraker: none unless --moonraker-key)")
        ("moonraker-key", "the test Moonraker wants --api-key too")
        ("print-seconds", po::value(&printSeconds)->default_value(600),
         "machine time of every print on the test hosts (run --speed times faster)");
    po::options_description faultsDesc(
        "GRBL faults, shown by every --grbl machine (repeatable; each happens once). LINE counts the lines of\n"
        "G-code a machine has taken since the simulator started, from 1: $ commands and empty lines are not\n"
        "counted; the lines of a check-mode ($C) dry run are. E.g. --fail-line 40:20 answers error:20 to line 40");
    std::map<std::string, std::vector<std::string>> faultTexts;
    for (const auto& f : kGrblFaultOptions)
        faultsDesc.add_options()(f.name, po::value(&faultTexts[f.name])->composing()->value_name(f.shape), f.help);
    desc.add(faultsDesc);
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "mto-machine-sim: " << e.what() << "\n" << desc << "\n";
        return 2;
    }
    if (vm.count("help")) {
        std::cout << desc << "\n";
        return 0;
    }
    mto::virt::GrblEmulatorOptions base;
    const bool hosts = vm.count("octoprint") || vm.count("moonraker");
    if (grblPaths.empty() && marlinPaths.empty() && !hosts) {
        std::cerr << "mto-machine-sim: at least one --grbl PATH, --marlin PATH, --octoprint or --moonraker is needed\n"
                  << desc << "\n";
        return 2;
    }
    if (!(checksumErrors >= 0 && checksumErrors < 1)) {
        std::cerr << "mto-machine-sim: --checksum-errors wants a share from 0 to below 1\n";
        return 2;
    }
    if (baud == 0 || !(speed > 0) || !(maxSpindle > 0) || !(printSeconds > 0)) {
        std::cerr << "mto-machine-sim: --baud, --speed, --max-spindle and --print-seconds must be above zero\n";
        return 2;
    }
    if (vm.count("travel") && !parseTravel(travel, base.maxTravel)) {
        std::cerr << "mto-machine-sim: --travel wants three positive numbers X,Y,Z, got '" << travel << "'\n";
        return 2;
    }
    if (vm.count("tcp") && (tcpPort == 0 || tcpPort + grblPaths.size() + marlinPaths.size() - 1 > 65535)) {
        std::cerr << "mto-machine-sim: --tcp wants a port between 1 and 65535\n";
        return 2;
    }
    std::vector<GrblLineFault> faults;
    for (const auto& option : kGrblFaultOptions) {
        for (const auto& text : faultTexts[option.name]) {
            GrblLineFault f;
            if (auto wrong = parseGrblLineFault(option, text, f); !wrong.empty()) {
                std::cerr << "mto-machine-sim: " << wrong << "\n";
                return 2;
            }
            faults.push_back(f);
        }
    }
    if (!faults.empty() && grblPaths.empty()) {
        std::cerr << "mto-machine-sim: the GRBL fault options need at least one --grbl PATH\n";
        return 2;
    }
    base.baud = baud;
    base.speedFactor = speed;
    base.laserMode = vm.count("laser") > 0;
    base.maxSpindle = maxSpindle;
    base.resetOnOpen = !(vm.count("no-reset-on-open") || vm.count("tcp"));

    asio::io_context io;
    std::vector<std::unique_ptr<mto::virt::GrblEmulator>> machines;
    std::vector<std::unique_ptr<mto::virt::MarlinEmulator>> printers;
    std::vector<std::unique_ptr<TcpBridge>> bridges;
    std::list<asio::steady_timer> faultTimers;   // ends of stalls and unplugs; cleared before the machines
    std::unique_ptr<mto::virt::OctoPrintServer> octoprint;
    std::unique_ptr<mto::virt::MoonrakerServer> moonraker;
    try {
        mto::virt::SimulatedPrintOptions print;
        print.printSeconds = printSeconds;
        print.timeScale = speed;
        if (vm.count("octoprint")) {
            if (octoprintPort > 65535) throw std::runtime_error("--octoprint wants a port between 0 and 65535");
            mto::virt::OctoPrintServerOptions o;
            o.apiKey = apiKey;
            o.port = static_cast<std::uint16_t>(octoprintPort);
            o.print = print;
            octoprint = std::make_unique<mto::virt::OctoPrintServer>(io, o);
            octoprint->start();
            std::cout << "octoprint: " << octoprint->url() << " (X-Api-Key: " << apiKey << ")" << std::endl;
        }
        if (vm.count("moonraker")) {
            if (moonrakerPort > 65535) throw std::runtime_error("--moonraker wants a port between 0 and 65535");
            mto::virt::MoonrakerServerOptions o;
            if (vm.count("moonraker-key")) o.apiKey = apiKey;
            o.port = static_cast<std::uint16_t>(moonrakerPort);
            o.print = print;
            moonraker = std::make_unique<mto::virt::MoonrakerServer>(io, o);
            moonraker->start();
            std::cout << "moonraker: " << moonraker->url() << std::endl;
        }
        for (std::size_t i = 0; i < grblPaths.size(); ++i) {
            auto options = base;
            options.linkPath = grblPaths[i];
            auto machine = std::make_unique<mto::virt::GrblEmulator>(io, options);
            std::string name = grblPaths[i];
            machine->setLogger([name](std::string_view line) { std::cerr << name << ": " << line << "\n"; });
            std::cerr << name << ": GRBL 1.1h emulator on " << machine->devicePath() << "\n";
            armGrblLineFaults(io, *machine, name, faults, faultTimers);
            for (const auto& f : faults) std::cerr << name << ": will fault: " << describeGrblLineFault(f) << "\n";
            if (vm.count("tcp")) {
                auto port = static_cast<unsigned short>(tcpPort + i);
                bridges.push_back(std::make_unique<TcpBridge>(io, port, machine->devicePath()));
                std::cerr << name << ": also on TCP port " << port << "\n";
            }
            machines.push_back(std::move(machine));
        }
        for (std::size_t i = 0; i < marlinPaths.size(); ++i) {
            mto::virt::MarlinEmulatorOptions options;
            options.linkPath = marlinPaths[i];
            options.baud = baud;
            options.pacing = vm.count("pacing") > 0;
            options.speedFactor = speed;
            options.resetOnOpen = base.resetOnOpen;
            options.checksumErrorRate = checksumErrors;
            auto printer = std::make_unique<mto::virt::MarlinEmulator>(io, options);
            std::string name = marlinPaths[i];
            printer->setLogger([name](std::string_view line) { std::cerr << name << ": " << line << "\n"; });
            std::cerr << name << ": Marlin 2.1 emulator on " << printer->devicePath() << "\n";
            if (vm.count("tcp")) {
                auto port = static_cast<unsigned short>(tcpPort + grblPaths.size() + i);
                bridges.push_back(std::make_unique<TcpBridge>(io, port, printer->devicePath()));
                std::cerr << name << ": also on TCP port " << port << "\n";
            }
            printers.push_back(std::move(printer));
        }
    } catch (const std::exception& e) {
        std::cerr << "mto-machine-sim: " << e.what() << "\n";
        return 1;
    }

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        std::cerr << "mto-machine-sim: stopping\n";
        bridges.clear();
        faultTimers.clear();
        machines.clear();   // removes the symlinks
        printers.clear();
        octoprint.reset();
        moonraker.reset();
        io.stop();
    });
    io.run();
    return 0;
}
