// SPDX-License-Identifier: Apache-2.0
// The action sheet: every action of the shop floor is on it, captioned, and every code reads back with zbar.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "compiler/subprocess.hpp"
#include "labels/action_sheet.hpp"
#include "mto/barcode.hpp"
#include "mto/error.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

std::set<std::string> decodeAll(const std::filesystem::path& png) {
    const std::string out =
        Subprocess({"zbarimg", "--raw", "-q", png.string()}).timeout(std::chrono::seconds(120)).run().out;
    std::set<std::string> codes;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) codes.insert(line);
    return codes;
}

TEST(ActionSheet, ListsQcEachFailReasonPackingShippingCancelAndEachMachinesDecisions) {
    const auto entries = ActionSheet::entries({"laser-1", "cnc-1"});
    ASSERT_EQ(entries.size(), 1 + barcode::qcFailReasons().size() + 3 + 2 * 4);
    std::set<std::string> codes;
    for (const auto& e : entries) {
        EXPECT_FALSE(e.caption.empty());
        EXPECT_EQ(barcode::parse(e.code).kind, barcode::Kind::Action) << e.code;
        codes.insert(e.code);
    }
    EXPECT_TRUE(codes.count("MTO:A:QC_FAIL:burn_marks"));
    EXPECT_TRUE(codes.count("MTO:A:CLEAR:cnc-1"));
    EXPECT_TRUE(codes.count("MTO:A:SCRAP:laser-1"));
    EXPECT_EQ(entries.front().caption, "QC pass");
}

TEST(ActionSheet, EveryCodeReadsBackInCode128AndQr) {
    if (std::system("command -v zbarimg >/dev/null 2>&1") != 0)
        GTEST_SKIP() << "zbarimg (Debian package zbar-tools) is needed to read the sheet back";
    test::TempDir dir;
    // Enough machines for a second page, one with the longest id a Code 128 half column cannot take.
    std::vector<std::string> machines{"laser-1", "cnc-1", "printer-2", "a-rather-long-machine-id-on-the-floor"};
    const auto entries = ActionSheet::entries(machines);
    std::set<std::string> expected;
    for (const auto& e : entries) expected.insert(e.code);
    for (auto symbology : {LabelsConfig::Symbology::Code128, LabelsConfig::Symbology::Qr}) {
        const ActionSheet sheet(entries, symbology, "Action sheet - test");
        sheet.write(dir.path() / "sheet.png");
        EXPECT_EQ(decodeAll(dir.path() / "sheet.png"), expected) << toString(symbology);
        sheet.write(dir.path() / "sheet.pdf");
        const std::string pdf = test::readFile(dir.path() / "sheet.pdf");
        EXPECT_EQ(pdf.rfind("%PDF-", 0), 0u);
        const auto count = pdf.find("/Count ");
        ASSERT_NE(count, std::string::npos);
        EXPECT_GE(std::stoi(pdf.substr(count + 7)), 2) << "27 codes take more than one A4 page";
    }
    EXPECT_THROW(ActionSheet(entries, LabelsConfig::Symbology::Qr, "t").write(dir.path() / "sheet.jpg"), Error);
}

} // namespace
} // namespace mto
