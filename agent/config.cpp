// SPDX-License-Identifier: Apache-2.0
// Loads the agent's TOML configuration; every error names the file, the key and what is wrong.
#include "mto/config.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <toml++/toml.h>

#include "mto/error.hpp"
#include "http/http_client.hpp"
#include "intake/order_parser.hpp"

namespace mto {

namespace {

class ConfigReader {
public:
    ConfigReader(const std::filesystem::path& file, const toml::table& root) : file_(file.string()), root_(root) {}

    [[noreturn]] void fail(const std::string& key, const std::string& what) const {
        throw Error(file_ + ": key '" + key + "': " + what);
    }

    // One table of an array of tables ([[machines]], [[scanners]]): its values by key, errors naming
    // "<array>[i].<key>".
    struct Entry {
        const ConfigReader& r;
        const toml::table& t;
        std::string at;

        std::string text(const char* key, std::optional<std::string> fallback) const {
            const toml::node* v = t.get(key);
            if (!v) {
                if (!fallback) r.fail(at + "." + key, "missing (required)");
                return *fallback;
            }
            if (!v->is_string()) r.fail(at + "." + key, "must be a string");
            return *v->value<std::string>();
        }
        std::int64_t number(const char* key, std::int64_t fallback, std::int64_t min, std::int64_t max) const {
            const toml::node* v = t.get(key);
            if (!v) return fallback;
            if (!v->is_integer()) r.fail(at + "." + key, "must be an integer");
            const auto x = *v->value<std::int64_t>();
            if (x < min || x > max)
                r.fail(at + "." + key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
            return x;
        }
        bool flag(const char* key, bool fallback) const {
            const toml::node* v = t.get(key);
            if (!v) return fallback;
            if (!v->is_boolean()) r.fail(at + "." + key, "must be true or false");
            return *v->value<bool>();
        }
        double real(const char* key, double fallback, double min, double max) const {
            const toml::node* v = t.get(key);
            if (!v) return fallback;
            if (!v->is_number()) r.fail(at + "." + key, "must be a number");
            const double x = v->is_integer() ? static_cast<double>(*v->value<std::int64_t>()) : *v->value<double>();
            if (!(x >= min && x <= max))
                r.fail(at + "." + key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
            return x;
        }
    };

    const toml::node* node(const std::string& key) const { return root_.at_path(key).node(); }

    std::string string(const std::string& key, std::optional<std::string> fallback) const {
        const toml::node* n = node(key);
        if (!n) {
            if (!fallback) fail(key, "missing (required)");
            return *fallback;
        }
        if (!n->is_string()) fail(key, "must be a string");
        return *n->value<std::string>();
    }

    std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t min, std::int64_t max) const {
        const toml::node* n = node(key);
        if (!n) return fallback;
        if (!n->is_integer()) fail(key, "must be an integer");
        std::int64_t v = *n->value<std::int64_t>();
        if (v < min || v > max) fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
        return v;
    }

    // Unknown keys are refused so a typo does not silently fall back to a default.
    void onlyKnown(const std::set<std::string>& known) const {
        for (const auto& [section, value] : root_) {
            std::string s(section.str());
            if (s == "station") {             // holds an array of tables, checked by readStation()
                if (const toml::table* t = value.as_table())
                    for (const auto& [key, ignored] : *t)
                        if (key.str() != "listen" && key.str() != "stations") fail("station." + std::string(key.str()), "unknown key");
                continue;
            }
            if (s == "machines" || s == "scanners" || s == "cameras") continue;   // arrays of tables, checked by their readers
            const toml::table* t = value.as_table();
            if (!t) {
                if (!known.count(s)) fail(s, "unknown key");
                continue;
            }
            for (const auto& [key, ignored] : *t) {
                std::string full = s + "." + std::string(key.str());
                if (!known.count(full)) fail(full, "unknown key");
            }
        }
    }

    std::filesystem::path path(const std::string& key, std::optional<std::string> fallback) const {
        std::filesystem::path p = string(key, std::move(fallback));
        if (p.empty() || p.is_absolute()) return p;
        // Relative paths are relative to the config file, so a config moved with its files still works.
        return std::filesystem::absolute(std::filesystem::path(file_).parent_path() / p);
    }

    bool flag(const std::string& key, bool fallback) const {
        const toml::node* n = node(key);
        if (!n) return fallback;
        if (!n->is_boolean()) fail(key, "must be true or false");
        return *n->value<bool>();
    }

    // An integer or a float, within [min, max].
    double number(const std::string& key, double fallback, double min, double max) const {
        const toml::node* n = node(key);
        if (!n) return fallback;
        if (!n->is_number()) fail(key, "must be a number");
        const double v = *n->value<double>();
        if (!(v >= min && v <= max)) fail(key, "must be between " + trimmed(min) + " and " + trimmed(max));
        return v;
    }

    static std::string trimmed(double v) {
        std::string s = std::to_string(v);
        s.erase(s.find_last_not_of('0') + 1);
        if (!s.empty() && s.back() == '.') s.pop_back();
        return s;
    }

    LabelsConfig readLabels() const {
        LabelsConfig l;
        l.enabled = flag("labels.enabled", true);
        const std::string symbology = string("labels.symbology", "code128");
        if (symbology == "code128") l.symbology = LabelsConfig::Symbology::Code128;
        else if (symbology == "qr") l.symbology = LabelsConfig::Symbology::Qr;
        else fail("labels.symbology", "must be \"code128\" or \"qr\", not \"" + symbology + "\"");
        l.widthMm = number("labels.width_mm", 100, 25, 300);
        l.heightMm = number("labels.height_mm", 50, 15, 300);
        l.dpi = static_cast<int>(integer("labels.dpi", 203, 100, 1200));
        const std::string printer = string("labels.printer", "none");
        if (printer == "none") l.printer = LabelsConfig::PrinterKind::None;
        else if (printer == "cups") l.printer = LabelsConfig::PrinterKind::Cups;
        else if (printer == "tcp") l.printer = LabelsConfig::PrinterKind::RawTcp;
        else fail("labels.printer", "must be \"none\" (files only), \"cups\" (lp) or \"tcp\" (raw port 9100), not \"" +
                                       printer + "\"");
        l.cupsQueue = string("labels.cups_queue", "");
        if (l.printer == LabelsConfig::PrinterKind::Cups && l.cupsQueue.empty())
            fail("labels.cups_queue", "missing: printer = \"cups\" needs the CUPS queue to print to (lpstat -p lists them)");
        if (!l.cupsQueue.empty() && (l.cupsQueue.find_first_of(" \t/#") != std::string::npos || l.cupsQueue.front() == '-'))
            fail("labels.cups_queue", "is not a CUPS queue name (no spaces, '/', '#', and no leading '-')");
        l.lpCommand = string("labels.lp_command", "lp");
        if (l.lpCommand.empty()) fail("labels.lp_command", "must not be empty");
        if (l.lpCommand.has_parent_path() && l.lpCommand.is_relative()) l.lpCommand = path("labels.lp_command", "lp");
        const std::string address = string("labels.address", "");
        if (l.printer == LabelsConfig::PrinterKind::RawTcp && address.empty())
            fail("labels.address", "missing: printer = \"tcp\" needs the printer's host[:port] (port 9100 by default)");
        if (!address.empty()) {
            // host, host:port, [v6 address]:port or a bare IPv6 address.
            std::string portText;
            if (address.front() == '[') {
                const auto close = address.find(']');
                if (close == std::string::npos) fail("labels.address", "has '[' without ']'");
                l.host = address.substr(1, close - 1);
                const std::string rest = address.substr(close + 1);
                if (!rest.empty() && rest.front() != ':') fail("labels.address", "wants [address]:port");
                if (!rest.empty()) portText = rest.substr(1);
            } else if (const auto colon = address.find(':');
                       colon != std::string::npos && address.find(':', colon + 1) == std::string::npos) {
                l.host = address.substr(0, colon);
                portText = address.substr(colon + 1);
            } else {
                l.host = address;
            }
            if (l.host.empty()) fail("labels.address", "names no host");
            if (address.find(':') != std::string::npos && address.front() != '[' && portText.empty() &&
                address.find(':') == address.rfind(':'))
                fail("labels.address", "has an empty port");
            if (!portText.empty()) {
                if (portText.size() > 5 || portText.find_first_not_of("0123456789") != std::string::npos ||
                    std::stoul(portText) == 0 || std::stoul(portText) > 65535)
                    fail("labels.address", "port '" + portText + "' is not 1..65535");
                l.port = static_cast<std::uint16_t>(std::stoul(portText));
            }
        }
        const std::string format = string("labels.print_format",
                                          l.printer == LabelsConfig::PrinterKind::RawTcp ? "zpl" : "pdf");
        if (format == "pdf") l.printFormat = LabelsConfig::PrintFormat::Pdf;
        else if (format == "png") l.printFormat = LabelsConfig::PrintFormat::Png;
        else if (format == "zpl") l.printFormat = LabelsConfig::PrintFormat::Zpl;
        else fail("labels.print_format", "must be \"pdf\", \"png\" or \"zpl\", not \"" + format + "\"");
        l.printTimeout = std::chrono::milliseconds(integer("labels.print_timeout_s", 10, 1, 600) * 1000);
        l.retryMin = std::chrono::milliseconds(static_cast<std::int64_t>(number("labels.retry_min_s", 2, 0.05, 3600) * 1000));
        l.retryMax = std::chrono::milliseconds(static_cast<std::int64_t>(number("labels.retry_max_s", 300, 0.05, 86400) * 1000));
        if (l.retryMax < l.retryMin) fail("labels.retry_max_s", "must not be smaller than labels.retry_min_s");
        return l;
    }

    // url, api_key / api_key_file and poll_ms of a machine behind OctoPrint or Moonraker.
    void readPrintHost(const Entry& e, const std::string& at, MachineConfig& m) const {
        if (e.t.get("port")) fail(at + ".port", m.driver + " machines are reached by url, not port");
        m.url = e.text("url", std::nullopt);
        try {
            http::parseHttpUrl(m.url);
        } catch (const std::exception& ex) {
            fail(at + ".url", std::string(ex.what()) + "; give http://host:port of the " + m.driver + " server");
        }
        const bool key = e.t.get("api_key") != nullptr, keyFile = e.t.get("api_key_file") != nullptr;
        if (key && keyFile) fail(at + ".api_key_file", "give api_key or api_key_file, not both");
        if (key) m.apiKey = e.text("api_key", std::nullopt);
        if (keyFile) {
            std::filesystem::path p = e.text("api_key_file", std::nullopt);
            if (p.is_relative()) p = std::filesystem::path(file_).parent_path() / p;
            std::ifstream in(p);
            if (!in) fail(at + ".api_key_file", "cannot read " + p.string());
            std::getline(in, m.apiKey);
            while (!m.apiKey.empty() && std::isspace(static_cast<unsigned char>(m.apiKey.back()))) m.apiKey.pop_back();
            m.apiKey.erase(0, m.apiKey.find_first_not_of(" \t"));
            if (m.apiKey.empty()) fail(at + ".api_key_file", p.string() + " holds no key on its first line");
        }
        if (m.driver == "octoprint" && m.apiKey.empty())
            fail(at + ".api_key", "missing (required): OctoPrint answers only requests with an API key "
                                  "(Settings > API, or an application key); or give api_key_file");
        m.pollInterval = std::chrono::milliseconds(e.number("poll_ms", 1000, 100, 60000));
    }

    std::vector<MachineConfig> readMachines() const {
        std::vector<MachineConfig> out;
        const toml::node* n = node("machines");
        if (!n) return out;
        const toml::array* list = n->as_array();
        if (!list) fail("machines", "must be an array of tables: [[machines]]");
        static const std::set<std::string> known{"id", "profile", "driver", "port", "baud", "materials", "dry_run",
                                                 "character_counting", "status_running_ms", "status_idle_ms", "on_hold",
                                                 "on_cancel", "in_flight", "pause_gcode", "resume_gcode", "cancel_gcode",
                                                 "jigs", "url", "api_key", "api_key_file", "poll_ms",
                                                 "plate_max_parts"};
        std::set<std::string> ids;
        for (std::size_t i = 0; i < list->size(); ++i) {
            const std::string at = "machines[" + std::to_string(i) + "]";
            const toml::table* t = list->get(i)->as_table();
            if (!t) fail(at, "must be a table");
            for (const auto& [key, ignored] : *t)
                if (!known.count(std::string(key.str()))) fail(at + "." + std::string(key.str()), "unknown key");
            const Entry e{*this, *t, at};
            MachineConfig m;
            m.id = e.text("id", std::nullopt);
            if (!OrderParser::isValidId(m.id)) fail(at + ".id", "must be 1..64 characters of A-Z a-z 0-9 . _ : -");
            if (!ids.insert(m.id).second) fail(at + ".id", "machine '" + m.id + "' is listed twice");
            m.profile = e.text("profile", std::nullopt);
            m.driver = e.text("driver", "grbl");
            if (m.driver != "grbl" && m.driver != "marlin" && m.driver != "octoprint" && m.driver != "moonraker")
                fail(at + ".driver", "must be \"grbl\" (lasers, CNC routers), \"marlin\" (FDM printers on a serial line), "
                                     "\"octoprint\" or \"moonraker\" (FDM printers behind a print host)");
            const bool marlin = m.driver == "marlin";
            for (const char* key : {"dry_run", "character_counting", "status_running_ms", "status_idle_ms"})
                if (m.driver != "grbl" && t->get(key))
                    fail(at + "." + key, "is a GRBL setting; this machine has driver = \"" + m.driver + "\"");
            for (const char* key : {"in_flight", "pause_gcode", "resume_gcode", "cancel_gcode"})
                if (!marlin && t->get(key))
                    fail(at + "." + key, "is a Marlin setting; this machine has driver = \"" + m.driver + "\"");
            m.inFlight = static_cast<unsigned>(e.number("in_flight", 4, 1, 32));
            if (t->get("pause_gcode")) m.pauseGcode = e.text("pause_gcode", std::nullopt);
            if (t->get("resume_gcode")) m.resumeGcode = e.text("resume_gcode", std::nullopt);
            if (t->get("cancel_gcode")) m.cancelGcode = e.text("cancel_gcode", std::nullopt);
            if (m.driver == "octoprint" || m.driver == "moonraker") {
                readPrintHost(e, at, m);
            } else {
                m.port = e.text("port", std::nullopt);
                if (m.port.empty()) fail(at + ".port", "must name a serial device or tcp://host:port");
            }
            m.baud = static_cast<unsigned>(e.number("baud", 115200, 1200, 4000000));
            if (const toml::node* v = t->get("materials")) {
                const toml::array* a = v->as_array();
                if (!a) fail(at + ".materials", "must be an array of material names");
                for (const auto& material : *a) {
                    if (!material.is_string()) fail(at + ".materials", "must be an array of material names");
                    m.materials.push_back(*material.value<std::string>());
                }
            }
            m.dryRun = e.flag("dry_run", false);
            m.characterCounting = e.flag("character_counting", true);
            m.statusWhileRunning = std::chrono::milliseconds(e.number("status_running_ms", 200, 20, 60000));
            m.statusWhileIdle = std::chrono::milliseconds(e.number("status_idle_ms", 5000, 100, 600000));
            const std::string onHold = e.text("on_hold", "finish");
            if (onHold != "finish" && onHold != "pause")
                fail(at + ".on_hold", "must be \"finish\" (the running unit ends) or \"pause\" (feed hold until resumed)");
            m.pauseOnHold = onHold == "pause";
            const std::string onCancel = e.text("on_cancel", "finish");
            if (onCancel != "finish" && onCancel != "stop")
                fail(at + ".on_cancel", "must be \"finish\" (the running unit ends) or \"stop\" (the job stops at once)");
            m.stopOnCancel = onCancel == "stop";
            m.jigs = readJigs(*t, at);
            if (t->get("plate_max_parts") && m.driver == "grbl")
                fail(at + ".plate_max_parts", "is a printer setting (plates are arranged by the slicer); this machine "
                                              "has driver = \"grbl\" (lasers and routers batch on jigs)");
            m.plateMaxParts = static_cast<std::size_t>(e.number("plate_max_parts", 1, 1, 100));
            out.push_back(std::move(m));
        }
        return out;
    }

    // [[machines.jigs]] of one machine: slots from a grid or a list, one slot size, the SKUs held.
    std::vector<JigConfig> readJigs(const toml::table& machine, const std::string& machineAt) const {
        std::vector<JigConfig> out;
        const toml::node* n = machine.get("jigs");
        if (!n) return out;
        const toml::array* list = n->as_array();
        if (!list) fail(machineAt + ".jigs", "must be an array of tables: [[machines.jigs]]");
        auto real = [this](const toml::table& t, const std::string& at, const char* key, double min, double max) {
            const toml::node* v = t.get(key);
            if (!v) fail(at + "." + key, "missing (required)");
            if (!v->is_number()) fail(at + "." + key, "must be a number (mm)");
            const double x = *v->value<double>();
            if (!(x >= min && x <= max)) fail(at + "." + key, "must be between " + trimmed(min) + " and " + trimmed(max));
            return x;
        };
        static const std::set<std::string> known{"id", "skus", "slot_width", "slot_height", "grid", "slots"};
        std::set<std::string> ids;
        for (std::size_t i = 0; i < list->size(); ++i) {
            const std::string at = machineAt + ".jigs[" + std::to_string(i) + "]";
            const toml::table* t = list->get(i)->as_table();
            if (!t) fail(at, "must be a table");
            for (const auto& [key, ignored] : *t)
                if (!known.count(std::string(key.str()))) fail(at + "." + std::string(key.str()), "unknown key");
            const Entry e{*this, *t, at};
            JigConfig j;
            j.id = e.text("id", std::nullopt);
            if (!OrderParser::isValidId(j.id)) fail(at + ".id", "must be 1..64 characters of A-Z a-z 0-9 . _ : -");
            if (!ids.insert(j.id).second) fail(at + ".id", "jig '" + j.id + "' is listed twice on this machine");
            const toml::array* skus = t->get("skus") ? t->get("skus")->as_array() : nullptr;
            if (!skus || skus->empty()) fail(at + ".skus", "must be a non-empty array of SKUs the jig holds");
            for (const auto& sku : *skus) {
                if (!sku.is_string()) fail(at + ".skus", "must be an array of SKU names");
                j.skus.push_back(*sku.value<std::string>());
            }
            const double w = real(*t, at, "slot_width", 0.1, 100000), h = real(*t, at, "slot_height", 0.1, 100000);
            const toml::node* grid = t->get("grid");
            const toml::node* slots = t->get("slots");
            if ((grid != nullptr) == (slots != nullptr))
                fail(at + ".grid", "give the slots either as a grid (grid = { ... }) or as a list (slots = [ ... ]), "
                                   "exactly one of them");
            if (grid) {
                const std::string g = at + ".grid";
                const toml::table* gt = grid->as_table();
                if (!gt) fail(g, "must be a table { origin_x, origin_y, columns, rows, pitch_x, pitch_y }");
                static const std::set<std::string> gridKeys{"origin_x", "origin_y", "columns", "rows", "pitch_x", "pitch_y"};
                for (const auto& [key, ignored] : *gt)
                    if (!gridKeys.count(std::string(key.str()))) fail(g + "." + std::string(key.str()), "unknown key");
                const Entry ge{*this, *gt, g};
                const double ox = real(*gt, g, "origin_x", -100000, 100000), oy = real(*gt, g, "origin_y", -100000, 100000);
                const auto columns = ge.number("columns", 1, 1, 1000), rows = ge.number("rows", 1, 1, 1000);
                if (columns * rows > 10000) fail(g, "more than 10000 slots");
                const double px = columns > 1 ? real(*gt, g, "pitch_x", 0.1, 100000) : 0;
                const double py = rows > 1 ? real(*gt, g, "pitch_y", 0.1, 100000) : 0;
                for (std::int64_t r = 0; r < rows; ++r)
                    for (std::int64_t c = 0; c < columns; ++c)
                        j.slots.push_back({ox + static_cast<double>(c) * px, oy + static_cast<double>(r) * py, w, h});
            } else {
                const toml::array* a = slots->as_array();
                if (!a || a->empty()) fail(at + ".slots", "must be a non-empty array of { x, y } slot origins");
                for (std::size_t k = 0; k < a->size(); ++k) {
                    const std::string s = at + ".slots[" + std::to_string(k) + "]";
                    const toml::table* st = a->get(k)->as_table();
                    if (!st) fail(s, "must be a table { x, y }");
                    for (const auto& [key, ignored] : *st)
                        if (key.str() != "x" && key.str() != "y") fail(s + "." + std::string(key.str()), "unknown key");
                    j.slots.push_back({real(*st, s, "x", -100000, 100000), real(*st, s, "y", -100000, 100000), w, h});
                }
            }
            if (auto clash = overlappingJigSlots(j.slots))
                fail(at + (grid ? ".grid" : ".slots[" + std::to_string(clash->second) + "]"),
                     "slot " + std::to_string(clash->second) + " overlaps slot " + std::to_string(clash->first) +
                         " (a pitch smaller than the slot size?)");
            out.push_back(std::move(j));
        }
        return out;
    }

    std::vector<CameraConfig> readCameras(const std::vector<MachineConfig>& machines) const {
        std::vector<CameraConfig> out;
        const toml::node* n = node("cameras");
        if (!n) return out;
        const toml::array* list = n->as_array();
        if (!list) fail("cameras", "must be an array of tables: [[cameras]]");
        static const std::set<std::string> known{"id", "source", "machines", "jpeg_quality", "thumbnail_width",
                                                 "progress_points", "open_timeout_ms", "read_timeout_ms",
                                                 "retry_min_ms", "retry_max_ms", "idle_close_s", "keep_open",
                                                 "sharpness_min", "brightness_min", "brightness_max"};
        std::set<std::string> machineIds;
        for (const auto& m : machines) machineIds.insert(m.id);
        std::set<std::string> ids;
        for (std::size_t i = 0; i < list->size(); ++i) {
            const std::string at = "cameras[" + std::to_string(i) + "]";
            const toml::table* t = list->get(i)->as_table();
            if (!t) fail(at, "must be a table");
            for (const auto& [key, ignored] : *t)
                if (!known.count(std::string(key.str()))) fail(at + "." + std::string(key.str()), "unknown key");
            const Entry e{*this, *t, at};
            CameraConfig c;
            c.id = e.text("id", std::nullopt);
            if (!OrderParser::isValidId(c.id)) fail(at + ".id", "must be 1..64 characters of A-Z a-z 0-9 . _ : -");
            if (!ids.insert(c.id).second) fail(at + ".id", "camera '" + c.id + "' is listed twice");
            c.source = e.text("source", std::nullopt);
            if (c.source.empty())
                fail(at + ".source", "must name a V4L2 device, an http:// or rtsp:// stream, a video file or an image folder");
            if (c.source.find("://") == std::string::npos && c.source.rfind("/dev/", 0) != 0) {
                std::filesystem::path p = c.source;
                if (p.is_relative()) p = std::filesystem::absolute(std::filesystem::path(file_).parent_path() / p);
                if (!std::filesystem::exists(p)) fail(at + ".source", "no such file or folder " + p.string());
                c.source = p.string();
            }
            const toml::node* ms = t->get("machines");
            const toml::array* ma = ms ? ms->as_array() : nullptr;
            if (!ms) fail(at + ".machines", "missing (required): the machines this camera watches");
            if (!ma) fail(at + ".machines", "must be an array of machine ids");
            for (const auto& x : *ma) {
                if (!x.is_string()) fail(at + ".machines", "must be an array of machine ids");
                const std::string id = *x.value<std::string>();
                if (!machineIds.count(id)) fail(at + ".machines", "no [[machines]] has id '" + id + "'");
                c.machines.push_back(id);
            }
            c.jpegQuality = static_cast<int>(e.number("jpeg_quality", 90, 1, 100));
            c.thumbnailWidth = static_cast<int>(e.number("thumbnail_width", 320, 16, 4096));
            if (const toml::node* v = t->get("progress_points")) {
                const toml::array* a = v->as_array();
                if (!a) fail(at + ".progress_points", "must be an array of percentages, e.g. [50]");
                for (const auto& x : *a) {
                    if (!x.is_integer() || *x.value<std::int64_t>() < 1 || *x.value<std::int64_t>() > 99)
                        fail(at + ".progress_points", "must be an array of percentages from 1 to 99, e.g. [50]");
                    c.progressPoints.push_back(static_cast<int>(*x.value<std::int64_t>()));
                }
            }
            c.openTimeout = std::chrono::milliseconds(e.number("open_timeout_ms", 5000, 100, 120000));
            c.readTimeout = std::chrono::milliseconds(e.number("read_timeout_ms", 3000, 100, 120000));
            c.retryMin = std::chrono::milliseconds(e.number("retry_min_ms", 1000, 10, 600000));
            c.retryMax = std::chrono::milliseconds(e.number("retry_max_ms", 30000, 10, 3600000));
            if (c.retryMax < c.retryMin) fail(at + ".retry_max_ms", "must not be smaller than retry_min_ms");
            c.idleClose = std::chrono::seconds(e.number("idle_close_s", 30, 1, 86400));
            c.keepOpen = e.flag("keep_open", false);
            c.sharpnessMin = e.real("sharpness_min", 0, 0, 1e9);
            c.brightnessMin = e.real("brightness_min", 0, 0, 255);
            c.brightnessMax = e.real("brightness_max", 255, 0, 255);
            if (c.brightnessMax < c.brightnessMin) fail(at + ".brightness_max", "must not be smaller than brightness_min");
            out.push_back(std::move(c));
        }
        return out;
    }

    StationDisplayConfig readStation(const std::vector<MachineConfig>& machines) const {
        StationDisplayConfig out;
        const toml::node* section = node("station");
        if (!section) return out;
        if (!section->is_table()) fail("station", "must be a table: [station]");
        out.enabled = true;
        const std::string listen = string("station.listen", "127.0.0.1:8080");
        // host:port, or [v6-address]:port
        const auto colon = listen.rfind(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
            fail("station.listen", "must be address:port, e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8080\"; got \"" + listen + "\"");
        std::string host = listen.substr(0, colon);
        if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
        boost::system::error_code ec;
        boost::asio::ip::make_address(host, ec);
        if (ec) fail("station.listen", "'" + host + "' is not an IP address (use 0.0.0.0 for every interface)");
        const std::string portText = listen.substr(colon + 1);
        if (portText.size() > 5 || portText.find_first_not_of("0123456789") != std::string::npos ||
            std::stoul(portText) < 1 || std::stoul(portText) > 65535)
            fail("station.listen", "port must be 1..65535; got \"" + portText + "\"");
        out.host = host;
        out.port = static_cast<unsigned short>(std::stoul(portText));

        std::set<std::string> machineIds;
        for (const auto& m : machines) machineIds.insert(m.id);
        if (const toml::node* n = node("station.stations")) {
            const toml::array* list = n->as_array();
            if (!list) fail("station.stations", "must be an array of tables: [[station.stations]]");
            std::set<std::string> ids;
            for (std::size_t i = 0; i < list->size(); ++i) {
                const std::string at = "station.stations[" + std::to_string(i) + "]";
                const toml::table* t = list->get(i)->as_table();
                if (!t) fail(at, "must be a table");
                for (const auto& [key, ignored] : *t) {
                    const std::string k(key.str());
                    if (k != "id" && k != "name" && k != "machines" && k != "scanners") fail(at + "." + k, "unknown key");
                }
                auto names = [&](const char* key) {
                    std::vector<std::string> v;
                    const toml::node* x = t->get(key);
                    if (!x) return v;
                    const toml::array* a = x->as_array();
                    if (!a) fail(at + "." + key, "must be an array of ids");
                    for (const auto& e : *a) {
                        if (!e.is_string() || !OrderParser::isValidId(*e.value<std::string>()))
                            fail(at + "." + key, "must be an array of ids (1..64 characters of A-Z a-z 0-9 . _ : -)");
                        v.push_back(*e.value<std::string>());
                    }
                    return v;
                };
                StationConfig s;
                const toml::node* id = t->get("id");
                if (!id) fail(at + ".id", "missing (required)");
                if (!id->is_string() || !OrderParser::isValidId(*id->value<std::string>()))
                    fail(at + ".id", "must be 1..64 characters of A-Z a-z 0-9 . _ : - (it is part of the page's URL)");
                s.id = *id->value<std::string>();
                if (!ids.insert(s.id).second) fail(at + ".id", "station '" + s.id + "' is listed twice");
                s.name = s.id;
                if (const toml::node* name = t->get("name")) {
                    if (!name->is_string() || name->value<std::string>()->empty())
                        fail(at + ".name", "must be a non-empty string");
                    s.name = *name->value<std::string>();
                }
                s.machines = names("machines");
                for (const auto& m : s.machines)
                    if (!machineIds.count(m)) fail(at + ".machines", "no [[machines]] has id '" + m + "'");
                // Scanners are named as the scanner configuration names them; any id is taken here.
                s.scanners = names("scanners");
                out.stations.push_back(std::move(s));
            }
        }
        if (out.stations.empty()) out.stations.push_back({"floor", "Floor", {}, {}});
        return out;
    }

    std::vector<ScannerConfig> readScanners() const {
        std::vector<ScannerConfig> out;
        const toml::node* n = node("scanners");
        if (!n) return out;
        const toml::array* list = n->as_array();
        if (!list) fail("scanners", "must be an array of tables: [[scanners]]");
        static const std::set<std::string> known{"id", "kind", "path", "port", "baud", "listen", "station",
                                                 "context_timeout_s"};
        std::set<std::string> scannerIds;
        for (std::size_t i = 0; i < list->size(); ++i) {
            const std::string at = "scanners[" + std::to_string(i) + "]";
            const toml::table* t = list->get(i)->as_table();
            if (!t) fail(at, "must be a table");
            for (const auto& [key, ignored] : *t)
                if (!known.count(std::string(key.str()))) fail(at + "." + std::string(key.str()), "unknown key");
            const Entry e{*this, *t, at};
            ScannerConfig s;
            s.id = e.text("id", std::nullopt);
            if (!OrderParser::isValidId(s.id)) fail(at + ".id", "must be 1..64 characters of A-Z a-z 0-9 . _ : -");
            if (!scannerIds.insert(s.id).second) fail(at + ".id", "scanner '" + s.id + "' is listed twice");
            s.kind = e.text("kind", std::nullopt);
            // The key each kind reads its device from; the others are refused, so a mix-up is seen at once.
            const std::map<std::string, std::string> deviceKey{{"evdev", "path"}, {"serial", "port"}, {"line", "listen"}};
            const auto own = deviceKey.find(s.kind);
            if (own == deviceKey.end()) fail(at + ".kind", "must be evdev, serial or line");
            for (const auto& [kind, key] : deviceKey)
                if (key != own->second && t->get(key))
                    fail(at + "." + key, "is not used by a " + s.kind + " scanner (it reads " + own->second + ")");
            if (t->get("baud") && s.kind != "serial") fail(at + ".baud", "is only used by a serial scanner");
            if (s.kind == "evdev") {
                s.path = e.text("path", std::nullopt);
                if (s.path.empty()) fail(at + ".path", "must name an input device, e.g. /dev/input/by-id/...-event-kbd");
            } else if (s.kind == "serial") {
                s.port = e.text("port", std::nullopt);
                if (s.port.empty()) fail(at + ".port", "must name a serial device or tcp://host:port");
                s.baud = static_cast<unsigned>(e.number("baud", 9600, 1200, 4000000));
            } else {
                s.listen = e.text("listen", "127.0.0.1:7781");
                const auto colon = s.listen.rfind(':');
                const std::string port = colon == std::string::npos ? "" : s.listen.substr(colon + 1);
                if (colon == 0 || port.empty() || port.size() > 5 ||
                    port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535)
                    fail(at + ".listen", "must be host:port with a numeric address, e.g. 127.0.0.1:7781");
                boost::system::error_code ec;
                boost::asio::ip::make_address(s.listen.substr(0, colon), ec);
                if (ec) fail(at + ".listen", "'" + s.listen.substr(0, colon) + "' is not an IP address");
            }
            s.station = e.text("station", s.id);
            s.contextTimeout = std::chrono::seconds(e.number("context_timeout_s", 120, 5, 86400));
            out.push_back(std::move(s));
        }
        return out;
    }

private:
    std::string file_;
    const toml::table& root_;
};

} // namespace

const char* toString(LabelsConfig::Symbology s) { return s == LabelsConfig::Symbology::Qr ? "qr" : "code128"; }

const char* toString(LabelsConfig::PrinterKind p) {
    switch (p) {
    case LabelsConfig::PrinterKind::None: return "none";
    case LabelsConfig::PrinterKind::Cups: return "cups";
    case LabelsConfig::PrinterKind::RawTcp: return "tcp";
    }
    return "none";
}

const char* toString(LabelsConfig::PrintFormat f) {
    switch (f) {
    case LabelsConfig::PrintFormat::Pdf: return "pdf";
    case LabelsConfig::PrintFormat::Png: return "png";
    case LabelsConfig::PrintFormat::Zpl: return "zpl";
    }
    return "pdf";
}

std::optional<std::pair<std::size_t, std::size_t>> overlappingJigSlots(const std::vector<JigSlot>& slots) {
    // Slots are few (a jig holds tens, a config allows 10000): sort by x and compare only those whose x ranges meet.
    std::vector<std::size_t> byX(slots.size());
    for (std::size_t i = 0; i < byX.size(); ++i) byX[i] = i;
    std::sort(byX.begin(), byX.end(), [&](std::size_t a, std::size_t b) { return slots[a].x < slots[b].x; });
    std::optional<std::pair<std::size_t, std::size_t>> first;
    for (std::size_t a = 0; a < byX.size(); ++a) {
        const JigSlot& s = slots[byX[a]];
        for (std::size_t b = a + 1; b < byX.size() && slots[byX[b]].x < s.x + s.width; ++b) {
            const JigSlot& t = slots[byX[b]];
            if (t.y < s.y + s.height && s.y < t.y + t.height) {
                const auto pair = std::minmax(byX[a], byX[b]);
                if (!first || pair.second < first->second || (pair.second == first->second && pair.first < first->first))
                    first = pair;
            }
        }
    }
    return first;
}

std::string redactUri(const std::string& uri) {
    auto scheme = uri.find("://");
    if (scheme == std::string::npos) return uri;
    // The last '@' before the path ends the user info: a password may itself contain an unescaped '@'.
    auto authorityEnd = uri.find('/', scheme + 3);
    auto at = uri.rfind('@', authorityEnd == std::string::npos ? std::string::npos : authorityEnd);
    if (at == std::string::npos || at < scheme + 3) return uri;
    return uri.substr(0, scheme + 3) + "***@" + uri.substr(at + 1);
}

Config loadConfig(const std::filesystem::path& file) {
    toml::table root;
    try {
        root = toml::parse_file(file.string());
    } catch (const toml::parse_error& e) {
        throw Error(file.string() + ":" + std::to_string(e.source().begin.line) + ":" +
                    std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
    }
    ConfigReader r(file, root);
    r.onlyKnown({"factory.id", "mqtt.uri", "mqtt.client_id", "mqtt.username", "mqtt.password", "mqtt.password_file",
                 "mqtt.ca_file", "mqtt.cert_file", "mqtt.key_file", "mqtt.keepalive_s", "mqtt.inflight_window",
                 "mqtt.media_rate_kib_s",
                 "mqtt.reconnect_min_ms", "mqtt.reconnect_max_ms", "storage.state_dir", "storage.slice_cache_max_mb",
                 "storage.media_quota_mb", "log.level",
                 "intake.max_payload_bytes", "intake.max_items", "intake.catalog", "status.interval_s",
                 "scheduler.progress_step_percent", "scheduler.bed_clear_s",
                 "labels.enabled", "labels.symbology", "labels.width_mm", "labels.height_mm", "labels.dpi",
                 "labels.printer", "labels.cups_queue", "labels.lp_command", "labels.address", "labels.print_format",
                 "labels.print_timeout_s", "labels.retry_min_s", "labels.retry_max_s"});

    Config c;
    c.sourcePath = file;
    c.factoryId = r.string("factory.id", std::nullopt);
    if (!OrderParser::isValidId(c.factoryId))
        r.fail("factory.id", "must be 1..64 characters of A-Z a-z 0-9 . _ : - (it is part of every MQTT topic)");

    c.mqtt.uri = r.string("mqtt.uri", std::nullopt);
    bool ssl = c.mqtt.uri.rfind("ssl://", 0) == 0;
    if (!ssl && c.mqtt.uri.rfind("tcp://", 0) != 0) r.fail("mqtt.uri", "must start with tcp:// or ssl://");
    if (c.mqtt.uri.find('@') != std::string::npos)
        r.fail("mqtt.uri", "must not carry credentials; use mqtt.username and mqtt.password_file");
    c.mqtt.clientId = r.string("mqtt.client_id", "mto-agent-" + c.factoryId);
    if (c.mqtt.clientId.empty() || c.mqtt.clientId.size() > 128) r.fail("mqtt.client_id", "must be 1..128 characters");
    c.mqtt.username = r.string("mqtt.username", "");
    c.mqtt.password = r.string("mqtt.password", "");
    auto passwordFile = r.path("mqtt.password_file", "");
    if (!passwordFile.empty()) {
        if (!c.mqtt.password.empty()) r.fail("mqtt.password_file", "set either mqtt.password or mqtt.password_file");
        std::FILE* f = std::fopen(passwordFile.c_str(), "r");
        if (!f) r.fail("mqtt.password_file", "cannot read " + passwordFile.string());
        char buf[1024];
        std::size_t n = std::fread(buf, 1, sizeof buf, f);
        std::fclose(f);
        c.mqtt.password.assign(buf, n);
        while (!c.mqtt.password.empty() && (c.mqtt.password.back() == '\n' || c.mqtt.password.back() == '\r'))
            c.mqtt.password.pop_back();
    }
    c.mqtt.caFile = r.path("mqtt.ca_file", "").string();
    c.mqtt.certFile = r.path("mqtt.cert_file", "").string();
    c.mqtt.keyFile = r.path("mqtt.key_file", "").string();
    for (const auto& [key, value] : {std::pair{"mqtt.ca_file", c.mqtt.caFile}, {"mqtt.cert_file", c.mqtt.certFile},
                                     {"mqtt.key_file", c.mqtt.keyFile}}) {
        // Name the key that is actually set, so the person fixing the file looks at the right line.
        if (!ssl && !value.empty()) r.fail(key, "TLS files are only used with an ssl:// URI");
        if (!value.empty() && !std::filesystem::exists(value)) r.fail(key, "file " + value + " does not exist");
    }
    c.mqtt.keepAliveSeconds = static_cast<int>(r.integer("mqtt.keepalive_s", 30, 5, 3600));
    c.mqtt.inflightWindow = static_cast<int>(r.integer("mqtt.inflight_window", 64, 1, 65535));
    c.mqtt.mediaRateBytesPerSecond = r.integer("mqtt.media_rate_kib_s", 8192, 0, 10485760) * 1024;
    c.mqtt.reconnectMin = std::chrono::milliseconds(r.integer("mqtt.reconnect_min_ms", 500, 10, 600000));
    c.mqtt.reconnectMax = std::chrono::milliseconds(r.integer("mqtt.reconnect_max_ms", 30000, 10, 3600000));
    if (c.mqtt.reconnectMax < c.mqtt.reconnectMin)
        r.fail("mqtt.reconnect_max_ms", "must not be smaller than mqtt.reconnect_min_ms");

    c.stateDir = r.path("storage.state_dir", std::nullopt);
    if (c.stateDir.empty()) r.fail("storage.state_dir", "must not be empty");
    c.sliceCacheMaxBytes = static_cast<std::uint64_t>(r.integer("storage.slice_cache_max_mb", 2048, 16, 1048576)) << 20;

    c.logLevel = r.string("log.level", "info");
    static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (!levels.count(c.logLevel)) r.fail("log.level", "must be one of trace, debug, info, warn, error, critical, off");

    c.intake.maxPayloadBytes =
        static_cast<std::size_t>(r.integer("intake.max_payload_bytes", 256 * 1024, 1024, 64 * 1024 * 1024));
    c.intake.maxItems = static_cast<std::size_t>(r.integer("intake.max_items", 1000, 1, 100000));
    c.intake.catalogPath = r.path("intake.catalog", std::nullopt);
    if (!std::filesystem::is_regular_file(c.intake.catalogPath))
        r.fail("intake.catalog", "file " + c.intake.catalogPath.string() + " does not exist");
    c.statusInterval = std::chrono::seconds(r.integer("status.interval_s", 30, 1, 86400));
    c.machines = r.readMachines();
    c.cameras = r.readCameras(c.machines);
    c.mediaQuotaBytes = static_cast<std::uint64_t>(r.integer("storage.media_quota_mb", 2048, 1, 1048576)) << 20;
    c.progressStepPercent = static_cast<int>(r.integer("scheduler.progress_step_percent", 25, 1, 100));
    c.bedClearAllowance = std::chrono::seconds(r.integer("scheduler.bed_clear_s", 60, 0, 86400));
    c.station = r.readStation(c.machines);
    c.labels = r.readLabels();
    c.scanners = r.readScanners();
    return c;
}

} // namespace mto
