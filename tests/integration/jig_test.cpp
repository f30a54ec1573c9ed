// SPDX-License-Identifier: Apache-2.0
// Batch production on a jig: the scheduler with the real store, the GRBL driver and the GRBL emulator over a pty.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <set>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <string>
#include <variant>
#include <vector>

#include "agent.hpp"
#include "grbl/grbl_driver.hpp"
#include "mto/error.hpp"
#include "grbl_options.hpp"
#include "scheduler/jig.hpp"
#include "scheduler/scheduler.hpp"
#include "store_rig.hpp"
#include "test_env.hpp"
#include "util/sha256.hpp"
#include "virtual/grbl_emulator.hpp"

namespace mto {
namespace {

using namespace std::chrono_literals;

MachineProfile laser400() {
    MachineProfile p;
    p.name = "laser-400";
    p.capability = "laser";
    p.sizeX = 400;
    p.sizeY = 400;
    p.maxFeed = 6000;
    p.acceleration = 1000;
    p.maxPower = 1000;
    p.allowedWords = {"G0", "G1", "G17", "G21", "G90", "G94", "M2", "M4", "M5", "S", "F"};
    return p;
}

// One tag's own program, framed as the laser text generator frames it, inside the SKU's work area
// (10..60 x 10..30); `strokes` burns, differing per tag like names do.
JobArtifact tagProgram(int n, int strokes) {
    JobArtifact a;
    a.capability = "laser";
    a.format = "gcode-grbl";
    a.program = "G21 G90 G17 G94\nM4 S0\n";
    for (int i = 0; i < strokes; ++i) {
        const int x = 12 + (n * 3 + i * 7) % 44, y = 12 + (n + i * 5) % 16;
        a.program += "G0 X" + std::to_string(x) + " Y" + std::to_string(y) + " S0\n";
        a.program += "G1 X" + std::to_string(x + 2) + " Y" + std::to_string(y + 1) + " S800 F3000\n";
    }
    a.program += "M5 S0\nG0 X0 Y0\nM2\n";
    a.sha256 = sha256Hex(a.program);
    a.estimatedSeconds = 1;
    return a;
}

// The real driver, counting the programs it is given (one per jig run, or per unit without a jig).
class CountingDriver final : public MachineDriver {
public:
    CountingDriver(std::unique_ptr<MachineDriver> inner, int& submits) : inner_(std::move(inner)), submits_(submits) {}
    void start() override { inner_->start(); }
    void stop(std::function<void()> done) override { inner_->stop(std::move(done)); }
    MachineState state() const override { return inner_->state(); }
    const MachineIdentity& identity() const override { return inner_->identity(); }
    DriverCapabilities capabilities() const override { return inner_->capabilities(); }
    std::optional<MachineFault> check(const JobArtifact& job) const override { return inner_->check(job); }
    void submit(const std::string& jobId, const JobArtifact& job, std::uint64_t fromLine) override {
        ++submits_;
        inner_->submit(jobId, job, fromLine);
    }
    void pause() override { inner_->pause(); }
    void resume() override { inner_->resume(); }
    void cancel() override { inner_->cancel(); }
    void unlock() override { inner_->unlock(); }

private:
    std::unique_ptr<MachineDriver> inner_;
    int& submits_;
};

// A 4 x 5 jig of 20 tag pockets on an emulated laser.
class JigTest : public ::testing::Test, protected test::StoreRig {
protected:
    JigTest() {
        catalog_.add({"TAG", "Steel tag"});
        catalog_.add({"COASTER", "Coaster"});
        jig_.id = "tags-20";
        for (int r = 0; r < 5; ++r)
            for (int c = 0; c < 4; ++c) jig_.slots.push_back({10.0 + 60 * c, 5.0 + 30 * r, 50, 20});
        jig_.partOrigins["TAG"] = {10, 10};
    }

    // An order of `items` tags, each its own item with its own program.
    void addOrder(const std::string& id, int items, const std::string& priority = "standard", int strokes = 4,
                  const std::string& sku = "TAG") {
        std::string p = R"({"order_id":")" + id + R"(","priority":")" + priority + R"(","items":[)";
        for (int i = 1; i <= items; ++i)
            p += std::string(i > 1 ? "," : "") + R"({"item_id":")" + std::to_string(i) + R"(","sku":")" + sku +
                 R"(","qty":1,"personalization":{"name":"N)" + std::to_string(i) + "\"}}";
        p += "]}";
        std::vector<CompiledJob> jobs;
        for (int i = 1; i <= items; ++i) {
            JobArtifact a = tagProgram(i + static_cast<int>(programs_.size()), strokes);
            programs_[a.sha256] = a;
            jobs.push_back({std::to_string(i), "laser_engrave", 0, "laser", a.sha256, "proof", 1, 5, "laser-400", "steel"});
        }
        storeCompiled(p, jobs);
    }

    void startFloor() {
        virt::GrblEmulatorOptions eo;
        eo.linkPath = (dir_.path() / "laser").string();
        eo.laserMode = true;
        eo.speedFactor = 100;
        if (!emulator_) emulator_ = std::make_unique<virt::GrblEmulator>(io_, eo);
        scheduler_ = std::make_unique<Scheduler>(io_, commits_, store_, queue_, loader(), clock_);
        scheduler_->setProgressStep(50);
        scheduler_->setProofWriter([this](const std::string& sha, const std::string& png) { proofs_[sha] = png; });
        scheduler_->addMachine({"laser-1", "laser-400", "laser", {"steel"}}, [this](DriverListener& l) {
            auto o = test::laserDriverOptions("laser-1", emulator_->devicePath());
            o.profile = laser400();
            return std::make_unique<CountingDriver>(std::make_unique<grbl::GrblDriver>(io_, o, l), programsRun_);
        });
        scheduler_->addJig("laser-1", jig_, laser400());
        scheduler_->onUnitMilestone([this](const Scheduler::UnitMilestone& m) {
            if (m.milestone == "job_done") ++toldDone_;
        });
        scheduler_->start();
        scheduler_->poke();
    }

    void TearDown() override {
        if (!scheduler_) return;
        bool stopped = false;
        scheduler_->stop([&] { stopped = true; });
        test::runLoopUntil(io_, [&] { return stopped; }, 3s);
        scheduler_.reset();
    }

    // Many dispatch rounds in a row, each run to its end, with nothing else changing.
    void dispatchRounds(int rounds) {
        for (int round = 0; round < rounds; ++round) {
            scheduler_->poke();
            io_.restart();
            io_.poll();
        }
    }

    bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 30s) {
        return test::runLoopUntil(io_, done, limit);
    }

    struct Ev {
        std::string orderId, itemId, milestone;
        boost::json::object data;
    };
    // Every production event of these orders in seq order.
    std::vector<Ev> events(const std::vector<std::string>& orders) {
        std::vector<std::pair<std::int64_t, Ev>> out;
        for (const auto& o : orders)
            for (const auto& e : store_.eventsForOrder(o)) {
                auto v = boost::json::parse(e.payload).as_object();
                const auto* item = v.if_contains("item_id");
                out.push_back({v.at("seq").as_int64(),
                               {o, item && item->is_string() ? std::string(item->as_string()) : "", e.milestone,
                                v.at("data").as_object()}});
            }
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        std::vector<Ev> evs;
        for (auto& [seq, e] : out) evs.push_back(std::move(e));
        return evs;
    }
    std::size_t count(const std::string& orderId, const std::string& milestone) {
        std::size_t n = 0;
        for (const auto& e : store_.eventsForOrder(orderId)) n += e.milestone == milestone;
        return n;
    }
    // Runs the floor, clearing the bed after every jig run, until `done`.
    bool runClearing(const std::function<bool()>& done, std::chrono::milliseconds limit = 120s) {
        return runUntil(
            [&] {
                if (scheduler_->bay("laser-1") == Bay::AwaitingClear) {
                    ++clears_;
                    scheduler_->clear("laser-1");
                }
                return done();
            },
            limit);
    }

    Jig jig_;
    std::unique_ptr<virt::GrblEmulator> emulator_;
    std::unique_ptr<Scheduler> scheduler_;
    std::map<std::string, std::string> proofs_;
    int clears_ = 0;
    int programsRun_ = 0;
    int toldDone_ = 0;
};

TEST_F(JigTest, A200TagOrderRunsAsTenJigProgramsWithEveryUnitStartedAndDoneOnceInItsSlot) {
    addOrder("BULK", 200);
    startFloor();
    ASSERT_TRUE(runClearing([&] { return count("BULK", "job_done") >= 200; })) << count("BULK", "job_done");
    runUntil([] { return false; }, 300ms);

    std::map<std::string, int> started, done;
    std::map<std::string, std::int64_t> slotOf;
    std::set<std::string> proofShas;
    int runs = 0;
    std::vector<int> runSizes;
    for (const auto& e : events({"BULK"})) {
        if (e.milestone == "production_started") {
            ++started[e.itemId];
            ASSERT_TRUE(e.data.contains("slot")) << e.itemId;
            EXPECT_EQ(e.data.at("jig").as_string(), "tags-20");
            const auto slot = e.data.at("slot").as_int64();
            slotOf[e.itemId] = slot;
            if (slot == 0) {
                ++runs;
                runSizes.push_back(0);
                ASSERT_TRUE(e.data.contains("media_sha256")) << "the proof of the whole jig goes with slot 0";
                proofShas.insert(std::string(e.data.at("media_sha256").as_string()));
            }
            ASSERT_FALSE(runSizes.empty());
            EXPECT_EQ(slot, runSizes.back()) << "a run fills its slots in order";
            ++runSizes.back();
        }
        if (e.milestone == "job_done") {
            ++done[e.itemId];
            EXPECT_EQ(e.data.at("slot").as_int64(), slotOf[e.itemId]) << "done in the slot it started in";
            EXPECT_EQ(e.data.at("jig").as_string(), "tags-20");
        }
    }
    EXPECT_EQ(runs, 10) << "ceil(200 / 20) jig programs";
    EXPECT_EQ(runSizes, std::vector<int>(10, 20));
    ASSERT_EQ(started.size(), 200u);
    ASSERT_EQ(done.size(), 200u);
    for (const auto& [item, n] : started) EXPECT_EQ(n, 1) << item;
    for (const auto& [item, n] : done) EXPECT_EQ(n, 1) << item;
    EXPECT_EQ(programsRun_, 10) << "one program per jig run on the machine";
    EXPECT_EQ(clears_, 10) << "one bed clear per jig run";
    EXPECT_EQ(toldDone_, 200) << "the QC camera hears of every unit";
    EXPECT_EQ(proofShas.size(), 10u);
    for (const auto& sha : proofShas) EXPECT_TRUE(proofs_.count(sha)) << "every run's proof was stored";
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM units WHERE state = 'done' AND jig = 'tags-20'"), 200);
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(DISTINCT slot) FROM units"), 20);
}

TEST_F(JigTest, ARushOrderArrivingMidBatchRunsNextInAPartialJig) {
    addOrder("BULK", 60, "standard", 30);
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("BULK", "production_started") == 20; }));
    addOrder("RUSH", 3, "rush");
    scheduler_->poke();
    ASSERT_TRUE(runClearing([&] { return count("BULK", "job_done") == 60 && count("RUSH", "job_done") == 3; }));

    // Starts in order: 20 bulk units (the run that was going), the 3 rush units alone, then the rest of the bulk.
    std::vector<std::string> startedOrder;
    for (const auto& e : events({"BULK", "RUSH"}))
        if (e.milestone == "production_started") startedOrder.push_back(e.orderId);
    ASSERT_EQ(startedOrder.size(), 63u);
    for (std::size_t i = 0; i < 20; ++i) EXPECT_EQ(startedOrder[i], "BULK") << i;
    for (std::size_t i = 20; i < 23; ++i) EXPECT_EQ(startedOrder[i], "RUSH") << i;
    for (std::size_t i = 23; i < 63; ++i) EXPECT_EQ(startedOrder[i], "BULK") << i;
    EXPECT_EQ(programsRun_, 4) << "20 + 3 (rush, partial) + 20 + 20";
}

TEST_F(JigTest, AnInterruptedJigRunInterruptsEveryUnitOnItAndARestartRunsTheSameSlotsToTheEnd) {
    addOrder("BULK", 5, "standard", 300);
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("BULK", "production_started") == 5 && emulator_->linesReceived() > 100; }));
    emulator_->disconnect();
    ASSERT_TRUE(runUntil([&] { return count("BULK", "interrupted") == 5; }));
    EXPECT_EQ(scheduler_->bay("laser-1"), Bay::NeedsAttention);
    std::set<std::int64_t> slots;
    for (const auto& e : events({"BULK"}))
        if (e.milestone == "interrupted") slots.insert(e.data.at("slot").as_int64());
    EXPECT_EQ(slots, (std::set<std::int64_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM units WHERE state = 'interrupted' AND last_line > 0"), 5);
    emulator_->reconnect();
    ASSERT_TRUE(runUntil([&] { return !scheduler_->restart("laser-1"); }));
    ASSERT_TRUE(runUntil([&] { return count("BULK", "job_done") == 5; }, 60s));
    for (const auto& e : events({"BULK"})) {
        if (e.milestone == "production_started" && e.data.contains("restart")) {
            EXPECT_EQ(e.data.at("slot").as_int64() + 1, std::stoll(e.itemId)) << "each unit back in its own slot";
        }
    }
    EXPECT_EQ(count("BULK", "production_started"), 10u);
    EXPECT_EQ(scheduler_->bay("laser-1"), Bay::AwaitingClear);
    EXPECT_FALSE(scheduler_->clear("laser-1")) << "one clear for the whole run";
    EXPECT_EQ(scheduler_->bay("laser-1"), Bay::Ready);
}

TEST_F(JigTest, AScrappedJigRunQueuesEveryUnitAgainAndTheyRunFirstAfterTheBedIsCleared) {
    addOrder("BULK", 25, "standard", 200);
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("BULK", "production_started") == 20 && emulator_->linesReceived() > 100; }));
    emulator_->injectAlarm(1);
    ASSERT_TRUE(runUntil([&] { return count("BULK", "interrupted") == 20; }));
    ASSERT_TRUE(runUntil([&] { return scheduler_->bay("laser-1") == Bay::NeedsAttention; }));
    EXPECT_FALSE(scheduler_->scrap("laser-1"));
    ASSERT_TRUE(runUntil([&] { return count("BULK", "scrapped") == 20; }));
    EXPECT_EQ(scheduler_->bay("laser-1"), Bay::AwaitingClear);
    EXPECT_FALSE(scheduler_->unlock("laser-1"));
    ASSERT_TRUE(runClearing([&] { return count("BULK", "job_done") == 25; }, 120s));
    // The 20 scrapped units ran again first, as one jig, then the 5 never started.
    std::set<std::string> firstRun, secondRun;
    int starts = 0;
    for (const auto& e : events({"BULK"})) {
        if (e.milestone != "production_started") continue;
        ++starts;
        (starts <= 20 ? firstRun : secondRun).insert(e.itemId);
        if (starts > 20 && starts <= 40) {
            EXPECT_TRUE(e.data.at("requeued").as_bool());
        }
        if (starts == 40) break;
    }
    EXPECT_EQ(firstRun.size(), 20u);
    EXPECT_EQ(secondRun, firstRun) << "the scrapped units run again together, before the units never started";
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM units WHERE state = 'done' AND attempt = 2"), 20);
}

TEST_F(JigTest, AJigRunLeftRunningByACrashIsInterruptedWholeAtStart) {
    addOrder("BULK", 3);
    {
        // What a kill -9 mid-run leaves: three units started in slots 0..2, the machine running the lead.
        Transaction txn(db_);
        const MachineSlot laser{"laser-1", "laser-400", "laser", {"steel"}};
        auto lead = queue_.nextFor(laser);
        ASSERT_TRUE(lead);
        std::int64_t slot = 0;
        for (const auto& u : queue_.batchFor(laser, *lead, 20)) {
            queue_.markStarted(u, "laser-1", 5);
            queue_.markPlaced(u, "tags-20", slot++);
        }
        db_.exec("INSERT INTO machines (machine_id, bay, order_id, item_id, operation, unit, updated_at) "
                 "VALUES ('laser-1', 'running', 'BULK', '1', 'laser_engrave', 1, 0)");
        txn.commit();
    }
    startFloor();
    ASSERT_TRUE(runUntil([&] { return count("BULK", "interrupted") == 3; }));
    EXPECT_EQ(scheduler_->bay("laser-1"), Bay::NeedsAttention);
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM units WHERE state = 'interrupted' AND reason = 'agent_restarted'"), 3);
    const auto views = scheduler_->machines();
    ASSERT_EQ(views.size(), 1u);
    EXPECT_EQ(views[0].jig, "tags-20");
    EXPECT_EQ(views[0].units, 3u);
}

TEST_F(JigTest, AMachineWithAJigRunsOtherSkusOneUnitPerProgramAsBefore) {
    addOrder("COASTERS", 2, "standard", 4, "COASTER");
    startFloor();
    ASSERT_TRUE(runClearing([&] { return count("COASTERS", "job_done") == 2; }));
    for (const auto& e : events({"COASTERS"})) {
        if (e.milestone == "production_started" || e.milestone == "job_done") {
            EXPECT_FALSE(e.data.contains("slot"));
        }
    }
    EXPECT_EQ(programsRun_, 2);
}

// What the agent logs (as journalctl shows it) while it lives.
class LogCapture {
public:
    LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(10000)) {
        spdlog::default_logger()->sinks().push_back(sink_);
    }
    ~LogCapture() {
        auto& sinks = spdlog::default_logger()->sinks();
        sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;
    std::size_t count(const std::string& needle) const {
        std::size_t n = 0;
        for (const auto& line : sink_->last_formatted()) n += line.find(needle) != std::string::npos;
        return n;
    }

private:
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

TEST_F(JigTest, AUnitTheMachineRefusesIsLoggedOnceHoweverManyDispatchRoundsMeetIt) {
    LogCapture log;
    const auto before = programs_;
    addOrder("COASTERS", 1, "standard", 4, "COASTER");   // not a jig SKU: one unit, one program
    for (auto& [sha, a] : programs_)
        if (!before.count(sha)) a.format = "gcode-marlin";
    startFloor();
    ASSERT_TRUE(runUntil([&] { return log.count("refuses COASTERS/1") == 1; }));
    dispatchRounds(50);
    EXPECT_EQ(log.count("refuses COASTERS/1"), 1u);
    EXPECT_EQ(programsRun_, 0);   // the unit waits, as before

    // The machine passes the refused job over until it is offered it again: a reload of the configuration (or a
    // reconnect of its driver) does that.
    for (auto& [sha, a] : programs_)
        if (!before.count(sha)) a.format = "gcode-grbl";
    scheduler_->forgetRefusals("the configuration was reloaded");
    ASSERT_TRUE(runClearing([&] { return count("COASTERS", "job_done") == 1; }));
    EXPECT_EQ(log.count("refuses COASTERS/1"), 1u);
    EXPECT_EQ(programsRun_, 1);
}

TEST_F(JigTest, AJigRunThatCannotBeBuiltIsLoggedOncePerCauseHoweverManyDispatchRoundsMeetIt) {
    LogCapture log;
    addOrder("BAD", 3);
    const auto original = programs_;
    // A work offset cannot be moved to a slot: every unit's program is refused as a jig run.
    for (auto& [sha, a] : programs_) a.program = "G92 X0 Y0\n" + a.program;
    startFloor();
    ASSERT_TRUE(runUntil([&] { return log.count("cannot run") == 1; }));
    dispatchRounds(50);
    EXPECT_EQ(log.count("cannot run"), 1u);
    EXPECT_EQ(log.count("on jig tags-20: not_translatable: BAD/1#1: line 1: G92"), 1u);
    EXPECT_EQ(programsRun_, 0);   // the units wait, as before

    // Another cause (a rush order ahead whose programs are in inches) is said once more, then not again.
    const auto before = programs_;
    addOrder("RUSH", 1, "rush");
    for (auto& [sha, a] : programs_)
        if (!before.count(sha)) a.program = "G20\n" + a.program;
    dispatchRounds(50);
    EXPECT_EQ(log.count("cannot run"), 2u);
    EXPECT_EQ(log.count("cannot run RUSH/1/laser_engrave/1 on jig tags-20: not_translatable: RUSH/1#1: line 1: G20"), 1u);
    EXPECT_EQ(programsRun_, 0);

    // Fixed programs run as one jig run, and the fix is said once.
    for (auto& [sha, a] : programs_) {
        a.program = original.count(sha) ? original.at(sha).program : a.program.substr(4);
    }
    scheduler_->poke();
    ASSERT_TRUE(runClearing([&] { return count("BAD", "job_done") == 3 && count("RUSH", "job_done") == 1; }));
    EXPECT_EQ(log.count("jig tags-20 builds again"), 1u);
    EXPECT_EQ(log.count("cannot run"), 2u);
    EXPECT_EQ(programsRun_, 2);   // the rush unit's run, then the three standard ones
}

// The agent reads [[machines.jigs]] against the catalog and the machine's profile; a mistake stops it at start
// with the key named, as every config mistake does.
class JigConfigTest : public ::testing::Test {
protected:
    // The error the agent gives at start with this jig on laser-1 (laser-400), or "" when it starts.
    std::string startError(const std::string& jig) {
        test::writeFile(dir_.path() / "agent.toml",
                        "[factory]\nid = \"f1\"\n[mqtt]\nuri = \"tcp://127.0.0.1:1\"\n[storage]\nstate_dir = \"state\"\n"
                        "[intake]\ncatalog = \"" + test::sourceDir() + "/config/catalog.toml\"\n[[machines]]\nid = \"laser-1\"\nprofile = \"laser-400\"\n"
                        "port = \"" + (dir_.path() / "no-such-port").string() + "\"\n[[machines.jigs]]\nid = \"j\"\n" + jig);
        try {
            Agent agent(loadConfig(dir_.path() / "agent.toml"));
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    }
    test::TempDir dir_;
};

TEST_F(JigConfigTest, AJigOutsideTheWorkAreaOrForASkuItCannotHoldStopsTheAgentNamingTheKey) {
    const std::string tags = "skus = [\"TAG-STEEL-ENGRAVED\"]\n";
    const std::string grid = "grid = { origin_x = 10, origin_y = 10, columns = 4, rows = 5, pitch_x = 60, pitch_y = 30 }\n";
    EXPECT_EQ(startError(tags + "slot_width = 50\nslot_height = 20\n" + grid), "") << "the demo's jig is fine";

    auto expect = [&](const std::string& jig, const std::string& key, const std::string& words) {
        const std::string e = startError(jig);
        EXPECT_NE(e.find("key 'machines[0].jigs[0]" + key + "'"), std::string::npos) << e;
        EXPECT_NE(e.find(words), std::string::npos) << e;
    };
    expect(tags + "slot_width = 50\nslot_height = 20\n"
                  "grid = { origin_x = 10, origin_y = 10, columns = 7, rows = 1, pitch_x = 60 }\n",
           ".slots", "slot 6 (x 370");
    expect(tags + "slot_width = 50\nslot_height = 20\nslots = [{ x = 10, y = -1 }]\n", ".slots", "outside the work area");
    expect("skus = [\"NO-SUCH-SKU\"]\nslot_width = 50\nslot_height = 20\n" + grid, ".skus", "no SKU NO-SUCH-SKU");
    expect("skus = [\"SIGN-PINE-CNC\"]\nslot_width = 50\nslot_height = 20\n" + grid, ".skus",
           "not made on machine profile laser-400");
    expect(tags + "slot_width = 40\nslot_height = 20\n" + grid, ".slot_width", "does not fit a slot");
}

} // namespace
} // namespace mto
