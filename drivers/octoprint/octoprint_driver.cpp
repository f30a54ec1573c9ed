// SPDX-License-Identifier: Apache-2.0
// The OctoPrint driver: a 3D printer behind OctoPrint's REST API (X-Api-Key), jobs uploaded with select+print and
// watched through /api/job and /api/printer.
#include "octoprint/octoprint_driver.hpp"
#include "http/json_fields.hpp"

#include <boost/json.hpp>

namespace mto::octoprint {

namespace json = boost::json;
using boost::beast::http::verb;
using http::HostJobStatus;
using http::HostResult;
using http::jsonNumber;
using http::jsonObject;
using http::jsonString;

namespace {

bool startsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

} // namespace

HostJobStatus parseOctoPrintJob(const std::string& body) {
    HostJobStatus s;
    boost::system::error_code ec;
    const auto v = json::parse(body, ec);
    if (ec || !v.is_object()) throw std::runtime_error("/api/job answered no JSON object");
    const auto& root = v.as_object();
    const std::string state = jsonString(root, "state");
    double completion = -1, printTime = -1;
    if (const auto* job = jsonObject(root, "job"))
        if (const auto* file = jsonObject(*job, "file")) s.file = jsonString(*file, "name");
    if (const auto* progress = jsonObject(root, "progress")) {
        completion = jsonNumber(*progress, "completion", -1);
        printTime = jsonNumber(*progress, "printTime", -1);
        s.secondsLeft = jsonNumber(*progress, "printTimeLeft", -1);
    }
    s.fraction = completion > 0 ? completion / 100.0 : 0;
    if (startsWith(state, "Printing") || startsWith(state, "Starting") || startsWith(state, "Resuming") ||
        startsWith(state, "Finishing") || startsWith(state, "Cancelling")) {
        s.state = HostJobStatus::State::Printing;
    } else if (startsWith(state, "Pausing") || startsWith(state, "Paused")) {
        s.state = HostJobStatus::State::Paused;
    } else if (startsWith(state, "Error") || state == "Offline after error") {
        s.state = HostJobStatus::State::Error;
        s.message = jsonString(root, "error");
        if (s.message.empty()) s.message = state;
    } else if (state == "Operational" && !s.file.empty()) {
        // OctoPrint keeps the last job's file and progress: a full one finished, a partial one was stopped.
        if (completion >= 100) s.state = HostJobStatus::State::Complete;
        else if (completion > 0 || printTime > 0) s.state = HostJobStatus::State::Cancelled;
        else s.state = HostJobStatus::State::Standby;
    } else {
        s.state = HostJobStatus::State::Standby;
    }
    return s;
}

OctoPrintDriver::OctoPrintDriver(boost::asio::io_context& io, http::PrintHostOptions options, DriverListener& listener)
    : PrintHostDriver(io, std::move(options), listener) {}

void OctoPrintDriver::identify(Done done) {
    send(verb::get, "/api/version", {}, {}, options_.requestTimeout,
         [this, done = std::move(done)](const boost::system::error_code& ec, http::HttpResponse r) {
             auto result = httpResult(ec, r);
             if (result.kind != HostResult::Kind::Ok) return done(result);
             boost::system::error_code jec;
             const auto v = json::parse(r.body, jec);
             if (jec || !v.is_object() || !v.as_object().contains("api"))
                 return done(HostResult::refused({"not_octoprint", "",
                                                  "/api/version did not answer as OctoPrint does: is " + options_.url +
                                                      " an OctoPrint server?"}));
             const auto& o = v.as_object();
             identity_.firmware = "OctoPrint";
             identity_.version = jsonString(o, "server");
             identity_.detail = "api " + jsonString(o, "api") + (jsonString(o, "text").empty() ? "" : ", " + jsonString(o, "text"));
             done(HostResult::ok());
         });
}

void OctoPrintDriver::queryStatus(StatusDone done) {
    send(verb::get, "/api/job", {}, {}, options_.requestTimeout,
         [this, done = std::move(done)](const boost::system::error_code& ec, http::HttpResponse r) mutable {
             auto result = httpResult(ec, r);
             if (result.kind != HostResult::Kind::Ok) return done(result, {});
             HostJobStatus s;
             try {
                 s = parseOctoPrintJob(r.body);
             } catch (const std::exception& e) {
                 return done(HostResult::alarm({"host_error", "", e.what()}), {});
             }
             // /api/printer answers 409 while the printer is not operational (cable out, firmware error).
             send(verb::get, "/api/printer?exclude=temperature,sd", {}, {}, options_.requestTimeout,
                  [s, done = std::move(done)](const boost::system::error_code& ec2, http::HttpResponse r2) {
                      auto result2 = httpResult(ec2, r2);
                      if (result2.kind != HostResult::Kind::Ok) return done(result2, {});
                      done(HostResult::ok(), s);
                  });
         });
}

void OctoPrintDriver::upload(const std::string& fileName, const std::string& program, Done done) {
    auto [body, type] = http::multipartBody({{"file", program, fileName, "text/x.gcode"},
                                             {"select", "true", {}, {}},
                                             {"print", "true", {}, {}}});
    send(verb::post, "/api/files/local", std::move(body), type, options_.uploadTimeout,
         [done = std::move(done)](const boost::system::error_code& ec, http::HttpResponse r) {
             done(httpResult(ec, r));
         });
}

void OctoPrintDriver::command(Command c, Done done) {
    json::object o;
    switch (c) {
    case Command::Pause: o["command"] = "pause"; o["action"] = "pause"; break;
    case Command::Resume: o["command"] = "pause"; o["action"] = "resume"; break;
    case Command::Cancel: o["command"] = "cancel"; break;
    }
    send(verb::post, "/api/job", json::serialize(o), "application/json", options_.requestTimeout,
         [done = std::move(done)](const boost::system::error_code& ec, http::HttpResponse r) {
             done(httpResult(ec, r));
         });
}

} // namespace mto::octoprint
