// SPDX-License-Identifier: Apache-2.0
// Printer plates through the real agent, a real broker and HQ on an emulated Marlin printer (mto-machine-sim on
// a pty): units of a print order arranged by prusa-slicer on one plate and reported once each with their place;
// a rush unit runs as soon as the bed is free instead of waiting to fill a plate; a plate whose agent was killed
// mid-print is interrupted whole and restarted by the operator, sliced again once when its program was trimmed.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>
#include <string>
#include <thread>

#include "agent_rig.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

using namespace std::chrono_literals;

std::vector<SeenEvent> milestoneEvents(HqClient& hq, const std::string& orderId, const std::string& milestone) {
    std::vector<SeenEvent> out;
    for (auto& e : hq.events())
        if (e.orderId == orderId && e.milestone == milestone) out.push_back(std::move(e));
    return out;
}

std::string keychainOrder(const std::string& id, const std::string& priority, int qty, const std::string& name) {
    return R"({"order_id":")" + id + R"(","priority":")" + priority +
           R"(","items":[{"item_id":"1","sku":"KEYCHAIN-PLA-PRINT","qty":)" + std::to_string(qty) +
           R"(,"personalization":{"name":")" + name + R"("}}]})";
}

class PlateTest : public ::testing::Test {
protected:
    void SetUp() override {
        for (const char* tool : {"openscad", "prusa-slicer"})
            if (std::system((std::string("command -v ") + tool + " >/dev/null 2>&1").c_str()) != 0)
                GTEST_SKIP() << tool << " is not installed (apt install openscad prusa-slicer)";
        const auto sim = std::filesystem::path(agentBinary()).parent_path() / "mto-machine-sim";
        ASSERT_TRUE(std::filesystem::exists(sim)) << sim;
        port_ = (simDir_.path() / "printer-1").string();
        simulator_.start({sim.string(), "--marlin", port_, "--speed", simSpeed_}, simDir_.path() / "sim.log");
        ASSERT_TRUE(waitUntil([&] { return std::filesystem::exists(port_); }, 10s));
    }
    void TearDown() override {
        simulator_.signal(SIGTERM);
        simulator_.wait(5s);
    }
    AgentRigOptions options(int plateMaxParts) const {
        AgentRigOptions o;
        o.agent.compile = true;
        o.agent.extraConfig = "[[machines]]\nid = \"printer-1\"\nprofile = \"mk3s\"\ndriver = \"marlin\"\nport = \"" +
                              port_ + "\"\nplate_max_parts = " + std::to_string(plateMaxParts) + "\n";
        o.hqBeforeAgent = true;
        return o;
    }
    std::string diagnostics(AgentRig& rig) { return rig.agent().log() + "\n" + readFile(simDir_.path() / "sim.log"); }
    void clearBed(AgentRig& rig) {
        std::string out;
        ASSERT_EQ(rig.mtoctl({"clear", "printer-1"}, out), 0) << out;
    }

    std::string simSpeed_ = "600";   // the printer's speed-up: lower keeps a plate printing longer
    TempDir simDir_;
    Process simulator_;
    std::string port_;
};

TEST_F(PlateTest, AMultiQuantityPrintOrderRunsAsPlatesWithEveryUnitReportedOnceWithItsPlace) {
    AgentRig rig(options(2));
    auto& hq = rig.hq();
    hq.sendOrder("PL-1", keychainOrder("PL-1", "standard", 3, "Ann"));
    // Units 1 and 2 share the first plate; unit 3, alone in the queue, then prints alone.
    ASSERT_TRUE(waitUntil([&] { return milestoneEvents(hq, "PL-1", "job_done").size() == 2; }, 240s)) << diagnostics(rig);
    auto started = milestoneEvents(hq, "PL-1", "production_started");
    ASSERT_EQ(started.size(), 2u);
    std::set<std::int64_t> slots;
    for (const auto& e : started) {
        EXPECT_EQ(std::string(e.data.at("jig").as_string()), "plate");
        slots.insert(e.data.at("slot").as_int64());
        EXPECT_EQ(e.data.at("jig_units").as_int64(), 2);
        EXPECT_GT(e.data.at("jig_estimated_s").to_number<double>(), 0) << "the slicer's estimate of the plate";
        const double x = e.data.at("plate_x").to_number<double>(), y = e.data.at("plate_y").to_number<double>();
        EXPECT_TRUE(x > 0 && x < 250 && y > 0 && y < 210) << x << ", " << y;
        // One proof of the whole plate: the media on slot 0, named on the other.
        EXPECT_TRUE(e.data.contains(e.data.at("slot").as_int64() == 0 ? "media_sha256" : "jig_proof_sha256"));
    }
    EXPECT_EQ(slots, (std::set<std::int64_t>{0, 1}));
    EXPECT_NE(started[0].data.at("plate_x"), started[1].data.at("plate_x"));
    EXPECT_NE(rig.agent().log().find("plate plate with 2 parts"), std::string::npos) << rig.agent().log();

    clearBed(rig);
    ASSERT_TRUE(waitUntil([&] { return milestoneEvents(hq, "PL-1", "job_done").size() == 3; }, 240s)) << diagnostics(rig);
    started = milestoneEvents(hq, "PL-1", "production_started");
    ASSERT_EQ(started.size(), 3u);
    EXPECT_FALSE(started[2].data.contains("jig")) << "a plate of one is the unit's own program";
    // Every unit started once and done once.
    std::map<std::int64_t, int> startedUnits, doneUnits;
    for (const auto& e : started) ++startedUnits[e.data.at("unit").as_int64()];
    for (const auto& e : milestoneEvents(hq, "PL-1", "job_done")) ++doneUnits[e.data.at("unit").as_int64()];
    EXPECT_EQ(startedUnits, (std::map<std::int64_t, int>{{1, 1}, {2, 1}, {3, 1}}));
    EXPECT_EQ(doneUnits, startedUnits);
    EXPECT_TRUE(milestoneEvents(hq, "PL-1", "interrupted").empty());
}

TEST_F(PlateTest, ARushPrintRunsAsSoonAsTheBedIsFreeAndIsNotHeldBackToFillAPlate) {
    AgentRig rig(options(3));
    auto& hq = rig.hq();
    hq.sendOrder("PL-S1", keychainOrder("PL-S1", "standard", 2, "Bo"));
    ASSERT_TRUE(waitUntil([&] { return milestoneEvents(hq, "PL-S1", "production_started").size() == 2; }, 240s))
        << diagnostics(rig);
    // While the first plate prints: a rush unit and more standard units that would fill a plate with it.
    hq.sendOrder("PL-R", keychainOrder("PL-R", "rush", 1, "Cy"));
    hq.sendOrder("PL-S2", keychainOrder("PL-S2", "standard", 2, "Di"));
    ASSERT_TRUE(waitUntil(
        [&] {
            return !milestoneEvents(hq, "PL-R", "proof_ready").empty() && !milestoneEvents(hq, "PL-S2", "proof_ready").empty() &&
                   milestoneEvents(hq, "PL-S1", "job_done").size() == 2;
        },
        240s))
        << diagnostics(rig);
    clearBed(rig);
    ASSERT_TRUE(waitUntil([&] { return !milestoneEvents(hq, "PL-R", "production_started").empty(); }, 120s)) << diagnostics(rig);
    EXPECT_TRUE(milestoneEvents(hq, "PL-S2", "production_started").empty()) << "the rush unit went first";
    const auto rush = milestoneEvents(hq, "PL-R", "production_started");
    ASSERT_EQ(rush.size(), 1u);
    EXPECT_FALSE(rush[0].data.contains("jig")) << "the rush unit ran alone, not joined by standard units";
    ASSERT_TRUE(waitUntil([&] { return milestoneEvents(hq, "PL-R", "job_done").size() == 1; }, 240s)) << diagnostics(rig);
    clearBed(rig);
    ASSERT_TRUE(waitUntil([&] { return milestoneEvents(hq, "PL-S2", "job_done").size() == 2; }, 240s)) << diagnostics(rig);
    for (const auto& e : milestoneEvents(hq, "PL-S2", "production_started"))
        EXPECT_EQ(std::string(e.data.at("jig").as_string()), "plate");
}

// A plate that prints long enough for the agent to be killed in the middle of it.
class PlateRestartTest : public PlateTest {
protected:
    PlateRestartTest() { simSpeed_ = "100"; }
};

std::size_t occurrences(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
    return n;
}

TEST_F(PlateRestartTest, APlateKilledMidPrintIsInterruptedWholeAndARestartSlicesItOnceAndPrintsEachUnitOnce) {
    AgentRig rig(options(2));
    auto& hq = rig.hq();
    hq.sendOrder("PL-K", keychainOrder("PL-K", "standard", 2, "Kim"));
    ASSERT_TRUE(waitUntil([&] { return milestoneEvents(hq, "PL-K", "production_started").size() == 2; }, 240s))
        << diagnostics(rig);
    std::map<std::int64_t, std::pair<double, double>> placeOf;   // by slot, where the slicer put each part
    for (const auto& e : milestoneEvents(hq, "PL-K", "production_started"))
        placeOf[e.data.at("slot").as_int64()] = {e.data.at("plate_x").to_number<double>(),
                                                 e.data.at("plate_y").to_number<double>()};
    ASSERT_EQ(placeOf.size(), 2u);
    rig.agent().kill9();
    ASSERT_TRUE(milestoneEvents(hq, "PL-K", "job_done").empty()) << "the plate was still printing when the agent died";
    EXPECT_EQ(occurrences(rig.agent().log(), "prusa-slicer sliced a plate of 2 parts"), 1u);

    // The slice cache was trimmed meanwhile: the plate's program is gone, the parts' models are kept.
    std::size_t trimmed = 0;
    for (const auto& f : std::filesystem::directory_iterator(rig.agent().stateDir() / "slice-cache"))
        if (f.path().filename().string().rfind("plate-", 0) == 0) trimmed += std::filesystem::remove(f.path());
    ASSERT_EQ(trimmed, 2u) << "the plate's program and its record";

    rig.agent().start();
    ASSERT_TRUE(waitUntil([&] { return milestoneEvents(hq, "PL-K", "interrupted").size() == 2; }, 60s)) << diagnostics(rig);
    for (const auto& e : milestoneEvents(hq, "PL-K", "interrupted")) {
        EXPECT_EQ(std::string(e.data.at("reason").as_string()), "agent_restarted");
        EXPECT_EQ(std::string(e.data.at("jig").as_string()), "plate");
        const std::int64_t slot = e.data.at("slot").as_int64();
        ASSERT_TRUE(e.data.contains("plate_x")) << "after the restart the operator still sees which part is where";
        EXPECT_DOUBLE_EQ(e.data.at("plate_x").to_number<double>(), placeOf[slot].first);
        EXPECT_DOUBLE_EQ(e.data.at("plate_y").to_number<double>(), placeOf[slot].second);
    }
    // Nothing prints until the operator decides.
    EXPECT_EQ(milestoneEvents(hq, "PL-K", "production_started").size(), 2u);

    std::string out;
    ASSERT_TRUE(waitUntil([&] { return rig.mtoctl({"restart", "printer-1"}, out) == 0; }, 60s)) << out << diagnostics(rig);
    ASSERT_TRUE(waitUntil([&] { return milestoneEvents(hq, "PL-K", "job_done").size() == 2; }, 240s)) << diagnostics(rig);
    const auto started = milestoneEvents(hq, "PL-K", "production_started");
    ASSERT_EQ(started.size(), 4u);
    for (std::size_t i = 2; i < 4; ++i) {
        EXPECT_TRUE(started[i].data.at("restart").as_bool());
        const std::int64_t slot = started[i].data.at("slot").as_int64();
        EXPECT_DOUBLE_EQ(started[i].data.at("plate_x").to_number<double>(), placeOf[slot].first)
            << "the same parts sliced again land in the same places";
    }
    std::map<std::int64_t, int> doneUnits;
    for (const auto& e : milestoneEvents(hq, "PL-K", "job_done")) ++doneUnits[e.data.at("unit").as_int64()];
    EXPECT_EQ(doneUnits, (std::map<std::int64_t, int>{{1, 1}, {2, 1}}));
    // Sliced once more for the restart, not again in later rounds.
    clearBed(rig);
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(occurrences(rig.agent().log(), "prusa-slicer sliced a plate of 2 parts"), 2u) << rig.agent().log();
}

} // namespace
} // namespace mto::test
