// SPDX-License-Identifier: Apache-2.0
// Sets up spdlog: journald when started by systemd, stderr otherwise.
#include "util/logging.hpp"

#include <cstdlib>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

#include "mto/error.hpp"

namespace mto {

void setLogLevel(const std::string& level) {
    auto lvl = spdlog::level::from_str(level);
    if (lvl == spdlog::level::off && level != "off") throw Error("unknown log level '" + level + "'");
    spdlog::set_level(lvl);
}

void setupLogging(const std::string& level) {
    // systemd sets JOURNAL_STREAM when stdout/stderr go to the journal; then log with priorities.
    std::shared_ptr<spdlog::logger> logger;
    if (std::getenv("JOURNAL_STREAM")) {
        auto sink = std::make_shared<spdlog::sinks::systemd_sink_mt>("mto-agent");
        logger = std::make_shared<spdlog::logger>("mto", sink);
        logger->set_pattern("%v");
    } else {
        auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
        logger = std::make_shared<spdlog::logger>("mto", sink);
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    }
    spdlog::set_default_logger(logger);
    setLogLevel(level);
    spdlog::flush_on(spdlog::level::warn);
}

} // namespace mto
