// SPDX-License-Identifier: Apache-2.0
// The compiler room: turns stored orders into machine jobs, proofs and estimates off the io thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "catalog.hpp"
#include "commit_queue.hpp"
#include "item_compiler.hpp"
#include "order_store.hpp"

namespace mto {

// Thread-bound to the io_context (enqueue, results); the compiling itself runs on a small pool of
// its own, so a slow slicer never delays intake. Artifacts and proofs are written (fsync + rename)
// before the transaction that refers to them.
class CompileQueue {
public:
    CompileQueue(boost::asio::io_context& io, CommitQueue& commits, OrderStore& store,
                 const std::filesystem::path& stateDir, std::shared_ptr<const Catalog> catalog,
                 std::uint64_t sliceCacheMaxBytes = 2048ull << 20, unsigned threads = 2);
    ~CompileQueue();

    void enqueue(const std::string& orderId);
    // Orders stored but not compiled when the agent last stopped.
    void resumePending();
    void setCatalog(std::shared_ptr<const Catalog> catalog) { catalog_ = std::move(catalog); }
    void stop();

    // Orders handed to the pool and not yet finished there.
    std::size_t pending() const { return pending_.load(); }

    static std::filesystem::path artifactPath(const std::filesystem::path& stateDir, const std::string& sha);
    static std::filesystem::path mediaPath(const std::filesystem::path& stateDir, const std::string& sha);

private:
    void resumeFrom(std::shared_ptr<std::vector<std::string>> ids, std::size_t at);

    boost::asio::io_context& io_;
    CommitQueue& commits_;
    OrderStore& store_;
    std::filesystem::path stateDir_;
    std::shared_ptr<const Catalog> catalog_;
    std::unique_ptr<ItemCompiler> compiler_;
    boost::asio::thread_pool pool_;
    std::atomic<std::size_t> pending_{0};
    boost::asio::steady_timer resumeTimer_;
};

} // namespace mto
