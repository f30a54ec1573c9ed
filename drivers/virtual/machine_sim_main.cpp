// SPDX-License-Identifier: Apache-2.0
// mto-machine-sim: emulated GRBL machines and Marlin printers on pseudo-terminals (and optionally TCP) and test
// OctoPrint/Moonraker print hosts on loopback, for the demo and for trying the agent without machines.
#include "virtual/grbl_emulator.hpp"
#include "virtual/marlin_emulator.hpp"
#include "virtual/moonraker_server.hpp"
#include "virtual/octoprint_server.hpp"
#include "virtual/pty.hpp"

#include "mto/error.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/write.hpp>
#include <boost/program_options.hpp>
#include <fcntl.h>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
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
    base.baud = baud;
    base.speedFactor = speed;
    base.laserMode = vm.count("laser") > 0;
    base.maxSpindle = maxSpindle;
    base.resetOnOpen = !(vm.count("no-reset-on-open") || vm.count("tcp"));

    asio::io_context io;
    std::vector<std::unique_ptr<mto::virt::GrblEmulator>> machines;
    std::vector<std::unique_ptr<mto::virt::MarlinEmulator>> printers;
    std::vector<std::unique_ptr<TcpBridge>> bridges;
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
        machines.clear();   // removes the symlinks
        printers.clear();
        octoprint.reset();
        moonraker.reset();
        io.stop();
    });
    io.run();
    return 0;
}
