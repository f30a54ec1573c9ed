// SPDX-License-Identifier: Apache-2.0
// Job compiler benchmark: laser items per second on one core, bulk cost per item, slice-cache hit vs miss.
#include <boost/asio/io_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <future>
#include <thread>

#include "benchmarks.hpp"
#include "catalog.hpp"
#include "util/clock.hpp"
#include "store/commit_queue.hpp"
#include "compiler/compile_queue.hpp"
#include "store/database.hpp"
#include "compiler/item_compiler.hpp"
#include "store/migrations.hpp"
#include "intake/order_parser.hpp"
#include "store/order_store.hpp"
#include "test_env.hpp"

namespace mto::bench {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Compiles `n` steel tags, each with its own name, as one bulk order would; returns seconds.
double compileTags(const ItemCompiler& compiler, const Catalog& catalog, int n, int& failures) {
    auto started = Clock::now();
    for (int i = 0; i < n; ++i) {
        std::string name = "Tag " + std::to_string(100000 + i);
        auto result = compiler.compile(catalog, "TAG-STEEL-ENGRAVED", R"({"name":")" + name + "\"}",
                                       static_cast<std::size_t>(i));
        if (std::holds_alternative<ItemFailure>(result)) ++failures;
    }
    return secondsSince(started);
}

// The whole compile room on one worker thread, as the agent runs it, over a real state directory: the
// order read from SQLite, every item compiled, artifacts and proofs written with fsync, the jobs and
// the `accepted` event committed. Orders are stored directly (the MQTT intake has its own benchmark).
class CompileRoom {
public:
    CompileRoom(const std::filesystem::path& dir, std::shared_ptr<const Catalog> catalog)
        : catalog_(std::move(catalog)), db_(dir / "agent.db", Database::Mode::ReadWrite) {
        migrate(db_);
        store_ = std::make_unique<OrderStore>(db_, "bench", clock_);
        commits_ = std::make_unique<CommitQueue>(io_, db_);
        queue_ = std::make_unique<CompileQueue>(io_, *commits_, *store_, dir, catalog_, 2048ull << 20, 1);
        loop_ = std::thread([this] { io_.run(); });
    }
    ~CompileRoom() {
        queue_->stop();
        work_.reset();
        loop_.join();
    }

    // Stores a bulk order of n steel tags and returns the seconds from enqueue to its `accepted` commit.
    double compileOrder(const std::string& id, int n, bool& accepted) {
        std::string payload = R"({"order_id":")" + id + R"(","items":[)";
        for (int i = 0; i < n; ++i)
            payload += std::string(i ? "," : "") + R"({"item_id":")" + std::to_string(i) +
                       R"(","sku":"TAG-STEEL-ENGRAVED","qty":1,"personalization":{"name":"Tag )" +
                       std::to_string(100000 + i) + "\"}}";
        payload += "]}";
        ParseLimits limits;
        limits.maxItems = 100000;
        limits.maxPayloadBytes = 64 << 20;
        auto parsed = OrderParser(limits).parseOrder(payload, *catalog_);
        if (!std::holds_alternative<Order>(parsed)) throw std::runtime_error("bench order refused");
        std::promise<void> stored;
        boost::asio::post(io_, [&] {
            Transaction txn(db_);
            Rejection r;
            store_->storeOrder(std::get<Order>(parsed), "", r);
            txn.commit();
            stored.set_value();
        });
        stored.get_future().wait();
        const auto started = Clock::now();
        boost::asio::post(io_, [this, id] { queue_->enqueue(id); });
        std::string state;
        while (state != "accepted" && state != "rejected") {
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            std::promise<std::string> p;
            boost::asio::post(io_, [&] {
                auto o = store_->order(id);
                p.set_value(o ? o->state : "");
            });
            state = p.get_future().get();
        }
        accepted = state == "accepted";
        return secondsSince(started);
    }

private:
    std::shared_ptr<const Catalog> catalog_;
    Database db_;
    SystemClock clock_;
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ = boost::asio::make_work_guard(io_);
    std::unique_ptr<OrderStore> store_;
    std::unique_ptr<CommitQueue> commits_;
    std::unique_ptr<CompileQueue> queue_;
    std::thread loop_;
};

} // namespace

void runCompileBench(const BenchOptions& options, BenchReport& report) {
    test::TempDir dir;
    auto catalog = Catalog::load(test::sourceDir() + "/config/catalog.toml");
    ItemCompiler compiler(dir.path() / "slice-cache");
    int failures = 0;

    // Items per second on one core: the compile path a laser item takes (layout, G-code, check,
    // estimate, proof PNG), on this thread only.
    const int items = options.quick ? 200 : 2000;
    compileTags(compiler, catalog, 20, failures);   // warm the font cache
    double t = compileTags(compiler, catalog, items, failures);
    report.figure("compile", "laser items on one core",
                  std::to_string(items) + " steel-tag items in " + std::to_string(t).substr(0, 5) + " s = " +
                      std::to_string(static_cast<int>(items / t)) + " items/s");

    // Bulk orders: cost per item should not grow with the order's size.
    const int big = options.quick ? 1000 : 10000;
    double per1 = 0, per100 = 0, perBig = 0;
    for (int round = 0; round < 5; ++round) per1 += compileTags(compiler, catalog, 1, failures) / 5;
    per100 = compileTags(compiler, catalog, 100, failures) / 100;
    perBig = compileTags(compiler, catalog, big, failures) / big;
    char line[256];
    std::snprintf(line, sizeof line, "per item: 1 item %.3f ms, 100 items %.3f ms, %d items %.3f ms", per1 * 1e3,
                  per100 * 1e3, big, perBig * 1e3);
    report.figure("compile", "bulk cost per item", line);
    report.goal("compile", "per-item cost, " + std::to_string(big) + " vs 100 items", perBig / per100, "x", 1.15,
                Better::Lower);
    report.check("compile", "every item compiled", failures == 0, std::to_string(failures) + " failure(s)");

    // The same through the compile room: whole orders from the database to the committed `accepted`.
    {
        test::TempDir roomDir;
        CompileRoom room(roomDir.path(), std::make_shared<const Catalog>(catalog));
        bool ok = true, accepted = false;
        double order1 = 0;
        for (int round = 0; round < 5; ++round) {
            order1 += room.compileOrder("ONE-" + std::to_string(round), 1, accepted) / 5;
            ok = ok && accepted;
        }
        const double order100 = room.compileOrder("HUNDRED", 100, accepted) / 100;
        ok = ok && accepted;
        const double orderBig = room.compileOrder("BULK", big, accepted) / big;
        ok = ok && accepted;
        std::snprintf(line, sizeof line,
                      "per item, whole orders on one worker: 1 item %.3f ms, 100 items %.3f ms, %d items %.3f ms", order1 * 1e3,
                      order100 * 1e3, big, orderBig * 1e3);
        report.figure("compile", "bulk orders through the compile room", line);
        report.goal("compile", "per-item cost of whole orders, " + std::to_string(big) + " vs 100 items", orderBig / order100,
                    "x", 1.15, Better::Lower);
        report.check("compile", "every bulk order accepted", ok, ok ? "all accepted" : "an order was not accepted");
    }

    // Slice cache: the same keychain twice; the second must not run openscad or prusa-slicer.
    auto miss = Clock::now();
    auto first = compiler.compile(catalog, "KEYCHAIN-PLA-PRINT", R"({"name":"Lin"})", 0);
    double missS = secondsSince(miss);
    auto hit = Clock::now();
    auto second = compiler.compile(catalog, "KEYCHAIN-PLA-PRINT", R"({"name":"Lin"})", 0);
    double hitS = secondsSince(hit);
    bool ok = std::holds_alternative<CompiledItem>(first) && std::holds_alternative<CompiledItem>(second);
    std::snprintf(line, sizeof line, "miss %.3f s (openscad + prusa-slicer), hit %.4f s, hit/miss %.4f", missS,
                  hitS, hitS / missS);
    report.figure("compile", "slice cache", line);
    report.check("compile", "keychain compiled twice", ok, ok ? "both compiled" : "a compile failed");
}

} // namespace mto::bench
