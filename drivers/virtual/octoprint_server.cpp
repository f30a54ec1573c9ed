// SPDX-License-Identifier: Apache-2.0
// A test OctoPrint: the REST endpoints the OctoPrint driver uses, answered as OctoPrint's API documents them, over
// a simulated print, with injected faults (bad key, printer not operational, print error, host restart).
#include "virtual/octoprint_server.hpp"

#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

namespace mto::virt {

namespace json = boost::json;
namespace bhttp = boost::beast::http;

namespace {

HttpReply octoprintError(unsigned status, const std::string& text) {
    json::object o;
    o["error"] = text;
    return jsonReply(status, json::serialize(o));
}

HttpReply noContent() {
    HttpReply r{bhttp::status::no_content, 11};
    r.prepare_payload();
    return r;
}

} // namespace

OctoPrintServer::OctoPrintServer(boost::asio::io_context& io, OctoPrintServerOptions options)
    : options_(std::move(options)), http_(io, [this](const HttpRequest& r) { return handle(r); }), restartTimer_(io),
      print_(options_.print) {}

std::uint16_t OctoPrintServer::start() { return http_.start(options_.port); }

void OctoPrintServer::stopHost() {
    http_.stop();
    if (!options_.keepJobOnRestart) print_.forget();
}

void OctoPrintServer::startHost() { http_.start(http_.port()); }

void OctoPrintServer::restart(std::chrono::milliseconds down) {
    spdlog::info("octoprint sim: restarting ({} ms down, job state {})", down.count(),
                 options_.keepJobOnRestart ? "kept" : "lost");
    stopHost();
    restartTimer_.expires_after(down);
    restartTimer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) startHost();
    });
}

HttpReply OctoPrintServer::handle(const HttpRequest& req) {
    ++requests_;
    if (req["X-Api-Key"] != options_.apiKey)
        return octoprintError(403, "Invalid API key");
    const std::string target(req.target());
    const std::string path = target.substr(0, target.find('?'));
    if (req.method() == bhttp::verb::get && path == "/api/version") {
        json::object o;
        o["api"] = "0.1";
        o["server"] = "1.9.3";
        o["text"] = "OctoPrint 1.9.3 (mto-machine-sim)";
        return jsonReply(200, json::serialize(o));
    }
    if (req.method() == bhttp::verb::get && path == "/api/job") return job();
    if (req.method() == bhttp::verb::get && path == "/api/printer") return printer();
    if (req.method() == bhttp::verb::post && path == "/api/files/local") return uploadFile(req);
    if (req.method() == bhttp::verb::post && path == "/api/job") return jobCommand(req);
    return octoprintError(404, "Not found");
}

HttpReply OctoPrintServer::job() {
    json::object o;
    json::object file;
    json::object progress;
    const auto st = print_.state();
    std::string state;
    if (!operational_) state = "Offline";
    else switch (st) {
        case SimulatedPrint::State::Printing: state = "Printing"; break;
        case SimulatedPrint::State::Paused: state = "Paused"; break;
        case SimulatedPrint::State::Error: state = "Error"; break;
        default: state = "Operational"; break;
        }
    if (!print_.file().empty()) {
        file["name"] = print_.file();
        file["path"] = print_.file();
        file["origin"] = "local";
        const std::size_t size = files_.count(print_.file()) ? files_.at(print_.file()).size() : 0;
        file["size"] = size;
        progress["completion"] = print_.progress() * 100.0;
        progress["printTime"] = print_.printDuration();
        progress["printTimeLeft"] = print_.options().printSeconds - print_.printDuration();
        progress["filepos"] = static_cast<std::uint64_t>(print_.progress() * static_cast<double>(size));
    } else {
        file["name"] = nullptr;
        progress["completion"] = nullptr;
        progress["printTime"] = nullptr;
        progress["printTimeLeft"] = nullptr;
        progress["filepos"] = nullptr;
    }
    json::object j;
    j["file"] = std::move(file);
    j["estimatedPrintTime"] = print_.options().printSeconds;
    o["job"] = std::move(j);
    o["progress"] = std::move(progress);
    o["state"] = state;
    if (st == SimulatedPrint::State::Error) o["error"] = print_.message();
    return jsonReply(200, json::serialize(o));
}

HttpReply OctoPrintServer::printer() {
    if (!operational_) return octoprintError(409, "Printer is not operational");
    const auto st = print_.state();
    json::object flags;
    flags["operational"] = true;
    flags["printing"] = st == SimulatedPrint::State::Printing;
    flags["paused"] = st == SimulatedPrint::State::Paused;
    flags["pausing"] = false;
    flags["cancelling"] = false;
    flags["error"] = st == SimulatedPrint::State::Error;
    flags["ready"] = st != SimulatedPrint::State::Printing && st != SimulatedPrint::State::Paused;
    flags["closedOrError"] = false;
    json::object state;
    state["text"] = st == SimulatedPrint::State::Printing ? "Printing"
                    : st == SimulatedPrint::State::Paused ? "Paused"
                    : st == SimulatedPrint::State::Error  ? "Error"
                                                          : "Operational";
    state["flags"] = std::move(flags);
    json::object o;
    o["state"] = std::move(state);
    return jsonReply(200, json::serialize(o));
}

HttpReply OctoPrintServer::uploadFile(const HttpRequest& req) {
    FormData form;
    if (!parseFormData(req, form) || !form.files.count("file")) return octoprintError(400, "No file included");
    const std::string name = form.fileNames["file"];
    const bool print = form.fields["print"] == "true";
    if (print && !operational_) return octoprintError(409, "Printer is not operational, cannot directly start printing");
    if (print && print_.busy()) return octoprintError(409, "Printer is already printing, cannot directly start printing");
    files_[name] = form.files["file"];
    if (print) print_.start(name);
    json::object local;
    local["name"] = name;
    local["path"] = name;
    local["origin"] = "local";
    json::object files;
    files["local"] = std::move(local);
    json::object o;
    o["files"] = std::move(files);
    o["done"] = true;
    return jsonReply(201, json::serialize(o));
}

HttpReply OctoPrintServer::jobCommand(const HttpRequest& req) {
    boost::system::error_code ec;
    const auto v = json::parse(req.body(), ec);
    if (ec || !v.is_object() || !v.as_object().contains("command")) return octoprintError(400, "Expected a JSON command");
    const auto& o = v.as_object();
    const std::string command(o.at("command").is_string() ? o.at("command").as_string() : "");
    const std::string action(o.contains("action") && o.at("action").is_string() ? o.at("action").as_string() : "toggle");
    if (!operational_) return octoprintError(409, "Printer is not operational");
    if (command == "pause") {
        const bool ok = action == "resume"  ? print_.resume()
                        : action == "pause" ? print_.pause()
                                            : (print_.pause() || print_.resume());
        return ok ? noContent() : octoprintError(409, "Printer is neither printing nor paused");
    }
    if (command == "cancel") return print_.cancel() ? noContent() : octoprintError(409, "Printer is neither printing nor paused");
    return octoprintError(400, "Unknown command " + command);
}

} // namespace mto::virt
