// SPDX-License-Identifier: Apache-2.0
// The station page in headless Chromium, fed by a fake StationFeed: the DOM and the screenshot show a running
// machine with its progress, a refused scan that arrived live over the event stream, and the QC snapshot.
// Two Chromium runs in all, one per test.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <unistd.h>
#include <filesystem>
#include <future>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <regex>
#include <thread>

#include "station/station_server.hpp"
#include "station_client.hpp"
#include "test_env.hpp"
#include "util/sha256.hpp"

namespace mto::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string chromiumBinary() {
    for (const char* name : {"chromium", "chromium-browser"}) {
        const char* path = std::getenv("PATH");
        std::string dirs = path ? path : "/usr/bin:/bin";
        std::size_t start = 0;
        while (start <= dirs.size()) {
            const auto end = dirs.find(':', start);
            const fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
            if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
            if (end == std::string::npos) break;
            start = end + 1;
        }
    }
    return {};
}

// Pixels within `tolerance` of a BGR colour.
cv::Mat colourMask(const cv::Mat& image, cv::Scalar bgr, int tolerance) {
    cv::Mat mask;
    cv::inRange(image, bgr - cv::Scalar::all(tolerance), bgr + cv::Scalar::all(tolerance), mask);
    return mask;
}

class StationBrowser : public ::testing::Test {
protected:
    void SetUp() override {
        chromium_ = chromiumBinary();
        if (chromium_.empty()) GTEST_SKIP() << "chromium is not installed (Debian package chromium)";

        // The QC snapshot: a magenta and green checkerboard, nothing else on the page has those colours.
        cv::Mat image(480, 640, CV_8UC3);
        for (int y = 0; y < image.rows; ++y)
            for (int x = 0; x < image.cols; ++x)
                image.at<cv::Vec3b>(y, x) = ((x / 80 + y / 80) % 2) ? cv::Vec3b(255, 0, 255) : cv::Vec3b(0, 200, 0);
        std::vector<unsigned char> jpeg;
        ASSERT_TRUE(cv::imencode(".jpg", image, jpeg, {cv::IMWRITE_JPEG_QUALITY, 95}));
        const std::string bytes(jpeg.begin(), jpeg.end());
        sha_ = sha256Hex(bytes);
        writeFile(dir_.path() / "media" / (sha_ + ".jpg"), bytes);

        feed_.floor = [](std::size_t) {
            FloorView v;
            v.factory = "f1";
            v.machines.push_back({"laser-1", "laser-400", "laser", "running", "running", "",
                                  FloorJob{"ORD-1042", "3", "laser_engrave", 1, 2, 40, 754}, ""});
            v.queue.push_back({"ORD-1043", "1", "laser_engrave", "laser", 1, 5, true, "2026-12-02T09:00:00Z", 300});
            v.queuedSeconds = {{"laser", 1500}};
            return v;
        };
        // The page is served with an accepted scan; the refused one comes after it, so the page shows it only
        // when its event stream works.
        feed_.scans = [this](const StationConfig& s, std::size_t) {
            std::vector<ScanLine> lines{{"2026-12-01T10:00:00Z", "wedge-1", "ITEM:ORD-1042/3", "accepted",
                                         "ORD-1042 / 3 picked up", "OP:anna"}};
            if (s.id == "engraving" && ++scanCalls_ > 1)
                lines.insert(lines.begin(), {"2026-12-01T10:00:05Z", "wedge-1", "ACT:QC-PASS", "refused",
                                             "QC pass refused: ORD-1042 / 3 is still on laser-1", "OP:anna"});
            return lines;
        };
        feed_.latestSnapshot = [this](const StationConfig&) {
            return SnapshotRef{sha_, "2026-12-01T09:58:00Z", "laser-1", "ORD-1041", "2", {}};
        };

        StationDisplayConfig config;
        config.enabled = true;
        config.port = static_cast<unsigned short>(freeTcpPort());
        config.stations = {{"engraving", "Engraving bay", {"laser-1"}, {"wedge-1"}}};
        port_ = config.port;
        server_ = std::make_unique<StationServer>(io_, config, "f1", dir_.path() / "media", feed_);
        boost::asio::post(io_, [this] { server_->start(); });
        thread_ = std::thread([this] { io_.run(); });
        ASSERT_TRUE(waitForPort(port_, 5s));
    }

    void TearDown() override {
        if (thread_.joinable()) {
            std::promise<void> stopped;
            boost::asio::post(io_, [&] {
                server_->stop();
                stopped.set_value();
            });
            stopped.get_future().wait();
            work_.reset();
            io_.stop();
            thread_.join();
        }
        server_.reset();
    }

    struct PageCapture {
        std::string dom;   // document.documentElement.outerHTML once the page showed the refused scan live
        cv::Mat screenshot;
    };

    // Opens the station page in headless Chromium and drives it over the DevTools protocol: waits (up to
    // 20 s) until its event stream is open and has brought the refused scan, then takes the DOM and a
    // screenshot. Not --dump-dom/--screenshot: without --virtual-time-budget they capture at the load
    // event, before any event arrives, and with it Chromium never finishes while an EventSource is open
    // (virtual time waits for pending fetches). As root, Debian's chromium needs --no-sandbox.
    PageCapture capturePage() {
        scanCalls_ = 0;
        const fs::path profile = dir_.path() / "profile";
        const std::string url = "http://127.0.0.1:" + std::to_string(port_) + "/station/engraving";
        Process browser;
        browser.start({chromium_, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                       "--user-data-dir=" + profile.string(), "--window-size=800,1280", "--remote-debugging-port=0",
                       url},
                      dir_.path() / "chromium.log");
        struct Killer {
            Process& p;
            ~Killer() { p.kill9(); }
        } killer{browser};
        PageCapture out;
        // Chromium writes the port it chose to <profile>/DevToolsActivePort.
        const fs::path portFile = profile / "DevToolsActivePort";
        if (!waitUntil([&] { return fs::exists(portFile) && readFile(portFile).find('\n') != std::string::npos; }, 30s)) {
            ADD_FAILURE() << "chromium opened no DevTools port:\n" << readFile(dir_.path() / "chromium.log");
            return out;
        }
        const int devtools = std::stoi(readFile(portFile));
        std::string pagePath;
        waitUntil([&]() -> bool {
            const boost::json::value targets = boost::json::parse(httpGet(devtools, "/json/list").body);
            if (!targets.is_array()) return false;
            for (const auto& t : targets.get_array())
                if (t.at("type") == "page" && std::string(t.at("url").as_string()).rfind(url, 0) == 0) {
                    const std::string ws(t.at("webSocketDebuggerUrl").as_string());
                    pagePath = ws.substr(ws.find("/devtools/"));
                }
            return !pagePath.empty();
        }, 20s);
        if (pagePath.empty()) {
            ADD_FAILURE() << "chromium shows no page for " << url;
            return out;
        }

        boost::asio::io_context io;
        boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws(io);
        ws.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(devtools)});
        ws.handshake("127.0.0.1:" + std::to_string(devtools), pagePath);
        ws.read_message_max(64 << 20);
        int nextId = 0;
        auto call = [&](const std::string& method, boost::json::object params) {
            const int id = ++nextId;
            boost::json::object request;
            request["id"] = id;
            request["method"] = method;
            request["params"] = std::move(params);
            ws.write(boost::asio::buffer(boost::json::serialize(request)));
            for (;;) {   // events of the page come in between; the answer carries our id
                boost::beast::flat_buffer buffer;
                ws.read(buffer);
                auto v = boost::json::parse(boost::beast::buffers_to_string(buffer.data())).as_object();
                if (v.contains("id") && v.at("id") == id) {
                    if (v.contains("error")) throw std::runtime_error(method + ": " + boost::json::serialize(v.at("error")));
                    return v.at("result").as_object();
                }
            }
        };
        auto evaluate = [&](const std::string& expression) {
            boost::json::object params;
            params["expression"] = expression;
            params["returnByValue"] = true;
            auto r = call("Runtime.evaluate", std::move(params));
            return r.at("result").as_object().contains("value") ? r.at("result").at("value") : boost::json::value();
        };
        // A portrait tablet's viewport (--window-size counts the window's frame too).
        boost::json::object metrics;
        metrics["width"] = 800;
        metrics["height"] = 1280;
        metrics["deviceScaleFactor"] = 1;
        metrics["mobile"] = false;
        call("Emulation.setDeviceMetricsOverride", std::move(metrics));
        const bool shown = waitUntil([&]() -> bool {
            const auto v = evaluate("document.getElementById('live') !== null && "
                                    "document.getElementById('live').className === 'on' && "
                                    "document.getElementById('scan-banner').className === 'refused' && "
                                    "document.querySelector('#snapshot img').complete && "
                                    "document.querySelector('#snapshot img').naturalWidth > 0");
            return v.is_bool() && v.get_bool();
        }, 20s);
        out.dom = std::string(evaluate("document.documentElement.outerHTML").as_string());
        EXPECT_TRUE(shown) << "the page never showed the refused scan live:\n" << out.dom;
        boost::json::object format;
        format["format"] = "png";
        const auto shot = call("Page.captureScreenshot", std::move(format));
        const std::string b64(shot.at("data").as_string());
        std::string png(boost::beast::detail::base64::decoded_size(b64.size()), '\0');
        png.resize(boost::beast::detail::base64::decode(png.data(), b64.data(), b64.size()).first);
        out.screenshot = cv::imdecode(std::vector<unsigned char>(png.begin(), png.end()), cv::IMREAD_COLOR);
        boost::system::error_code ignored;
        ws.close(boost::beast::websocket::close_code::normal, ignored);
        return out;
    }

    TempDir dir_;
    std::string chromium_;
    std::string sha_;
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ = boost::asio::make_work_guard(io_);
    StationFeed feed_;
    int scanCalls_ = 0;   // touched on the loop only, reset between Chromium runs
    std::unique_ptr<StationServer> server_;
    std::thread thread_;
    int port_ = 0;
};

TEST_F(StationBrowser, TheDomShowsTheRunningMachineTheRefusedScanThatCameLiveAndTheSnapshot) {
    const std::string dom = capturePage().dom;
    ASSERT_NE(dom.find("<html"), std::string::npos) << dom;
    auto has = [&](const std::string& text) {
        EXPECT_NE(dom.find(text), std::string::npos) << "missing: " << text << "\n" << dom;
    };
    has("<h1 id=\"station-name\">Engraving bay</h1>");
    has("<span id=\"live\" class=\"on\">LIVE</span>");
    // The refused scan came over the event stream: the page itself was served with the accepted one on top.
    EXPECT_TRUE(std::regex_search(dom, std::regex(R"(<section id="scan-banner" class="refused"><div class="verdict">REFUSED</div><div class="why">QC pass refused: ORD-1042 / 3 is still on laser-1</div>)")))
        << dom;
    has("<div class=\"card machine\" data-id=\"laser-1\" data-bay=\"running\">");
    has("<span class=\"bay running\">RUNNING</span>");
    has("ORD-1042 / 3 · laser_engrave · unit 1 of 2");
    has("<div class=\"fill\" style=\"width: 40%;\"></div>");
    has("40 % · 12 min 34 s left");
    has("src=\"/media/" + sha_ + ".jpg\"");
    has("ORD-1041 / 2 · laser-1");
    has("<li class=\"refused\"><b>REFUSED</b>");
    has("<li class=\"accepted\"><b>ACCEPTED</b>");
    has("<span class=\"rush\">RUSH</span> ORD-1043 / 1");
}

TEST_F(StationBrowser, TheScreenshotShowsTheRedBannerTheProgressFillAndTheSnapshot) {
    const cv::Mat shot = capturePage().screenshot;
    ASSERT_FALSE(shot.empty()) << "no screenshot";
    EXPECT_EQ(shot.cols, 800);
    EXPECT_EQ(shot.rows, 1280);
    // Called only when a check fails: keeps the shot for a person to look at.
    auto keep = [&] {
        const auto path = fs::temp_directory_path() / "station-browser-test.png";
        cv::imwrite(path.string(), shot);
        return "screenshot kept at " + path.string();
    };

    // The refused banner: #d00000 across the page's width, near the top, tall enough to read from afar.
    const cv::Rect banner = cv::boundingRect(colourMask(shot, {0, 0, 208}, 12));
    EXPECT_GT(banner.width, 700) << keep();
    EXPECT_GT(banner.height, 100) << keep();
    EXPECT_LT(banner.y, 200) << keep();
    EXPECT_GT(cv::countNonZero(colourMask(shot(banner), {0, 0, 208}, 12)), banner.area() / 2) << keep();

    // The progress bar: the fill (#00b4ff) is 40 % of the track (#4a4a4a), measured along its middle row.
    const cv::Rect fill = cv::boundingRect(colourMask(shot, {255, 180, 0}, 12));
    ASSERT_GT(fill.width, 0) << "no progress fill; " << keep();
    EXPECT_GT(fill.y, banner.y + banner.height) << "below the banner; " << keep();
    const int row = fill.y + fill.height / 2;
    int trackEnd = fill.x + fill.width;
    for (int x = trackEnd; x < shot.cols; ++x) {
        const auto p = shot.at<cv::Vec3b>(row, x);
        if (std::abs(p[0] - 74) <= 6 && std::abs(p[1] - 74) <= 6 && std::abs(p[2] - 74) <= 6) trackEnd = x + 1;
        else if (x > trackEnd + 2) break;
    }
    const double ratio = static_cast<double>(fill.width) / (trackEnd - fill.x);
    EXPECT_NEAR(ratio, 0.40, 0.02) << "fill " << fill.width << " of " << (trackEnd - fill.x) << " px; " << keep();
    EXPECT_GT(trackEnd - fill.x, 600) << "the bar spans the card; " << keep();

    // The snapshot: the checkerboard is drawn (both colours, in one area below the machine), not a blank frame.
    const cv::Mat magenta = colourMask(shot, {255, 0, 255}, 40), green = colourMask(shot, {0, 200, 0}, 40);
    EXPECT_GT(cv::countNonZero(magenta), 20000) << keep();
    EXPECT_GT(cv::countNonZero(green), 20000) << keep();
    const cv::Rect snapshot = cv::boundingRect(magenta) | cv::boundingRect(green);
    EXPECT_GT(snapshot.y, fill.y) << keep();
    EXPECT_GT(snapshot.width, 400) << keep();
    cv::Scalar mean, stddev;
    cv::meanStdDev(shot(snapshot), mean, stddev);
    EXPECT_GT(stddev[1], 60) << "a blank area has no contrast; " << keep();
}

} // namespace
} // namespace mto::test
