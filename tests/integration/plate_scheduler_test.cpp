// SPDX-License-Identifier: Apache-2.0
// Plates in the scheduler: the real store, the Marlin driver and the Marlin emulator over a pty, with a plate
// slicer that refuses plates above a size (as prusa-slicer does when parts do not fit), so the fall-back to
// fewer parts and the rush rule are seen without the slicer's time.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "grbl_options.hpp"   // runLoopUntil
#include "marlin/marlin_driver.hpp"
#include "scheduler/jig.hpp"
#include "scheduler/scheduler.hpp"
#include "store_rig.hpp"
#include "test_env.hpp"
#include "util/sha256.hpp"
#include "virtual/marlin_emulator.hpp"

namespace mto {
namespace {

using namespace std::chrono_literals;

MachineProfile mk3s() {
    MachineProfile p;
    p.name = "mk3s";
    p.capability = "fdm";
    p.sizeX = 250;
    p.sizeY = 210;
    p.maxZ = 210;
    p.maxFeed = 12000;
    p.acceleration = 1250;
    p.allowedWords = {"G1", "G28", "G90", "G92", "M83", "M84", "E", "F"};
    return p;
}

// A small print: a square outline at (x, y), one layer, as a slicer would write it with relative E.
std::string square(double x, double y) {
    auto n = [](double v) { return std::to_string(static_cast<int>(v)); };
    return "G1 Z0.2 F600\nG1 X" + n(x) + " Y" + n(y) + " F6000\nG1 X" + n(x + 10) + " E0.5 F1200\nG1 Y" + n(y + 10) +
           " E0.5\nG1 X" + n(x) + " E0.5\nG1 Y" + n(y) + " E0.5\n";
}

JobArtifact printProgram(const std::string& body) {
    JobArtifact a;
    a.capability = "fdm";
    a.format = "gcode-marlin";
    a.program = "G90\nM83\nG28\n" + body + "G1 Z10 F600\nM84\n";
    a.sha256 = sha256Hex(a.program);
    a.estimatedSeconds = 2;
    return a;
}

// Prints on a Marlin emulator with plates of up to three parts, sliced by a stand-in that places parts in a
// row and says that more than `fits_` parts do not fit.
class PlateSchedulerTest : public ::testing::Test, protected test::StoreRig {
protected:
    PlateSchedulerTest() {
        catalog_.add({"KEY", "Keychain"});
        plate_.id = "plate";
        plate_.plateParts = 3;
        plate_.partOrigins["KEY"] = {0, 0};
    }

    void addOrder(const std::string& id, int items, const std::string& priority) {
        std::string p = R"({"order_id":")" + id + R"(","priority":")" + priority + R"(","items":[)";
        for (int i = 1; i <= items; ++i)
            p += std::string(i > 1 ? "," : "") + R"({"item_id":")" + std::to_string(i) +
                 R"(","sku":"KEY","qty":1,"personalization":{"name":"N)" + std::to_string(i) + "\"}}";
        p += "]}";
        std::vector<CompiledJob> jobs;
        for (int i = 1; i <= items; ++i) {
            JobArtifact a = printProgram(square(20, 20 + static_cast<double>(programs_.size())));
            programs_[a.sha256] = a;
            jobs.push_back({std::to_string(i), "print", 0, "fdm", a.sha256, "proof", 2, 0, "mk3s", "pla"});
        }
        storeCompiled(p, jobs);
    }

    void startFloor() {
        virt::MarlinEmulatorOptions eo;
        eo.linkPath = (dir_.path() / "printer").string();
        eo.speedFactor = 400;
        emulator_ = std::make_unique<virt::MarlinEmulator>(io_, eo);
        scheduler_ = std::make_unique<Scheduler>(io_, commits_, store_, queue_, loader(), clock_);
        scheduler_->setProofWriter([this](const std::string& sha, const std::string&) { proofs_.push_back(sha); });
        scheduler_->addMachine({"printer-1", "mk3s", "fdm", {"pla"}}, [this](DriverListener& l) {
            marlin::MarlinDriverOptions o;
            o.machineId = "printer-1";
            o.port = emulator_->devicePath();
            o.profile = mk3s();
            o.greetingWait = 300ms;
            o.progressEvery = 50ms;
            return std::make_unique<marlin::MarlinDriver>(io_, o, l);
        });
        scheduler_->addJig("printer-1", plate_, mk3s());
        Scheduler::PlateTools tools;
        tools.hasModel = [](const std::string&) { return true; };
        tools.build = [this](const Jig& jig, const std::vector<JigPlacement>& placements, const MachineProfile& profile,
                             bool withProof) -> std::variant<JigProgram, JigRefusal> {
            {
                std::lock_guard lock(mutex_);
                slicedSizes_.push_back(placements.size());
                // The slicer runs for parts it has not sliced together before; else its cache answers.
                std::string key;
                for (const auto& p : placements) key += p.artifact->sha256 + ",";
                if (sliceCache_.insert(key).second) ++slices_;
                if (std::this_thread::get_id() == loopThread_) ++slicedOnLoop_;
            }
            if (placements.size() > fits_)
                return JigRefusal{"does_not_fit", "a plate of " + std::to_string(placements.size()) +
                                                      " parts does not fit on the 250 x 210 mm bed"};
            PlateSlice slice;
            std::string body;
            for (std::size_t i = 0; i < placements.size(); ++i) {
                const double x = 20 + 30 * static_cast<double>(i);
                body += square(x, 40);
                slice.parts.push_back({x, 40, 10, 10});
            }
            slice.artifact = printProgram(body);
            slice.artifact.estimatedSeconds = 3;
            return buildPlateProgram(jig, placements, std::move(slice), profile, withProof);
        };
        scheduler_->setPlateTools(std::move(tools));
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

    // Runs the floor, clearing the bed after every print, until `done`.
    bool runClearing(const std::function<bool()>& done, std::chrono::milliseconds limit = 60s) {
        return test::runLoopUntil(
            io_,
            [&] {
                if (scheduler_->bay("printer-1") == Bay::AwaitingClear) {
                    ++clears_;
                    scheduler_->clear("printer-1");
                }
                return done();
            },
            limit);
    }

    struct Ev {
        std::string orderId, itemId, milestone;
        boost::json::object data;
    };
    std::vector<Ev> events(const std::vector<std::string>& orders, const std::string& milestone) {
        std::vector<std::pair<std::int64_t, Ev>> out;
        for (const auto& o : orders)
            for (const auto& e : store_.eventsForOrder(o)) {
                if (e.milestone != milestone) continue;
                auto v = boost::json::parse(e.payload).as_object();
                out.push_back({v.at("seq").as_int64(), {o, std::string(v.at("item_id").as_string()), e.milestone,
                                                        v.at("data").as_object()}});
            }
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        std::vector<Ev> evs;
        for (auto& [seq, e] : out) evs.push_back(std::move(e));
        return evs;
    }

    Jig plate_;
    std::size_t fits_ = 2;
    std::mutex mutex_;
    std::vector<std::size_t> slicedSizes_;
    std::set<std::string> sliceCache_;   // the parts of every plate sliced so far
    int slices_ = 0;                     // slicer runs: plates not found in sliceCache_
    const std::thread::id loopThread_ = std::this_thread::get_id();   // the test turns the loop
    int slicedOnLoop_ = 0;               // plates built on the loop's thread (it would stall every machine)
    std::unique_ptr<virt::MarlinEmulator> emulator_;
    std::unique_ptr<Scheduler> scheduler_;
    std::vector<std::string> proofs_;
    int clears_ = 0;
};

TEST_F(PlateSchedulerTest, APlateThatDoesNotFitIsSlicedWithFewerPartsAndEveryUnitIsReportedOnce) {
    addOrder("O-1", 3, "standard");
    startFloor();
    ASSERT_TRUE(runClearing([&] { return events({"O-1"}, "job_done").size() == 3; }));
    {
        std::lock_guard lock(mutex_);
        // Three parts do not fit, two do; the third unit then is alone and runs its own program.
        EXPECT_EQ(slicedSizes_, (std::vector<std::size_t>{3, 2}));
    }
    const auto started = events({"O-1"}, "production_started");
    ASSERT_EQ(started.size(), 3u);
    EXPECT_EQ(started[0].itemId, "1");
    EXPECT_EQ(started[1].itemId, "2");
    for (int i = 0; i < 2; ++i) {
        EXPECT_EQ(std::string(started[i].data.at("jig").as_string()), "plate");
        EXPECT_EQ(started[i].data.at("slot").as_int64(), i);
        EXPECT_EQ(started[i].data.at("jig_units").as_int64(), 2);
        EXPECT_DOUBLE_EQ(started[i].data.at("plate_x").to_number<double>(), 25 + 30 * i);
        EXPECT_DOUBLE_EQ(started[i].data.at("plate_y").to_number<double>(), 45);
    }
    EXPECT_TRUE(started[0].data.contains("media_sha256")) << "one proof of the plate, on slot 0";
    EXPECT_EQ(proofs_.size(), 1u);
    EXPECT_EQ(started[2].itemId, "3");
    EXPECT_FALSE(started[2].data.contains("jig"));
    const auto done = events({"O-1"}, "job_done");
    std::map<std::string, int> doneItems;
    for (const auto& e : done) ++doneItems[e.itemId];
    EXPECT_EQ(doneItems, (std::map<std::string, int>{{"1", 1}, {"2", 1}, {"3", 1}}));
    EXPECT_EQ(clears_, 2) << "one bed clear per print: the plate, then the unit alone";
}

TEST_F(PlateSchedulerTest, ARushUnitPrintsFirstAloneRatherThanFillingAPlateWithStandardUnits) {
    fits_ = 3;
    addOrder("STD", 2, "standard");
    addOrder("RUSH", 1, "rush");
    startFloor();
    ASSERT_TRUE(runClearing([&] { return events({"STD", "RUSH"}, "job_done").size() == 3; }));
    const auto started = events({"STD", "RUSH"}, "production_started");
    ASSERT_EQ(started.size(), 3u);
    EXPECT_EQ(started[0].orderId, "RUSH");
    EXPECT_FALSE(started[0].data.contains("jig")) << "no standard unit joined the rush unit";
    EXPECT_EQ(started[1].orderId, "STD");
    EXPECT_EQ(std::string(started[1].data.at("jig").as_string()), "plate");
    EXPECT_EQ(started[2].data.at("jig_units").as_int64(), 2);
    std::lock_guard lock(mutex_);
    EXPECT_EQ(slicedSizes_, (std::vector<std::size_t>{2})) << "only the standard units were sliced together";
}

TEST_F(PlateSchedulerTest, APlateLeftPrintingByACrashIsInterruptedWholeWithEachPartsPlaceAndARestartSlicesItOnce) {
    fits_ = 3;
    addOrder("O-1", 3, "standard");
    {
        // What a kill -9 mid-plate leaves: three units started on the plate, each with its slot and place, the
        // printer running the lead.
        Transaction txn(db_);
        const MachineSlot printer{"printer-1", "mk3s", "fdm", {"pla"}};
        auto lead = queue_.nextFor(printer);
        ASSERT_TRUE(lead);
        std::int64_t slot = 0;
        for (const auto& u : queue_.batchFor(printer, *lead, 3)) {
            queue_.markStarted(u, "printer-1", 5);
            queue_.markPlaced(u, "plate", slot, Point2{25.0 + 30.0 * static_cast<double>(slot), 45});
            ++slot;
        }
        db_.exec("INSERT INTO machines (machine_id, bay, order_id, item_id, operation, unit, updated_at) "
                 "VALUES ('printer-1', 'running', 'O-1', '1', 'print', 1, 0)");
        txn.commit();
    }
    startFloor();
    ASSERT_TRUE(test::runLoopUntil(io_, [&] { return events({"O-1"}, "interrupted").size() == 3; }, 10s));
    EXPECT_EQ(scheduler_->bay("printer-1"), Bay::NeedsAttention);
    for (const auto& e : events({"O-1"}, "interrupted")) {
        const std::int64_t slot = std::stoll(e.itemId) - 1;
        EXPECT_EQ(std::string(e.data.at("reason").as_string()), "agent_restarted");
        EXPECT_EQ(std::string(e.data.at("jig").as_string()), "plate");
        EXPECT_EQ(e.data.at("slot").as_int64(), slot);
        ASSERT_TRUE(e.data.contains("plate_x")) << "the operator can tell which part is where";
        EXPECT_DOUBLE_EQ(e.data.at("plate_x").to_number<double>(), 25 + 30 * static_cast<double>(slot));
        EXPECT_DOUBLE_EQ(e.data.at("plate_y").to_number<double>(), 45);
    }
    const auto views = scheduler_->machines();
    ASSERT_EQ(views.size(), 1u);
    EXPECT_EQ(views[0].jig, "plate");
    EXPECT_EQ(views[0].units, 3u);

    // The slice cache was emptied meanwhile: the restart slices the plate again, once.
    ASSERT_TRUE(test::runLoopUntil(io_, [&] { return !scheduler_->restart("printer-1"); }, 10s));
    EXPECT_EQ(scheduler_->bay("printer-1"), Bay::Running) << "the plate is being prepared off the loop";
    EXPECT_TRUE(scheduler_->restart("printer-1")) << "a second restart does not slice it again";
    ASSERT_TRUE(test::runLoopUntil(io_, [&] { return events({"O-1"}, "job_done").size() == 3; }, 30s));
    test::runLoopUntil(io_, [] { return false; }, 500ms);   // rounds after the end take no new work
    {
        std::lock_guard lock(mutex_);
        EXPECT_EQ(slicedSizes_, (std::vector<std::size_t>{3}));
        EXPECT_EQ(slices_, 1);
        EXPECT_EQ(slicedOnLoop_, 0) << "the restart sliced off the loop";
    }
    const auto started = events({"O-1"}, "production_started");
    ASSERT_EQ(started.size(), 3u) << "each unit started once, by the restart";
    for (const auto& e : started) {
        const std::int64_t slot = std::stoll(e.itemId) - 1;
        EXPECT_TRUE(e.data.at("restart").as_bool());
        EXPECT_EQ(e.data.at("slot").as_int64(), slot) << "each part back in its own place";
        EXPECT_EQ(e.data.at("jig_units").as_int64(), 3);
        EXPECT_DOUBLE_EQ(e.data.at("plate_x").to_number<double>(), 25 + 30 * static_cast<double>(slot));
    }
    std::map<std::string, int> doneItems;
    for (const auto& e : events({"O-1"}, "job_done")) ++doneItems[e.itemId];
    EXPECT_EQ(doneItems, (std::map<std::string, int>{{"1", 1}, {"2", 1}, {"3", 1}}));
    EXPECT_EQ(test::scalar(db_, "SELECT COUNT(*) FROM units WHERE state = 'done' AND jig = 'plate' AND plate_x > 0"), 3);
    EXPECT_EQ(scheduler_->bay("printer-1"), Bay::AwaitingClear);
    EXPECT_FALSE(scheduler_->clear("printer-1")) << "one bed clear for the whole plate";
}

TEST_F(PlateSchedulerTest, APlateThatCannotBeBuiltForALeadThatCannotPrintAloneIsNotSlicedAgainEveryRound) {
    fits_ = 1;   // not even two parts fit
    addOrder("O-1", 2, "standard");
    // The lead's own program is not one this printer runs, so it cannot print alone either.
    programs_.at(printProgram(square(20, 20)).sha256).format = "gcode-grbl";
    startFloor();
    test::runLoopUntil(io_, [] { return false; }, 1500ms);
    {
        std::lock_guard lock(mutex_);
        EXPECT_EQ(slicedSizes_, (std::vector<std::size_t>{2})) << "the plate was tried once, not in every round";
    }
    // The printer passes the lead over and prints the unit behind it, alone (the lead is left off its plate).
    ASSERT_TRUE(runClearing([&] { return events({"O-1"}, "job_done").size() == 1; }));
    auto started = events({"O-1"}, "production_started");
    ASSERT_EQ(started.size(), 1u);
    EXPECT_EQ(started[0].itemId, "2");
    EXPECT_FALSE(started[0].data.contains("jig"));
    EXPECT_EQ(events({"O-1"}, "refused_by_machine").size(), 1u);
    // Fixed, the lead prints alone once the printer is offered it again (a reload; a reconnect does the same).
    programs_.at(printProgram(square(20, 20)).sha256).format = "gcode-marlin";
    scheduler_->forgetRefusals("the configuration was reloaded");
    ASSERT_TRUE(runClearing([&] { return events({"O-1"}, "job_done").size() == 2; }));
    started = events({"O-1"}, "production_started");
    ASSERT_EQ(started.size(), 2u);
    EXPECT_EQ(started[1].itemId, "1");
    EXPECT_FALSE(started[1].data.contains("jig")) << "the lead printed alone";
    std::lock_guard lock(mutex_);
    EXPECT_EQ(slicedSizes_, (std::vector<std::size_t>{2})) << "no plate was sliced again";
}

TEST_F(PlateSchedulerTest, AfterAPlateFellBackToFewerPartsTheForecastPlansPlatesOfThatSize) {
    addOrder("O-1", 3, "standard");   // three do not fit, two do
    startFloor();
    ASSERT_TRUE(test::runLoopUntil(io_, [&] { return events({"O-1"}, "production_started").size() == 2; }, 20s));
    // More of the same SKU while the first plate prints (or waits for its bed clear).
    addOrder("O-2", 4, "standard");
    scheduler_->runForecast();
    ASSERT_TRUE(test::runLoopUntil(io_, [&] { return events({"O-2"}, "scheduled").size() == 4; }, 10s));
    const auto scheduled = events({"O-2"}, "scheduled");
    std::map<std::string, std::string> startOf;
    for (const auto& e : scheduled) startOf[e.itemId] = std::string(e.data.at("estimated_start").as_string());
    // Queued: O-1 #3, then O-2 #1..#4. Plates of two: (O-1 #3, O-2 #1), (O-2 #2, O-2 #3), (O-2 #4); plates of three
    // would have put O-2 #2 with O-2 #1.
    EXPECT_LT(startOf["1"], startOf["2"]) << "O-2 #2 goes on the plate after O-2 #1's";
    EXPECT_EQ(startOf["2"], startOf["3"]);
    EXPECT_LT(startOf["3"], startOf["4"]);
}

} // namespace
} // namespace mto
