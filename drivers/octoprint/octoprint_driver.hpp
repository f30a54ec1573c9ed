// SPDX-License-Identifier: Apache-2.0
// The OctoPrint driver: a 3D printer behind OctoPrint's REST API (X-Api-Key), jobs uploaded with select+print and
// watched through /api/job and /api/printer.
#pragma once

#include "http/print_host_driver.hpp"

namespace mto::octoprint {

// Thread-bound to the io_context (see PrintHostDriver for the invariants).
class OctoPrintDriver final : public http::PrintHostDriver {
public:
    OctoPrintDriver(boost::asio::io_context& io, http::PrintHostOptions options, DriverListener& listener);

protected:
    void identify(Done done) override;
    void queryStatus(StatusDone done) override;
    void upload(const std::string& fileName, const std::string& program, Done done) override;
    void command(Command c, Done done) override;
    const char* hostKind() const override { return "OctoPrint"; }
};

// /api/job's answer in the driver's terms (exposed for tests of the mapping).
http::HostJobStatus parseOctoPrintJob(const std::string& body);

} // namespace mto::octoprint
