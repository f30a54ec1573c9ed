// SPDX-License-Identifier: Apache-2.0
// Printing labels: lp gets the queue and the file, port 9100 gets the bytes, and a printer that refuses is tried
// again and reported while its labels wait; the labels room draws one label per accepted item, once.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <chrono>
#include <memory>
#include <thread>

#include "labels/label_printer.hpp"
#include "labels/labeler.hpp"
#include "store_rig.hpp"

namespace mto {
namespace {

namespace fs = std::filesystem;
using boost::asio::ip::tcp;

// A label printer on a TCP port: takes connections and keeps what each one sent until it closed.
class FakePrinter {
public:
    explicit FakePrinter(boost::asio::io_context& io, std::uint16_t port = 0)
        : acceptor_(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port)) {
        accept();
    }
    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    const std::vector<std::string>& jobs() const { return jobs_; }

private:
    void accept() {
        acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket s) {
            if (ec) return;
            auto socket = std::make_shared<tcp::socket>(std::move(s));
            auto data = std::make_shared<std::string>();
            auto buf = std::make_shared<std::array<char, 4096>>();
            read(socket, data, buf);
            accept();
        });
    }
    void read(std::shared_ptr<tcp::socket> s, std::shared_ptr<std::string> data, std::shared_ptr<std::array<char, 4096>> buf) {
        s->async_read_some(boost::asio::buffer(*buf), [this, s, data, buf](const boost::system::error_code& ec, std::size_t n) {
            data->append(buf->data(), n);
            if (ec) {
                jobs_.push_back(*data);
                return;
            }
            read(s, data, buf);
        });
    }
    tcp::acceptor acceptor_;
    std::vector<std::string> jobs_;
};

// A port nothing listens on.
std::uint16_t closedPort(boost::asio::io_context& io) {
    tcp::acceptor a(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    return a.local_endpoint().port();
}

class LabelPrinting : public test::StoreRig, public ::testing::Test {
protected:
    LabelPrinting() {
        catalog_.add({"COASTER", "Coaster"});
        config_.printTimeout = std::chrono::seconds(5);
        config_.retryMin = std::chrono::milliseconds(50);
        config_.retryMax = std::chrono::milliseconds(200);
    }

    // Turns the loop until `pred` holds; false after the timeout.
    bool turn(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        const auto end = std::chrono::steady_clock::now() + timeout;
        while (!pred()) {
            if (std::chrono::steady_clock::now() > end) return false;
            io_.restart();
            if (io_.run_for(std::chrono::milliseconds(20)) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return true;
    }

    // Stores an order and records its compiled jobs in one transaction, as intake and the compile room do.
    void addAcceptedOrder(const std::string& id, int items, const std::string& priority = "standard") {
        std::string p = R"({"order_id":")" + id + R"(","priority":")" + priority +
                        R"(","due_by":"2026-12-24T12:00:00Z","items":[)";
        std::vector<CompiledJob> jobs;
        for (int i = 1; i <= items; ++i) {
            p += std::string(i > 1 ? "," : "") + R"({"item_id":")" + std::to_string(i) +
                 R"(","sku":"COASTER","qty":1,"personalization":{"text":"Name )" + std::to_string(i) + R"("}})";
            jobs.push_back({std::to_string(i), "laser_engrave", 0, "laser", "sha", "proof", 60, 5, "laser-400", "oak"});
        }
        p += "]}";
        storeCompiled(p, jobs);
    }

    std::unique_ptr<Labeler> labeler(std::unique_ptr<LabelPrinter> printer) {
        auto l = std::make_unique<Labeler>(io_, commits_, db_, config_, dir_.path() / "state", clock_, std::move(printer));
        commits_.onCommitted([p = l.get()] { p->poke(); });
        return l;
    }

    std::int64_t count(const std::string& where) { return test::scalar(db_, "SELECT COUNT(*) FROM labels WHERE " + where); }

    LabelsConfig config_;
};

TEST_F(LabelPrinting, LpGetsTheQueueAndTheFileAndItsComplaintIsTheError) {
    const fs::path script = dir_.path() / "lp";
    test::writeFile(script, "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"" + (dir_.path() / "args").string() + "\"\ncp \"$4\" \"" +
                                (dir_.path() / "printed").string() + "\"\n");
    ::chmod(script.c_str(), 0755);
    test::writeFile(dir_.path() / "label.pdf", "%PDF-1.5 label");
    LpPrinter lp(io_, script, "Zebra_ZD421", std::chrono::seconds(5));
    std::optional<std::string> result;
    lp.print(dir_.path() / "label.pdf", [&](const std::string& e) { result = e; });
    ASSERT_TRUE(turn([&] { return result.has_value(); }));
    EXPECT_EQ(*result, "");
    EXPECT_EQ(test::readFile(dir_.path() / "args"), "-d\nZebra_ZD421\n--\n" + (dir_.path() / "label.pdf").string() + "\n");
    EXPECT_EQ(test::readFile(dir_.path() / "printed"), "%PDF-1.5 label");

    test::writeFile(script, "#!/bin/sh\necho 'lp: The printer or class does not exist.' >&2\nexit 1\n");
    result.reset();
    lp.print(dir_.path() / "label.pdf", [&](const std::string& e) { result = e; });
    ASSERT_TRUE(turn([&] { return result.has_value(); }));
    EXPECT_NE(result->find("exit code 1"), std::string::npos) << *result;
    EXPECT_NE(result->find("The printer or class does not exist."), std::string::npos) << *result;

    LpPrinter missing(io_, dir_.path() / "no-such-lp", "Q", std::chrono::seconds(5));
    result.reset();
    missing.print(dir_.path() / "label.pdf", [&](const std::string& e) { result = e; });
    ASSERT_TRUE(turn([&] { return result.has_value(); }));
    EXPECT_NE(result->find("no-such-lp"), std::string::npos) << *result;
}

TEST_F(LabelPrinting, RawPortGetsTheFilesBytesAndARefusedConnectionIsTheError) {
    FakePrinter printer(io_);
    std::string zpl = "^XA\n^CI28\n^FO20,20^A0N,30,30^FDZoë ♥^FS\n^XZ\n";
    zpl += std::string(200000, 'x');   // more than one socket buffer
    test::writeFile(dir_.path() / "label.zpl", zpl);
    RawTcpPrinter raw(io_, "127.0.0.1", printer.port(), std::chrono::seconds(5));
    std::optional<std::string> result;
    raw.print(dir_.path() / "label.zpl", [&](const std::string& e) { result = e; });
    ASSERT_TRUE(turn([&] { return result.has_value() && printer.jobs().size() == 1; }));
    EXPECT_EQ(*result, "");
    EXPECT_EQ(printer.jobs()[0], zpl);

    RawTcpPrinter refused(io_, "127.0.0.1", closedPort(io_), std::chrono::seconds(5));
    result.reset();
    refused.print(dir_.path() / "label.zpl", [&](const std::string& e) { result = e; });
    ASSERT_TRUE(turn([&] { return result.has_value(); }));
    EXPECT_NE(result->find("refused"), std::string::npos) << *result;
    EXPECT_NE(result->find("127.0.0.1:"), std::string::npos) << *result;
}

TEST_F(LabelPrinting, EachAcceptedItemGetsOneLabelPrintedOnceAcrossARestart) {
    FakePrinter printer(io_);
    config_.printer = LabelsConfig::PrinterKind::RawTcp;
    config_.printFormat = LabelsConfig::PrintFormat::Zpl;
    addAcceptedOrder("ORD-1", 3, "rush");
    {
        auto room = labeler(std::make_unique<RawTcpPrinter>(io_, "127.0.0.1", printer.port(), std::chrono::seconds(5)));
        room->start();
        ASSERT_TRUE(turn([&] { return count("print_state = 'printed'") == 3 && printer.jobs().size() == 3; }))
            << count("state = 'written'");
        room->stop();
    }
    ASSERT_EQ(printer.jobs().size(), 3u);
    std::set<std::string> codes;
    for (const auto& job : printer.jobs()) {
        EXPECT_NE(job.find("^FDRUSH^FS"), std::string::npos);
        const auto at = job.find("^FDMTO:I:");
        ASSERT_NE(at, std::string::npos);
        codes.insert(job.substr(at + 3, job.find("^FS", at) - at - 3));
    }
    EXPECT_EQ(codes, (std::set<std::string>{"MTO:I:ORD-1/1", "MTO:I:ORD-1/2", "MTO:I:ORD-1/3"}));
    for (const char* item : {"1", "2", "3"})
        for (const char* ext : {".png", ".pdf", ".zpl"}) {
            fs::path p = labelBasePath(dir_.path() / "state", "ORD-1", item);
            p += ext;
            EXPECT_TRUE(fs::exists(p)) << p;
        }

    // Started again on the same database with one more order: only the new one's label is drawn and printed.
    addAcceptedOrder("ORD-2", 1);
    auto again = labeler(std::make_unique<RawTcpPrinter>(io_, "127.0.0.1", printer.port(), std::chrono::seconds(5)));
    again->start();
    ASSERT_TRUE(turn([&] { return count("print_state = 'printed'") == 4 && printer.jobs().size() == 4; }));
    turn([] { return false; }, std::chrono::milliseconds(300));
    EXPECT_EQ(printer.jobs().size(), 4u);
    EXPECT_NE(printer.jobs().back().find("MTO:I:ORD-2/1"), std::string::npos);
    EXPECT_EQ(count("1"), 4);
}

TEST_F(LabelPrinting, PrinterThatRefusesIsRetriedAndReportedAndGetsTheLabelWhenItReturns) {
    const std::uint16_t port = closedPort(io_);
    config_.printer = LabelsConfig::PrinterKind::RawTcp;
    config_.printFormat = LabelsConfig::PrintFormat::Zpl;
    addAcceptedOrder("ORD-1", 2);
    auto room = labeler(std::make_unique<RawTcpPrinter>(io_, "127.0.0.1", port, std::chrono::seconds(5)));
    room->start();
    // Drawn whatever the printer does, and tried again and again with the reason kept.
    ASSERT_TRUE(turn([&] { return count("state = 'written'") == 2 && count("attempts >= 3") == 2; }));
    EXPECT_EQ(count("print_state = 'queued' AND error LIKE '%refused%'"), 2);
    EXPECT_EQ(room->reprint("ORD-1", "1").rfind("ok label ORD-1/1: ", 0), 0u);
    // The printer comes back on its port.
    FakePrinter printer(io_, port);
    ASSERT_TRUE(turn([&] { return count("print_state = 'printed'") == 2 && printer.jobs().size() == 2; }));
    EXPECT_EQ(count("error IS NULL"), 2);
    EXPECT_EQ(printer.jobs().size(), 2u);
}

TEST_F(LabelPrinting, WithoutAPrinterLabelsAreFilesAndReprintAnswersWhereTheyAre) {
    addAcceptedOrder("ORD-1", 1);
    auto room = labeler(nullptr);
    room->start();
    ASSERT_TRUE(turn([&] { return count("state = 'written'") == 1; }));
    EXPECT_EQ(count("print_state = 'none'"), 1);
    const std::string answer = room->reprint("ORD-1", "1");
    EXPECT_EQ(answer.rfind("ok label ORD-1/1: ", 0), 0u) << answer;
    EXPECT_NE(answer.find("no printer configured"), std::string::npos) << answer;
    EXPECT_EQ(room->reprint("ORD-1", "9"), "error: no item ORD-1/9");
    // Files deleted by hand are drawn again.
    fs::remove_all(dir_.path() / "state" / "labels");
    EXPECT_NE(room->reprint("ORD-1", "1").find("drawn again"), std::string::npos);
    fs::path png = labelBasePath(dir_.path() / "state", "ORD-1", "1");
    png += ".png";
    ASSERT_TRUE(turn([&] { return fs::exists(png) && count("state = 'written'") == 1; }));
}

} // namespace
} // namespace mto
