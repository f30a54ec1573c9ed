// SPDX-License-Identifier: Apache-2.0
// The example HQ client shows a bulk order's per-item milestones as one line, and keeps every event in its log.
#include <gtest/gtest.h>

#include <sstream>

#include "agent_rig.hpp"
#include "hq_client.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

std::vector<std::string> linesWith(const std::string& text, const std::string& needle) {
    std::vector<std::string> found;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.find(needle) != std::string::npos) found.push_back(line);
    return found;
}

std::vector<std::string> clientArgs(int port, const std::string& clientId) {
    return {"/usr/bin/python3", sourceDir() + "/docs/examples/hq_client.py", "--port", std::to_string(port),
            "--factory", "demo-factory", "--client-id", clientId, "--exit-when-done", "--wait-for-jobs",
            "--timeout", "300"};
}

// The agent compiles, and HQ is the example client, run by each test.
const AgentRigOptions kCompilingAgent{.agent = {.factory = "demo-factory", .compile = true}, .connectHq = false};

TEST(HqClientSummary, TwoHundredProofsOfTheBulkOrderShowAsOneLineAndAllAreInTheEventLog) {
    AgentRig rig(kCompilingAgent);
    const auto eventLog = rig.dir() / "events.jsonl";
    auto argv = clientArgs(rig.broker().port(), "hq-summary-test");
    argv.insert(argv.end(), {"--event-log", eventLog.string(), sourceDir() + "/docs/examples/orders/04-bulk-200.json"});
    std::string out;
    ASSERT_EQ(runCommand(argv, out), 0) << out << "\n" << rig.agent().log();

    auto proofLines = linesWith(out, "proof_ready");
    ASSERT_FALSE(proofLines.empty()) << out;
    // A long run may show "so far" progress, but its last line counts all 200, and no line is one item's.
    EXPECT_NE(proofLines.back().find("ORD-1004"), std::string::npos) << out;
    EXPECT_NE(proofLines.back().find("proof_ready   \u00d7200 items"), std::string::npos) << out;
    EXPECT_EQ(proofLines.back().find("so far"), std::string::npos) << out;
    for (const auto& line : proofLines) EXPECT_NE(line.find("\u00d7"), std::string::npos) << line;
    EXPECT_EQ(out.find("media_sha256"), std::string::npos) << out;
    EXPECT_NE(out.find("ORD-1004   -    accepted"), std::string::npos) << out;

    const std::string logged = readFile(eventLog);
    EXPECT_EQ(linesWith(logged, R"("milestone":"proof_ready")").size(), 200u) << logged.substr(0, 2000);
    EXPECT_EQ(linesWith(logged, R"("media_sha256":")").size(), 200u);
    EXPECT_EQ(linesWith(logged, R"("milestone":"received")").size(), 1u);
    EXPECT_EQ(linesWith(logged, R"("milestone":"accepted")").size(), 1u);
    rig.agent().stop();
}

TEST(HqClientSummary, VerbosePrintsEachItemsMilestoneOnItsOwnLine) {
    AgentRig rig(kCompilingAgent);
    const auto order = rig.dir() / "five.json";
    writeFile(order, makeOrder("ORD-5", 5, 1, "Ada"));
    auto argv = clientArgs(rig.broker().port(), "hq-verbose-test");
    argv.insert(argv.end(), {"--verbose", order.string()});
    std::string out;
    ASSERT_EQ(runCommand(argv, out), 0) << out << "\n" << rig.agent().log();

    auto proofLines = linesWith(out, "proof_ready");
    ASSERT_EQ(proofLines.size(), 5u) << out;
    for (const auto& line : proofLines) {
        EXPECT_NE(line.find("media_sha256="), std::string::npos) << line;
        EXPECT_EQ(line.find("\u00d7"), std::string::npos) << line;
    }
    rig.agent().stop();
}

// A few lines with their details say more than a count, so a short run is shown event by event.
TEST(HqClientSummary, AnOrderOfTwoItemsStillShowsEachProofInFull) {
    AgentRig rig(kCompilingAgent);
    const auto order = rig.dir() / "two.json";
    writeFile(order, makeOrder("ORD-2", 2, 1, "Ada"));
    auto argv = clientArgs(rig.broker().port(), "hq-single-test");
    argv.push_back(order.string());
    std::string out;
    ASSERT_EQ(runCommand(argv, out), 0) << out << "\n" << rig.agent().log();

    auto proofLines = linesWith(out, "proof_ready");
    ASSERT_EQ(proofLines.size(), 2u) << out;
    for (const auto& line : proofLines) EXPECT_NE(line.find("media_sha256="), std::string::npos) << line;
    EXPECT_NE(out.find("ORD-2      1    proof_ready"), std::string::npos) << out;
    EXPECT_NE(out.find("ORD-2      2    proof_ready"), std::string::npos) << out;
    rig.agent().stop();
}

} // namespace
} // namespace mto::test
