// SPDX-License-Identifier: Apache-2.0
// The retained status as the agent writes it against its contract: every key it sends is in the AsyncAPI
// schema (docs/mqtt-contract.yaml) and in the prose of docs/mqtt-contract.md, so the two cannot drift apart.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cctype>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_env.hpp"
#include "uplink/status_report.hpp"

namespace mto {
namespace {

namespace json = boost::json;

struct YamlLine {
    std::size_t indent = 0;
    std::string text;   // without the indent; empty for blank and comment lines
};

std::vector<YamlLine> yamlLines(const std::string& yaml) {
    std::vector<YamlLine> out;
    std::istringstream in(yaml);
    for (std::string line; std::getline(in, line);) {
        const auto first = line.find_first_not_of(' ');
        if (first == std::string::npos || line[first] == '#') {
            out.push_back({0, ""});
            continue;
        }
        out.push_back({first, line.substr(first)});
    }
    return out;
}

// The key a line starts with ("name:" or "- name:"), or "".
std::string keyOf(const YamlLine& l) {
    std::string t = l.text.rfind("- ", 0) == 0 ? l.text.substr(2) : l.text;
    const auto colon = t.find(':');
    if (colon == std::string::npos || colon == 0) return "";
    for (std::size_t i = 0; i < colon; ++i) {
        const char c = t[i];
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$')) return "";
    }
    return t.substr(0, colon);
}

// The lines under the key reached by `path` (each key looked up below the one before), as [begin, end).
std::pair<std::size_t, std::size_t> yamlBlock(const std::vector<YamlLine>& lines, const std::vector<std::string>& path) {
    std::size_t begin = 0, end = lines.size();
    for (const auto& key : path) {
        std::size_t at = end;
        for (std::size_t i = begin; i < end; ++i)
            if (!lines[i].text.empty() && keyOf(lines[i]) == key) {
                at = i;
                break;
            }
        if (at == end) throw std::runtime_error("docs/mqtt-contract.yaml has no " + key + " where it was looked for");
        const std::size_t indent = lines[at].indent;
        begin = at + 1;
        std::size_t stop = begin;
        while (stop < end && (lines[stop].text.empty() || lines[stop].indent > indent)) ++stop;
        end = stop;
    }
    return {begin, end};
}

// The keys right below the block of `path`.
std::set<std::string> yamlChildKeys(const std::vector<YamlLine>& lines, const std::vector<std::string>& path) {
    const auto [begin, end] = yamlBlock(lines, path);
    std::size_t indent = 0;
    std::set<std::string> keys;
    for (std::size_t i = begin; i < end; ++i) {
        if (lines[i].text.empty()) continue;
        if (indent == 0) indent = lines[i].indent;
        if (lines[i].indent == indent && !keyOf(lines[i]).empty()) keys.insert(keyOf(lines[i]));
    }
    return keys;
}

// Every key anywhere in the block of `path` (for objects described inline, inside oneOf or items).
std::set<std::string> yamlAllKeys(const std::vector<YamlLine>& lines, const std::vector<std::string>& path) {
    const auto [begin, end] = yamlBlock(lines, path);
    std::set<std::string> keys;
    for (std::size_t i = begin; i < end; ++i) {
        if (lines[i].text.empty()) continue;
        if (auto k = keyOf(lines[i]); !k.empty()) keys.insert(k);
    }
    return keys;
}

std::set<std::string> keysOf(const json::value& v) {
    std::set<std::string> out;
    for (const auto& [k, value] : v.as_object()) out.insert(std::string(k));
    return out;
}

// A status with every field the agent can send filled: degraded (so degraded_reason is there), a machine with
// a unit, a scanner, a camera and shed media in the shapes QcCameras and MediaQuota give them.
std::string fullStatus() {
    StatusInputs in;
    in.state = "degraded";
    in.factory = "f1";
    in.nowMs = 1'780'000'000'000;
    in.outbox.lastSeq = 1742;
    in.outbox.ackedSeq = 1740;
    in.outbox.unsent = 2;
    in.outbox.oldestUnsentAtMs = 1'779'999'990'000;
    in.outbox.openOrders = 3;
    in.diskFreeBytes = 52428800000;
    in.degradedReason = "disk_full";
    in.queuedWorkSeconds = {{"laser", 4500}};
    in.machines.push_back({"laser-1", "laser-400", "laser", "running", "running", "streaming",
                           FloorJob{"ORD-1", "1", "laser_engrave", 1, 2, 40, 90.4}, "",
                           FloorRefusal{2, "ORD-7", "1", "laser_engrave", 1, "spindle_range",
                                        "the program asks for S1000 but $30 is 500"}});
    in.cameras.push_back(json::object{{"id", "cam-1"}, {"source", "http://10.0.0.5/cam.mjpg"},
                                      {"machines", json::array{"laser-1"}}, {"state", "unavailable"},
                                      {"alert", true}, {"failures", 3}, {"reason", "cannot open"},
                                      {"last_frame_at", "2026-11-26T05:30:00.000Z"}});
    in.alerts.push_back("camera cam-1 unavailable: cannot open");
    in.shed.push_back(json::object{{"what", "media"}, {"count", 12}, {"bytes", 12582912}, {"unsent", 3},
                                   {"last_at", "2026-11-26T05:30:00.000Z"}});
    in.scanners.push_back({"pack-1", "evdev", "packing", "/dev/input/event3", true, "evdev, grabbed", 12});
    return statusPayload(in);
}

// The "## Status" section of the prose contract.
std::string statusProse() {
    const std::string md = test::readFile(test::sourceDir() + "/docs/mqtt-contract.md");
    const auto begin = md.find("\n## Status\n");
    if (begin == std::string::npos) throw std::runtime_error("docs/mqtt-contract.md has no ## Status section");
    const auto end = md.find("\n## ", begin + 1);
    return md.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

bool inProse(const std::string& prose, const std::string& key) {
    return prose.find("`" + key + "`") != std::string::npos || prose.find("\"" + key + "\":") != std::string::npos;
}

TEST(StatusContract, EveryKeyOfTheStatusIsInTheSchemaAndInTheProse) {
    const auto status = json::parse(fullStatus());
    const auto yaml = yamlLines(test::readFile(test::sourceDir() + "/docs/mqtt-contract.yaml"));
    const std::string prose = statusProse();
    const auto schema = yamlChildKeys(yaml, {"components", "schemas", "Status", "properties"});
    ASSERT_TRUE(schema.count("state")) << "the schema walk found the Status properties";
    for (const auto& key : keysOf(status)) {
        EXPECT_TRUE(schema.count(key)) << "status key '" << key << "' is not in docs/mqtt-contract.yaml Status";
        EXPECT_TRUE(inProse(prose, key)) << "status key '" << key << "' is not in the Status section of docs/mqtt-contract.md";
    }
}

TEST(StatusContract, EveryKeyOfItsMachinesScannersCamerasAndShedIsInTheSchemaAndInTheProse) {
    const auto status = json::parse(fullStatus());
    const auto yaml = yamlLines(test::readFile(test::sourceDir() + "/docs/mqtt-contract.yaml"));
    const std::string prose = statusProse();
    struct Part {
        const char* name;
        json::value value;
        std::set<std::string> schema;
    };
    const std::vector<Part> parts{
        {"machines[]", status.at("machines").at(0), yamlChildKeys(yaml, {"components", "schemas", "MachineStatus", "properties"})},
        {"machines[].job", status.at("machines").at(0).at("job"),
         yamlAllKeys(yaml, {"components", "schemas", "MachineStatus", "properties", "job"})},
        {"machines[].refused", status.at("machines").at(0).at("refused"),
         yamlAllKeys(yaml, {"components", "schemas", "MachineStatus", "properties", "refused"})},
        {"scanners[]", status.at("scanners").at(0), yamlChildKeys(yaml, {"components", "schemas", "ScannerStatus", "properties"})},
        {"cameras[]", status.at("cameras").at(0), yamlChildKeys(yaml, {"components", "schemas", "CameraStatus", "properties"})},
        {"shed[]", status.at("shed").at(0), yamlAllKeys(yaml, {"components", "schemas", "Status", "properties", "shed"})},
    };
    for (const auto& part : parts) {
        ASSERT_FALSE(part.schema.empty()) << part.name;
        for (const auto& key : keysOf(part.value)) {
            EXPECT_TRUE(part.schema.count(key)) << part.name << " key '" << key << "' is not in docs/mqtt-contract.yaml";
            EXPECT_TRUE(inProse(prose, key)) << part.name << " key '" << key
                                             << "' is not in the Status section of docs/mqtt-contract.md";
        }
    }
}

TEST(StatusContract, AKeyTheDocsDoNotHaveIsFound) {
    const auto yaml = yamlLines(test::readFile(test::sourceDir() + "/docs/mqtt-contract.yaml"));
    const auto schema = yamlChildKeys(yaml, {"components", "schemas", "Status", "properties"});
    EXPECT_FALSE(schema.count("no_such_key"));
    EXPECT_FALSE(schema.count("type")) << "only the property names, not what describes them";
    EXPECT_FALSE(inProse(statusProse(), "no_such_key"));
}

} // namespace
} // namespace mto
