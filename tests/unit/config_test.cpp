// SPDX-License-Identifier: Apache-2.0
// loadConfig: defaults, relative paths, secrets, and an error that names file and key for every mistake.
#include <gtest/gtest.h>

#include <string>

#include "mto/config.hpp"
#include "mto/error.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

namespace fs = std::filesystem;

const std::string kCatalog = "[sku.COASTER-OAK-ENGRAVED]\nname = \"Oak coaster\"\n";

// Sections of a minimal valid config; tests replace or extend single lines.
struct ConfigText {
    std::string factory = "id = \"f1\"\n";
    std::string mqtt = "uri = \"tcp://127.0.0.1:1883\"\n";
    std::string storage = "state_dir = \"state\"\n";
    std::string intake = "catalog = \"catalog.toml\"\n";
    std::string extra;

    std::string str() const {
        return "[factory]\n" + factory + "\n[mqtt]\n" + mqtt + "\n[storage]\n" + storage + "\n[intake]\n" + intake +
               "\n" + extra;
    }
};

class ConfigTest : public ::testing::Test {
protected:
    ConfigTest() { test::writeFile(dir_.path() / "catalog.toml", kCatalog); }

    fs::path write(const ConfigText& text) {
        const auto path = dir_.path() / "agent.toml";
        test::writeFile(path, text.str());
        return path;
    }

    Config load(const ConfigText& text) { return loadConfig(write(text)); }

    // The message of the mto::Error that loading gives, or a failure when it loads.
    std::string errorOf(const ConfigText& text) {
        const auto path = write(text);
        try {
            loadConfig(path);
        } catch (const Error& e) {
            return e.what();
        }
        ADD_FAILURE() << "loaded without error:\n" << text.str();
        return {};
    }

    // The error must start with "<file>: key '<key>'" so a person knows where to look.
    void expectKeyError(const ConfigText& text, const std::string& key, const std::string& words = "") {
        const std::string msg = errorOf(text);
        const std::string head = (dir_.path() / "agent.toml").string() + ": key '" + key + "'";
        EXPECT_EQ(msg.rfind(head, 0), 0u) << "expected it to start with: " << head << "\ngot: " << msg;
        if (!words.empty()) {
            EXPECT_NE(msg.find(words), std::string::npos) << msg;
        }
    }

    test::TempDir dir_;
};

TEST_F(ConfigTest, MinimalConfigLoadsWithDocumentedDefaults) {
    Config c = load(ConfigText{});
    EXPECT_EQ(c.sourcePath, dir_.path() / "agent.toml");
    EXPECT_EQ(c.factoryId, "f1");
    EXPECT_EQ(c.mqtt.uri, "tcp://127.0.0.1:1883");
    EXPECT_EQ(c.mqtt.clientId, "mto-agent-f1");
    EXPECT_EQ(c.mqtt.username, "");
    EXPECT_EQ(c.mqtt.password, "");
    EXPECT_EQ(c.mqtt.caFile, "");
    EXPECT_EQ(c.mqtt.keepAliveSeconds, 30);
    EXPECT_EQ(c.mqtt.inflightWindow, 64);
    EXPECT_EQ(c.mqtt.reconnectMin, std::chrono::milliseconds(500));
    EXPECT_EQ(c.mqtt.reconnectMax, std::chrono::milliseconds(30000));
    EXPECT_EQ(c.intake.maxPayloadBytes, 256u * 1024);
    EXPECT_EQ(c.intake.maxItems, 1000u);
    EXPECT_EQ(c.logLevel, "info");
    EXPECT_EQ(c.statusInterval, std::chrono::seconds(30));
    EXPECT_EQ(c.databasePath(), dir_.path() / "state" / "agent.db");
}

TEST_F(ConfigTest, EveryKeyIsReadWhenGiven) {
    ConfigText t;
    t.mqtt += "client_id = \"cid\"\nusername = \"agent\"\npassword = \"pw\"\nkeepalive_s = 10\ninflight_window = 200\n"
              "reconnect_min_ms = 100\nreconnect_max_ms = 100\n";
    t.intake += "max_payload_bytes = 4096\nmax_items = 7\n";
    t.extra = "[log]\nlevel = \"debug\"\n[status]\ninterval_s = 5\n";
    Config c = load(t);
    EXPECT_EQ(c.mqtt.clientId, "cid");
    EXPECT_EQ(c.mqtt.username, "agent");
    EXPECT_EQ(c.mqtt.password, "pw");
    EXPECT_EQ(c.mqtt.keepAliveSeconds, 10);
    EXPECT_EQ(c.mqtt.inflightWindow, 200);
    EXPECT_EQ(c.mqtt.reconnectMin, std::chrono::milliseconds(100));
    EXPECT_EQ(c.mqtt.reconnectMax, std::chrono::milliseconds(100)) << "equal bounds are allowed";
    EXPECT_EQ(c.intake.maxPayloadBytes, 4096u);
    EXPECT_EQ(c.intake.maxItems, 7u);
    EXPECT_EQ(c.logLevel, "debug");
    EXPECT_EQ(c.statusInterval, std::chrono::seconds(5));
}

TEST_F(ConfigTest, RelativePathsAreResolvedAgainstTheConfigFilesDirectory) {
    fs::create_directories(dir_.path() / "etc");
    test::writeFile(dir_.path() / "etc" / "products.toml", kCatalog);
    test::writeFile(dir_.path() / "etc" / "ca.pem", "not checked here");
    ConfigText t;
    t.mqtt = "uri = \"ssl://broker:8883\"\nca_file = \"etc/ca.pem\"\n";
    t.storage = "state_dir = \"var/state\"\n";
    t.intake = "catalog = \"etc/products.toml\"\n";
    Config c = load(t);
    EXPECT_EQ(c.stateDir, dir_.path() / "var" / "state");
    EXPECT_EQ(c.intake.catalogPath, dir_.path() / "etc" / "products.toml");
    EXPECT_EQ(c.mqtt.caFile, (dir_.path() / "etc" / "ca.pem").string());
    EXPECT_TRUE(c.stateDir.is_absolute());
}

TEST_F(ConfigTest, AbsolutePathsAreKeptAsGiven) {
    ConfigText t;
    t.storage = "state_dir = \"/var/lib/mto-agent\"\n";
    t.intake = "catalog = \"" + (dir_.path() / "catalog.toml").string() + "\"\n";
    Config c = load(t);
    EXPECT_EQ(c.stateDir, fs::path("/var/lib/mto-agent"));
    EXPECT_EQ(c.intake.catalogPath, dir_.path() / "catalog.toml");
}

TEST_F(ConfigTest, MissingFactoryIdIsAnError) {
    ConfigText t;
    t.factory = "";
    expectKeyError(t, "factory.id", "missing");
}

TEST_F(ConfigTest, FactoryIdThatCannotBeATopicLevelIsAnError) {
    for (const char* id : {"", "berlin 01", "berlin/01", "f+", "f#", "b\xc3\xa9rlin"}) {
        SCOPED_TRACE(id);
        ConfigText t;
        t.factory = std::string("id = \"") + id + "\"\n";
        expectKeyError(t, "factory.id");
    }
}

TEST_F(ConfigTest, UriWithoutTcpOrSslSchemeIsAnError) {
    for (const char* uri : {"mqtt://broker:1883", "broker:1883", "", "TCP://broker:1883", "ws://broker"}) {
        SCOPED_TRACE(uri);
        ConfigText t;
        t.mqtt = std::string("uri = \"") + uri + "\"\n";
        expectKeyError(t, "mqtt.uri", "tcp://");
    }
}

TEST_F(ConfigTest, UriWithCredentialsIsRefusedWithoutRepeatingThem) {
    ConfigText t;
    t.mqtt = "uri = \"tcp://agent:hunter2@broker:1883\"\n";
    const std::string msg = errorOf(t);
    EXPECT_NE(msg.find("key 'mqtt.uri'"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("hunter2"), std::string::npos) << "the password must not reach a log: " << msg;
}

TEST_F(ConfigTest, MisspelledKeyIsNamedInsteadOfSilentlyIgnored) {
    ConfigText t;
    t.mqtt += "urii = \"tcp://other:1883\"\n";
    expectKeyError(t, "mqtt.urii", "unknown key");
}

TEST_F(ConfigTest, UnknownSectionAndTopLevelKeyAreNamed) {
    ConfigText t;
    t.extra = "[logging]\nlevel = \"debug\"\n";
    expectKeyError(t, "logging.level", "unknown key");

    const auto path = dir_.path() / "agent.toml";
    test::writeFile(path, "verbose = true\n" + ConfigText{}.str());
    try {
        loadConfig(path);
        ADD_FAILURE() << "top-level key accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("key 'verbose'"), std::string::npos) << e.what();
    }
}

TEST_F(ConfigTest, ValueOfTheWrongTypeIsAnError) {
    ConfigText t;
    t.mqtt += "inflight_window = \"64\"\n";
    expectKeyError(t, "mqtt.inflight_window", "integer");

    ConfigText s;
    s.factory = "id = 42\n";
    expectKeyError(s, "factory.id", "string");

    ConfigText f;
    f.mqtt += "keepalive_s = 30.5\n";
    expectKeyError(f, "mqtt.keepalive_s", "integer");
}

TEST_F(ConfigTest, InflightWindowOutOfRangeIsAnError) {
    for (const char* v : {"0", "-1", "65536"}) {
        SCOPED_TRACE(v);
        ConfigText t;
        t.mqtt += std::string("inflight_window = ") + v + "\n";
        expectKeyError(t, "mqtt.inflight_window", "between 1 and 65535");
    }
    ConfigText edge;
    edge.mqtt += "inflight_window = 65535\n";
    EXPECT_EQ(load(edge).mqtt.inflightWindow, 65535);
}

TEST_F(ConfigTest, ReconnectMaximumBelowMinimumIsAnError) {
    ConfigText t;
    t.mqtt += "reconnect_min_ms = 2000\nreconnect_max_ms = 1000\n";
    expectKeyError(t, "mqtt.reconnect_max_ms", "reconnect_min_ms");
}

TEST_F(ConfigTest, TlsFilesWithAPlainTcpUriAreAnErrorNamingTheKeyThatWasSet) {
    test::writeFile(dir_.path() / "tls.pem", "x");
    for (const char* key : {"ca_file", "cert_file", "key_file"}) {
        SCOPED_TRACE(key);
        ConfigText t;
        t.mqtt += std::string(key) + " = \"tls.pem\"\n";
        expectKeyError(t, std::string("mqtt.") + key, "ssl://");
    }
}

TEST_F(ConfigTest, MissingTlsFileIsAnError) {
    ConfigText t;
    t.mqtt = "uri = \"ssl://broker:8883\"\nca_file = \"nowhere/ca.pem\"\n";
    expectKeyError(t, "mqtt.ca_file", "does not exist");
}

TEST_F(ConfigTest, MissingCatalogFileIsAnError) {
    ConfigText t;
    t.intake = "catalog = \"missing.toml\"\n";
    expectKeyError(t, "intake.catalog", "does not exist");

    ConfigText none;
    none.intake = "";
    expectKeyError(none, "intake.catalog", "missing");
}

TEST_F(ConfigTest, MissingOrEmptyStateDirIsAnError) {
    ConfigText t;
    t.storage = "";
    expectKeyError(t, "storage.state_dir", "missing");
    ConfigText e;
    e.storage = "state_dir = \"\"\n";
    expectKeyError(e, "storage.state_dir", "empty");
}

TEST_F(ConfigTest, UnknownLogLevelIsAnError) {
    ConfigText t;
    t.extra = "[log]\nlevel = \"verbose\"\n";
    expectKeyError(t, "log.level");
}

TEST_F(ConfigTest, PasswordFileIsReadWithItsTrailingNewlineStripped) {
    test::writeFile(dir_.path() / "mqtt-password", "s3cr3t pass\n");
    test::writeFile(dir_.path() / "mqtt-password-crlf", "other\r\n");
    ConfigText t;
    t.mqtt += "username = \"agent\"\npassword_file = \"mqtt-password\"\n";
    EXPECT_EQ(load(t).mqtt.password, "s3cr3t pass");

    ConfigText crlf;
    crlf.mqtt += "password_file = \"" + (dir_.path() / "mqtt-password-crlf").string() + "\"\n";
    EXPECT_EQ(load(crlf).mqtt.password, "other");
}

TEST_F(ConfigTest, UnreadablePasswordFileIsAnError) {
    ConfigText t;
    t.mqtt += "password_file = \"no-such-file\"\n";
    expectKeyError(t, "mqtt.password_file", "cannot read");
}

TEST_F(ConfigTest, PasswordAndPasswordFileTogetherAreAnError) {
    test::writeFile(dir_.path() / "mqtt-password", "fromfile\n");
    ConfigText t;
    t.mqtt += "password = \"inline\"\npassword_file = \"mqtt-password\"\n";
    expectKeyError(t, "mqtt.password_file", "either");
}

TEST_F(ConfigTest, TomlSyntaxErrorNamesFileAndLine) {
    const auto path = dir_.path() / "agent.toml";
    test::writeFile(path, "[factory]\nid = \"f1\"\n[mqtt\nuri = \"tcp://x:1\"\n");
    try {
        loadConfig(path);
        FAIL() << "broken TOML accepted";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_EQ(msg.rfind(path.string() + ":3:", 0), 0u) << msg;
    }
}

TEST_F(ConfigTest, MissingConfigFileIsAnErrorNamingIt) {
    const auto path = dir_.path() / "absent.toml";
    try {
        loadConfig(path);
        FAIL() << "a missing file loaded";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
}

TEST_F(ConfigTest, ExampleConfigFromTheRepositoryLoadsWithItsCatalogNextToIt) {
    // config/agent.toml points at /etc/mto-agent, which a build machine need not have: copy it and point it here.
    std::string text = test::readFile(fs::path(test::sourceDir()) / "config" / "agent.toml");
    ASSERT_FALSE(text.empty());
    const std::string from = "\"/etc/mto-agent/catalog.toml\"";
    ASSERT_NE(text.find(from), std::string::npos);
    text.replace(text.find(from), from.size(), "\"catalog.toml\"");
    const auto path = dir_.path() / "agent.toml";
    test::writeFile(path, text);
    Config c = loadConfig(path);
    EXPECT_EQ(c.factoryId, "berlin-01");
    EXPECT_EQ(c.mqtt.clientId, "mto-agent-berlin-01");
    EXPECT_EQ(c.stateDir, fs::path("/var/lib/mto-agent"));
    EXPECT_EQ(c.intake.catalogPath, dir_.path() / "catalog.toml");
}

TEST_F(ConfigTest, DemoConfigLoadsOnceItsPlaceholdersAreFilledIn) {
    std::string text = test::readFile(fs::path(test::sourceDir()) / "config" / "demo.toml");
    ASSERT_FALSE(text.empty());
    const std::pair<std::string, std::string> fills[] = {
        {"@MQTT_PORT@", "18830"},
        {"@STATE_DIR@", (dir_.path() / "state").string()},
        {"@CATALOG@", (fs::path(test::sourceDir()) / "config" / "catalog.toml").string()},
    };
    for (const auto& [placeholder, value] : fills) {
        auto at = text.find(placeholder);
        ASSERT_NE(at, std::string::npos) << placeholder;
        for (; at != std::string::npos; at = text.find(placeholder)) text.replace(at, placeholder.size(), value);
    }
    const auto path = dir_.path() / "demo.toml";
    test::writeFile(path, text);
    Config c = loadConfig(path);
    EXPECT_EQ(c.factoryId, "demo-factory");
    EXPECT_EQ(c.mqtt.uri, "tcp://127.0.0.1:18830");
    EXPECT_EQ(c.stateDir, dir_.path() / "state");
}

TEST(RedactUri, HidesUserAndPassword) {
    EXPECT_EQ(redactUri("tcp://agent:hunter2@broker:1883"), "tcp://***@broker:1883");
    EXPECT_EQ(redactUri("ssl://agent@broker:8883"), "ssl://***@broker:8883");
}

TEST(RedactUri, HidesAPasswordThatItselfContainsAnAt) {
    const std::string redacted = redactUri("tcp://agent:p@ss@broker:1883");
    EXPECT_EQ(redacted, "tcp://***@broker:1883");
    EXPECT_EQ(redacted.find("ss"), std::string::npos);
}

TEST(RedactUri, LeavesUrisWithoutCredentialsAlone) {
    EXPECT_EQ(redactUri("tcp://127.0.0.1:1883"), "tcp://127.0.0.1:1883");
    EXPECT_EQ(redactUri("ssl://broker:8883/path@x"), "ssl://broker:8883/path@x");
    EXPECT_EQ(redactUri("not a uri"), "not a uri");
}

TEST_F(ConfigTest, MarlinPrintersAreReadWithTheirSettings) {
    ConfigText t;
    t.extra = "[[machines]]\nid = \"printer-1\"\nprofile = \"mk3s\"\ndriver = \"marlin\"\nport = \"/dev/ttyACM0\"\n"
              "[[machines]]\nid = \"printer-2\"\nprofile = \"mk3s\"\ndriver = \"marlin\"\nport = \"/dev/ttyACM1\"\n"
              "in_flight = 1\npause_gcode = \"M400\\nG1 Z20\"\nresume_gcode = \"G1 Z0.2\"\ncancel_gcode = \"M104 S0\"\n";
    const Config c = load(t);
    ASSERT_EQ(c.machines.size(), 2u);
    EXPECT_EQ(c.machines[0].driver, "marlin");
    EXPECT_EQ(c.machines[0].inFlight, 4u);
    EXPECT_FALSE(c.machines[0].pauseGcode);
    EXPECT_EQ(c.machines[1].inFlight, 1u);
    EXPECT_EQ(c.machines[1].pauseGcode.value_or(""), "M400\nG1 Z20");
    EXPECT_EQ(c.machines[1].resumeGcode.value_or(""), "G1 Z0.2");
    EXPECT_EQ(c.machines[1].cancelGcode.value_or(""), "M104 S0");
    EXPECT_EQ(c.machines[0].plateMaxParts, 1u) << "one part per print unless plates are allowed";
}

TEST_F(ConfigTest, APrinterMayAllowPlatesAndALaserMayNot) {
    ConfigText t;
    t.extra = "[[machines]]\nid = \"printer-1\"\nprofile = \"mk3s\"\ndriver = \"marlin\"\nport = \"/dev/ttyACM0\"\n"
              "plate_max_parts = 6\n";
    const Config c = load(t);
    ASSERT_EQ(c.machines.size(), 1u);
    EXPECT_EQ(c.machines[0].plateMaxParts, 6u);
    ConfigText laser;
    laser.extra = "[[machines]]\nid = \"laser-1\"\nprofile = \"laser-400\"\nport = \"/dev/ttyUSB0\"\nplate_max_parts = 4\n";
    expectKeyError(laser, "machines[0].plate_max_parts", "printer setting");
    ConfigText zero;
    zero.extra = t.extra + "";
    zero.extra.replace(zero.extra.find("= 6"), 3, "= 0");
    expectKeyError(zero, "machines[0].plate_max_parts", "between 1 and 100");
}

TEST_F(ConfigTest, MachinesAreReadWithTheirDefaults) {
    ConfigText t;
    t.extra = "[[machines]]\nid = \"laser-1\"\nprofile = \"laser-400\"\nport = \"/dev/ttyUSB0\"\n"
              "[[machines]]\nid = \"cnc-1\"\nprofile = \"cnc-600\"\nport = \"tcp://10.0.0.5:23\"\nbaud = 250000\n"
              "materials = [\"pine\"]\ndry_run = true\ncharacter_counting = false\nstatus_running_ms = 100\n"
              "on_hold = \"pause\"\non_cancel = \"stop\"\n";
    const Config c = load(t);
    ASSERT_EQ(c.machines.size(), 2u);
    EXPECT_EQ(c.machines[0].id, "laser-1");
    EXPECT_EQ(c.machines[0].driver, "grbl");
    EXPECT_EQ(c.machines[0].baud, 115200u);
    EXPECT_TRUE(c.machines[0].characterCounting);
    EXPECT_FALSE(c.machines[0].dryRun);
    EXPECT_EQ(c.machines[0].statusWhileIdle, std::chrono::milliseconds(5000));
    EXPECT_EQ(c.machines[1].port, "tcp://10.0.0.5:23");
    EXPECT_EQ(c.machines[1].baud, 250000u);
    EXPECT_EQ(c.machines[1].materials, std::vector<std::string>{"pine"});
    EXPECT_TRUE(c.machines[1].dryRun);
    EXPECT_FALSE(c.machines[1].characterCounting);
    EXPECT_EQ(c.machines[1].statusWhileRunning, std::chrono::milliseconds(100));
    EXPECT_FALSE(c.machines[0].pauseOnHold) << "by default a held order's running unit finishes";
    EXPECT_FALSE(c.machines[0].stopOnCancel);
    EXPECT_TRUE(c.machines[1].pauseOnHold);
    EXPECT_TRUE(c.machines[1].stopOnCancel);
    EXPECT_TRUE(load(ConfigText{}).machines.empty());
}

TEST_F(ConfigTest, TheSchedulerTakesItsProgressStepAndBedClearAllowance) {
    const Config defaults = load(ConfigText{});
    EXPECT_EQ(defaults.progressStepPercent, 25);
    EXPECT_EQ(defaults.bedClearAllowance, std::chrono::seconds(60));
    ConfigText t;
    t.extra = "[scheduler]\nprogress_step_percent = 10\nbed_clear_s = 120\n";
    const Config c = load(t);
    EXPECT_EQ(c.progressStepPercent, 10);
    EXPECT_EQ(c.bedClearAllowance, std::chrono::seconds(120));
    ConfigText bad;
    bad.extra = "[scheduler]\nprogress_step_percent = 0\n";
    expectKeyError(bad, "scheduler.progress_step_percent", "between");
}

TEST_F(ConfigTest, ABadMachineIsNamedByItsPlaceAndKey) {
    const std::string good = "id = \"laser-1\"\nprofile = \"laser-400\"\nport = \"/dev/ttyUSB0\"\n";
    const std::string base = "id = \"m2\"\nprofile = \"x\"\nport = \"p\"\n";
    auto machines = [&](const std::string& second) {
        ConfigText t;
        t.extra = "[[machines]]\n" + good + "[[machines]]\n" + second;
        return t;
    };
    expectKeyError(machines("profile = \"x\"\nport = \"/dev/x\"\n"), "machines[1].id", "missing");
    expectKeyError(machines(good), "machines[1].id", "listed twice");
    expectKeyError(machines("id = \"a b\"\nprofile = \"x\"\nport = \"p\"\n"), "machines[1].id");
    expectKeyError(machines("id = \"m2\"\nport = \"p\"\n"), "machines[1].profile", "missing");
    expectKeyError(machines("id = \"m2\"\nprofile = \"x\"\n"), "machines[1].port", "missing");
    expectKeyError(machines(base + "driver = \"repetier\"\n"), "machines[1].driver", "marlin");
    expectKeyError(machines(base + "in_flight = 4\n"), "machines[1].in_flight", "Marlin setting");
    expectKeyError(machines(base + "driver = \"marlin\"\ndry_run = true\n"), "machines[1].dry_run", "GRBL setting");
    expectKeyError(machines(base + "driver = \"marlin\"\nin_flight = 0\n"), "machines[1].in_flight", "between 1 and 32");
    expectKeyError(machines(base + "driver = \"marlin\"\ncancel_gcode = 5\n"), "machines[1].cancel_gcode", "string");
    expectKeyError(machines(base + "baud = 12\n"), "machines[1].baud");
    expectKeyError(machines(base + "baud_rate = 9600\n"), "machines[1].baud_rate", "unknown key");
    expectKeyError(machines(base + "materials = \"oak\"\n"), "machines[1].materials");
    expectKeyError(machines(base + "dry_run = 1\n"), "machines[1].dry_run");
    expectKeyError(machines(base + "on_hold = \"stop\"\n"), "machines[1].on_hold", "finish");
    expectKeyError(machines(base + "on_cancel = \"pause\"\n"), "machines[1].on_cancel", "stop");
}

TEST_F(ConfigTest, ScannersAreReadWithTheirDefaults) {
    ConfigText t;
    t.extra = "[[scanners]]\nid = \"pack-1\"\nkind = \"evdev\"\npath = \"/dev/input/event3\"\nstation = \"packing\"\n"
              "[[scanners]]\nid = \"bay\"\nkind = \"serial\"\nport = \"/dev/ttyACM0\"\nbaud = 115200\n"
              "context_timeout_s = 300\n"
              "[[scanners]]\nid = \"script\"\nkind = \"line\"\n";
    const Config c = load(t);
    ASSERT_EQ(c.scanners.size(), 3u);
    EXPECT_EQ(c.scanners[0].path, "/dev/input/event3");
    EXPECT_EQ(c.scanners[0].station, "packing");
    EXPECT_EQ(c.scanners[0].contextTimeout, std::chrono::seconds(120));
    EXPECT_EQ(c.scanners[1].port, "/dev/ttyACM0");
    EXPECT_EQ(c.scanners[1].baud, 115200u);
    EXPECT_EQ(c.scanners[1].station, "bay") << "the station defaults to the id";
    EXPECT_EQ(c.scanners[1].contextTimeout, std::chrono::seconds(300));
    EXPECT_EQ(c.scanners[2].listen, "127.0.0.1:7781");
    EXPECT_TRUE(load(ConfigText{}).scanners.empty());
}

TEST_F(ConfigTest, ABadScannerIsNamedByItsPlaceAndKey) {
    auto scanner = [&](const std::string& body) {
        ConfigText t;
        t.extra = "[[scanners]]\nid = \"s1\"\nkind = \"line\"\n[[scanners]]\n" + body;
        return t;
    };
    expectKeyError(scanner("kind = \"line\"\n"), "scanners[1].id", "missing");
    expectKeyError(scanner("id = \"s1\"\nkind = \"line\"\n"), "scanners[1].id", "listed twice");
    expectKeyError(scanner("id = \"s2\"\n"), "scanners[1].kind", "missing");
    expectKeyError(scanner("id = \"s2\"\nkind = \"hid\"\n"), "scanners[1].kind", "evdev, serial or line");
    expectKeyError(scanner("id = \"s2\"\nkind = \"evdev\"\n"), "scanners[1].path", "missing");
    expectKeyError(scanner("id = \"s2\"\nkind = \"evdev\"\nport = \"/dev/ttyS0\"\n"), "scanners[1].port",
                   "reads path");
    expectKeyError(scanner("id = \"s2\"\nkind = \"serial\"\n"), "scanners[1].port", "missing");
    expectKeyError(scanner("id = \"s2\"\nkind = \"line\"\nbaud = 9600\n"), "scanners[1].baud", "serial");
    expectKeyError(scanner("id = \"s2\"\nkind = \"line\"\nlisten = \"localhost:7781\"\n"), "scanners[1].listen",
                   "not an IP address");
    expectKeyError(scanner("id = \"s2\"\nkind = \"line\"\nlisten = \"127.0.0.1:99999\"\n"), "scanners[1].listen");
    expectKeyError(scanner("id = \"s2\"\nkind = \"line\"\ncontext_timeout_s = 1\n"), "scanners[1].context_timeout_s");
    expectKeyError(scanner("id = \"s2\"\nkind = \"line\"\ntimeout = 5\n"), "scanners[1].timeout", "unknown key");
    ConfigText notArray;
    notArray.extra = "[scanners]\nid = \"s1\"\n";
    expectKeyError(notArray, "scanners", "[[scanners]]");
}

}   // namespace
}   // namespace mto

namespace mto {
namespace {

TEST_F(ConfigTest, LabelsDefaultToCode128FilesOnly) {
    const Config c = load(ConfigText{});
    EXPECT_TRUE(c.labels.enabled);
    EXPECT_EQ(c.labels.symbology, LabelsConfig::Symbology::Code128);
    EXPECT_EQ(c.labels.widthMm, 100);
    EXPECT_EQ(c.labels.heightMm, 50);
    EXPECT_EQ(c.labels.dpi, 203);
    EXPECT_EQ(c.labels.printer, LabelsConfig::PrinterKind::None);
}

TEST_F(ConfigTest, LabelPrintersAreReadWithTheirAddressesAndFormats) {
    ConfigText t;
    t.extra = "[labels]\nsymbology = \"qr\"\nwidth_mm = 62.5\nheight_mm = 29\ndpi = 300\nprinter = \"tcp\"\n"
              "address = \"zebra-3.local:9101\"\nprint_timeout_s = 3\nretry_min_s = 0.5\nretry_max_s = 60\n";
    Config c = load(t);
    EXPECT_EQ(c.labels.symbology, LabelsConfig::Symbology::Qr);
    EXPECT_EQ(c.labels.widthMm, 62.5);
    EXPECT_EQ(c.labels.dpi, 300);
    EXPECT_EQ(c.labels.host, "zebra-3.local");
    EXPECT_EQ(c.labels.port, 9101);
    EXPECT_EQ(c.labels.printFormat, LabelsConfig::PrintFormat::Zpl) << "raw TCP sends ZPL unless told";
    EXPECT_EQ(c.labels.retryMin, std::chrono::milliseconds(500));
    t.extra = "[labels]\nprinter = \"tcp\"\naddress = \"[fd00::7]:9100\"\nprint_format = \"pdf\"\n";
    c = load(t);
    EXPECT_EQ(c.labels.host, "fd00::7");
    EXPECT_EQ(c.labels.printFormat, LabelsConfig::PrintFormat::Pdf);
    t.extra = "[labels]\nprinter = \"cups\"\ncups_queue = \"Zebra_ZD421\"\nlp_command = \"bin/fake-lp\"\n";
    c = load(t);
    EXPECT_EQ(c.labels.cupsQueue, "Zebra_ZD421");
    EXPECT_EQ(c.labels.lpCommand, dir_.path() / "bin" / "fake-lp");
    EXPECT_EQ(c.labels.printFormat, LabelsConfig::PrintFormat::Pdf);
}

TEST_F(ConfigTest, LabelMistakesNameTheKey) {
    ConfigText t;
    t.extra = "[labels]\nsymbology = \"ean13\"\n";
    expectKeyError(t, "labels.symbology", "\"code128\" or \"qr\"");
    t.extra = "[labels]\nprinter = \"cups\"\n";
    expectKeyError(t, "labels.cups_queue", "lpstat");
    t.extra = "[labels]\nprinter = \"cups\"\ncups_queue = \"-o evil\"\n";
    expectKeyError(t, "labels.cups_queue");
    t.extra = "[labels]\nprinter = \"tcp\"\n";
    expectKeyError(t, "labels.address", "9100");
    t.extra = "[labels]\nprinter = \"tcp\"\naddress = \"zebra:99999\"\n";
    expectKeyError(t, "labels.address", "1..65535");
    t.extra = "[labels]\nwidth_mm = 5\n";
    expectKeyError(t, "labels.width_mm", "between 25 and 300");
    t.extra = "[labels]\nprinter = \"lpr\"\n";
    expectKeyError(t, "labels.printer");
    t.extra = "[labels]\nretry_min_s = 10\nretry_max_s = 5\n";
    expectKeyError(t, "labels.retry_max_s");
    t.extra = "[labels]\ncolour = \"red\"\n";
    expectKeyError(t, "labels.colour", "unknown key");
}

TEST_F(ConfigTest, AJigGridIsReadRowByRowFromItsFrontLeftSlot) {
    ConfigText t;
    t.extra = "[[machines]]\nid = \"laser-1\"\nprofile = \"laser-400\"\nport = \"/dev/ttyUSB0\"\n"
              "[[machines.jigs]]\nid = \"tags\"\nskus = [\"TAG\"]\nslot_width = 50\nslot_height = 20\n"
              "grid = { origin_x = 10, origin_y = 5, columns = 4, rows = 5, pitch_x = 60, pitch_y = 30 }\n"
              "[[machines.jigs]]\nid = \"coasters\"\nskus = [\"COASTER\", \"COASTER-2\"]\nslot_width = 100\n"
              "slot_height = 100\nslots = [{ x = 0, y = 0 }, { x = 150.5, y = 0 }]\n";
    const Config c = load(t);
    ASSERT_EQ(c.machines.size(), 1u);
    ASSERT_EQ(c.machines[0].jigs.size(), 2u);
    const JigConfig& grid = c.machines[0].jigs[0];
    EXPECT_EQ(grid.id, "tags");
    EXPECT_EQ(grid.skus, std::vector<std::string>{"TAG"});
    ASSERT_EQ(grid.slots.size(), 20u);
    EXPECT_DOUBLE_EQ(grid.slots[0].x, 10);
    EXPECT_DOUBLE_EQ(grid.slots[0].y, 5);
    EXPECT_DOUBLE_EQ(grid.slots[3].x, 190) << "the first row runs along X";
    EXPECT_DOUBLE_EQ(grid.slots[4].x, 10);
    EXPECT_DOUBLE_EQ(grid.slots[4].y, 35) << "then the next row, one pitch_y further";
    EXPECT_DOUBLE_EQ(grid.slots[19].x, 190);
    EXPECT_DOUBLE_EQ(grid.slots[19].y, 125);
    EXPECT_DOUBLE_EQ(grid.slots[19].width, 50);
    EXPECT_DOUBLE_EQ(grid.slots[19].height, 20);
    const JigConfig& list = c.machines[0].jigs[1];
    ASSERT_EQ(list.slots.size(), 2u);
    EXPECT_DOUBLE_EQ(list.slots[1].x, 150.5);
    EXPECT_EQ(list.skus.size(), 2u);
}

TEST_F(ConfigTest, ABadJigIsNamedByItsMachineItsPlaceAndKey) {
    const std::string machine = "[[machines]]\nid = \"laser-1\"\nprofile = \"laser-400\"\nport = \"/dev/ttyUSB0\"\n";
    const std::string head = "[[machines.jigs]]\nid = \"j\"\nskus = [\"TAG\"]\nslot_width = 50\nslot_height = 20\n";
    auto jig = [&](const std::string& rest) {
        ConfigText t;
        t.extra = machine + head + rest;
        return t;
    };
    expectKeyError(jig("grid = { origin_x = 0, origin_y = 0, columns = 2, rows = 1, pitch_x = 40 }\n"),
                   "machines[0].jigs[0].grid", "overlaps slot 0");
    expectKeyError(jig("slots = [{ x = 0, y = 0 }, { x = 100, y = 0 }, { x = 120, y = 10 }]\n"),
                   "machines[0].jigs[0].slots[2]", "slot 2 overlaps slot 1");
    expectKeyError(jig(""), "machines[0].jigs[0].grid", "exactly one");
    expectKeyError(jig("slots = [{ x = 0, y = 0 }]\ngrid = { origin_x = 0, origin_y = 0, columns = 1, rows = 1 }\n"),
                   "machines[0].jigs[0].grid", "exactly one");
    expectKeyError(jig("grid = { origin_x = 0, origin_y = 0, columns = 2, rows = 1 }\n"),
                   "machines[0].jigs[0].grid.pitch_x", "missing");
    expectKeyError(jig("grid = { origin_x = 0, origin_y = 0, columns = 0, rows = 1 }\n"),
                   "machines[0].jigs[0].grid.columns", "between");
    expectKeyError(jig("grid = { origin_x = 0, origin_y = 0, columns = 1, rows = 1, pitch = 3 }\n"),
                   "machines[0].jigs[0].grid.pitch", "unknown key");
    expectKeyError(jig("slots = [{ x = 0, z = 0 }]\n"), "machines[0].jigs[0].slots[0].z", "unknown key");
    expectKeyError(jig("slots = []\n"), "machines[0].jigs[0].slots", "non-empty");
    expectKeyError(jig("slots = [{ x = 0, y = 0 }]\nslot_size = 3\n"), "machines[0].jigs[0].slot_size", "unknown key");
    ConfigText noSkus;
    noSkus.extra = machine + "[[machines.jigs]]\nid = \"j\"\nslot_width = 5\nslot_height = 5\nslots = [{ x = 0, y = 0 }]\n";
    expectKeyError(noSkus, "machines[0].jigs[0].skus", "non-empty");
    ConfigText noWidth;
    noWidth.extra = machine + "[[machines.jigs]]\nid = \"j\"\nskus = [\"TAG\"]\nslot_height = 5\nslots = [{ x = 0, y = 0 }]\n";
    expectKeyError(noWidth, "machines[0].jigs[0].slot_width", "missing");
    ConfigText twice;
    twice.extra = machine + head + "slots = [{ x = 0, y = 0 }]\n" + head + "slots = [{ x = 0, y = 0 }]\n";
    expectKeyError(twice, "machines[0].jigs[1].id", "listed twice");
}

TEST_F(ConfigTest, PrintHostsAreReachedByUrlWithAKeyFromTheConfigOrAFile) {
    test::writeFile(dir_.path() / "octopi.key", "  0123ABCD\n");
    ConfigText t;
    t.extra = "[[machines]]\nid = \"p1\"\nprofile = \"mk3s\"\ndriver = \"moonraker\"\nurl = \"http://10.0.0.7:7125\"\n"
              "[[machines]]\nid = \"p2\"\nprofile = \"mk3s\"\ndriver = \"octoprint\"\nurl = \"http://octopi.lan\"\n"
              "api_key_file = \"octopi.key\"\npoll_ms = 250\n"
              "[[machines]]\nid = \"p3\"\nprofile = \"mk3s\"\ndriver = \"octoprint\"\nurl = \"http://octopi2.lan:5000\"\n"
              "api_key = \"K3Y\"\n";
    const Config c = load(t);
    ASSERT_EQ(c.machines.size(), 3u);
    EXPECT_EQ(c.machines[0].driver, "moonraker");
    EXPECT_EQ(c.machines[0].url, "http://10.0.0.7:7125");
    EXPECT_TRUE(c.machines[0].apiKey.empty());
    EXPECT_EQ(c.machines[0].pollInterval, std::chrono::milliseconds(1000));
    EXPECT_EQ(c.machines[1].apiKey, "0123ABCD") << "the first line, blanks around it cut";
    EXPECT_EQ(c.machines[1].pollInterval, std::chrono::milliseconds(250));
    EXPECT_EQ(c.machines[2].apiKey, "K3Y");
}

TEST_F(ConfigTest, ABadPrintHostIsNamedByItsKey) {
    auto machine = [](const std::string& rest) {
        ConfigText t;
        t.extra = "[[machines]]\nid = \"p1\"\nprofile = \"mk3s\"\n" + rest;
        return t;
    };
    expectKeyError(machine("driver = \"moonraker\"\n"), "machines[0].url", "missing");
    expectKeyError(machine("driver = \"moonraker\"\nurl = \"https://x:7125\"\n"), "machines[0].url", "http://");
    expectKeyError(machine("driver = \"moonraker\"\nurl = \"http://x:port\"\n"), "machines[0].url", "port");
    expectKeyError(machine("driver = \"moonraker\"\nurl = \"http://x\"\nport = \"/dev/ttyUSB0\"\n"), "machines[0].port",
                   "url");
    expectKeyError(machine("driver = \"octoprint\"\nurl = \"http://x\"\n"), "machines[0].api_key", "missing");
    expectKeyError(machine("driver = \"octoprint\"\nurl = \"http://x\"\napi_key_file = \"nope.key\"\n"),
                   "machines[0].api_key_file", "cannot read");
    expectKeyError(machine("driver = \"octoprint\"\nurl = \"http://x\"\napi_key = \"a\"\napi_key_file = \"k\"\n"),
                   "machines[0].api_key_file", "not both");
    expectKeyError(machine("driver = \"moonraker\"\nurl = \"http://x\"\npoll_ms = 5\n"), "machines[0].poll_ms");
    expectKeyError(machine("driver = \"duet\"\nurl = \"http://x\"\n"), "machines[0].driver", "octoprint");
}

} // namespace
} // namespace mto
