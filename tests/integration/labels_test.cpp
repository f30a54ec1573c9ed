// SPDX-License-Identifier: Apache-2.0
// Traveler labels from the real agent: each accepted item's label is written and sent to the printer, and
// mtoctl reprints it through the agent.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <sstream>

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
