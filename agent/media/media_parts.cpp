// SPDX-License-Identifier: Apache-2.0
// Media on the wire in parts: the topics an image's parts go out on, and their reassembly as HQ does it.
#include "media/media_parts.hpp"

#include <charconv>
#include <stdexcept>

namespace mto {

namespace {

// The largest image HQ takes apart from any sender: a bound on what a bad topic can make it hold.
constexpr std::size_t kMaxParts = 1 << 16;

std::size_t partNumber(std::string_view s, const char* what) {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size())
        throw std::invalid_argument(std::string("media topic: ") + what + " is not a number: '" + std::string(s) + "'");
    return n;
}

} // namespace

std::size_t mediaPartCount(std::size_t bytes) { return bytes == 0 ? 1 : (bytes + kMediaPartBytes - 1) / kMediaPartBytes; }

std::string mediaPartTopic(const std::string& prefix, const std::string& sha256, std::size_t part, std::size_t parts) {
    std::string topic = prefix + "/media/" + sha256;
    if (parts > 1) topic += "/" + std::to_string(part) + "/" + std::to_string(parts);
    return topic;
}

std::optional<MediaReassembly::Image> MediaReassembly::add(std::string_view tail, std::string payload) {
    const auto slash = tail.find('/');
    const std::string sha(tail.substr(0, slash));
    if (sha.empty()) throw std::invalid_argument("media topic: no sha256");
    if (slash == std::string_view::npos) return Image{sha, std::move(payload)};
    const auto rest = tail.substr(slash + 1);
    const auto slash2 = rest.find('/');
    if (slash2 == std::string_view::npos) throw std::invalid_argument("media topic: a part without its count of parts");
    const std::size_t part = partNumber(rest.substr(0, slash2), "part");
    const std::size_t parts = partNumber(rest.substr(slash2 + 1), "parts");
    if (parts < 2 || parts > kMaxParts || part >= parts)
        throw std::invalid_argument("media topic: part " + std::to_string(part) + " of " + std::to_string(parts));
    auto& p = partial_[sha];
    if (p.parts == 0) p.parts = parts;
    if (p.parts != parts) {
        const std::string why = "media topic: " + sha + " announced in " + std::to_string(parts) +
                                " parts, earlier in " + std::to_string(p.parts);
        partial_.erase(sha);
        throw std::invalid_argument(why);
    }
    p.got[part] = std::move(payload);
    if (p.got.size() < p.parts) return std::nullopt;
    Image image{sha, {}};
    std::size_t total = 0;
    for (const auto& [i, bytes] : p.got) total += bytes.size();
    image.bytes.reserve(total);
    for (const auto& [i, bytes] : p.got) image.bytes += bytes;
    partial_.erase(sha);
    return image;
}

} // namespace mto
