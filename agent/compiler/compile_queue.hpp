// SPDX-License-Identifier: Apache-2.0
// The compiler room: turns stored orders into machine jobs, proofs and estimates off the io thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <optional>
#include <chrono>
#include <memory>
#include <set>
#include <string>

#include "catalog.hpp"
#include "store/commit_queue.hpp"
#include "compiler/item_compiler.hpp"
#include "store/order_store.hpp"

namespace mto {

// Writes `bytes` to `path` through a temporary file of this call's own (fsync, then rename), so
// two threads storing the same content-addressed file never write through one name. An existing
// `path` already holds these bytes and is left alone. Throws Error when storage fails.
void writeFileDurably(const std::filesystem::path& path, const std::string& bytes);

// Thread-bound to the io_context (enqueue, results); the compiling itself runs on a small pool of
// its own, so a slow slicer never delays intake. Artifacts and proofs are written (fsync + rename)
// before the transaction that refers to them.
// Failure isolation: an order whose stored record cannot be read or whose compile throws is refused
// (internal_error) on its own; an order whose files or result could not be stored waits in retry_ and is
// compiled again after a back-off, since storage trouble is not the order's fault. retry_, retryDelay_
// and the timers belong to the loop; only pending_ is touched by the pool.
class CompileQueue {
public:
    CompileQueue(boost::asio::io_context& io, CommitQueue& commits, OrderStore& store,
                 const std::filesystem::path& stateDir, std::shared_ptr<const Catalog> catalog,
                 std::uint64_t sliceCacheMaxBytes = 2048ull << 20, unsigned threads = 2);
    ~CompileQueue();

    // Reads the order as stored, then compiles it.
    void enqueue(const std::string& orderId);
    // An order just committed, as the intake parsed it: the same content the store now holds, so it is
    // not read back (on the intake path that read would be per order, on the loop).
    void enqueue(CompileInput input);
    // Orders stored but not compiled when the agent last stopped.
    void resumePending();
    void setCatalog(std::shared_ptr<const Catalog> catalog) { catalog_ = std::move(catalog); }
    void stop();

    // Orders handed to the pool and not yet finished there.
    std::size_t pending() const { return pending_.load(); }

    // The options of the print tools and slice cache under a state directory (the plates' compiler shares them).
    static PrintToolOptions printToolOptions(const std::filesystem::path& stateDir, std::uint64_t sliceCacheMaxBytes);
    static std::filesystem::path artifactPath(const std::filesystem::path& stateDir, const std::string& sha);
    static std::filesystem::path mediaPath(const std::filesystem::path& stateDir, const std::string& sha);
    // A stored program with its metadata, checked against its name (sha256 of the program); nullopt when
    // it is missing, unreadable or altered.
    static std::optional<JobArtifact> loadArtifact(const std::filesystem::path& stateDir, const std::string& sha);

    // The first back-off after a storage failure; it doubles up to a minute while failures go on.
    void setRetryDelay(std::chrono::milliseconds first) { firstRetryDelay_ = retryDelay_ = first; }

private:
    void resumeFrom(std::shared_ptr<std::vector<std::string>> ids, std::size_t at);
    void refuse(const std::string& orderId, const std::string& message);
    void retryLater(const std::string& orderId);
    void onCompiled(bool stored);

    boost::asio::io_context& io_;
    CommitQueue& commits_;
    OrderStore& store_;
    std::filesystem::path stateDir_;
    std::shared_ptr<const Catalog> catalog_;
    std::unique_ptr<ItemCompiler> compiler_;
    boost::asio::thread_pool pool_;
    std::atomic<std::size_t> pending_{0};
    boost::asio::steady_timer resumeTimer_;
    boost::asio::steady_timer retryTimer_;
    std::set<std::string> retry_;
    std::chrono::milliseconds firstRetryDelay_{500};
    std::chrono::milliseconds retryDelay_{500};
    bool retryArmed_ = false;
};

} // namespace mto
