// SPDX-License-Identifier: Apache-2.0
// Hershey .jhf parsing against the real Debian font files, wrapped and damaged copies of them, and the font cache.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "compiler/hershey_font.hpp"
#include "mto/error.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

namespace fs = std::filesystem;

#define MTO_REQUIRE_HERSHEY_FONTS()                                                                   \
    do {                                                                                              \
        if (!fs::exists(fs::path(HersheyFont::kFontDir) / "futural.jhf")) {                           \
            GTEST_SKIP() << "hershey-fonts-data is not installed (scripts/setup.sh installs it)";    \
        }                                                                                             \
    } while (0)

std::vector<std::string> fileLines(const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

std::string joinLines(const std::vector<std::string>& lines, const char* eol = "\n") {
    std::string out;
    for (const auto& l : lines) {
        out += l;
        out += eol;
    }
    return out;
}

// Expects load() to throw an mto::Error whose message contains every fragment.
void expectLoadError(const fs::path& p, const std::vector<std::string>& fragments) {
    try {
        (void)HersheyFont::load(p);
        ADD_FAILURE() << "loading " << p << " did not throw";
    } catch (const Error& e) {
        for (const auto& f : fragments) {
            EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << "\"" << f << "\" not in: " << e.what();
        }
    }
}

bool sameStrokes(const Glyph& a, const Glyph& b) {
    if (a.advance != b.advance || a.strokes.size() != b.strokes.size()) {
        return false;
    }
    for (std::size_t s = 0; s < a.strokes.size(); ++s) {
        const auto& pa = a.strokes[s].points;
        const auto& pb = b.strokes[s].points;
        if (pa.size() != pb.size()) {
            return false;
        }
        for (std::size_t i = 0; i < pa.size(); ++i) {
            if (pa[i].x != pb[i].x || pa[i].y != pb[i].y) {
                return false;
            }
        }
    }
    return true;
}

TEST(HersheyFont, FuturalCoversExactlyPrintableAscii) {
    MTO_REQUIRE_HERSHEY_FONTS();
    const HersheyFont font = HersheyFont::load(HersheyFont::fontPath("futural"));
    for (char32_t c = 0x20; c <= 0x7e; ++c) {
        EXPECT_TRUE(font.hasGlyph(c)) << static_cast<unsigned>(c);
    }
    for (const char32_t c : {char32_t{0}, char32_t{'\n'}, char32_t{0x1f}, char32_t{0x7f}, char32_t{0xe9}, U'♥',
                             char32_t{0x1f389}, char32_t{0x10ffff}, char32_t{0xffffffff}}) {
        EXPECT_FALSE(font.hasGlyph(c)) << static_cast<unsigned>(c);
    }
}

TEST(HersheyFont, CapitalHIsThreeStrokesStandingOnTheBaselineWithYUp) {
    MTO_REQUIRE_HERSHEY_FONTS();
    const HersheyFont font = HersheyFont::load(HersheyFont::fontPath("futural"));
    // "G]KFK[ RYFY[ RKPYP": bounds -11..11, two verticals from y=-12 down to 9 and a bar at -2.
    const Glyph& h = font.glyph(U'H');
    ASSERT_EQ(h.strokes.size(), 3u);
    EXPECT_EQ(h.advance, 22);
    EXPECT_EQ(font.capHeight(), 21);
    const auto& left = h.strokes[0].points;
    ASSERT_EQ(left.size(), 2u);
    EXPECT_EQ(left[0].x, 4);    // 'K' - 'R' = -7, from the left bound -11
    EXPECT_EQ(left[0].y, 21);   // 'F' is the top, so it is the highest point once Y points up
    EXPECT_EQ(left[1].y, 0);    // '[' is the baseline
    EXPECT_EQ(h.strokes[2].points[0].y, 11);
}

TEST(HersheyFont, DescendersGoBelowTheBaselineAndTheFontExtentsCoverThem) {
    MTO_REQUIRE_HERSHEY_FONTS();
    const HersheyFont font = HersheyFont::load(HersheyFont::fontPath("futural"));
    double lowest = 0;
    for (const auto& s : font.glyph(U'g').strokes) {
        for (const auto& p : s.points) {
            lowest = std::min(lowest, p.y);
        }
    }
    EXPECT_LT(lowest, 0);
    EXPECT_LE(font.descent(), lowest);
    EXPECT_GT(font.ascent(), font.capHeight());   // brackets reach above the capitals
}

TEST(HersheyFont, SpaceHasWidthButNoStrokes) {
    MTO_REQUIRE_HERSHEY_FONTS();
    const HersheyFont font = HersheyFont::load(HersheyFont::fontPath("rowmans"));
    EXPECT_TRUE(font.glyph(U' ').strokes.empty());
    EXPECT_GT(font.glyph(U' ').advance, 0);
}

TEST(HersheyFont, AskingForAMissingGlyphThrowsNamingTheCodePoint) {
    MTO_REQUIRE_HERSHEY_FONTS();
    const HersheyFont font = HersheyFont::load(HersheyFont::fontPath("futural"));
    try {
        (void)font.glyph(U'♥');
        FAIL() << "no exception";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("U+2665"), std::string::npos) << e.what();
    }
}

TEST(HersheyFont, EveryInstalledFontLoadsWithStrokesInsideItsCell) {
    MTO_REQUIRE_HERSHEY_FONTS();
    int loaded = 0;
    for (const auto& entry : fs::directory_iterator(HersheyFont::kFontDir)) {
        if (entry.path().extension() != ".jhf") {
            continue;
        }
        SCOPED_TRACE(entry.path().string());
        const HersheyFont font = HersheyFont::load(entry.path());
        ++loaded;
        EXPECT_GT(font.capHeight(), 0);
        EXPECT_GT(font.ascent(), font.descent());
        for (char32_t c = 0x20; c <= 0x7e; ++c) {
            ASSERT_TRUE(font.hasGlyph(c));
            for (const auto& s : font.glyph(c).strokes) {
                EXPECT_GE(s.points.size(), 2u);
                for (const auto& p : s.points) {
                    EXPECT_LE(p.y, font.ascent());
                    EXPECT_GE(p.y, font.descent());
                }
            }
        }
    }
    EXPECT_GE(loaded, 3);
}

TEST(HersheyFont, RecordsWrappedAtSeventyTwoColumnsReadTheSameAsUnwrappedOnes) {
    MTO_REQUIRE_HERSHEY_FONTS();
    const fs::path original = HersheyFont::fontPath("scripts");   // long records, pen-ups across the wrap
    std::vector<std::string> wrapped;
    for (const auto& line : fileLines(original)) {
        for (std::size_t at = 0; at < line.size(); at += 72) {
            wrapped.push_back(line.substr(at, 72));
        }
    }
    test::TempDir dir;
    test::writeFile(dir.path() / "wrapped.jhf", joinLines(wrapped));
    test::writeFile(dir.path() / "crlf.jhf", joinLines(fileLines(original), "\r\n"));

    const HersheyFont reference = HersheyFont::load(original);
    const HersheyFont rewrapped = HersheyFont::load(dir.path() / "wrapped.jhf");
    const HersheyFont crlf = HersheyFont::load(dir.path() / "crlf.jhf");
    ASSERT_GT(wrapped.size(), fileLines(original).size()) << "the test must actually wrap some records";
    for (char32_t c = 0x20; c <= 0x7e; ++c) {
        EXPECT_TRUE(sameStrokes(reference.glyph(c), rewrapped.glyph(c))) << static_cast<char>(c);
        EXPECT_TRUE(sameStrokes(reference.glyph(c), crlf.glyph(c))) << static_cast<char>(c);
    }
}

TEST(HersheyFont, AFontWithFewerGlyphsHasOnlyThoseInAsciiOrder) {
    test::TempDir dir;
    test::writeFile(dir.path() / "tiny.jhf", "12345  1JZ\n12345  3MWRFRT\n");   // space and '!'
    const HersheyFont font = HersheyFont::load(dir.path() / "tiny.jhf");
    EXPECT_TRUE(font.hasGlyph(U' '));
    EXPECT_TRUE(font.hasGlyph(U'!'));
    EXPECT_FALSE(font.hasGlyph(U'"'));
    EXPECT_EQ(font.glyph(U'!').strokes.size(), 1u);
    EXPECT_EQ(font.glyph(U'!').advance, 10);
}

TEST(HersheyFont, MalformedFilesAreRefusedNamingFileAndLine) {
    test::TempDir dir;
    const auto write = [&](const std::string& name, const std::string& text) {
        test::writeFile(dir.path() / name, text);
        return dir.path() / name;
    };
    expectLoadError(write("count.jhf", "12345  1JZ\n12345  xMWRFRT\n"), {"count.jhf:2:", "vertex count"});
    expectLoadError(write("number.jhf", "12a45  1JZ\n"), {"number.jhf:1:", "glyph number"});
    expectLoadError(write("short.jhf", "123\n"), {"short.jhf:1:", "shorter"});
    expectLoadError(write("zero.jhf", "12345  0\n"), {"zero.jhf:1:", "vertex count"});
    expectLoadError(write("truncated.jhf", "12345  1JZ\n12345  9MWRFRT RRYQZR[\n"), {"truncated.jhf:2:", "ends after"});
    expectLoadError(write("extra.jhf", "12345  1JZ\n12345  2MWRFXX\n"), {"extra.jhf:2:", "after its 2 declared"});
    expectLoadError(write("penup.jhf", "12345  2 RRF\n"), {"penup.jhf:1:", "pen-up"});
    expectLoadError(write("bounds.jhf", "12345  1ZJ\n"), {"bounds.jhf:1:", "right bound"});
    expectLoadError(write("control.jhf", std::string("12345  2JZR\x01\n")), {"control.jhf:1:", "\\x01"});
    expectLoadError(write("blankpair.jhf", "12345  3JZRF Q\n"), {"blankpair.jhf:1:", "coordinate"});
    // The error points at the continuation line that holds the bad character.
    expectLoadError(write("wrapped.jhf", "12345  4JZRF\nR\x02RF\n"), {"wrapped.jhf:2:"});
    expectLoadError(write("empty.jhf", "\n\n"), {"empty.jhf", "no glyphs"});
}

TEST(HersheyFont, AMissingFileNamesThePathAndThePackage) {
    expectLoadError("/nonexistent/dir/futural.jhf", {"/nonexistent/dir/futural.jhf", "hershey-fonts-data"});
}

TEST(HersheyFont, FontPathAcceptsOnlyPlainStems) {
    EXPECT_EQ(HersheyFont::fontPath("futural"), fs::path("/usr/share/hershey-fonts/futural.jhf"));
    EXPECT_EQ(HersheyFont::fontPath("cyrilc_1"), fs::path("/usr/share/hershey-fonts/cyrilc_1.jhf"));
    for (const std::string& bad : std::vector<std::string>{"", "../../etc/passwd", "a/b", "/etc/passwd", "futural.jhf",
                                                           "fu tural", std::string("fut\0ural", 8), std::string(65, 'a')}) {
        EXPECT_THROW(HersheyFont::fontPath(bad), Error) << testing::PrintToString(bad);
    }
}

TEST(HersheyFont, NamedFontsAreParsedOnceAndSharedAcrossThreads) {
    MTO_REQUIRE_HERSHEY_FONTS();
    std::vector<std::shared_ptr<const HersheyFont>> seen(8);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < seen.size(); ++i) {
        threads.emplace_back([&seen, i] { seen[i] = HersheyFont::named("futuram"); });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (const auto& font : seen) {
        ASSERT_NE(font, nullptr);
        EXPECT_EQ(font.get(), seen[0].get());
    }
    EXPECT_EQ(HersheyFont::named("futuram").get(), seen[0].get());
    EXPECT_NE(HersheyFont::named("rowmans").get(), seen[0].get());
}

TEST(HersheyFont, AnUnknownNamedFontThrowsEachTime) {
    EXPECT_THROW(HersheyFont::named("no_such_font_here"), Error);
    EXPECT_THROW(HersheyFont::named("no_such_font_here"), Error);
}

} // namespace
} // namespace mto
