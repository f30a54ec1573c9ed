// SPDX-License-Identifier: Apache-2.0
// The compiler room: turns stored orders into machine jobs, proofs and estimates off the io thread.
#include "compiler/compile_queue.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "store/event_json.hpp"
#include "mto/error.hpp"
#include "util/sha256.hpp"

namespace mto {

void writeFileDurably(const std::filesystem::path& path, const std::string& bytes) {
    // Process id plus a process-wide counter: no two writers, in this agent or a second process on the
    // same state directory, ever share a temporary name.
    static std::atomic<std::uint64_t> counter{0};
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) return;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) throw Error("cannot create " + path.parent_path().string() + ": " + ec.message());
    auto tmp = path;
    tmp += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) throw Error("cannot write " + tmp.string() + ": " + std::strerror(errno));
    auto fail = [&](const std::string& what, int err) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw Error(what + " " + tmp.string() + ": " + std::strerror(err));
    };
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("cannot write", errno);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fdatasync(fd) != 0) fail("cannot flush", errno);
    if (::close(fd) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw Error("cannot flush " + tmp.string() + ": " + std::strerror(err));
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        ::unlink(tmp.c_str());
        throw Error("cannot store " + path.string() + ": " + ec.message());
    }
}

namespace {

// What the artifact is, beside it under the same hash: a scheduler or a person can size it up without
// parsing the program.
std::string artifactMetadata(const JobArtifact& a) {
    boost::json::object o{{"sha256", a.sha256},
                          {"capability", a.capability},
                          {"format", a.format},
                          {"bytes", a.program.size()},
                          {"lines", a.lines},
                          {"bbox_mm", boost::json::object{{"min_x", a.bbox.minX}, {"min_y", a.bbox.minY}, {"min_z", a.bbox.minZ},
                                                          {"max_x", a.bbox.maxX}, {"max_y", a.bbox.maxY}, {"max_z", a.bbox.maxZ}}},
                          {"work_mm", a.workMm},
                          {"travel_mm", a.travelMm},
                          {"estimated_s", a.estimatedSeconds}};
    return toPlainJson(o) + "\n";
}

// The tools get a home of their own in the state directory: the service's real home is read-only
// (DynamicUser, ProtectHome), and fontconfig keeps its font cache there instead of scanning every run.
PrintToolOptions printOptions(const std::filesystem::path& stateDir, std::uint64_t cacheMaxBytes) {
    PrintToolOptions o;
    o.cacheDir = stateDir / "slice-cache";
    o.cacheMaxBytes = cacheMaxBytes;
    const std::filesystem::path home = stateDir / "tools-home";
    std::error_code ec;
    std::filesystem::create_directories(home, ec);
    if (!ec) {
        o.environment["HOME"] = home.string();
        o.environment["XDG_CACHE_HOME"] = (home / ".cache").string();
        o.environment["XDG_CONFIG_HOME"] = (home / ".config").string();
    }
    return o;
}

} // namespace

CompileQueue::CompileQueue(boost::asio::io_context& io, CommitQueue& commits, OrderStore& store,
                           const std::filesystem::path& stateDir, std::shared_ptr<const Catalog> catalog,
                           std::uint64_t sliceCacheMaxBytes, unsigned threads)
    : io_(io), commits_(commits), store_(store), stateDir_(stateDir), catalog_(std::move(catalog)),
      compiler_(std::make_unique<ItemCompiler>(printOptions(stateDir, sliceCacheMaxBytes))),
      pool_(threads), resumeTimer_(io), retryTimer_(io) {}

CompileQueue::~CompileQueue() { stop(); }

PrintToolOptions CompileQueue::printToolOptions(const std::filesystem::path& stateDir, std::uint64_t sliceCacheMaxBytes) {
    return printOptions(stateDir, sliceCacheMaxBytes);
}

void CompileQueue::stop() {
    resumeTimer_.cancel();
    retryTimer_.cancel();
    pool_.join();
}

std::filesystem::path CompileQueue::artifactPath(const std::filesystem::path& stateDir, const std::string& sha) {
    return stateDir / "artifacts" / (sha + ".gcode");
}

std::optional<JobArtifact> CompileQueue::loadArtifact(const std::filesystem::path& stateDir, const std::string& sha) {
    auto read = [](const std::filesystem::path& p) -> std::optional<std::string> {
        std::ifstream in(p, std::ios::binary);
        if (!in) return std::nullopt;
        std::ostringstream ss;
        ss << in.rdbuf();
        return ss.str();
    };
    const auto programPath = artifactPath(stateDir, sha);
    auto program = read(programPath);
    auto meta = read(std::filesystem::path(programPath).replace_extension(".json"));
    if (!program || !meta || sha256Hex(*program) != sha) {
        spdlog::error("program {} is missing or does not match its name", programPath.string());
        return std::nullopt;
    }
    try {
        const auto o = boost::json::parse(*meta).as_object();
        JobArtifact a;
        a.program = std::move(*program);
        a.sha256 = sha;
        a.capability = o.at("capability").as_string().c_str();
        a.format = o.at("format").as_string().c_str();
        a.lines = o.at("lines").to_number<std::uint64_t>();
        a.estimatedSeconds = o.at("estimated_s").to_number<double>();
        const auto& b = o.at("bbox_mm").as_object();
        a.bbox = {b.at("min_x").to_number<double>(), b.at("min_y").to_number<double>(), b.at("min_z").to_number<double>(),
                  b.at("max_x").to_number<double>(), b.at("max_y").to_number<double>(), b.at("max_z").to_number<double>()};
        return a;
    } catch (const std::exception& e) {
        spdlog::error("metadata of program {} cannot be read: {}", sha, e.what());
        return std::nullopt;
    }
}

std::filesystem::path CompileQueue::mediaPath(const std::filesystem::path& stateDir, const std::string& sha) {
    return stateDir / "media" / (sha + ".png");
}

void CompileQueue::resumePending() {
    std::vector<std::string> ids;
    try {
        ids = store_.ordersAwaitingCompile();
    } catch (const std::exception& e) {
        // Start-up goes on: intake and the uplink work without the compiler, which tries again later.
        spdlog::error("cannot list the orders awaiting compile: {}; trying again in {} ms", e.what(),
                      retryDelay_.count());
        resumeTimer_.expires_after(retryDelay_);
        retryDelay_ = std::min(retryDelay_ * 2, std::chrono::milliseconds(60000));
        resumeTimer_.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) resumePending();
        });
        return;
    }
    resumeFrom(std::make_shared<std::vector<std::string>>(std::move(ids)), 0);
}

// A backlog is fed to the pool a few orders at a time, so the loop stays free for the uplink and
// memory does not grow with the backlog (the orders wait in the database, not in the pool's queue).
void CompileQueue::resumeFrom(std::shared_ptr<std::vector<std::string>> ids, std::size_t at) {
    constexpr std::size_t kInFlight = 16;
    while (at < ids->size() && pending_.load() < kInFlight) enqueue((*ids)[at++]);
    if (at >= ids->size()) return;
    resumeTimer_.expires_after(std::chrono::milliseconds(20));
    resumeTimer_.async_wait([this, ids, at](const boost::system::error_code& ec) {
        if (!ec) resumeFrom(ids, at);
    });
}

void CompileQueue::refuse(const std::string& orderId, const std::string& message) {
    spdlog::error("order {} cannot be compiled: {}; refused as internal_error", orderId, message);
    commits_.submit([this, orderId, message] { store_.recordInternalFailure(orderId, message); },
                    [this, orderId](bool committed) {
                        if (!committed) retryLater(orderId);
                    });
}

void CompileQueue::retryLater(const std::string& orderId) {
    retry_.insert(orderId);
    if (retryArmed_) return;
    retryArmed_ = true;
    spdlog::warn("compiling of {} order(s) waits for storage; next try in {} ms", retry_.size(), retryDelay_.count());
    retryTimer_.expires_after(retryDelay_);
    retryDelay_ = std::min(retryDelay_ * 2, std::chrono::milliseconds(60000));
    retryTimer_.async_wait([this](const boost::system::error_code& ec) {
        retryArmed_ = false;
        if (ec) return;
        std::set<std::string> ids;
        ids.swap(retry_);
        for (const auto& id : ids) {
            bool awaits = false;
            try {
                awaits = store_.awaitsCompile(id);
            } catch (const std::exception& e) {
                spdlog::error("order {}: cannot read its state: {}", id, e.what());
                retryLater(id);
                continue;
            }
            if (awaits) enqueue(id);
        }
    });
}

void CompileQueue::onCompiled(bool stored) {
    if (stored) retryDelay_ = firstRetryDelay_;
}

void CompileQueue::enqueue(const std::string& orderId) {
    std::optional<CompileInput> input;
    try {
        input = store_.compileInput(orderId);
    } catch (const DbError& e) {
        spdlog::error("order {}: cannot read it for compiling: {}", orderId, e.what());
        retryLater(orderId);
        return;
    } catch (const std::exception& e) {
        // The stored record itself is unreadable: no later try can do better.
        refuse(orderId, e.what());
        return;
    }
    if (input) enqueue(std::move(*input));
}

void CompileQueue::enqueue(CompileInput in) {
    ++pending_;
    boost::asio::post(pool_, [this, input = std::move(in), catalog = catalog_] {
        struct Done {
            std::atomic<std::size_t>& n;
            ~Done() { --n; }
        } done{pending_};
        std::vector<CompiledJob> jobs;
        std::vector<ItemProblem> problems;
        for (std::size_t i = 0; i < input.items.size(); ++i) {
            const Item& item = input.items[i];
            // A product without a generator has no machine job (yet): nothing to compile or refuse.
            if (const CatalogEntry* entry = catalog->find(item.sku); !entry || entry->generator.empty()) continue;
            std::optional<CompiledItem> compiled;
            try {
                auto result = compiler_->compile(*catalog, item.sku, item.personalizationJson, i);
                if (auto* failure = std::get_if<ItemFailure>(&result)) {
                    problems.push_back({failure->reason, failure->path, failure->message});
                    continue;
                }
                compiled = std::move(std::get<CompiledItem>(result));
            } catch (const std::exception& e) {
                // A fault of the compiler on this item: the item is refused, the pool and the other orders go on.
                problems.push_back({"internal_error", "items[" + std::to_string(i) + "]",
                                    std::string("internal error while compiling: ") + e.what()});
                continue;
            }
            try {
                int step = 0;
                for (const CompiledOperation& op : compiled->operations) {
                    std::string proofSha = sha256Hex(op.proofPng);
                    writeFileDurably(artifactPath(stateDir_, op.artifact.sha256), op.artifact.program);
                    auto meta = artifactPath(stateDir_, op.artifact.sha256);
                    writeFileDurably(meta.replace_extension(".json"), artifactMetadata(op.artifact));
                    writeFileDurably(mediaPath(stateDir_, proofSha), op.proofPng);
                    std::string material;
                    if (const CatalogEntry* entry = catalog->find(item.sku))
                        for (const Operation& o : entry->operations)
                            if (o.name == op.operation) material = o.material;
                    jobs.push_back({item.itemId, op.operation, step++, op.artifact.capability, op.artifact.sha256,
                                    proofSha, op.artifact.estimatedSeconds, op.textHeight, op.machine, material});
                }
            } catch (const std::exception& e) {
                // Storage trouble is not the order's fault: it stays received and is compiled again later.
                spdlog::error("compile of order {} stopped: {}", input.orderId, e.what());
                boost::asio::post(io_, [this, id = input.orderId] { retryLater(id); });
                return;
            }
        }
        if (jobs.empty() && problems.empty()) return;
        boost::asio::post(io_, [this, input, jobs = std::move(jobs), problems = std::move(problems)] {
            commits_.submit(
                [this, input, jobs, problems] {
                    if (problems.empty())
                        store_.recordCompiled(input, jobs);
                    else
                        store_.recordCompileFailure(input, problems);
                },
                [this, input, ok = problems.empty(), n = problems.size()](bool committed) {
                    onCompiled(committed);
                    if (!committed) {
                        spdlog::error("compile result of order {} could not be stored; compiling it again later",
                                      input.orderId);
                        retryLater(input.orderId);
                    } else if (ok) {
                        spdlog::info("order {} compiled: {} item(s)", input.orderId, input.items.size());
                    } else {
                        spdlog::warn("order {} refused at compile: {} item(s) cannot be made", input.orderId, n);
                    }
                });
        });
    });
}

} // namespace mto
