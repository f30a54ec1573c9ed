// SPDX-License-Identifier: Apache-2.0
// Text layout with the real Hershey fonts: auto-fit, alignment, lines, and refusal of text that cannot be made.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "compiler/hershey_font.hpp"
#include "compiler/text_layout.hpp"
#include "mto/error.hpp"

namespace mto {
namespace {

namespace fs = std::filesystem;

constexpr double kEps = 1e-9;

TextLayoutOptions area(double w, double h, double minCap = 2, double maxCap = 10) {
    TextLayoutOptions o;
    o.areaWidth = w;
    o.areaHeight = h;
    o.minCapHeight = minCap;
    o.maxCapHeight = maxCap;
    return o;
}

void appendUtf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xc0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xe0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (c & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (c & 0x3f));
    }
}

std::size_t expectedStrokes(const HersheyFont& font, const std::u32string& text) {
    std::size_t n = 0;
    for (const char32_t c : text) {
        if (c != U'\n' && c != U'\r') {
            n += (font.hasGlyph(c) ? font.glyph(c) : *HersheyFont::symbol(c)).strokes.size();
        }
    }
    return n;
}

std::size_t expectedStrokes(const HersheyFont& font, const std::string& ascii) {
    return expectedStrokes(font, std::u32string(ascii.begin(), ascii.end()));
}

void expectInside(const LaidOutText& t, const TextLayoutOptions& o) {
    for (const auto& s : t.strokes) {
        for (const auto& p : s.points) {
            ASSERT_GE(p.x, 0);
            ASSERT_LE(p.x, o.areaWidth);
            ASSERT_GE(p.y, 0);
            ASSERT_LE(p.y, o.areaHeight);
        }
    }
    EXPECT_GE(t.bbox.minX, 0);
    EXPECT_LE(t.bbox.maxX, o.areaWidth);
    EXPECT_GE(t.bbox.minY, 0);
    EXPECT_LE(t.bbox.maxY, o.areaHeight);
}

// Lowest and highest y of the strokes that start at or after index `from`.
std::pair<double, double> yRange(const LaidOutText& t, std::size_t from, std::size_t to) {
    double lo = INFINITY, hi = -INFINITY;
    for (std::size_t i = from; i < to; ++i) {
        for (const auto& p : t.strokes[i].points) {
            lo = std::min(lo, p.y);
            hi = std::max(hi, p.y);
        }
    }
    return {lo, hi};
}

class TextLayoutTest : public testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(fs::path(HersheyFont::kFontDir) / "futural.jhf")) {
            GTEST_SKIP() << "hershey-fonts-data is not installed (scripts/setup.sh installs it)";
        }
        font_ = HersheyFont::named("futural");
    }
    std::shared_ptr<const HersheyFont> font_;
};

TEST_F(TextLayoutTest, ShortTextIsSetAtTheMaximumCapHeightInsideTheArea) {
    const TextLayout layout(font_);
    const auto o = area(100, 40, 2, 8);
    const auto r = layout.layout("Anna", o);
    ASSERT_TRUE(r) << r.error->message;
    EXPECT_FALSE(r.error);
    EXPECT_DOUBLE_EQ(r.text->capHeight, 8);
    EXPECT_EQ(r.text->glyphCount, 4u);
    EXPECT_EQ(r.text->lineCount, 1u);
    EXPECT_EQ(r.text->strokes.size(), expectedStrokes(*font_, "Anna"));
    expectInside(*r.text, o);
    // 'A' has no descender: its ink spans exactly one cap height.
    EXPECT_NEAR(r.text->bbox.maxY - r.text->bbox.minY, 8, kEps);
}

TEST_F(TextLayoutTest, ALongLineShrinksUntilItSpansTheWidthExactly) {
    const TextLayout layout(font_);
    const auto o = area(50, 40, 1, 20);
    const auto r = layout.layout("HAPPY BIRTHDAY", o);
    ASSERT_TRUE(r) << r.error->message;
    EXPECT_LT(r.text->capHeight, 20);
    EXPECT_NEAR(r.text->bbox.maxX - r.text->bbox.minX, 50, 1e-6);
    expectInside(*r.text, o);
    EXPECT_EQ(r.text->glyphCount, 13u);

    const auto wider = layout.layout("HAPPY BIRTHDAY", area(80, 40, 1, 20));
    ASSERT_TRUE(wider);
    EXPECT_GT(wider.text->capHeight, r.text->capHeight);
}

TEST_F(TextLayoutTest, ManyLinesShrinkUntilTheBlockSpansTheHeightExactly) {
    const TextLayout layout(font_);
    const auto o = area(200, 30, 1, 20);
    const auto r = layout.layout("ONE\ntwo\nTHREE\nfour", o);
    ASSERT_TRUE(r) << r.error->message;
    EXPECT_EQ(r.text->lineCount, 4u);
    EXPECT_EQ(r.text->glyphCount, 15u);
    EXPECT_NEAR(r.text->bbox.maxY - r.text->bbox.minY, 30, 1e-6);
    expectInside(*r.text, o);
}

TEST_F(TextLayoutTest, LinesStackDownwardsAndSpacingSeparatesThem) {
    const TextLayout layout(font_);
    auto o = area(200, 200, 1, 5);
    const std::size_t first = expectedStrokes(*font_, "HI");
    const auto tight = layout.layout("HI\nHI", o);
    o.lineSpacing = 2.0;
    const auto loose = layout.layout("HI\nHI", o);
    ASSERT_TRUE(tight);
    ASSERT_TRUE(loose);
    const auto [tightTopLo, tightTopHi] = yRange(*tight.text, 0, first);
    const auto [tightBotLo, tightBotHi] = yRange(*tight.text, first, tight.text->strokes.size());
    EXPECT_GT(tightTopLo, tightBotHi) << "the first line is above the second";
    const auto [looseTopLo, looseTopHi] = yRange(*loose.text, 0, first);
    const auto [looseBotLo, looseBotHi] = yRange(*loose.text, first, loose.text->strokes.size());
    EXPECT_NEAR(looseTopLo - looseBotLo, 2 * (tightTopLo - tightBotLo), 1e-9);
    (void)tightTopHi;
    (void)tightBotLo;
    (void)looseTopHi;
    (void)looseBotHi;
}

TEST_F(TextLayoutTest, AlignmentPlacesTheInkAgainstTheChosenEdge) {
    const TextLayout layout(font_);
    auto o = area(100, 50, 2, 5);
    o.align = HorizontalAlign::Left;
    o.verticalAlign = VerticalAlign::Top;
    auto r = layout.layout("Left top  ", o);
    ASSERT_TRUE(r);
    EXPECT_NEAR(r.text->bbox.minX, 0, kEps);
    EXPECT_NEAR(r.text->bbox.maxY, 50, kEps);

    o.align = HorizontalAlign::Right;
    o.verticalAlign = VerticalAlign::Bottom;
    r = layout.layout("  right bottom", o);
    ASSERT_TRUE(r);
    EXPECT_NEAR(r.text->bbox.maxX, 100, kEps);
    EXPECT_NEAR(r.text->bbox.minY, 0, kEps);

    o.align = HorizontalAlign::Center;
    o.verticalAlign = VerticalAlign::Middle;
    r = layout.layout("centre  ", o);
    ASSERT_TRUE(r);
    EXPECT_NEAR((r.text->bbox.minX + r.text->bbox.maxX) / 2, 50, kEps) << "trailing spaces do not shift the text";
    EXPECT_NEAR((r.text->bbox.minY + r.text->bbox.maxY) / 2, 25, kEps);
}

TEST_F(TextLayoutTest, CenteredLinesOfDifferentWidthShareACentre) {
    const TextLayout layout(font_);
    const auto o = area(120, 60, 2, 6);
    const auto r = layout.layout("W\nWWWWWW", o);
    ASSERT_TRUE(r);
    const std::size_t first = expectedStrokes(*font_, "W");
    double lo = INFINITY, hi = -INFINITY;
    for (std::size_t i = 0; i < first; ++i) {
        for (const auto& p : r.text->strokes[i].points) {
            lo = std::min(lo, p.x);
            hi = std::max(hi, p.x);
        }
    }
    EXPECT_NEAR((lo + hi) / 2, 60, kEps);
    EXPECT_NEAR((r.text->bbox.minX + r.text->bbox.maxX) / 2, 60, kEps);
}

TEST_F(TextLayoutTest, CrLfBreaksLinesLikeLf) {
    const TextLayout layout(font_);
    const auto o = area(100, 50);
    const auto lf = layout.layout("AB\nCD", o);
    const auto crlf = layout.layout("AB\r\nCD", o);
    ASSERT_TRUE(lf);
    ASSERT_TRUE(crlf);
    ASSERT_EQ(lf.text->strokes.size(), crlf.text->strokes.size());
    EXPECT_DOUBLE_EQ(lf.text->bbox.minY, crlf.text->bbox.minY);
    EXPECT_DOUBLE_EQ(lf.text->bbox.maxX, crlf.text->bbox.maxX);
}

TEST_F(TextLayoutTest, AHeartComesFromTheSymbolFontAtTheTextsSize) {
    const TextLayout layout(font_);
    const auto o = area(100, 40, 2, 10);
    const auto r = layout.layout("I \xe2\x99\xa5 NY", o);   // "I ♥ NY"
    ASSERT_TRUE(r) << r.error->message;
    EXPECT_EQ(r.text->glyphCount, 4u);
    const Glyph* heart = HersheyFont::symbol(U'\u2665');
    ASSERT_NE(heart, nullptr);
    EXPECT_FALSE(heart->strokes.empty());
    EXPECT_EQ(r.text->strokes.size(), expectedStrokes(*font_, U"I \u2665 NY"));
    expectInside(*r.text, o);
    // The heart's strokes sit between the I and the N and are about as tall as a capital.
    const auto iStrokes = font_->glyph(U'I').strokes.size();
    double minX = 1e9, maxX = -1e9, minY = 1e9, maxY = -1e9;
    for (std::size_t k = iStrokes; k < iStrokes + heart->strokes.size(); ++k)
        for (const Point2& p : r.text->strokes[k].points) {
            minX = std::min(minX, p.x);
            maxX = std::max(maxX, p.x);
            minY = std::min(minY, p.y);
            maxY = std::max(maxY, p.y);
        }
    double iMaxX = -1e9, nMinX = 1e9;
    for (std::size_t k = 0; k < iStrokes; ++k)
        for (const Point2& p : r.text->strokes[k].points) iMaxX = std::max(iMaxX, p.x);
    for (const Point2& p : r.text->strokes[iStrokes + heart->strokes.size()].points) nMinX = std::min(nMinX, p.x);
    EXPECT_GT(minX, iMaxX);
    EXPECT_LT(maxX, nMinX);
    EXPECT_GT(maxY - minY, 0.5 * r.text->capHeight);
    EXPECT_LT(maxY - minY, 1.5 * r.text->capHeight);
}

TEST_F(TextLayoutTest, EverySymbolOfTheFallbackHasStrokesAndOthersStayMissing) {
    for (const char32_t c : HersheyFont::symbols()) {
        const Glyph* g = HersheyFont::symbol(c);
        ASSERT_NE(g, nullptr) << static_cast<unsigned>(c);
        EXPECT_FALSE(g->strokes.empty()) << static_cast<unsigned>(c);
        EXPECT_GT(g->advance, 0) << static_cast<unsigned>(c);
    }
    EXPECT_EQ(HersheyFont::symbol(U'A'), nullptr) << "letters come from the text font";
    const TextLayout layout(font_);
    const auto r = layout.layout("I \xe2\x98\x83 NY", area(100, 40));   // ☃ snowman: in no Hershey set
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->reason, "missing_glyph");
    EXPECT_EQ(r.error->charIndex, 2u);
    EXPECT_NE(r.error->message.find("U+2603"), std::string::npos) << r.error->message;
    EXPECT_NE(r.error->message.find("character 3"), std::string::npos) << r.error->message;
}

TEST_F(TextLayoutTest, TheIndexCountsCharactersNotBytesAndTheFirstMissingOneWins) {
    const TextLayout layout(font_);
    const auto r = layout.layout("\xc3\xa9\xc3\xa9X\xf0\x9f\x8e\x89", area(100, 40));   // "ééX🎉"
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->reason, "missing_glyph");
    EXPECT_EQ(r.error->charIndex, 0u);
    const auto later = layout.layout("Ab\tc", area(100, 40));
    ASSERT_TRUE(later.error);
    EXPECT_EQ(later.error->charIndex, 2u) << "a tab has no glyph";
    const auto afterNewline = layout.layout("ab\ncd\xc3\xa9", area(100, 40));
    ASSERT_TRUE(afterNewline.error);
    EXPECT_EQ(afterNewline.error->charIndex, 5u);
}

TEST_F(TextLayoutTest, NothingVisibleIsEmptyText) {
    const TextLayout layout(font_);
    for (const char* text : {"", " ", "   ", "\n", " \n \r\n "}) {
        const auto r = layout.layout(text, area(100, 40));
        ASSERT_TRUE(r.error) << testing::PrintToString(text);
        EXPECT_EQ(r.error->reason, "empty_text");
    }
}

TEST_F(TextLayoutTest, TextThatNeedsLessThanTheLegibleMinimumIsTooLarge) {
    const TextLayout layout(font_);
    const auto wide = layout.layout("short\nthis line is much too long for a key ring tag", area(30, 20, 2, 6));
    ASSERT_TRUE(wide.error);
    EXPECT_EQ(wide.error->reason, "text_too_large");
    EXPECT_EQ(wide.error->charIndex, 6u) << "points at the start of the line that does not fit";
    EXPECT_NE(wide.error->message.find("line 2"), std::string::npos) << wide.error->message;

    const auto tall = layout.layout("a\nb\nc\nd\ne\nf\ng\nh", area(30, 10, 2, 6));
    ASSERT_TRUE(tall.error);
    EXPECT_EQ(tall.error->reason, "text_too_large");
}

TEST_F(TextLayoutTest, BytesThatAreNotUtf8AreRefused) {
    const TextLayout layout(font_);
    for (const std::string bad : {"ab\xff", "\xc3", "a\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80"}) {
        const auto r = layout.layout(bad, area(100, 40));
        ASSERT_TRUE(r.error) << testing::PrintToString(bad);
        EXPECT_EQ(r.error->reason, "invalid_utf8");
    }
}

TEST_F(TextLayoutTest, NonsensicalOptionsThrow) {
    const TextLayout layout(font_);
    EXPECT_THROW(layout.layout("A", area(0, 10)), Error);
    EXPECT_THROW(layout.layout("A", area(10, -1)), Error);
    EXPECT_THROW(layout.layout("A", area(NAN, 10)), Error);
    EXPECT_THROW(layout.layout("A", area(10, 10, 5, 4)), Error);
    EXPECT_THROW(layout.layout("A", area(10, 10, 0, 4)), Error);
    auto o = area(10, 10);
    o.lineSpacing = 0;
    EXPECT_THROW(layout.layout("A", o), Error);
    EXPECT_THROW(TextLayout(nullptr), Error);
}

TEST_F(TextLayoutTest, EveryInstalledFontLaysOutThePrintableAsciiSet) {
    std::string ascii;
    for (char c = 0x21; c <= 0x7e; ++c) {
        ascii += c;
        if ((c - 0x20) % 16 == 0) {
            ascii += '\n';
        }
    }
    for (const auto& entry : fs::directory_iterator(HersheyFont::kFontDir)) {
        if (entry.path().extension() != ".jhf") {
            continue;
        }
        SCOPED_TRACE(entry.path().string());
        const auto font = HersheyFont::named(entry.path().stem().string());
        const auto o = area(120, 80, 1, 10);
        const auto r = TextLayout(font).layout(ascii, o);
        ASSERT_TRUE(r) << r.error->message;
        EXPECT_EQ(r.text->glyphCount, 94u);
        EXPECT_EQ(r.text->strokes.size(), expectedStrokes(*font, ascii));
        expectInside(*r.text, o);
    }
}

// Representative code points of every Unicode general category; surrogates (Cs) cannot be encoded in
// UTF-8 and are written as the raw bytes a broken client might send.
struct Category {
    const char* name;
    std::vector<char32_t> samples;
};

const std::vector<Category>& categories() {
    static const std::vector<Category> all = {
        {"Lu", {U'A', U'Q', U'Z', 0xc9, 0x391, 0x416}},  {"Ll", {U'a', U'q', U'z', 0xe9, 0x3b1, 0x436}},
        {"Lt", {0x1c5, 0x1f88}},                         {"Lm", {0x2b0, 0x3005}},
        {"Lo", {0x5d0, 0x627, 0x4e2d, 0xac00, 0x3042}},  {"Mn", {0x301, 0x610}},
        {"Mc", {0x903, 0x93e}},                          {"Me", {0x20dd, 0x488}},
        {"Nd", {U'0', U'7', 0x660, 0xff11}},             {"Nl", {0x2160, 0x3007}},
        {"No", {0xb2, 0xbd}},                            {"Pc", {U'_', 0x203f}},
        {"Pd", {U'-', 0x2013, 0x2014}},                  {"Ps", {U'(', U'[', 0x300c}},
        {"Pe", {U')', U']', 0x300d}},                    {"Pi", {0xab, 0x2018}},
        {"Pf", {0xbb, 0x2019}},                          {"Po", {U'!', U'.', U'"', 0xbf, 0x3002}},
        {"Sm", {U'+', U'~', 0xd7, 0x221e}},              {"Sc", {U'$', 0x20ac, 0xa3}},
        {"Sk", {U'^', U'`', 0xb4}},                      {"So", {0xa9, 0x2665, 0x1f389, 0x1f600}},
        {"Zs", {U' ', 0xa0, 0x3000}},                    {"Zl", {0x2028}},
        {"Zp", {0x2029}},                                {"Cc", {0x0, U'\t', U'\n', U'\r', 0x7f, 0x85}},
        {"Cf", {0x200b, 0x200d, 0xfeff, 0x202e}},        {"Cs", {0xd800, 0xdbff, 0xdc00, 0xdfff}},
        {"Co", {0xe000, 0xf8ff, 0x10fffd}},              {"Cn", {0x378, 0xfffe, 0xffff, 0x10ffff}},
    };
    return all;
}

TEST_F(TextLayoutTest, RandomTextFromEveryUnicodeCategoryLaysOutOrFailsWithTheRightReason) {
    const TextLayout layout(font_);
    // Small enough that some random texts cannot fit at the 2 mm minimum.
    const auto o = area(30, 12, 2, 8);
    std::mt19937 rng(20240611);
    const auto& cats = categories();
    std::set<std::string> reasonsSeen;
    int laidOut = 0;
    for (int iteration = 0; iteration < 3000; ++iteration) {
        std::vector<char32_t> cps;
        std::string text;
        bool broken = false;
        const int length = std::uniform_int_distribution<int>(0, 14)(rng);
        for (int i = 0; i < length; ++i) {
            char32_t c;
            const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
            if (kind == 0) {
                c = U'\n';
            } else if (kind < 7) {
                c = std::uniform_int_distribution<char32_t>(0x20, 0x7e)(rng);   // mostly engravable text
            } else {
                const auto& cat = cats[std::uniform_int_distribution<std::size_t>(0, cats.size() - 1)(rng)];
                c = cat.samples[std::uniform_int_distribution<std::size_t>(0, cat.samples.size() - 1)(rng)];
            }
            cps.push_back(c);
            if (c >= 0xd800 && c <= 0xdfff) {
                text += static_cast<char>(0xed);
                text += static_cast<char>(0xa0 | ((c >> 6) & 0x1f));
                text += static_cast<char>(0x80 | (c & 0x3f));
                broken = true;
            } else {
                appendUtf8(text, c);
            }
        }
        SCOPED_TRACE(testing::PrintToString(text));

        // The oracle: what the layout must decide, in the order it must decide it.
        std::string expected;
        std::size_t expectedIndex = 0;
        std::size_t visible = 0;
        if (broken) {
            expected = "invalid_utf8";
        } else {
            for (std::size_t i = 0; i < cps.size() && expected.empty(); ++i) {
                const char32_t c = cps[i];
                const bool lineBreak = c == U'\n' || (c == U'\r' && i + 1 < cps.size() && cps[i + 1] == U'\n');
                if (!lineBreak && !font_->hasGlyph(c) && !HersheyFont::symbol(c)) {
                    expected = "missing_glyph";
                    expectedIndex = i;
                }
                visible += (!lineBreak && c != U' ') ? 1 : 0;
            }
            if (expected.empty() && visible == 0) {
                expected = "empty_text";
            }
        }

        const LayoutResult r = layout.layout(text, o);
        ASSERT_NE(r.text.has_value(), r.error.has_value());
        if (r.error) {
            reasonsSeen.insert(r.error->reason);
            EXPECT_FALSE(r.error->message.empty());
            if (expected.empty()) {
                EXPECT_EQ(r.error->reason, "text_too_large");
                EXPECT_LT(r.error->charIndex, cps.size());
            } else {
                EXPECT_EQ(r.error->reason, expected);
            }
            if (expected == "missing_glyph") {
                EXPECT_EQ(r.error->charIndex, expectedIndex);
            }
        } else {
            ++laidOut;
            EXPECT_TRUE(expected.empty()) << "expected " << expected;
            EXPECT_EQ(r.text->glyphCount, visible);
            EXPECT_EQ(r.text->strokes.size(), expectedStrokes(*font_, std::u32string(cps.begin(), cps.end())));
            EXPECT_GE(r.text->capHeight, o.minCapHeight);
            EXPECT_LE(r.text->capHeight, o.maxCapHeight);
            expectInside(*r.text, o);
        }
    }
    EXPECT_GT(laidOut, 100);
    EXPECT_EQ(reasonsSeen, (std::set<std::string>{"missing_glyph", "empty_text", "invalid_utf8", "text_too_large"}));
}

} // namespace
} // namespace mto
