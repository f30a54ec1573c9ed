// SPDX-License-Identifier: Apache-2.0
// The station display without sockets: routing, 404/405 answers, media names, the snapshot JSON, its config.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "mto/config.hpp"
#include "mto/error.hpp"
#include "station/station_page.hpp"
#include "station/station_route.hpp"
#include "station/station_server.hpp"
#include "station/station_snapshot.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;
using Kind = StationRoute::Kind;

const std::string kSha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

FloorView floorOfThree() {
    FloorView v;
    v.factory = "f1";
    v.at = "2026-11-26T05:30:00.000Z";
    v.machines.push_back({"laser-1", "laser-400", "laser", "running", "running", "", FloorJob{"ORD-1", "1", "laser_engrave", 2, 3, 57, 12.6}, ""});
    v.machines.push_back({"laser-2", "laser-400", "laser", "ready", "idle", "", std::nullopt, ""});
    v.machines.push_back({"cnc-1", "cnc-600", "cnc", "needs_attention", "alarm", "ALARM:1", std::nullopt, "alarm"});
    v.queue.push_back({"ORD-7", "1", "cnc_profile", "cnc", 1, 1, false, "", 300});
    v.queue.push_back({"ORD-9", "2", "laser_engrave", "laser", 2, 3, true, "2026-12-01T10:00:00Z", 60.5});
    v.queuedSeconds = {{"cnc", 300}, {"laser", 181.5}};
    return v;
}

TEST(StationRoute, EachPageOfTheDisplayHasItsRoute) {
    EXPECT_EQ(routeStationRequest("GET", "/").kind, Kind::StationList);
    auto page = routeStationRequest("GET", "/station/bay-A");
    EXPECT_EQ(page.kind, Kind::StationPage);
    EXPECT_EQ(page.stationId, "bay-A");
    auto events = routeStationRequest("GET", "/station/bay-A/events");
    EXPECT_EQ(events.kind, Kind::StationEvents);
    EXPECT_EQ(events.stationId, "bay-A");
    EXPECT_EQ(routeStationRequest("GET", "/station/bay-A/state.json").kind, Kind::StationState);
    EXPECT_EQ(routeStationRequest("GET", "/station/bay-A?kiosk=1").kind, Kind::StationPage) << "a query is ignored";
    auto media = routeStationRequest("GET", "/media/" + kSha + ".jpg");
    EXPECT_EQ(media.kind, Kind::Media);
    EXPECT_EQ(media.sha256, kSha);
}

TEST(StationRoute, AnythingButGetIsNotAllowedBecauseTheDisplayTakesNoActions) {
    for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get"})
        for (const char* target : {"/", "/station/floor", "/station/floor/events", "/nothing"})
            EXPECT_EQ(routeStationRequest(method, target).kind, Kind::MethodNotAllowed) << method << " " << target;
}

TEST(StationRoute, UnknownPathsAndBadStationIdsAreNotFound) {
    for (const char* target : {"/favicon.ico", "/station", "/station/", "/station//events", "/station/a b",
                               "/station/../etc/passwd", "/station/a%2Fb", "/station/floor/", "/station/floor/events/x",
                               "/station/floor/state", "/stations/floor", "//station/floor", ""}) {
        const auto r = routeStationRequest("GET", target);
        EXPECT_EQ(r.kind, Kind::NotFound) << target;
        EXPECT_FALSE(r.why.empty()) << target;
    }
    EXPECT_EQ(routeStationRequest("GET", "/station/" + std::string(65, 'a')).kind, Kind::NotFound) << "ids end at 64";
}

TEST(StationRoute, MediaNamesAreExactlyASha256SoNoPathLeavesTheMediaFolder) {
    const std::string upper = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
    for (const std::string& target : std::vector<std::string>{"/media/" + kSha.substr(1) + ".jpg", "/media/" + kSha + "0.jpg", "/media/" + upper + ".jpg",
          "/media/" + kSha + ".png", "/media/" + kSha, "/media/" + kSha + ".jpg/x", "/media/../agent.db",
          "/media/../../etc/passwd.jpg", "/media/%2e%2e%2fagent.db.jpg",
          "/media/" + kSha.substr(0, 60) + "/../.jpg", "/media/" + kSha.substr(0, 63) + "g.jpg", "/media/.jpg"}) {
        EXPECT_EQ(routeStationRequest("GET", target).kind, Kind::NotFound) << target;
    }
    EXPECT_TRUE(isSha256Hex(kSha));
    EXPECT_FALSE(isSha256Hex(upper));
    EXPECT_FALSE(isSha256Hex(""));
}

class StationAnswers : public ::testing::Test {
protected:
    StationAnswers() {
        config_.enabled = true;
        config_.stations = {{"engraving", "Engraving bay", {"laser-1", "laser-2"}, {"scanner-1"}},
                            {"cutting", "Cutting", {"cnc-1"}, {}}};
        feed_.floor = [](std::size_t) { return floorOfThree(); };
        feed_.scans = [this](const StationConfig& s, std::size_t n) {
            lastScansStation_ = s.id;
            lastScansN_ = n;
            return scans_;
        };
        feed_.latestSnapshot = [this](const StationConfig&) { return snapshot_; };
        std::filesystem::create_directories(dir_.path() / "media");
        server_ = std::make_unique<StationServer>(io_, config_, "f1", dir_.path() / "media", feed_);
    }

    StationServer::Response get(const std::string& target, http::verb verb = http::verb::get) {
        StationServer::Request req{verb, target, 11};
        return server_->answer(req);
    }

    test::TempDir dir_;
    boost::asio::io_context io_;
    StationDisplayConfig config_;
    StationFeed feed_;
    std::vector<ScanLine> scans_;
    std::optional<SnapshotRef> snapshot_;
    std::string lastScansStation_;
    std::size_t lastScansN_ = 0;
    std::unique_ptr<StationServer> server_;
};

TEST_F(StationAnswers, TheListLinksEveryStation) {
    const auto res = get("/");
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(res[http::field::content_type], "text/html; charset=utf-8");
    EXPECT_NE(res.body().find("href=\"/station/engraving\""), std::string::npos) << res.body();
    EXPECT_NE(res.body().find("Engraving bay"), std::string::npos);
    EXPECT_NE(res.body().find("href=\"/station/cutting\""), std::string::npos);
    EXPECT_NE(res.body().find("laser-1, laser-2"), std::string::npos);
}

TEST_F(StationAnswers, AnUnknownStationIsNotFoundAndTheAnswerNamesTheKnownOnes) {
    for (const char* target : {"/station/welding", "/station/welding/state.json", "/station/welding/events"}) {
        const auto res = get(target);
        EXPECT_EQ(res.result(), http::status::not_found) << target;
        EXPECT_NE(res.body().find("no station &#39;welding&#39;"), std::string::npos) << res.body();
        EXPECT_NE(res.body().find("engraving, cutting"), std::string::npos) << res.body();
    }
    const auto bad = get("/station/<script>");
    EXPECT_EQ(bad.result(), http::status::not_found);
    EXPECT_EQ(bad.body().find("<script>"), std::string::npos) << "the target is escaped in the page";
}

TEST_F(StationAnswers, OtherMethodsGet405WithAllowGet) {
    for (auto verb : {http::verb::post, http::verb::put, http::verb::delete_, http::verb::head}) {
        const auto res = get("/station/engraving", verb);
        EXPECT_EQ(res.result(), http::status::method_not_allowed);
        EXPECT_EQ(res[http::field::allow], "GET");
        EXPECT_NE(res.body().find("takes no actions"), std::string::npos);
    }
}

TEST_F(StationAnswers, ASnapshotIsServedFromTheMediaFolderAndAMissingOneIsNotFound) {
    std::string jpeg = "\xff\xd8\xff\xe0 not really a picture \xff\xd9";
    jpeg.push_back('\0');
    test::writeFile(dir_.path() / "media" / (kSha + ".jpg"), jpeg);
    const auto res = get("/media/" + kSha + ".jpg");
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(res[http::field::content_type], "image/jpeg");
    EXPECT_EQ(res.body(), jpeg);
    EXPECT_EQ(res[http::field::content_length], std::to_string(jpeg.size()));

    const std::string other(64, 'a');
    EXPECT_EQ(get("/media/" + other + ".jpg").result(), http::status::not_found);
    std::filesystem::create_directories(dir_.path() / "media" / (other + ".jpg"));
    EXPECT_EQ(get("/media/" + other + ".jpg").result(), http::status::not_found) << "a directory is not a snapshot";
    EXPECT_EQ(get("/media/../agent.db").result(), http::status::not_found);
}

TEST_F(StationAnswers, TheFeedCanSayWhereMediaLies) {
    test::writeFile(dir_.path() / "elsewhere.jpg", "JPEG");
    feed_.mediaFile = [this](const std::string& sha) { return dir_.path() / (sha == kSha ? "elsewhere.jpg" : "x"); };
    EXPECT_EQ(get("/media/" + kSha + ".jpg").body(), "JPEG");
}

TEST_F(StationAnswers, TheStatePicksTheStationsMachinesItsQueueScansAndSnapshot) {
    scans_ = {{"2026-11-26T05:31:00Z", "scanner-1", "QC:PASS", "refused", "no item scanned first", "OP:7"},
              {"2026-11-26T05:30:00Z", "scanner-1", "ITEM:ORD-1/1", "accepted", "ORD-1 / 1 picked", ""}};
    snapshot_ = SnapshotRef{kSha, "2026-11-26T05:29:00Z", "laser-1", "ORD-1", "1", {"dark"}};
    const auto res = get("/station/engraving/state.json");
    ASSERT_EQ(res.result(), http::status::ok) << res.body();
    EXPECT_EQ(res[http::field::content_type], "application/json");
    const auto o = json::parse(res.body()).as_object();
    EXPECT_EQ(o.at("station").at("id"), "engraving");
    EXPECT_EQ(o.at("station").at("name"), "Engraving bay");
    EXPECT_FALSE(o.at("at").as_string().empty());
    const auto& floor = o.at("floor").as_object();
    ASSERT_EQ(floor.at("machines").as_array().size(), 2u) << "laser-1 and laser-2, not cnc-1";
    EXPECT_EQ(floor.at("machines").at(0).at("id"), "laser-1");
    EXPECT_EQ(floor.at("machines").at(0).at("job").at("percent"), 57);
    EXPECT_EQ(floor.at("machines").at(0).at("job").at("seconds_left"), 13);
    EXPECT_EQ(floor.at("machines").at(1).at("id"), "laser-2");
    ASSERT_EQ(floor.at("queue").as_array().size(), 1u) << "only the laser job";
    EXPECT_EQ(floor.at("queue").at(0).at("order_id"), "ORD-9");
    EXPECT_EQ(floor.at("queued_s").as_object().size(), 1u);
    EXPECT_EQ(floor.at("queued_s").at("laser"), 181.5);
    ASSERT_EQ(o.at("scans").as_array().size(), 2u);
    EXPECT_EQ(o.at("scans").at(0).at("outcome"), "refused");
    EXPECT_EQ(o.at("scans").at(0).at("message"), "no item scanned first");
    EXPECT_EQ(o.at("scans").at(0).at("operator_id"), "OP:7");
    EXPECT_EQ(lastScansStation_, "engraving");
    EXPECT_EQ(lastScansN_, kStationScansShown);
    EXPECT_EQ(o.at("snapshot").at("url").as_string(), "/media/" + kSha + ".jpg");
    EXPECT_EQ(o.at("snapshot").at("machine"), "laser-1");
    EXPECT_EQ(o.at("snapshot").at("flags").at(0), "dark");
}

TEST_F(StationAnswers, TheStationPageCarriesItsFirstSnapshotAndNoTextCanCloseItsScript) {
    scans_ = {{"2026-11-26T05:31:00Z", "scanner-1", "</script><script>alert(1)</script>", "refused", "bad", ""}};
    const auto res = get("/station/engraving");
    ASSERT_EQ(res.result(), http::status::ok);
    const std::string& body = res.body();
    EXPECT_NE(res[http::field::cache_control].find("no-store"), std::string::npos);
    EXPECT_NE(res["Content-Security-Policy"].find("default-src 'none'"), std::string::npos);
    EXPECT_NE(body.find("<script id=\"initial\" type=\"application/json\">"), std::string::npos);
    EXPECT_NE(body.find("\\u003c/script>\\u003cscript>alert(1)"), std::string::npos) << body;
    EXPECT_EQ(body.find("</script><script>alert"), std::string::npos);
    EXPECT_NE(body.find("/events"), std::string::npos) << "the page follows its events";
    EXPECT_EQ(body.find("http://"), std::string::npos) << "nothing from elsewhere";
    EXPECT_EQ(body.find("https://"), std::string::npos) << "nothing from elsewhere";
}

TEST_F(StationAnswers, AProviderThatThrowsLeavesItsPartEmptyAndThePageStillComes) {
    feed_.scans = [](const StationConfig&, std::size_t) -> std::vector<ScanLine> { throw std::runtime_error("db gone"); };
    feed_.latestSnapshot = [](const StationConfig&) -> std::optional<SnapshotRef> { throw std::runtime_error("no"); };
    const auto o = json::parse(get("/station/engraving/state.json").body()).as_object();
    EXPECT_TRUE(o.at("scans").as_array().empty());
    EXPECT_TRUE(o.at("snapshot").is_null());
    EXPECT_EQ(o.at("floor").at("machines").as_array().size(), 2u);
}

TEST(StationSnapshot, WithoutProvidersItIsEmptyAndCarriesNoTime) {
    StationFeed feed;
    const StationConfig floor{"floor", "Floor", {}, {}};
    const auto o = stationSnapshot(floor, feed);
    EXPECT_TRUE(o.at("scans").as_array().empty());
    EXPECT_TRUE(o.at("snapshot").is_null());
    EXPECT_TRUE(o.at("floor").at("machines").as_array().empty());
    EXPECT_EQ(o.at("floor").at("at"), "");
    EXPECT_FALSE(o.contains("at"));
    EXPECT_EQ(json::serialize(o), json::serialize(stationSnapshot(floor, feed))) << "equal when nothing changed";
}

TEST(StationSnapshot, AStationListingNoMachinesShowsTheWholeFloorAndAtMostEightQueued) {
    FloorView v = floorOfThree();
    for (int i = 0; i < 20; ++i) v.queue.push_back({"ORD-" + std::to_string(100 + i), "1", "laser_engrave", "laser", 1, 1, false, "", 5});
    const FloorView f = stationFloor({"floor", "Floor", {}, {}}, v);
    EXPECT_EQ(f.machines.size(), 3u);
    EXPECT_EQ(f.queue.size(), kStationQueueShown);
    EXPECT_EQ(f.queue[0].orderId, "ORD-7");
    EXPECT_EQ(f.queuedSeconds.size(), 2u);
    EXPECT_TRUE(f.at.empty());
}

TEST(StationSnapshot, AnyRunningSeesARunningBay) {
    StationFeed feed;
    feed.floor = [](std::size_t) { return floorOfThree(); };
    EXPECT_TRUE(anyRunning(stationSnapshot({"e", "E", {"laser-1"}, {}}, feed)));
    EXPECT_FALSE(anyRunning(stationSnapshot({"c", "C", {"cnc-1"}, {}}, feed)));
}

TEST(StationPage, HtmlEscapeCoversTextAndAttributes) {
    EXPECT_EQ(htmlEscape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
}

// ---- [station] in the agent's config ----

class StationConfigTest : public ::testing::Test {
protected:
    StationConfigTest() { test::writeFile(dir_.path() / "catalog.toml", "[sku.X]\nname = \"x\"\n"); }

    Config load(const std::string& extra) {
        const auto path = dir_.path() / "agent.toml";
        test::writeFile(path, "[factory]\nid = \"f1\"\n[mqtt]\nuri = \"tcp://127.0.0.1:1883\"\n[storage]\nstate_dir = "
                              "\"state\"\n[intake]\ncatalog = \"catalog.toml\"\n"
                              "[[machines]]\nid = \"laser-1\"\nprofile = \"p\"\nport = \"/dev/null\"\n" +
                                  extra);
        return loadConfig(path);
    }

    void expectKeyError(const std::string& extra, const std::string& key, const std::string& words) {
        try {
            load(extra);
            ADD_FAILURE() << "loaded without error:\n" << extra;
        } catch (const Error& e) {
            const std::string msg = e.what();
            const std::string head = (dir_.path() / "agent.toml").string() + ": key '" + key + "'";
            EXPECT_EQ(msg.rfind(head, 0), 0u) << "expected it to start with: " << head << "\ngot: " << msg;
            EXPECT_NE(msg.find(words), std::string::npos) << msg;
        }
    }

    test::TempDir dir_;
};

TEST_F(StationConfigTest, WithoutAStationSectionThereIsNoDisplay) {
    EXPECT_FALSE(load("").station.enabled);
}

TEST_F(StationConfigTest, AnEmptySectionListensOnLocalhost8080WithOneFloorStation) {
    const auto s = load("[station]\n").station;
    EXPECT_TRUE(s.enabled);
    EXPECT_EQ(s.host, "127.0.0.1");
    EXPECT_EQ(s.port, 8080);
    ASSERT_EQ(s.stations.size(), 1u);
    EXPECT_EQ(s.stations[0].id, "floor");
    EXPECT_TRUE(s.stations[0].machines.empty());
    EXPECT_TRUE(s.stations[0].scanners.empty());
}

TEST_F(StationConfigTest, StationsAreReadWithTheirMachinesAndScanners) {
    const auto s = load("[station]\nlisten = \"0.0.0.0:8181\"\n"
                        "[[station.stations]]\nid = \"engraving\"\nname = \"Engraving bay\"\nmachines = [\"laser-1\"]\n"
                        "scanners = [\"wedge-1\", \"serial-2\"]\n"
                        "[[station.stations]]\nid = \"packing\"\n")
                       .station;
    EXPECT_EQ(s.host, "0.0.0.0");
    EXPECT_EQ(s.port, 8181);
    ASSERT_EQ(s.stations.size(), 2u);
    EXPECT_EQ(s.stations[0].name, "Engraving bay");
    EXPECT_EQ(s.stations[0].machines, std::vector<std::string>{"laser-1"});
    EXPECT_EQ(s.stations[0].scanners, (std::vector<std::string>{"wedge-1", "serial-2"}));
    EXPECT_EQ(s.stations[1].name, "packing") << "the name defaults to the id";
    EXPECT_EQ(load("[station]\nlisten = \"[::1]:8080\"\n").station.host, "::1");
}

TEST_F(StationConfigTest, MistakesNameTheKey) {
    expectKeyError("[station]\nlisten = \"8080\"\n", "station.listen", "address:port");
    expectKeyError("[station]\nlisten = \"tablet:8080\"\n", "station.listen", "not an IP address");
    expectKeyError("[station]\nlisten = \"0.0.0.0:99999\"\n", "station.listen", "1..65535");
    expectKeyError("[station]\nlisten = \"0.0.0.0:0\"\n", "station.listen", "1..65535");
    expectKeyError("[station]\nport = 8080\n", "station.port", "unknown key");
    expectKeyError("[station]\nstations = \"floor\"\n", "station.stations", "array of tables");
    expectKeyError("[[station.stations]]\nname = \"x\"\n", "station.stations[0].id", "missing");
    expectKeyError("[[station.stations]]\nid = \"a/b\"\n", "station.stations[0].id", "URL");
    expectKeyError("[[station.stations]]\nid = \"a\"\n[[station.stations]]\nid = \"a\"\n", "station.stations[1].id",
                   "listed twice");
    expectKeyError("[[station.stations]]\nid = \"a\"\nmachines = [\"laser-9\"]\n", "station.stations[0].machines",
                   "laser-9");
    expectKeyError("[[station.stations]]\nid = \"a\"\nscanners = \"s1\"\n", "station.stations[0].scanners",
                   "array of ids");
    expectKeyError("[[station.stations]]\nid = \"a\"\nscreens = 2\n", "station.stations[0].screens", "unknown key");
}

} // namespace
} // namespace mto
