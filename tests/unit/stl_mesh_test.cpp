// SPDX-License-Identifier: Apache-2.0
// StlMesh: cubes written by hand as ASCII and binary STL, measured the way the print compiler checks models.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "compiler/stl_mesh.hpp"
#include "mto/error.hpp"
#include "test_env.hpp"

namespace mto {
namespace {

using Tri = std::array<Vertex3, 3>;

// An axis-aligned box as 12 triangles, counter-clockwise seen from outside.
std::vector<Tri> box(float x0, float y0, float z0, float sx, float sy, float sz) {
    const float x1 = x0 + sx, y1 = y0 + sy, z1 = z0 + sz;
    const Vertex3 v[8] = {{x0, y0, z0}, {x1, y0, z0}, {x1, y1, z0}, {x0, y1, z0},
                          {x0, y0, z1}, {x1, y0, z1}, {x1, y1, z1}, {x0, y1, z1}};
    const int faces[12][3] = {{0, 2, 1}, {0, 3, 2},    // bottom, normal -Z
                              {4, 5, 6}, {4, 6, 7},    // top
                              {0, 1, 5}, {0, 5, 4},    // front, -Y
                              {2, 3, 7}, {2, 7, 6},    // back
                              {1, 2, 6}, {1, 6, 5},    // right
                              {3, 0, 4}, {3, 4, 7}};   // left
    std::vector<Tri> out;
    for (const auto& f : faces) out.push_back({v[f[0]], v[f[1]], v[f[2]]});
    return out;
}

std::string ascii(const std::vector<Tri>& tris) {
    std::string s = "solid test\n";
    for (const Tri& t : tris) {
        s += "  facet normal 0 0 0\n    outer loop\n";
        for (const Vertex3& v : t)
            s += "      vertex " + std::to_string(v.x) + " " + std::to_string(v.y) + " " + std::to_string(v.z) + "\n";
        s += "    endloop\n  endfacet\n";
    }
    return s + "endsolid test\n";
}

std::string binary(const std::vector<Tri>& tris, const std::string& header = "binary test") {
    std::string s(80, '\0');
    std::memcpy(s.data(), header.data(), std::min<std::size_t>(header.size(), 80));
    auto u32 = [&](std::uint32_t v) {
        for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    };
    auto f32 = [&](float f) {
        std::uint32_t v;
        std::memcpy(&v, &f, 4);
        u32(v);
    };
    u32(static_cast<std::uint32_t>(tris.size()));
    for (const Tri& t : tris) {
        f32(0), f32(0), f32(0);
        for (const Vertex3& v : t) f32(v.x), f32(v.y), f32(v.z);
        s.push_back(0), s.push_back(0);
    }
    return s;
}

TEST(StlMesh, AsciiCubeHasTwelveTrianglesOneShellAndItsVolume) {
    test::TempDir dir;
    test::writeFile(dir.path() / "cube.stl", ascii(box(1, 2, 3, 10, 10, 10)));
    const StlMesh m = StlMesh::load(dir.path() / "cube.stl");
    EXPECT_EQ(m.triangleCount(), 12u);
    EXPECT_EQ(m.vertexCount(), 8u);
    EXPECT_EQ(m.shellCount(), 1u);
    EXPECT_NEAR(m.volume(), 1000, 1e-6);
    const BoundingBox b = m.bbox();
    EXPECT_DOUBLE_EQ(b.minX, 1);
    EXPECT_DOUBLE_EQ(b.minY, 2);
    EXPECT_DOUBLE_EQ(b.minZ, 3);
    EXPECT_DOUBLE_EQ(b.maxX, 11);
    EXPECT_DOUBLE_EQ(b.maxY, 12);
    EXPECT_DOUBLE_EQ(b.maxZ, 13);
}

TEST(StlMesh, BinaryCubeMeasuresTheSameAsAscii) {
    // A header starting with "solid" must not fool the reader into parsing binary as text.
    const StlMesh m = StlMesh::parse(binary(box(-5, -5, 0, 10, 20, 2.5f), "solid but actually binary"));
    EXPECT_EQ(m.triangleCount(), 12u);
    EXPECT_EQ(m.shellCount(), 1u);
    EXPECT_NEAR(m.volume(), 500, 1e-6);
    EXPECT_DOUBLE_EQ(m.bbox().maxY, 15);
    EXPECT_DOUBLE_EQ(m.bbox().maxZ, 2.5);
}

TEST(StlMesh, TwoDisjointCubesAreTwoShells) {
    auto tris = box(0, 0, 0, 10, 10, 10);
    const auto second = box(20, 0, 0, 5, 5, 5);
    tris.insert(tris.end(), second.begin(), second.end());
    for (const StlMesh& m : {StlMesh::parse(ascii(tris)), StlMesh::parse(binary(tris))}) {
        EXPECT_EQ(m.triangleCount(), 24u);
        EXPECT_EQ(m.shellCount(), 2u);
        EXPECT_NEAR(m.volume(), 1125, 1e-6);
        EXPECT_DOUBLE_EQ(m.bbox().maxX, 25);
    }
}

TEST(StlMesh, InsideOutMeshHasNegativeVolume) {
    auto tris = box(0, 0, 0, 2, 3, 4);
    for (Tri& t : tris) std::swap(t[1], t[2]);
    EXPECT_NEAR(StlMesh::parse(binary(tris)).volume(), -24, 1e-9);
}

TEST(StlMesh, ContoursCountTheOutlinesOfRaisedFeatures) {
    // A plate with two blocks standing on it, touching its top face like fused raised letters.
    auto tris = box(0, 0, 0, 50, 20, 3);
    for (float x : {5.0f, 20.0f}) {
        const auto block = box(x, 5, 3, 8, 8, 1.5f);
        tris.insert(tris.end(), block.begin(), block.end());
    }
    const StlMesh m = StlMesh::parse(ascii(tris));
    EXPECT_EQ(m.contoursAt(1.5), 1u);    // through the plate
    EXPECT_EQ(m.contoursAt(3.7), 2u);    // through the blocks
    EXPECT_EQ(m.contoursAt(10), 0u);     // above everything
}

TEST(StlMesh, EmptySolidIsAnEmptyMesh) {
    const StlMesh m = StlMesh::parse("solid empty\nendsolid empty\n");
    EXPECT_EQ(m.triangleCount(), 0u);
    EXPECT_EQ(m.shellCount(), 0u);
    EXPECT_EQ(m.volume(), 0);
    EXPECT_EQ(m.bbox().maxZ, 0);
}

TEST(StlMesh, BrokenFilesAreRefusedWithTheirName) {
    auto message = [](const std::string& data) -> std::string {
        try {
            StlMesh::parse(data, "model.stl");
        } catch (const Error& e) {
            return e.what();
        }
        return "(accepted)";
    };
    EXPECT_NE(message("hello").find("model.stl: not an STL file"), std::string::npos);
    // A binary file cut short no longer matches its triangle count.
    std::string cut = binary(box(0, 0, 0, 1, 1, 1));
    cut.resize(cut.size() - 10);
    EXPECT_NE(message(cut).find("not an STL file"), std::string::npos);
    EXPECT_NE(
        message("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nendloop\nendfacet\nendsolid\n")
            .find("truncated"),
        std::string::npos);
    EXPECT_NE(message("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 zero\n").find("not a number"),
              std::string::npos);
    EXPECT_NE(
        message(
            "solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 nan\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\n")
            .find("finite"),
        std::string::npos);
    EXPECT_THROW(StlMesh::load("/nonexistent/model.stl"), Error);
}

} // namespace
} // namespace mto
