// SPDX-License-Identifier: Apache-2.0
// Traveler labels from the real agent: each accepted item's label is written and sent to the printer, and
// mtoctl reprints it through the agent.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "agent_rig.hpp"
#include "compiler/subprocess.hpp"
#include "labels/label_renderer.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

namespace fs = std::filesystem;

std::string decode(const fs::path& image) {
    // stdout only: zbarimg's image library may complain on stderr (no D-Bus in a container).
    std::string out = Subprocess({"zbarimg", "--raw", "-q", image.string()}).timeout(std::chrono::seconds(60)).run().out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

std::size_t lines(const fs::path& p) {
    if (!fs::exists(p)) return 0;
    std::ifstream in(p);
    std::size_t n = 0;
    for (std::string l; std::getline(in, l);) ++n;
    return n;
}

// A network label printer on 127.0.0.1:port: keeps what each connection sent until it closed.
class PortPrinter {
public:
    explicit PortPrinter(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 8) != 0)
            throw std::runtime_error("cannot listen on port " + std::to_string(port));
        thread_ = std::thread([this] {
            for (;;) {
                const int c = ::accept(fd_, nullptr, nullptr);
                if (c < 0) return;
                std::string job;
                char buf[4096];
                for (ssize_t n; (n = ::read(c, buf, sizeof buf)) > 0;) job.append(buf, static_cast<std::size_t>(n));
                ::close(c);
                std::lock_guard lock(mutex_);
                jobs_.push_back(job);
            }
        });
    }
    ~PortPrinter() {
        ::shutdown(fd_, SHUT_RDWR);
        ::close(fd_);
        thread_.join();
    }
    std::vector<std::string> jobs() {
        std::lock_guard lock(mutex_);
        return jobs_;
    }

private:
    int fd_ = -1;
    std::thread thread_;
    std::mutex mutex_;
    std::vector<std::string> jobs_;
};

TEST(Labels, LabelForAnOfflinePrinterWaitsThroughACrashAndPrintsWhenThePrinterIsBack) {
    const int port = freeTcpPort();
    AgentRig rig({.agent = {.compile = true,
                            .labels = true,
                            .extraConfig = "\n[labels]\nprinter = \"tcp\"\naddress = \"127.0.0.1:" + std::to_string(port) +
                                           "\"\nretry_min_s = 0.1\nretry_max_s = 0.3\n"}});
    rig.hq().sendOrder("L-2", R"({"order_id":"L-2","priority":"standard","items":[)"
                              R"({"item_id":"7","sku":"COASTER-OAK-ENGRAVED","qty":1,"personalization":{"text":"Ada"}}]})");
    ASSERT_TRUE(rig.waitForMilestone("L-2", "accepted", std::chrono::seconds(120))) << rig.agent().log();
    // Drawn, tried, refused, tried again; the reason is where factory IT looks.
    ASSERT_TRUE(waitUntil([&] { return rig.scalar("SELECT COUNT(*) FROM labels WHERE attempts >= 2 AND "
                                                  "print_state = 'queued' AND error LIKE '%refused%'") == 1; },
                          std::chrono::seconds(30)))
        << rig.agent().log();
    std::string out;
    ASSERT_EQ(rig.mtoctl({"labels"}, out), 0) << out;
    EXPECT_NE(out.find("L-2"), std::string::npos) << out;
    EXPECT_NE(out.find("Connection refused"), std::string::npos) << out;
    EXPECT_NE(rig.agent().log().find("label L-2/7 not printed"), std::string::npos);

    rig.agent().kill9();
    PortPrinter printer(port);
    rig.agent().start();
    ASSERT_TRUE(waitUntil([&] { return printer.jobs().size() == 1; }, std::chrono::seconds(30))) << rig.agent().log();
    EXPECT_NE(printer.jobs()[0].find("^FDMTO:I:L-2/7^FS"), std::string::npos) << printer.jobs()[0];
    EXPECT_EQ(printer.jobs()[0].rfind("^XA", 0), 0u);
    ASSERT_TRUE(waitUntil([&] { return rig.scalar("SELECT COUNT(*) FROM labels WHERE print_state = 'printed'") == 1; },
                          std::chrono::seconds(10)));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(printer.jobs().size(), 1u) << "printed once";
}

TEST(Labels, AgentWritesAndPrintsALabelPerAcceptedItemAndMtoctlReprintsIt) {
    if (std::system("command -v zbarimg >/dev/null 2>&1") != 0)
        GTEST_SKIP() << "zbarimg (Debian package zbar-tools) is needed to read the labels back";
    // The printer: an lp that records its arguments and keeps a copy of each file it was given.
    TempDir printer;
    const fs::path lp = printer.path() / "lp";
    writeFile(lp, "#!/bin/sh\nn=$(ls \"" + printer.path().string() + "\" | grep -c '^job') \n"
                  "cp \"$4\" \"" + printer.path().string() + "/job$n.pdf\"\n"
                  "echo \"$@\" >> \"" + printer.path().string() + "/calls\"\n");
    ::chmod(lp.c_str(), 0755);
    AgentRig rig({.agent = {.compile = true,
                            .labels = true,
                            .extraConfig = "\n[labels]\nsymbology = \"qr\"\nprinter = \"cups\"\ncups_queue = \"Zebra_ZD421\"\n"
                                           "lp_command = \"" + lp.string() + "\"\n"}});
    rig.hq().sendOrder("L-1", R"({"order_id":"L-1","priority":"rush","due_by":"2026-12-24T12:00:00Z","items":[)"
                              R"({"item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":2,"personalization":{"text":"Ada & Max"}},)"
                              R"({"item_id":"2","sku":"COASTER-OAK-ENGRAVED","qty":1,"personalization":{"text":"Zoe \u2665 Lin"}}]})");
    ASSERT_TRUE(rig.waitForMilestone("L-1", "accepted", std::chrono::seconds(120))) << rig.agent().log();
    const fs::path calls = printer.path() / "calls";
    ASSERT_TRUE(waitUntil([&] { return lines(calls) == 2; }, std::chrono::seconds(30))) << rig.agent().log();
    const std::string recorded = readFile(calls);
    for (const char* item : {"1", "2"}) {
        const fs::path base = labelBasePath(rig.agent().stateDir(), "L-1", item);
        EXPECT_EQ(decode(base.string() + ".png"), std::string("MTO:I:L-1/") + item);
        EXPECT_NE(recorded.find("-d Zebra_ZD421 -- " + base.string() + ".pdf"), std::string::npos) << recorded;
        EXPECT_NE(readFile(base.string() + ".zpl").find("^FDMA,MTO:I:L-1/" + std::string(item) + "^FS"), std::string::npos);
    }
    EXPECT_EQ(readFile(printer.path() / "job0.pdf").rfind("%PDF-", 0), 0u);
    EXPECT_EQ(rig.scalar("SELECT COUNT(*) FROM labels WHERE print_state = 'printed'"), 2);

    // Reprint through the agent, with a copy for the person asking.
    std::string out;
    const fs::path copy = printer.path() / "again.png";
    ASSERT_EQ(rig.mtoctl({"label", "L-1/2", "-o", copy.string()}, out), 0) << out;
    EXPECT_NE(out.find("ok label L-1/2"), std::string::npos) << out;
    EXPECT_EQ(decode(copy), "MTO:I:L-1/2");
    ASSERT_TRUE(waitUntil([&] { return lines(calls) == 3; }, std::chrono::seconds(30))) << rig.agent().log();
    EXPECT_NE(readFile(calls).find(labelBasePath(rig.agent().stateDir(), "L-1", "2").string() + ".pdf\n",
                                   recorded.size()),
              std::string::npos);

    EXPECT_EQ(rig.mtoctl({"label", "L-1/7"}, out), 1);
    EXPECT_NE(out.find("no item L-1/7"), std::string::npos) << out;
    EXPECT_EQ(rig.mtoctl({"label", "L-1/1", "-o", "x.jpg"}, out), 2);

    // The action sheet needs no agent: every code on it reads back.
    const fs::path sheet = printer.path() / "sheet.png";
    ASSERT_EQ(rig.mtoctl({"action-sheet", "-o", sheet.string()}, out), 0) << out;
    const std::string codes = decode(sheet);
    EXPECT_NE(codes.find("MTO:A:QC_PASS"), std::string::npos) << codes;
    EXPECT_NE(codes.find("MTO:A:QC_FAIL:burn_marks"), std::string::npos) << codes;
    EXPECT_NE(codes.find("MTO:A:SHIPPED"), std::string::npos) << codes;
}

} // namespace
} // namespace mto::test
