// SPDX-License-Identifier: Apache-2.0
// The disk quota of <state_dir>/media: when it runs short, media are shed (oldest acknowledged first, then the
// oldest never sent), HQ is told with `media_shed` which hashes it will never get, and the status says what went.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/json/array.hpp>
#include <cstdint>
#include <filesystem>

#include "media/media_store.hpp"
#include "store/commit_queue.hpp"
#include "store/order_store.hpp"
#include "util/clock.hpp"

namespace mto {

// Thread-bound to the loop. Orders and milestones are never shed: only rows of the media table and their files.
// A file is deleted only after the transaction marking it shed committed (a crash in between leaves a file
// nobody names, never a name without its file).
class MediaQuota {
public:
    MediaQuota(CommitQueue& commits, OrderStore& store, MediaStore& media, std::filesystem::path stateDir,
               std::uint64_t quotaBytes, const Clock& clock);

    // After a commit: one row read; sheds when media on disk exceed the quota. Shedding goes down to 90 % of
    // the quota, so a full quota does not shed one file per new snapshot.
    void check();
    // The status's `shed` list: what was shed since the database was created.
    boost::json::array statusJson();
    std::uint64_t quotaBytes() const { return quota_; }

private:
    CommitQueue& commits_;
    OrderStore& store_;
    MediaStore& media_;
    std::filesystem::path stateDir_;
    std::uint64_t quota_;
    const Clock& clock_;
    bool shedding_ = false;
};

} // namespace mto
