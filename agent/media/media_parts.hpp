// SPDX-License-Identifier: Apache-2.0
// Media on the wire in parts: the topics an image's parts go out on, and their reassembly as HQ does it.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace mto {

// A broker delivers one message at a time: a megabyte of picture holds up every milestone queued behind it at
// the broker (mosquitto is single-threaded). So an image larger than kMediaPartBytes goes out as parts of at most
// that size, `media/<sha256>/<part>/<parts>` (part counted from 0), and the broker interleaves milestones
// between them. An image that fits in one part keeps its whole-image topic `media/<sha256>`.
inline constexpr std::size_t kMediaPartBytes = 64 * 1024;

// How many messages an image of `bytes` takes (1 for an empty one).
std::size_t mediaPartCount(std::size_t bytes);
// The topic of part `part` of `parts` under `prefix` (`mto/v1/<factory>`).
std::string mediaPartTopic(const std::string& prefix, const std::string& sha256, std::size_t part, std::size_t parts);

// Thread-bound. Puts images together from the messages on `media/#`, as an HQ does: parts may come twice
// (a resend after a reconnect) and in any order; an image is complete once every part of it arrived.
class MediaReassembly {
public:
    struct Image {
        std::string sha256;
        std::string bytes;
    };
    // `topicTail` is what follows `/media/` in the topic. Returns the image this message completed, if any;
    // nullopt for a part of an unfinished image. Throws std::invalid_argument for a topic that is not a media
    // topic (the message says why).
    std::optional<Image> add(std::string_view topicTail, std::string payload);
    // Images begun and not yet complete.
    std::size_t pending() const { return partial_.size(); }

private:
    struct Partial {
        std::size_t parts = 0;
        std::map<std::size_t, std::string> got;
    };
    std::map<std::string, Partial> partial_;
};

} // namespace mto
