// SPDX-License-Identifier: Apache-2.0
// Orders through the real agent into machine jobs: accepted with estimates, proofs published, impossible items refused.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "agent_rig.hpp"
#include "hq_client.hpp"
#include "util/sha256.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

std::string rushOrder(const std::string& id, const std::string& sku, const std::string& personalization) {
    return R"({"order_id":")" + id + R"(","priority":"rush","items":[{"item_id":"1","sku":")" + sku +
           R"(","qty":1,"personalization":)" + personalization + "}]}";
}

TEST(Compile, OrdersBecomeCheckedJobsWithProofsAndEstimates) {
    // The agent with the shipped catalog's generators.
    AgentRig rig({.agent = {.compile = true}});
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();

    hq.sendOrder("C-LASER", rushOrder("C-LASER", "COASTER-OAK-ENGRAVED", R"({"text":"Ada & Max 2026"})"));
    hq.sendOrder("C-HEART", rushOrder("C-HEART", "COASTER-OAK-ENGRAVED", R"({"text":"Ada \u2665 2026"})"));
    hq.sendOrder("C-SNOW", rushOrder("C-SNOW", "COASTER-OAK-ENGRAVED", R"({"text":"Let it \u2603"})"));
    hq.sendOrder("C-CNC", rushOrder("C-CNC", "SIGN-PINE-CNC", R"({"text":"The Millers"})"));
    hq.sendOrder("C-PRINT", rushOrder("C-PRINT", "KEYCHAIN-PLA-PRINT", R"({"name":"Lin"})"));
    hq.sendOrder("C-CLIP", rushOrder("C-CLIP", "CLIP-PLA-PRINT", "{}"));

    ASSERT_TRUE(waitUntil(
        [&] {
            return rig.milestone("C-LASER", "proof_ready") && rig.milestone("C-CNC", "proof_ready") &&
                   rig.milestone("C-PRINT", "proof_ready") && rig.milestone("C-HEART", "proof_ready") &&
                   rig.milestone("C-CLIP", "proof_ready") &&
                   rig.milestone("C-SNOW", "rejected");
        },
        std::chrono::seconds(120)))
        << agent.log();

    for (const auto& [id, capability] :
         {std::pair{"C-LASER", "laser"}, {"C-HEART", "laser"}, {"C-CNC", "cnc"}, {"C-PRINT", "fdm"}, {"C-CLIP", "fdm"}}) {
        auto accepted = rig.milestone(id, "accepted");
        ASSERT_TRUE(accepted) << id;
        EXPECT_TRUE(accepted->data.at("rush").as_bool());
        EXPECT_GT(accepted->data.at("estimated_s").to_number<double>(), 1.0) << id;
        EXPECT_TRUE(accepted->data.at("estimated_s_by_capability").as_object().contains(capability)) << id;
        // The event names the picture by its hash; the bytes follow on the media lane, behind the milestones.
        auto proof = rig.milestone(id, "proof_ready");
        std::string sha(proof->data.at("media_sha256").as_string());
        ASSERT_TRUE(waitUntil([&] { return hq.media().count(sha) == 1; }, std::chrono::seconds(20))) << id;
        auto media = hq.media();
        EXPECT_EQ(sha256Hex(media[sha]), sha);
        cv::Mat png = cv::imdecode(std::vector<unsigned char>(media[sha].begin(), media[sha].end()), cv::IMREAD_COLOR);
        EXPECT_FALSE(png.empty()) << id;
        EXPECT_GT(accepted->seq, 0);
        EXPECT_LT(accepted->seq, proof->seq);
    }
    // Each job is stored by its hash with what it is beside it.
    {
        auto laser = rig.milestone("C-LASER", "accepted");
        const std::string sha(laser->data.at("items").as_array()[0].at("job_sha256").as_string());
        const auto dirOf = agent.stateDir() / "artifacts";
        EXPECT_EQ(sha256Hex(readFile(dirOf / (sha + ".gcode"))), sha);
        const auto meta = boost::json::parse(readFile(dirOf / (sha + ".json"))).as_object();
        EXPECT_EQ(std::string(meta.at("capability").as_string()), "laser");
        const auto& box = meta.at("bbox_mm").as_object();
        // The coaster's work area is x 20..100, y 20..80 on the laser; the head parks at 0,0.
        EXPECT_LE(box.at("max_x").to_number<double>(), 100.0);
        EXPECT_LE(box.at("max_y").to_number<double>(), 100.0);
        EXPECT_GT(meta.at("work_mm").to_number<double>(), 10.0);
        EXPECT_NEAR(meta.at("estimated_s").to_number<double>(),
                    laser->data.at("items").as_array()[0].at("estimated_s").to_number<double>(), 0.06);
    }

    auto snowman = rig.milestone("C-SNOW", "rejected");
    EXPECT_EQ(std::string(snowman->data.at("reason").as_string()), "missing_glyph");
    EXPECT_EQ(std::string(snowman->data.at("path").as_string()), "items[0].personalization.text");
    EXPECT_EQ(std::string(snowman->data.at("stage").as_string()), "compile");

    // The sign is two jobs on the router, engraved then cut out, both named by one proof.
    auto sign = rig.milestone("C-CNC", "accepted");
    const auto& jobs = sign->data.at("items").as_array();
    ASSERT_EQ(jobs.size(), 2u);
    EXPECT_EQ(std::string(jobs[0].at("operation").as_string()), "cnc_engrave");
    EXPECT_EQ(std::string(jobs[1].at("operation").as_string()), "cnc_profile");
    double sum = 0;
    for (const auto& job : jobs) sum += job.at("estimated_s").to_number<double>();
    EXPECT_NEAR(sign->data.at("estimated_s_by_capability").at("cnc").to_number<double>(), sum, 0.2);
    std::size_t signProofs = 0;
    for (const auto& e : hq.events())
        if (e.orderId == "C-CNC" && e.milestone == "proof_ready") {
            ++signProofs;
            const auto& ops = e.data.at("operations").as_array();
            ASSERT_EQ(ops.size(), 2u);
            EXPECT_EQ(std::string(ops[1].as_string()), "cnc_profile");
            EXPECT_EQ(e.data.at("job_sha256s").as_array().size(), 2u);
        }
    EXPECT_EQ(signProofs, 1u);
    std::string out;
    ASSERT_EQ(rig.mtoctl({"proof", "C-CNC/1/cnc_profile", "-o", (rig.dir() / "cut.png").string()}, out), 0) << out;
    EXPECT_FALSE(cv::imread((rig.dir() / "cut.png").string()).empty());
    ASSERT_EQ(rig.mtoctl({"order", "C-CNC"}, out), 0) << out;
    const std::size_t jobsAt = out.find("jobs:");
    ASSERT_NE(jobsAt, std::string::npos) << out;
    const std::size_t engraveAt = out.find("cnc_engrave", jobsAt), profileAt = out.find("cnc_profile", jobsAt);
    EXPECT_NE(engraveAt, std::string::npos) << out;
    EXPECT_NE(profileAt, std::string::npos) << out;
    EXPECT_LT(engraveAt, profileAt) << "listed in route order";
    EXPECT_NE(out.find(".gcode  RUSH", jobsAt), std::string::npos) << out;
    EXPECT_NE(rig.mtoctl({"proof", "C-CNC/1/paint", "-o", (rig.dir() / "none.png").string()}, out), 0);

    ASSERT_EQ(rig.mtoctl({"proof", "C-LASER/1", "-o", (rig.dir() / "proof.png").string()}, out), 0) << out;
    EXPECT_FALSE(cv::imread((rig.dir() / "proof.png").string()).empty());
    ASSERT_EQ(rig.mtoctl({"order", "C-LASER"}, out), 0);
    EXPECT_NE(out.find("state accepted"), std::string::npos) << out;
    agent.stop();
}

// A bulk order takes seconds to compile on one pool thread; orders that arrive meanwhile are stored and
// receipted at once, and small ones are compiled on the other thread before the bulk order is done.
TEST(Compile, ABulkOrderCompilingDoesNotHoldUpIntakeOrOtherOrders) {
    AgentRig rig({.agent = {.compile = true}});
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();

    std::string bulk = R"({"order_id":"BULK","items":[)";
    for (int i = 0; i < 600; ++i)
        bulk += std::string(i ? "," : "") + R"({"item_id":")" + std::to_string(i) +
                R"(","sku":"TAG-STEEL-ENGRAVED","qty":1,"personalization":{"name":"Guest )" + std::to_string(1000 + i) +
                "\"}}";
    hq.sendOrder("BULK", bulk + "]}");
    ASSERT_TRUE(waitUntil([&] { return hq.hasReceipt("BULK"); }, std::chrono::seconds(20))) << agent.log();
    for (int i = 0; i < 30; ++i) {
        const std::string id = "SMALL-" + std::to_string(i);
        hq.sendOrder(id, rushOrder(id, "COASTER-OAK-ENGRAVED", R"({"text":"Small )" + std::to_string(i) + "\"}"));
    }
    ASSERT_TRUE(rig.waitForMilestone("BULK", "accepted", std::chrono::seconds(180))) << agent.log();
    const auto bulkAccepted = rig.milestone("BULK", "accepted");
    EXPECT_EQ(bulkAccepted->data.at("items").as_array().size(), 600u);
    std::size_t acceptedBefore = 0;
    for (int i = 0; i < 30; ++i) {
        const std::string id = "SMALL-" + std::to_string(i);
        auto receipt = rig.milestone(id, "received");
        ASSERT_TRUE(receipt) << id;
        EXPECT_LT(receipt->seq, bulkAccepted->seq) << id << " was receipted while the bulk order compiled";
        auto accepted = rig.milestone(id, "accepted");
        acceptedBefore += accepted && accepted->seq < bulkAccepted->seq;
    }
    EXPECT_EQ(acceptedBefore, 30u) << "the small orders were compiled on the other worker meanwhile";
    agent.stop();
}

} // namespace
} // namespace mto::test
