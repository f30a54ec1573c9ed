// SPDX-License-Identifier: Apache-2.0
// The disk quota of <state_dir>/media: sheds media, tells HQ with media_shed, says so in the status.
#include "media/media_quota.hpp"

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <spdlog/spdlog.h>

namespace mto {

namespace json = boost::json;

MediaQuota::MediaQuota(CommitQueue& commits, OrderStore& store, MediaStore& media, std::filesystem::path stateDir,
                       std::uint64_t quotaBytes, const Clock& clock)
    : commits_(commits), store_(store), media_(media), stateDir_(std::move(stateDir)), quota_(quotaBytes),
      clock_(clock) {}

void MediaQuota::check() {
    if (shedding_) return;
    std::int64_t usage = 0;
    try {
        usage = media_.usageBytes();
    } catch (const std::exception& e) {
        spdlog::error("media quota: cannot read the usage: {}", e.what());
        return;
    }
    if (usage <= static_cast<std::int64_t>(quota_)) return;
    shedding_ = true;
    auto shed = std::make_shared<std::vector<ShedMedia>>();
    const auto target = static_cast<std::int64_t>(quota_ / 10 * 9);
    commits_.submit(
        [this, shed, target] {
            *shed = media_.planShed(target);
            media_.markShed(*shed, clock_.nowMs());
            // HQ hears, per order, of every hash it never got; what it acknowledged it already has.
            std::map<std::pair<std::string, std::string>, json::array> unsent;
            for (const auto& m : *shed)
                if (m.unsent) unsent[{m.orderId, m.itemId}].push_back(json::string(m.sha256));
            for (auto& [key, hashes] : unsent)
                store_.recordMediaShed(key.first, key.second,
                                       json::object{{"media_sha256s", std::move(hashes)}, {"reason", "media_quota"}});
        },
        [this, shed, usage](bool committed) {
            shedding_ = false;
            if (!committed) {
                spdlog::error("media quota: shedding could not be stored; the files stay");
                return;
            }
            std::int64_t bytes = 0, unsent = 0;
            for (const auto& m : *shed) {
                std::error_code ec;
                std::filesystem::remove(MediaStore::filePath(stateDir_, m.sha256, m.contentType), ec);
                bytes += m.bytes;
                unsent += m.unsent;
            }
            spdlog::warn("media quota of {} MiB exceeded ({} bytes): shed {} media ({} bytes), {} of them never sent",
                         quota_ >> 20, usage, shed->size(), bytes, unsent);
        });
}

json::array MediaQuota::statusJson() {
    json::array out;
    const auto t = media_.shedTotals();
    if (t.count == 0) return out;
    json::object o{{"what", "media"}, {"count", t.count}, {"bytes", t.bytes}, {"unsent", t.unsent},
                   {"last_at", formatRfc3339Ms(t.lastAtMs)}};
    out.push_back(std::move(o));
    return out;
}

} // namespace mto
