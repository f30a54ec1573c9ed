// SPDX-License-Identifier: Apache-2.0
// mto-agent: the factory's order agent (systemd service entry point).
#include <boost/program_options.hpp>
#include <csignal>
#include <iostream>
#include <spdlog/spdlog.h>

#include "agent.hpp"
#include "catalog.hpp"
#include "logging.hpp"
#include "mto/config.hpp"

namespace po = boost::program_options;

int main(int argc, char** argv) {
    // Until the event loop can handle them, stop and reload signals wait (blocked) instead of
    // killing a half-started agent; every thread started from here on inherits the block.
    sigset_t handled;
    sigemptyset(&handled);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&handled, s);
    pthread_sigmask(SIG_BLOCK, &handled, nullptr);

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
