// SPDX-License-Identifier: Apache-2.0
// Traveler labels: every code reads back with zbar to exactly its text, RUSH shows, long text is cut to fit.
#include <gtest/gtest.h>

#include <cairo.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "compiler/subprocess.hpp"
#include "labels/label_renderer.hpp"
#include "mto/barcode.hpp"
#include "mto/error.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

namespace fs = std::filesystem;

// zbarimg on PATH, or empty.
std::string zbarimg() {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    for (std::size_t start = 0; start <= dirs.size();) {
        const auto end = std::min(dirs.find(':', start), dirs.size());
        const fs::path candidate = fs::path(dirs.substr(start, end - start)) / "zbarimg";
        if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
        start = end + 1;
    }
    return {};
}

#define REQUIRE_ZBARIMG() \
    if (zbarimg().empty()) GTEST_SKIP() << "zbarimg (Debian package zbar-tools) is needed to read labels back"

// What zbarimg reads from an image: one line per symbol, nothing else.
std::string zbarDecode(const fs::path& image) {
    // stdout only: zbarimg's image library may complain on stderr (no D-Bus in a container).
    std::string out = Subprocess({zbarimg(), "--raw", "-q", image.string()}).timeout(std::chrono::seconds(60)).run().out;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

LabelContent sample(bool rush = false) {
    LabelContent c;
    c.orderId = "ORD-1001";
    c.itemId = "1";
    c.sku = "COASTER-OAK-ENGRAVED";
    c.qty = 2;
    c.personalizationJson = R"({"text":"Ada \u2665 Max 2026","font":"script"})";
    c.dueBy = "2026-11-28T17:00:00Z";
    c.rush = rush;
    return c;
}

LabelsConfig config(LabelsConfig::Symbology s, int dpi, double w = 100, double h = 50) {
    LabelsConfig c;
    c.symbology = s;
    c.dpi = dpi;
    c.widthMm = w;
    c.heightMm = h;
    return c;
}

// Share of dark pixels of a PNG inside a box given in millimetres.
double darkShare(const fs::path& png, const LabelLayout& l, const LabelBox& box) {
    cairo_surface_t* s = cairo_image_surface_create_from_png(png.c_str());
    EXPECT_EQ(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    const int stride = cairo_image_surface_get_stride(s);
    const unsigned char* data = cairo_image_surface_get_data(s);
    const double d = l.dotsPerMm();
    int dark = 0, all = 0;
    for (int y = static_cast<int>(box.y * d) + 1; y < static_cast<int>((box.y + box.height) * d) - 1; ++y)
        for (int x = static_cast<int>(box.x * d) + 1; x < static_cast<int>((box.x + box.width) * d) - 1; ++x) {
            const auto* px = reinterpret_cast<const std::uint32_t*>(data + y * stride) + x;
            ++all;
            if ((*px & 0xff) < 128) ++dark;
        }
    cairo_surface_destroy(s);
    return all ? static_cast<double>(dark) / all : 0;
}

TEST(LabelRenderer, EveryCodeReadsBackExactlyInCode128AndQrAtEachResolution) {
    REQUIRE_ZBARIMG();
    test::TempDir dir;
    for (auto symbology : {LabelsConfig::Symbology::Code128, LabelsConfig::Symbology::Qr})
        for (int dpi : {203, 300}) {
            const LabelRenderer r(config(symbology, dpi));
            for (const auto& [order, item] : {std::pair{"ORD-1001", "1"}, {"B.2026_11:bulk-0042", "item-199"},
                                              {"A", "Z"}}) {
                LabelContent c = sample();
                c.orderId = order;
                c.itemId = item;
                const fs::path base = dir.path() / (std::string(toString(symbology)) + std::to_string(dpi) + order);
                r.writeAll(c, base);
                fs::path png = base;
                png += ".png";
                EXPECT_EQ(zbarDecode(png), barcode::itemCode(order, item)) << toString(symbology) << " " << dpi;
                fs::path pdf = base;
                pdf += ".pdf";
                EXPECT_EQ(test::readFile(pdf).rfind("%PDF-", 0), 0u);
            }
        }
}

TEST(LabelRenderer, PngHasThePrintersDotsAndThePdfThePageSize) {
    test::TempDir dir;
    const LabelRenderer r(config(LabelsConfig::Symbology::Code128, 300, 100, 50));
    r.writeAll(sample(), dir.path() / "l");
    cairo_surface_t* s = cairo_image_surface_create_from_png((dir.path() / "l.png").c_str());
    EXPECT_EQ(cairo_image_surface_get_width(s), 1181);   // 100 mm at 300 dpi
    EXPECT_EQ(cairo_image_surface_get_height(s), 591);   // 590.55 rounded
    cairo_surface_destroy(s);
    // 100 x 50 mm in PostScript points.
    EXPECT_NE(test::readFile(dir.path() / "l.pdf").find("/MediaBox [ 0 0 283.464567 141.732283 ]"), std::string::npos);
}

TEST(LabelRenderer, RushOrderCarriesABlackRushMarkAndAStandardOneDoesNot) {
    test::TempDir dir;
    for (auto symbology : {LabelsConfig::Symbology::Code128, LabelsConfig::Symbology::Qr}) {
        const LabelRenderer r(config(symbology, 203));
        const LabelLayout rush = r.layout(sample(true));
        ASSERT_TRUE(rush.rush);
        r.writePng(rush, dir.path() / "rush.png");
        // A black box with white letters: mostly dark, but not solid (the letters are there).
        const double share = darkShare(dir.path() / "rush.png", rush, *rush.rush);
        EXPECT_GT(share, 0.55);
        EXPECT_LT(share, 0.95);
        bool word = false;
        for (const auto& t : rush.texts) word |= t.text == "RUSH" && t.white;
        EXPECT_TRUE(word);

        const LabelLayout standard = r.layout(sample(false));
        EXPECT_FALSE(standard.rush);
        r.writePng(standard, dir.path() / "standard.png");
        // The same place on a standard label holds only the heading's end, mostly white.
        EXPECT_LT(darkShare(dir.path() / "standard.png", standard, *rush.rush), 0.3);
        EXPECT_EQ(r.zpl(rush).find("^FDRUSH^FS") != std::string::npos, true);
        EXPECT_EQ(r.zpl(standard).find("RUSH"), std::string::npos);
    }
}

TEST(LabelRenderer, LongPersonalizationIsCutWithAnEllipsisInsideTheLabel) {
    REQUIRE_ZBARIMG();
    test::TempDir dir;
    for (auto symbology : {LabelsConfig::Symbology::Code128, LabelsConfig::Symbology::Qr}) {
        const LabelsConfig cfg = config(symbology, 203);
        const LabelRenderer r(cfg);
        LabelContent c = sample();
        std::string text;
        for (int i = 0; i < 60; ++i) text += "Für Ünal & Zoë ♥ ";
        c.personalizationJson = R"({"text":")" + text + R"("})";
        c.sku = std::string(120, 'W');
        const LabelLayout l = r.layout(c);
        bool cut = false;
        for (const auto& t : l.texts) {
            EXPECT_LE(t.x + t.width, cfg.widthMm - 1.0) << t.text;
            EXPECT_LE(t.width, t.maxWidth + 1e-9) << t.text;
            EXPECT_GE(t.x, 0.0);
            EXPECT_LE(t.baseline, cfg.heightMm);
            if (t.text.size() >= 3 && t.text.compare(t.text.size() - 3, 3, "…") == 0) cut = true;
        }
        EXPECT_TRUE(cut);
        // And on the pixels: the right margin stays white, the code still reads.
        r.writePng(l, dir.path() / "long.png");
        EXPECT_EQ(darkShare(dir.path() / "long.png", l, {cfg.widthMm - 1.0, 0, 1.0, cfg.heightMm}), 0.0);
        EXPECT_EQ(zbarDecode(dir.path() / "long.png"), barcode::itemCode(c.orderId, c.itemId));
    }
}

TEST(LabelRenderer, ZplCarriesTheCodeAndTheTextsInUtf8) {
    const LabelRenderer code128(config(LabelsConfig::Symbology::Code128, 203));
    const std::string z = code128.zpl(code128.layout(sample(true)));
    EXPECT_EQ(z.rfind("^XA\n^CI28\n^PW799\n^LL400\n", 0), 0u) << z;
    EXPECT_NE(z.find("^BCN,"), std::string::npos);
    EXPECT_NE(z.find("^FDMTO:I:ORD-1001/1^FS"), std::string::npos) << z;
    EXPECT_NE(z.find("^FDORD-1001 / 1^FS"), std::string::npos) << z;
    EXPECT_NE(z.find("Ada ♥ Max 2026"), std::string::npos) << z;
    EXPECT_NE(z.find("Due 2026-11-28 17:00 UTC"), std::string::npos) << z;
    EXPECT_EQ(z.substr(z.size() - 4), "^XZ\n");

    const LabelRenderer qr(config(LabelsConfig::Symbology::Qr, 300));
    const std::string q = qr.zpl(qr.layout(sample()));
    EXPECT_NE(q.find("^BQN,2,"), std::string::npos);
    EXPECT_NE(q.find("^FDMA,MTO:I:ORD-1001/1^FS"), std::string::npos) << q;
}

TEST(LabelRenderer, ZplCommandCharactersInPersonalizationAreEscaped) {
    const LabelRenderer r(config(LabelsConfig::Symbology::Code128, 203));
    LabelContent c = sample();
    c.personalizationJson = R"({"text":"^XZ~JR_x"})";
    const std::string z = r.zpl(r.layout(c));
    EXPECT_NE(z.find("_5EXZ_7EJR_5Fx"), std::string::npos) << z;
    // One label: the only ^XZ is the last.
    EXPECT_EQ(z.find("^XZ"), z.size() - 4);
}

TEST(LabelRenderer, CodeThatCannotFitTheLabelIsRefusedWithWhatWouldFit) {
    LabelContent c = sample();
    c.orderId = std::string(25, 'O');
    c.itemId = std::string(25, 'I');
    const LabelRenderer narrow(config(LabelsConfig::Symbology::Code128, 203, 40, 20));
    try {
        narrow.layout(c);
        FAIL() << "a 40 mm label took a 57-character Code 128";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("does not fit a 40x20 mm label at 203 dpi"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("labels.symbology = \"qr\""), std::string::npos) << e.what();
    }
    // The longest ids (64 + 64) are more than Code 128 can carry at all; QR takes them.
    c.orderId = std::string(64, 'O');
    c.itemId = std::string(64, 'I');
    const LabelRenderer wide(config(LabelsConfig::Symbology::Code128, 300, 150, 50));
    try {
        wide.layout(c);
        FAIL() << "Code 128 took 135 characters";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("labels.symbology = \"qr\""), std::string::npos) << e.what();
    }
    EXPECT_NO_THROW(LabelRenderer(config(LabelsConfig::Symbology::Qr, 300, 100, 50)).layout(c));
}

TEST(LabelRenderer, PersonalizationSummaryListsEachFieldOnOneLine) {
    EXPECT_EQ(personalizationSummary(R"({"text":"Ada\nMax","size":3,"gift":true})"), "text: Ada Max; size: 3; gift: true");
    EXPECT_EQ(personalizationSummary("{}"), "");
    EXPECT_EQ(dueText("2026-11-28T17:00:00Z"), "2026-11-28 17:00 UTC");
    EXPECT_EQ(dueText("2026-11-28T17:00:00.250+01:00"), "2026-11-28 17:00 +01:00");
    EXPECT_EQ(dueText(""), "-");
    EXPECT_EQ(labelBasePath("/s", "..", "1"), fs::path("/s/labels/order-../item-1"));
}

} // namespace
} // namespace mto
