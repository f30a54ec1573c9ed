// SPDX-License-Identifier: Apache-2.0
// Scanning on the real agent: an emulated laser makes a coaster, an operator moves it along by scanning
// (line input, a recorded evdev stream through a FIFO, a serial scanner on a pty) and HQ sees the
// milestones in order; bad scans are refused without a change; scanners that vanish come back.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/input.h>
#include <pty.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <csignal>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "agent_rig.hpp"
#include "scan/evdev_decoder.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// The key events a keyboard-wedge scanner sends for `text` and Enter (US layout, shift where needed).
std::string keystrokes(const std::string& text) {
    std::string out;
    auto add = [&](unsigned short type, unsigned short code, int value) {
        input_event e{};
        e.type = type;
        e.code = code;
        e.value = value;
        out.append(reinterpret_cast<const char*>(&e), sizeof e);
    };
    auto press = [&](unsigned short code) {
        add(EV_KEY, code, 1);
        add(EV_SYN, SYN_REPORT, 0);
        add(EV_KEY, code, 0);
        add(EV_SYN, SYN_REPORT, 0);
    };
    for (char c : text) {
        bool found = false;
        for (unsigned short code = 1; code < KEY_KP0 && !found; ++code) {
            for (bool shift : {false, true}) {
                if (usKeyChar(code, shift) != c) continue;
                if (shift) add(EV_KEY, KEY_LEFTSHIFT, 1);
                press(code);
                if (shift) add(EV_KEY, KEY_LEFTSHIFT, 0);
                found = true;
                break;
            }
        }
        if (!found) throw std::runtime_error(std::string("no key types '") + c + "'");
    }
    press(KEY_ENTER);
    return out;
}

// A pseudo-terminal standing in for a serial scanner, reached through a symlink that survives re-plugging.
struct PtyScanner {
    int master = -1;
    void plug(const fs::path& link) {
        int slave = -1;
        char name[256];
        ASSERT_EQ(openpty(&master, &slave, name, nullptr, nullptr), 0);
        ::close(slave);
        fs::remove(link);
        fs::create_symlink(name, link);
    }
    void unplug(const fs::path& link) {
        if (master >= 0) ::close(master);
        master = -1;
        fs::remove(link);
    }
    void type(const std::string& bytes) const { ASSERT_EQ(::write(master, bytes.data(), bytes.size()), ssize_t(bytes.size())); }
};

class Scanning : public ::testing::Test {
protected:
    void SetUp() override {
        const auto sim = fs::path(agentBinary()).parent_path() / "mto-machine-sim";
        ASSERT_TRUE(fs::exists(sim)) << sim;
        port_ = (simDir_.path() / "laser-1").string();
        sim_.start({sim.string(), "--grbl", port_, "--laser", "--speed", "100"}, simDir_.path() / "sim.log");
        ASSERT_TRUE(waitUntil([&] { return fs::exists(port_); }, 10s));
        fifo_ = simDir_.path() / "kbd";
        ASSERT_EQ(::mkfifo(fifo_.c_str(), 0600), 0);
        tty_ = simDir_.path() / "scanner-tty";
        pty_.plug(tty_);
        linePort_ = freeTcpPort();
        AgentRigOptions o;
        o.agent.compile = true;
        o.agent.statusIntervalSeconds = 2;
        o.agent.extraConfig = "[[machines]]\nid = \"laser-1\"\nprofile = \"laser-400\"\nport = \"" + port_ +
                              "\"\nstatus_running_ms = 100\nstatus_idle_ms = 500\n"
                              "[[scanners]]\nid = \"script\"\nkind = \"line\"\nstation = \"packing\"\nlisten = \"127.0.0.1:" +
                              std::to_string(linePort_) + "\"\n"
                              "[[scanners]]\nid = \"kbd\"\nkind = \"evdev\"\npath = \"" + fifo_.string() + "\"\n"
                              "[[scanners]]\nid = \"serial\"\nkind = \"serial\"\nport = \"" + tty_.string() + "\"\n";
        o.hqBeforeAgent = true;
        rig_ = std::make_unique<AgentRig>(o);
    }
    void TearDown() override {
        rig_.reset();
        pty_.unplug(tty_);
        sim_.signal(SIGTERM);
        sim_.wait(5s);
    }
    // Scans through the line input, one line each, on one connection.
    void scanLines(const std::vector<std::string>& lines) {
        boost::asio::io_context io;
        boost::asio::ip::tcp::socket s(io);
        s.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(linePort_)});
        std::string text;
        for (const auto& l : lines) text += l + "\n";
        boost::asio::write(s, boost::asio::buffer(text));
    }
    // Scans through the line input and returns its answers, one line per scan.
    std::string scanAndRead(const std::vector<std::string>& lines) {
        boost::asio::io_context io;
        boost::asio::ip::tcp::socket s(io);
        s.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(linePort_)});
        std::string text;
        for (const auto& l : lines) text += l + "\n";
        boost::asio::write(s, boost::asio::buffer(text));
        s.shutdown(boost::asio::ip::tcp::socket::shutdown_send);
        std::string answers;
        boost::system::error_code ec;
        boost::asio::read(s, boost::asio::dynamic_buffer(answers), ec);
        return answers;
    }
    std::int64_t scans(const std::string& where) {
        return rig_->scalar("SELECT COUNT(*) FROM scans WHERE " + where);
    }
    // The scanner as the retained status last listed it; null when it was not listed.
    boost::json::value scannerStatus(const std::string& id) {
        const std::string text = rig_->hq().lastStatus();
        if (text.empty()) return nullptr;
        auto v = boost::json::parse(text);
        if (!v.as_object().contains("scanners")) return nullptr;
        for (const auto& s : v.at("scanners").as_array())
            if (s.at("id") == id.c_str()) return s;
        return nullptr;
    }
    bool waitForScanner(const std::string& id, bool connected, std::chrono::milliseconds timeout = 15s) {
        return waitUntil([&] {
            auto s = scannerStatus(id);
            return s.is_object() && s.at("connected").as_bool() == connected;
        }, timeout);
    }
    void sendCoasters(const std::string& id, int qty) {
        rig_->hq().sendOrder(id, R"({"order_id":")" + id +
                                     R"(","items":[{"item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":)" +
                                     std::to_string(qty) + R"(,"personalization":{"text":"Ada"}}]})");
    }

    TempDir simDir_;
    std::string port_;
    Process sim_;
    fs::path fifo_;
    fs::path tty_;
    PtyScanner pty_;
    int linePort_ = 0;
    std::unique_ptr<AgentRig> rig_;
};

TEST_F(Scanning, AnOperatorScansACoasterThroughQcPackingAndShippingAndHqSeesItInOrder) {
    sendCoasters("ORD-1", 1);
    auto& hq = rig_->hq();
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "job_done") == 1; }, 60s)) << rig_->agent().log();
    scanLines({"OP:ana", "MTO:I:ORD-1/1", "MTO:A:CLEAR:laser-1", "MTO:I:ORD-1/1", "MTO:A:QC_PASS", "MTO:A:PACKED",
               "MTO:A:SHIPPED", "1Z999AA10123456784"});
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-1", "shipped") == 1; }, 20s)) << rig_->agent().log();
    std::vector<std::string> order;
    std::map<std::string, boost::json::object> data;
    for (const auto& e : hq.events()) {
        if (e.orderId != "ORD-1") continue;
        if (e.milestone == "job_done" || e.milestone == "qc_passed" || e.milestone == "ready_to_ship" ||
            e.milestone == "shipped")
            order.push_back(e.milestone);
        data[e.milestone] = e.data;
    }
    EXPECT_EQ(order, (std::vector<std::string>{"job_done", "qc_passed", "ready_to_ship", "shipped"}));
    EXPECT_EQ(data["qc_passed"].at("operator"), "ana");
    EXPECT_TRUE(data["qc_passed"].at("snapshot_sha256").is_null());
    EXPECT_EQ(data["ready_to_ship"].at("operator"), "ana");
    EXPECT_EQ(data["shipped"].at("tracking_number"), "1Z999AA10123456784");
    EXPECT_EQ(data["shipped"].at("station"), "packing");
    EXPECT_EQ(countOf(hq, "ORD-1", "scan_refused"), 0u) << rig_->agent().log();
    EXPECT_EQ(rig_->scalar("SELECT COUNT(*) FROM orders WHERE order_id = 'ORD-1' AND state = 'shipped'"), 1);
    EXPECT_EQ(rig_->scalar("SELECT COUNT(*) FROM machines WHERE machine_id = 'laser-1' AND bay = 'ready'"), 1)
        << "the CLEAR scan cleared the bed as mtoctl clear does";
    EXPECT_EQ(scans("scanner = 'script' AND outcome = 'accepted'"), 8);
}

TEST_F(Scanning, BadScansAreRefusedWithScanRefusedAndChangeNothing) {
    sendCoasters("ORD-2", 2);
    auto& hq = rig_->hq();
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-2", "job_done") == 1; }, 60s)) << rig_->agent().log();
    // The second unit waits for the bed: the item is not done.
    scanLines({"OP:ana", "MTO:I:ORD-2/1", "MTO:A:QC_PASS", "MTO:A:SHIPPED", "MTO:I:ORD-9/1", "MTO:I:ORD-2", "LOREM"});
    ASSERT_TRUE(waitUntil([&] { return scans("outcome = 'refused'") == 5; }, 20s)) << rig_->agent().log();
    ASSERT_TRUE(waitUntil([&] {
        std::size_t n = 0;
        for (const auto& e : hq.events()) n += e.milestone == "scan_refused";
        return n == 5;
    }, 20s));
    std::map<std::string, std::string> reasons;
    for (const auto& e : hq.events())
        if (e.milestone == "scan_refused")
            reasons[boost::json::value_to<std::string>(e.data.at("raw"))] =
                boost::json::value_to<std::string>(e.data.at("reason")) + "@" + e.orderId;
    EXPECT_EQ(reasons["MTO:A:QC_PASS"], "not_done@ORD-2");
    EXPECT_EQ(reasons["MTO:A:SHIPPED"], "not_packed@ORD-2");
    EXPECT_EQ(reasons["MTO:I:ORD-9/1"], "unknown_item@");
    EXPECT_EQ(reasons["MTO:I:ORD-2"], "malformed@");
    EXPECT_EQ(reasons["LOREM"], "unknown_code@");
    EXPECT_EQ(countOf(hq, "ORD-2", "qc_passed"), 0u);
    EXPECT_EQ(rig_->scalar("SELECT COUNT(*) FROM orders WHERE order_id = 'ORD-2' AND state = 'in_production'"), 1);
    EXPECT_EQ(rig_->scalar("SELECT COUNT(*) FROM item_qc"), 0);
    EXPECT_TRUE(rig_->agent().running()) << "bad scans never stop the agent";
}

TEST_F(Scanning, TheLineInputAnswersEachScanWithItsOutcomeInOrderAndClosesAfterTheLastAnswer) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket s(io);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(linePort_)});
    boost::asio::write(s, boost::asio::buffer(std::string("OP:ana\nLOREM\nMTO:A:QC_PASS\nMTO:I:ORD-9/1\n")));
    // A script that has said all it has to say ends its side and still reads every answer.
    s.shutdown(boost::asio::ip::tcp::socket::shutdown_send);
    std::string answers;
    boost::system::error_code ec;
    boost::asio::read(s, boost::asio::dynamic_buffer(answers), ec);
    EXPECT_EQ(ec, boost::asio::error::eof) << ec.message();
    EXPECT_EQ(answers,
              "ok ana: scan an item\n"
              "refused unknown_code 'LOREM' is not a code of this factory\n"
              "refused no_item scan an item first\n"
              "refused unknown_item item ORD-9/1 is not known here\n");
    // The station shows the same outcome.
    EXPECT_EQ(scans("scanner = 'script' AND outcome = 'refused'"), 3);
}

TEST_F(Scanning, AScrapAfterAFailedQcOfTheSameUnitIsRefusedAndTheUnitIsMadeAgainOnce) {
    sendCoasters("ORD-5", 1);
    auto& hq = rig_->hq();
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-5", "job_done") == 1; }, 60s)) << rig_->agent().log();
    // The part is bad: QC fails it (the unit is queued again), then the operator also scraps it on the machine.
    const std::string answers = scanAndRead({"OP:ana", "MTO:I:ORD-5/1", "MTO:A:QC_FAIL:misaligned", "MTO:A:SCRAP:laser-1"});
    EXPECT_NE(answers.find("ok ORD-5/1: QC failed (misaligned); 1 unit(s) queued to be made again\n"), std::string::npos)
        << answers;
    EXPECT_NE(answers.find("refused machine_refused the unit ORD-5/1/laser_engrave/1 on laser-1 is already queued again "
                           "(qc_failed: misaligned): nothing to scrap; clear the bed"),
              std::string::npos)
        << answers;
    // mtoctl gets the same answer, and nothing changes either.
    std::string out;
    EXPECT_EQ(rig_->mtoctl({"scrap", "laser-1"}, out), 1) << out;
    EXPECT_NE(out.find("is already queued again (qc_failed: misaligned): nothing to scrap"), std::string::npos) << out;
    EXPECT_EQ(rig_->scalar("SELECT requeued_units FROM jobs WHERE order_id = 'ORD-5'"), 1);
    EXPECT_EQ(rig_->scalar("SELECT COUNT(*) FROM events WHERE order_id = 'ORD-5' AND milestone = 'scrapped'"), 0);

    // Cleared, the unit runs once more, and only once.
    scanLines({"MTO:A:CLEAR:laser-1"});
    ASSERT_TRUE(waitUntil([&] { return countOf(hq, "ORD-5", "job_done") == 2; }, 60s)) << rig_->agent().log();
    scanLines({"MTO:A:CLEAR:laser-1"});
    ASSERT_TRUE(waitUntil([&] { return rig_->scalar("SELECT COUNT(*) FROM machines WHERE bay = 'ready'") == 1; }, 10s));
    EXPECT_EQ(countOf(hq, "ORD-5", "production_started"), 2u);
    EXPECT_EQ(rig_->scalar("SELECT COUNT(*) FROM units WHERE order_id = 'ORD-5' AND state = 'done' AND attempt = 2"), 1);
    EXPECT_EQ(rig_->scalar("SELECT requeued_units FROM jobs WHERE order_id = 'ORD-5'"), 0);
}

TEST_F(Scanning, AnEvdevScannerIsReadFromARecordedStreamAndComesBackAfterItVanishes) {
    ASSERT_TRUE(waitForScanner("kbd", true)) << rig_->hq().lastStatus();
    {
        const int w = ::open(fifo_.c_str(), O_WRONLY);
        ASSERT_GE(w, 0);
        const std::string rec = keystrokes("OP:ana.k") + keystrokes("MTO:A:QC_PASS");
        ASSERT_EQ(::write(w, rec.data(), rec.size()), ssize_t(rec.size()));
        ::close(w);   // the scanner is unplugged
        fs::remove(fifo_);
    }
    ASSERT_TRUE(waitUntil([&] { return scans("scanner = 'kbd'") == 2; }, 10s)) << rig_->agent().log();
    EXPECT_EQ(scans("scanner = 'kbd' AND raw = 'OP:ana.k' AND outcome = 'accepted'"), 1);
    EXPECT_EQ(scans("scanner = 'kbd' AND raw = 'MTO:A:QC_PASS' AND reason = 'no_item'"), 1);
    ASSERT_TRUE(waitForScanner("kbd", false)) << rig_->hq().lastStatus();
    std::this_thread::sleep_for(1s);
    ASSERT_EQ(::mkfifo(fifo_.c_str(), 0600), 0);   // plugged in again
    const int w = ::open(fifo_.c_str(), O_WRONLY);   // blocks until the agent has opened it again
    ASSERT_GE(w, 0);
    const std::string rec = keystrokes("MTO:A:CANCEL");
    ASSERT_EQ(::write(w, rec.data(), rec.size()), ssize_t(rec.size()));
    ASSERT_TRUE(waitUntil([&] { return scans("scanner = 'kbd' AND raw = 'MTO:A:CANCEL'") == 1; }, 10s))
        << rig_->agent().log();
    EXPECT_TRUE(waitForScanner("kbd", true)) << rig_->hq().lastStatus();
    ::close(w);
    const std::string log = rig_->agent().log();
    EXPECT_NE(log.find("scanner kbd: disconnected"), std::string::npos) << log;
}

TEST_F(Scanning, ASerialScannerOnAPtyIsReadLineByLineAndReconnectsWhenReplugged) {
    ASSERT_TRUE(waitForScanner("serial", true)) << rig_->hq().lastStatus() << rig_->agent().log();
    pty_.type("OP:bo\r\nMTO:A:PACKED\r");
    ASSERT_TRUE(waitUntil([&] { return scans("scanner = 'serial'") == 2; }, 10s)) << rig_->agent().log();
    EXPECT_EQ(scans("scanner = 'serial' AND raw = 'OP:bo' AND outcome = 'accepted'"), 1);
    EXPECT_EQ(scans("scanner = 'serial' AND raw = 'MTO:A:PACKED' AND reason = 'no_item'"), 1);
    pty_.unplug(tty_);
    ASSERT_TRUE(waitForScanner("serial", false)) << rig_->hq().lastStatus();
    pty_.plug(tty_);
    ASSERT_TRUE(waitForScanner("serial", true)) << rig_->hq().lastStatus() << rig_->agent().log();
    pty_.type("OP:cy\n");
    ASSERT_TRUE(waitUntil([&] { return scans("scanner = 'serial' AND raw = 'OP:cy'") == 1; }, 10s))
        << rig_->agent().log();
}

} // namespace
} // namespace mto::test
