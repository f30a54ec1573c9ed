// SPDX-License-Identifier: Apache-2.0
// The Moonraker driver: a Klipper printer behind Moonraker's HTTP API, jobs uploaded to the gcodes root with
// print=true and watched through printer/objects/query (print_stats, virtual_sdcard, display_status).
#include "moonraker/moonraker_driver.hpp"

#include <boost/json.hpp>

namespace mto::moonraker {

namespace json = boost::json;
using boost::beast::http::verb;
using http::HostJobStatus;
using http::HostResult;

namespace {

std::string str(const json::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

double num(const json::object& o, const char* key, double fallback) {
    const auto* v = o.if_contains(key);
    if (!v) return fallback;
    if (v->is_double()) return v->as_double();
    if (v->is_int64()) return static_cast<double>(v->as_int64());
    if (v->is_uint64()) return static_cast<double>(v->as_uint64());
    return fallback;
}

const json::object* obj(const json::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    return v && v->is_object() ? &v->as_object() : nullptr;
}

// Moonraker wraps every answer in {"result": ...}.
const json::object* result(const json::value& v) {
    return v.is_object() ? obj(v.as_object(), "result") : nullptr;
}

} // namespace

HostJobStatus parseMoonrakerStatus(const std::string& body) {
    boost::system::error_code ec;
    const auto v = json::parse(body, ec);
    const json::object* res = ec ? nullptr : result(v);
    const json::object* status = res ? obj(*res, "status") : nullptr;
    if (!status) throw std::runtime_error("printer/objects/query answered no result.status");
    HostJobStatus s;
    double printDuration = 0;
    if (const auto* ps = obj(*status, "print_stats")) {
        const std::string state = str(*ps, "state");
        s.file = str(*ps, "filename");
        s.message = str(*ps, "message");
        printDuration = num(*ps, "print_duration", 0);
        if (state == "printing") s.state = HostJobStatus::State::Printing;
        else if (state == "paused") s.state = HostJobStatus::State::Paused;
        else if (state == "complete") s.state = HostJobStatus::State::Complete;
        else if (state == "cancelled") s.state = HostJobStatus::State::Cancelled;
        else if (state == "error") s.state = HostJobStatus::State::Error;
        else s.state = HostJobStatus::State::Standby;
    } else {
        throw std::runtime_error("printer/objects/query answered without print_stats");
    }
    double progress = -1;
    if (const auto* vs = obj(*status, "virtual_sdcard")) progress = num(*vs, "progress", -1);
    if (progress < 0)
        if (const auto* ds = obj(*status, "display_status")) progress = num(*ds, "progress", -1);
    s.fraction = progress > 0 ? progress : 0;
    if (progress > 0.01 && printDuration > 0) s.secondsLeft = printDuration / progress - printDuration;
    return s;
}

MoonrakerDriver::MoonrakerDriver(boost::asio::io_context& io, http::PrintHostOptions options, DriverListener& listener)
    : PrintHostDriver(io, std::move(options), listener) {}

void MoonrakerDriver::checkKlippy(Done done) {
    send(verb::get, "/server/info", {}, {}, options_.requestTimeout,
         [this, done = std::move(done)](const boost::system::error_code& ec, http::HttpResponse r) mutable {
             auto res = httpResult(ec, r);
             if (res.kind != HostResult::Kind::Ok) return done(res);
             boost::system::error_code jec;
             const auto v = json::parse(r.body, jec);
             const json::object* info = jec ? nullptr : result(v);
             if (!info || !info->contains("klippy_state"))
                 return done(HostResult::refused({"not_moonraker", "",
                                                  "/server/info did not answer as Moonraker does: is " + options_.url +
                                                      " a Moonraker server?"}));
             identity_.firmware = "Moonraker";
             identity_.version = str(*info, "moonraker_version");
             identity_.detail = "api " + str(*info, "api_version_string");
             const std::string state = str(*info, "klippy_state");
             if (state == "ready") return done(HostResult::ok());
             // Klippy's own words are in printer/info's state_message (answered while Klippy is connected).
             send(verb::get, "/printer/info", {}, {}, options_.requestTimeout,
                  [state, done = std::move(done)](const boost::system::error_code& ec2, http::HttpResponse r2) {
                      std::string message;
                      boost::system::error_code jec2;
                      if (!ec2 && r2.status == 200) {
                          const auto v2 = json::parse(r2.body, jec2);
                          if (const json::object* pi = jec2 ? nullptr : result(v2)) message = str(*pi, "state_message");
                      }
                      const std::string reason = state == "shutdown" ? "klippy_shutdown"
                                                 : state == "error"  ? "klippy_error"
                                                                     : "klippy_not_ready";
                      done(HostResult::alarm({reason, state,
                                              "Klippy " + (state == "shutdown" ? std::string("shutdown") : "not ready (" + state + ")") +
                                                  (message.empty() ? "" : ": " + message)}));
                  });
         });
}

void MoonrakerDriver::identify(Done done) { checkKlippy(std::move(done)); }

void MoonrakerDriver::queryStatus(StatusDone done) {
    send(verb::get, "/printer/objects/query?print_stats&virtual_sdcard&display_status", {}, {}, options_.requestTimeout,
         [this, done = std::move(done)](const boost::system::error_code& ec, http::HttpResponse r) mutable {
             auto res = httpResult(ec, r);
             if (res.kind == HostResult::Kind::LinkDown) return done(res, {});
             if (res.kind == HostResult::Kind::Fault) {
                 // Printer objects fail while Klippy is down: say why in Klippy's words when it can be read.
                 return checkKlippy([res, done = std::move(done)](HostResult k) {
                     done(k.kind == HostResult::Kind::Ok ? res : k, {});
                 });
             }
             try {
                 done(HostResult::ok(), parseMoonrakerStatus(r.body));
             } catch (const std::exception& e) {
                 done(HostResult::alarm({"host_error", "", e.what()}), {});
             }
         });
}

void MoonrakerDriver::upload(const std::string& fileName, const std::string& program, Done done) {
    auto [body, type] = http::multipartBody({{"file", program, fileName, "text/x.gcode"},
                                             {"root", "gcodes", {}, {}},
                                             {"print", "true", {}, {}}});
    send(verb::post, "/server/files/upload", std::move(body), type, options_.uploadTimeout,
         [this, fileName, done = std::move(done)](const boost::system::error_code& ec, http::HttpResponse r) mutable {
             auto res = httpResult(ec, r);
             if (res.kind != HostResult::Kind::Ok) return done(res);
             boost::system::error_code jec;
             const auto v = json::parse(r.body, jec);
             const json::object* o = jec || !v.is_object() ? nullptr : &v.as_object();
             // Older Moonraker answers the upload without the result wrapper.
             const json::object* rr = o ? (obj(*o, "result") ? obj(*o, "result") : o) : nullptr;
             const bool started = rr && rr->contains("print_started") && (*rr).at("print_started").is_bool() &&
                                  (*rr).at("print_started").as_bool();
             const bool queued = rr && rr->contains("print_queued") && (*rr).at("print_queued").is_bool() &&
                                 (*rr).at("print_queued").as_bool();
             if (started || queued) return done(HostResult::ok());
             startPrint(fileName, std::move(done));
         });
}

void MoonrakerDriver::startPrint(const std::string& fileName, Done done) {
    send(verb::post, "/printer/print/start?filename=" + fileName, {}, {}, options_.requestTimeout,
         [done = std::move(done)](const boost::system::error_code& ec, http::HttpResponse r) { done(httpResult(ec, r)); });
}

void MoonrakerDriver::command(Command c, Done done) {
    const char* what = c == Command::Pause ? "pause" : c == Command::Resume ? "resume" : "cancel";
    send(verb::post, std::string("/printer/print/") + what, {}, {}, options_.requestTimeout,
         [done = std::move(done)](const boost::system::error_code& ec, http::HttpResponse r) { done(httpResult(ec, r)); });
}

} // namespace mto::moonraker
