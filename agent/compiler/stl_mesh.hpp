// SPDX-License-Identifier: Apache-2.0
// Triangle meshes from STL files, measured to check that a rendered model is the model that was asked for.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "mto/job.hpp"

namespace mto {

struct Vertex3 {
    float x = 0, y = 0, z = 0;
};

// Immutable after loading; safe to share between threads.
class StlMesh {
public:
    // Binary or ASCII, told apart by size rather than by the "solid" prefix, which some binary writers
    // also put in their header. Throws mto::Error naming the file and what is wrong with it.
    static StlMesh load(const std::filesystem::path& path);
    static StlMesh parse(std::string_view data, const std::string& name = "STL data");

    std::size_t triangleCount() const { return triangles_.size(); }
    std::size_t vertexCount() const { return vertices_.size(); }
    const std::vector<Vertex3>& vertices() const { return vertices_; }
    // Indices into vertices(); exact duplicates in the file share one index.
    const std::vector<std::array<std::uint32_t, 3>>& triangles() const { return triangles_; }

    // All zero for an empty mesh.
    BoundingBox bbox() const;
    // Sum of signed tetrahedra against the origin: positive for a closed mesh with outward normals
    // (counter-clockwise seen from outside); meaningless for an open mesh.
    double volume() const;
    // Pieces of the mesh that share no vertex. OpenSCAD unions everything it exports, so a fused model
    // is one shell however many letters it carries; separate parts on one plate are several.
    std::size_t shellCount() const;
    // Closed outlines where the plane Z = z cuts the mesh, as a slicer sees that layer: raised letters
    // cut at mid-height give one outline per stroke, a missing text gives none. Pick z between vertex
    // heights; a vertex exactly at z counts as above.
    std::size_t contoursAt(double z) const;

private:
    std::vector<Vertex3> vertices_;
    std::vector<std::array<std::uint32_t, 3>> triangles_;
};

} // namespace mto
