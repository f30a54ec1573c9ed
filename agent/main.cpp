// SPDX-License-Identifier: Apache-2.0
// mto-agent: the factory's order agent (systemd service entry point).
#include <boost/program_options.hpp>
#include <csignal>
#include <iostream>
#include <spdlog/spdlog.h>

#include "agent.hpp"
#include "catalog.hpp"
#include "util/logging.hpp"
#include "mto/config.hpp"

namespace po = boost::program_options;

namespace {

// Stop and reload signals wait (blocked) until the event loop can handle them, instead of killing a
// half-started agent. This runs from .preinit_array, before any library's initialiser and before
// main: the earliest code of the process, so every thread ever started inherits the block. Only
// the loop thread unblocks them, while it runs (Agent::run).
void blockStopSignals(int, char**, char**) {
    sigset_t handled;
    sigemptyset(&handled);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&handled, s);
    pthread_sigmask(SIG_BLOCK, &handled, nullptr);
}

[[gnu::used, gnu::section(".preinit_array")]] void (*const blockStopSignalsEarly)(int, char**, char**) =
    blockStopSignals;

} // namespace

int main(int argc, char** argv) {
    // A peer that closes its socket must not kill the process with SIGPIPE while Paho writes to it.
    std::signal(SIGPIPE, SIG_IGN);

    po::options_description opts("mto-agent — receives a factory's orders over MQTT and reports milestones to HQ");
    opts.add_options()("help,h", "show this help")("version", "print the version")(
        "config,c", po::value<std::string>(), "run with this TOML configuration file")(
        "check-config", po::value<std::string>(), "validate this configuration file (and its catalog) and exit");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, opts), vm);
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "mto-agent: " << e.what() << "\n" << opts;
        return 2;
    }
    if (vm.count("help")) {
        std::cout << opts;
        return 0;
    }
    if (vm.count("version")) {
        std::cout << "mto-agent " << MTO_VERSION << "\n";
        return 0;
    }
    if (vm.count("check-config")) {
        try {
            auto cfg = mto::loadConfig(vm["check-config"].as<std::string>());
            auto catalog = mto::Catalog::load(cfg.intake.catalogPath);
            std::cout << cfg.sourcePath.string() << ": ok (factory " << cfg.factoryId << ", broker "
                      << mto::redactUri(cfg.mqtt.uri) << ", " << catalog.size() << " SKUs)\n";
            return 0;
        } catch (const std::exception& e) {
            std::cerr << "mto-agent: " << e.what() << "\n";
            return 1;
        }
    }
    if (!vm.count("config")) {
        std::cerr << "mto-agent: --config PATH is required\n" << opts;
        return 2;
    }
    try {
        auto cfg = mto::loadConfig(vm["config"].as<std::string>());
        mto::setupLogging(cfg.logLevel);
        mto::Agent agent(std::move(cfg));
        return agent.run();
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        std::cerr << "mto-agent: " << e.what() << "\n";
        return 1;
    }
}
