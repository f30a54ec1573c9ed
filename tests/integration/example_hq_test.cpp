// SPDX-License-Identifier: Apache-2.0
// The example HQ client that HQ engineers copy runs against the real agent and gets every receipt.
#include <gtest/gtest.h>

#include "agent_rig.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

TEST(ExampleHqClient, SendsTheSampleOrdersAndGetsEveryReceipt) {
    // HQ here is the example client itself.
    AgentRig rig({.agent = {.factory = "demo-factory", .compile = true}, .connectHq = false});
    AgentProcess& agent = rig.agent();

    std::vector<std::string> argv{"/usr/bin/python3", sourceDir() + "/docs/examples/hq_client.py", "--port",
                                  std::to_string(rig.broker().port()), "--factory", "demo-factory", "--client-id",
                                  "hq-example-test", "--exit-when-done", "--wait-for-jobs", "--timeout", "120"};
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(sourceDir() + "/docs/examples/orders"))
        if (entry.path().extension() == ".json") files.push_back(entry.path().string());
    std::sort(files.begin(), files.end());
    ASSERT_GE(files.size(), 6u);
    argv.insert(argv.end(), files.begin(), files.end());

    std::string out;
    ASSERT_EQ(runCommand(argv, out), 0) << out << "\n" << agent.log();
    EXPECT_NE(out.find("have their receipt"), std::string::npos) << out;
    EXPECT_NE(out.find("reason=invalid_quantity"), std::string::npos) << out;
    EXPECT_NE(out.find("items=200"), std::string::npos) << out;
    EXPECT_NE(out.find("on_hold"), std::string::npos) << out;
    EXPECT_NE(out.find("cancelled"), std::string::npos) << out;
    EXPECT_EQ(out.find("gap"), std::string::npos) << out;
    // Every stored order settled: the coaster, sign, keychain + clips, bulk tags and heart coaster compiled,
    // the snowman refused at compile, the coaster to cancel cancelled.
    EXPECT_NE(out.find("all 7 stored order(s) settled"), std::string::npos) << out;
    for (const char* id : {"ORD-1001", "ORD-1002", "ORD-1003", "ORD-1004", "ORD-1006"})
        EXPECT_NE(out.find(std::string(id) + "   -    accepted"), std::string::npos) << id << "\n" << out;
    EXPECT_NE(out.find("ORD-1007   -    rejected      reason=missing_glyph"), std::string::npos) << out;
    EXPECT_NE(out.find("ORD-1008   -    cancelled"), std::string::npos) << out;
    EXPECT_NE(out.find("operations=[\"cnc_engrave\",\"cnc_profile\"]"), std::string::npos) << out;

    std::string orders;
    ASSERT_EQ(rig.mtoctl({"orders"}, orders), 0);
    EXPECT_NE(orders.find("7 order(s)"), std::string::npos) << orders;
    agent.stop();
}

} // namespace
} // namespace mto::test
