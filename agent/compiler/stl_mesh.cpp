// SPDX-License-Identifier: Apache-2.0
// Triangle meshes from STL files, measured to check that a rendered model is the model that was asked for.
#include "compiler/stl_mesh.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>
#include <sstream>
#include <unordered_map>

#include "mto/error.hpp"

namespace mto {

namespace {

// Vertices are merged only when bit-identical: writers repeat a shared corner with the same digits
// (ASCII) or the same float (binary), and a tolerance would glue touching but separate parts.
struct VertexKey {
    std::uint32_t x, y, z;
    bool operator==(const VertexKey&) const = default;
};

struct VertexKeyHash {
    std::size_t operator()(const VertexKey& k) const {
        std::uint64_t h = k.x;
        h = h * 0x9E3779B97F4A7C15ULL ^ k.y;
        h = h * 0x9E3779B97F4A7C15ULL ^ k.z;
        return static_cast<std::size_t>(h ^ (h >> 29));
    }
};

class MeshBuilder {
public:
    void addTriangle(const Vertex3& a, const Vertex3& b, const Vertex3& c) {
        triangles.push_back({index(a), index(b), index(c)});
    }

    std::vector<Vertex3> vertices;
    std::vector<std::array<std::uint32_t, 3>> triangles;

private:
    static std::uint32_t bits(float f) {
        if (f == 0) f = 0;   // -0 and +0 are the same corner
        return std::bit_cast<std::uint32_t>(f);
    }
    std::uint32_t index(const Vertex3& v) {
        const VertexKey key{bits(v.x), bits(v.y), bits(v.z)};
        auto [it, inserted] = map_.try_emplace(key, static_cast<std::uint32_t>(vertices.size()));
        if (inserted) vertices.push_back(v);
        return it->second;
    }
    std::unordered_map<VertexKey, std::uint32_t, VertexKeyHash> map_;
};

class UnionFind {
public:
    explicit UnionFind(std::size_t n) : parent_(n) { std::iota(parent_.begin(), parent_.end(), std::size_t{0}); }
    std::size_t find(std::size_t i) {
        while (parent_[i] != i) {
            parent_[i] = parent_[parent_[i]];
            i = parent_[i];
        }
        return i;
    }
    void unite(std::size_t a, std::size_t b) {
        a = find(a);
        b = find(b);
        if (a != b) parent_[a] = b;
    }

private:
    std::vector<std::size_t> parent_;
};

std::uint32_t readU32(const char* p) {
    const auto* b = reinterpret_cast<const unsigned char*>(p);
    return std::uint32_t(b[0]) | std::uint32_t(b[1]) << 8 | std::uint32_t(b[2]) << 16 | std::uint32_t(b[3]) << 24;
}

// STL is little-endian whatever the host is.
float readFloat(const char* p) { return std::bit_cast<float>(readU32(p)); }

bool isBinary(std::string_view data) {
    if (data.size() < 84) return false;
    const std::uint64_t count = readU32(data.data() + 80);
    return data.size() == 84 + 50 * count;
}

void checkFinite(const Vertex3& v, const std::string& name, std::size_t triangle) {
    if (!std::isfinite(v.x) || !std::isfinite(v.y) || !std::isfinite(v.z))
        throw Error(name + ": triangle " + std::to_string(triangle + 1) +
                    " has a coordinate that is not a finite number");
}

} // namespace

StlMesh StlMesh::load(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open STL file " + path.string() + ": " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) throw Error("cannot read STL file " + path.string());
    return parse(ss.str(), path.string());
}

StlMesh StlMesh::parse(std::string_view data, const std::string& name) {
    MeshBuilder b;
    if (isBinary(data)) {
        const std::uint32_t count = readU32(data.data() + 80);
        b.triangles.reserve(count);
        for (std::uint32_t t = 0; t < count; ++t) {
            const char* rec = data.data() + 84 + std::size_t{50} * t + 12;   // skip the normal
            Vertex3 v[3];
            for (int k = 0; k < 3; ++k) {
                v[k] = {readFloat(rec + 12 * k), readFloat(rec + 12 * k + 4), readFloat(rec + 12 * k + 8)};
                checkFinite(v[k], name, t);
            }
            b.addTriangle(v[0], v[1], v[2]);
        }
    } else {
        const std::size_t start = data.find_first_not_of(" \t\r\n");
        if (start == std::string_view::npos || data.substr(start, 5) != "solid")
            throw Error(
                name + ": not an STL file (" + std::to_string(data.size()) +
                " bytes: neither a binary STL whose size matches its triangle count nor text starting with \"solid\")");
        // Only "vertex x y z" carries geometry; normals are recomputed by anyone who needs them.
        std::size_t pos = start;
        std::vector<Vertex3> pending;
        std::size_t facets = 0;
        auto nextToken = [&]() -> std::string_view {
            pos = data.find_first_not_of(" \t\r\n", pos);
            if (pos == std::string_view::npos) return {};
            const std::size_t end = std::min(data.size(), data.find_first_of(" \t\r\n", pos));
            std::string_view tok = data.substr(pos, end - pos);
            pos = end;
            return tok;
        };
        for (std::string_view tok = nextToken(); !tok.empty(); tok = nextToken()) {
            if (tok == "facet") {
                ++facets;
                continue;
            }
            if (tok != "vertex") continue;
            float c[3];
            for (float& f : c) {
                const std::string_view num = nextToken();
                double d = 0;
                auto res = std::from_chars(num.data(), num.data() + num.size(), d);
                if (num.empty() || res.ec != std::errc() || res.ptr != num.data() + num.size())
                    throw Error(name + ": facet " + std::to_string(facets) + " has a vertex coordinate \"" +
                                std::string(num) + "\" that is not a number");
                f = static_cast<float>(d);
            }
            pending.push_back({c[0], c[1], c[2]});
            checkFinite(pending.back(), name, b.triangles.size());
            if (pending.size() == 3) {
                b.addTriangle(pending[0], pending[1], pending[2]);
                pending.clear();
            }
        }
        if (!pending.empty() || facets != b.triangles.size())
            throw Error(name + ": truncated or malformed ASCII STL (" + std::to_string(facets) + " facets but " +
                        std::to_string(b.triangles.size() * 3 + pending.size()) + " vertices)");
    }
    StlMesh mesh;
    mesh.vertices_ = std::move(b.vertices);
    mesh.triangles_ = std::move(b.triangles);
    return mesh;
}

BoundingBox StlMesh::bbox() const {
    BoundingBox box;
    if (vertices_.empty()) return box;
    box = {vertices_[0].x, vertices_[0].y, vertices_[0].z, vertices_[0].x, vertices_[0].y, vertices_[0].z};
    for (const Vertex3& v : vertices_) {
        box.minX = std::min<double>(box.minX, v.x);
        box.minY = std::min<double>(box.minY, v.y);
        box.minZ = std::min<double>(box.minZ, v.z);
        box.maxX = std::max<double>(box.maxX, v.x);
        box.maxY = std::max<double>(box.maxY, v.y);
        box.maxZ = std::max<double>(box.maxZ, v.z);
    }
    return box;
}

double StlMesh::volume() const {
    if (vertices_.empty()) return 0;
    // Tetrahedra against a vertex of the mesh rather than the origin: same sum for a closed mesh, and
    // no cancellation between huge terms when the model sits far from the origin.
    const Vertex3 o = vertices_[0];
    double sum = 0;
    for (const auto& t : triangles_) {
        const Vertex3& a = vertices_[t[0]];
        const Vertex3& b = vertices_[t[1]];
        const Vertex3& c = vertices_[t[2]];
        const double ax = a.x - o.x, ay = a.y - o.y, az = a.z - o.z;
        const double bx = b.x - o.x, by = b.y - o.y, bz = b.z - o.z;
        const double cx = c.x - o.x, cy = c.y - o.y, cz = c.z - o.z;
        sum += ax * (by * cz - bz * cy) - ay * (bx * cz - bz * cx) + az * (bx * cy - by * cx);
    }
    return sum / 6;
}

std::size_t StlMesh::shellCount() const {
    UnionFind uf(vertices_.size());
    for (const auto& t : triangles_) {
        uf.unite(t[0], t[1]);
        uf.unite(t[0], t[2]);
    }
    std::size_t roots = 0;
    for (std::size_t i = 0; i < vertices_.size(); ++i)
        if (uf.find(i) == i) ++roots;
    return roots;
}

std::size_t StlMesh::contoursAt(double z) const {
    // Triangles the plane crosses, joined through the edges the plane crosses: each chain is one outline.
    std::vector<std::size_t> crossing;
    for (std::size_t i = 0; i < triangles_.size(); ++i) {
        int above = 0;
        for (std::uint32_t v : triangles_[i]) above += vertices_[v].z >= z;
        if (above == 1 || above == 2) crossing.push_back(i);
    }
    UnionFind uf(crossing.size());
    std::unordered_map<std::uint64_t, std::size_t> edgeOwner;
    for (std::size_t k = 0; k < crossing.size(); ++k) {
        const auto& t = triangles_[crossing[k]];
        for (int e = 0; e < 3; ++e) {
            const std::uint32_t a = t[e], b = t[(e + 1) % 3];
            if ((vertices_[a].z >= z) == (vertices_[b].z >= z)) continue;
            const std::uint64_t key = std::uint64_t(std::min(a, b)) << 32 | std::max(a, b);
            auto [it, inserted] = edgeOwner.try_emplace(key, k);
            if (!inserted) uf.unite(k, it->second);
        }
    }
    std::size_t contours = 0;
    for (std::size_t k = 0; k < crossing.size(); ++k)
        if (uf.find(k) == k) ++contours;
    return contours;
}

} // namespace mto
