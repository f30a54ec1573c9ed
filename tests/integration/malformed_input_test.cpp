// SPDX-License-Identifier: Apache-2.0
// Hostile and broken inputs over MQTT: each gets a `rejected` event with the right reason; nothing stored changes.
#include <gtest/gtest.h>

#include "agent_rig.hpp"
#include "store/database.hpp"
#include "hq_client.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

struct BadInput {
    const char* name;
    bool command;
    std::string payload;
    const char* reason;
    const char* path;
};

std::string item(const std::string& fields) { return R"({"order_id":"BAD-1","items":[{)" + fields + "}]}"; }
std::string goodItem(const std::string& personalization = R"({"text":"Ada"})") {
    return R"("item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":1,"personalization":)" + personalization;
}

std::vector<BadInput> badInputs() {
    std::string deep;
    for (int i = 0; i < 100; ++i) deep += "{\"a\":";
    deep += "1";
    for (int i = 0; i < 100; ++i) deep += "}";
    std::string manyItems = R"({"order_id":"BAD-MANY","items":[)";
    for (int i = 0; i < 10000; ++i)
        manyItems += (i ? "," : "") + std::string(R"({"item_id":")") + std::to_string(i) +
                     R"(","sku":"COASTER-OAK-ENGRAVED","qty":1})";
    manyItems += "]}";
    return {
        {"not json", false, "hello factory", "invalid_json", ""},
        {"empty payload", false, "", "invalid_json", ""},
        {"truncated json", false, R"({"order_id":"BAD-1","items":[)", "invalid_json", ""},
        {"array at top", false, "[1,2,3]", "not_an_object", ""},
        {"string at top", false, "\"order\"", "not_an_object", ""},
        {"huge payload", false, R"({"order_id":"BAD-1","pad":")" + std::string(1100 * 1024, 'x') + "\"}",
         "payload_too_large", ""},
        {"deep nesting", false, deep, "too_deep", ""},
        {"invalid utf-8", false, "{\"order_id\":\"BAD-\xff\xfe\",\"items\":[]}", "invalid_utf8", ""},
        {"overlong utf-8", false, "{\"order_id\":\"\xc0\xaf\"}", "invalid_utf8", ""},
        {"ten thousand items", false, manyItems, "too_many_items", "items"},
        {"text longer than the SKU allows", false, item(goodItem(R"({"text":")" + std::string(61, 'a') + "\"}")),
         "too_long", "items[0].personalization.text"},
        {"parameter the SKU does not take", false, item(goodItem(R"({"text":"Ada","colour":"red"})")),
         "unknown_parameter", "items[0].personalization.colour"},
        {"required parameter missing", false, item(goodItem("{}")), "missing_parameter",
         "items[0].personalization.text"},
        {"enum value not offered", false, item(goodItem(R"({"text":"Ada","align":"diagonal"})")), "not_allowed",
         "items[0].personalization.align"},
        {"negative quantity", false, item(R"("item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":-1)"),
         "invalid_quantity", "items[0].qty"},
        {"zero quantity", false, item(R"("item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":0)"), "invalid_quantity",
         "items[0].qty"},
        {"fractional quantity", false, item(R"("item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":1.5)"), "wrong_type",
         "items[0].qty"},
        {"quantity as string", false, item(R"("item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":"1")"), "wrong_type",
         "items[0].qty"},
        {"empty order id", false, R"({"order_id":"","items":[{)" + goodItem() + "}]}", "invalid_id", "order_id"},
        {"order id with slash", false, R"({"order_id":"a/b","items":[{)" + goodItem() + "}]}", "invalid_id",
         "order_id"},
        {"order id with wildcard", false, R"({"order_id":"#","items":[{)" + goodItem() + "}]}", "invalid_id",
         "order_id"},
        {"order id as number", false, R"({"order_id":42,"items":[{)" + goodItem() + "}]}", "wrong_type", "order_id"},
        {"sql in order id", false, R"({"order_id":"x'; DROP TABLE orders; --","items":[{)" + goodItem() + "}]}",
         "invalid_id", "order_id"},
        {"odd unicode in order id", false, "{\"order_id\":\"ORD\xe2\x80\xae\x31\",\"items\":[{" + goodItem() + "}]}",
         "invalid_id", "order_id"},
        {"empty item id", false, item(R"("item_id":"","sku":"COASTER-OAK-ENGRAVED","qty":1)"), "invalid_id",
         "items[0].item_id"},
        {"missing items", false, R"({"order_id":"BAD-1"})", "missing_field", "items"},
        {"items not array", false, R"({"order_id":"BAD-1","items":{}})", "wrong_type", "items"},
        {"no items", false, R"({"order_id":"BAD-1","items":[]})", "invalid_value", "items"},
        {"unknown sku", false, item(R"("item_id":"1","sku":"NOPE","qty":1)"), "unknown_sku", "items[0].sku"},
        {"duplicate item ids", false,
         R"({"order_id":"BAD-1","items":[{)" + goodItem() + "},{" + goodItem() + "}]}", "duplicate_item_id",
         "items[1].item_id"},
        {"bad priority", false, R"({"order_id":"BAD-1","priority":"yesterday","items":[{)" + goodItem() + "}]}",
         "invalid_value", "priority"},
        {"bad due date", false, R"({"order_id":"BAD-1","due_by":"next week","items":[{)" + goodItem() + "}]}",
         "invalid_value", "due_by"},
        {"revision zero", false, R"({"order_id":"BAD-1","revision":0,"items":[{)" + goodItem() + "}]}",
         "invalid_value", "revision"},
        {"control character in text", false, item(goodItem(R"({"text":"a\u0007b"})")),
         "invalid_text", "items[0].personalization.text"},
        {"nul in text", false, item(goodItem(R"({"text":"a\u0000b"})")), "invalid_text",
         "items[0].personalization.text"},
        {"nested personalization", false, item(goodItem(R"({"text":{"x":1}})")), "wrong_type",
         "items[0].personalization.text"},
        {"text too long", false, item(goodItem(R"({"text":")" + std::string(2000, 'a') + "\"}")),
         "text_too_long", "items[0].personalization.text"},
        {"unknown command", true, R"({"command":"explode","command_id":"c-x","order_id":"GOOD-1"})",
         "unknown_command", "command"},
        {"command without id", true, R"({"command":"cancel","order_id":"GOOD-1"})", "missing_field", "command_id"},
        {"cancel of unknown order", true, R"({"command":"cancel","command_id":"c-y","order_id":"NOPE-1"})",
         "unknown_order", "order_id"},
        {"resume of order not on hold", true, R"({"command":"resume","command_id":"c-z","order_id":"GOOD-1"})",
         "illegal_transition", "command"},
        {"change to lower revision", true,
         R"({"command":"change","command_id":"c-w","order":{"order_id":"GOOD-1","revision":1,"items":[{)" +
             goodItem(R"({"text":"other"})") + "}]}}",
         "revision_conflict", "revision"},
        {"command not json", true, "cancel GOOD-1", "invalid_json", ""},
    };
}

std::string tableDigest(const std::filesystem::path& dbPath) {
    Database db(dbPath, Database::Mode::ReadOnly);
    std::string digest;
    for (const char* sql : {"SELECT order_id || revision || state || content_hash FROM orders ORDER BY order_id",
                            "SELECT order_id || item_id || sku || qty || personalization FROM items ORDER BY 1"}) {
        auto& st = db.prepare(sql);
        while (st.step()) digest += st.columnText(0) + "\n";
        st.reset();
    }
    return digest;
}

TEST(MalformedInput, EveryBadInputIsRejectedWithItsReasonAndStoredDataStaysUnchanged) {
    AgentOptions options;
    options.maxPayloadBytes = 1024 * 1024;   // room for 10,000 items, so their count is what is refused
    AgentRig rig({.agent = options});
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();

    hq.sendOrder("GOOD-1", makeOrder("GOOD-1", 2, 1, "O'Brien; DROP TABLE items"));
    ASSERT_TRUE(hq.waitForEvents(1, std::chrono::seconds(20)));
    const std::string before = tableDigest(agent.databasePath());
    EXPECT_NE(before.find("O'Brien; DROP TABLE items"), std::string::npos) << "text is stored verbatim";

    auto inputs = badInputs();
    ASSERT_GE(inputs.size(), 30u);
    std::size_t expected = 1;
    for (const auto& bad : inputs) {
        hq.publishRaw(bad.command ? hq.commandsTopic() : hq.ordersTopic(), bad.payload);
        ++expected;
        ASSERT_TRUE(hq.waitForEvents(expected, std::chrono::seconds(20))) << bad.name << "\n" << agent.log();
        auto e = hq.events().back();
        EXPECT_EQ(e.milestone, "rejected") << bad.name;
        EXPECT_EQ(std::string(e.data.at("reason").as_string()), bad.reason) << bad.name;
        EXPECT_EQ(std::string(e.data.at("path").as_string()), bad.path) << bad.name;
        EXPECT_FALSE(e.data.at("message").as_string().empty()) << bad.name;
        ASSERT_TRUE(agent.running()) << bad.name << "\n" << agent.log();
    }
    EXPECT_EQ(tableDigest(agent.databasePath()), before);
    EXPECT_EQ(rig.scalar("SELECT COUNT(*) FROM rejections"), static_cast<std::int64_t>(inputs.size()));

    // Still healthy afterwards.
    hq.sendOrder("GOOD-2", makeOrder("GOOD-2"));
    ASSERT_TRUE(waitUntil([&] { return hq.hasReceipt("GOOD-2"); }, std::chrono::seconds(20)));
    EXPECT_EQ(hq.lastEventFor("GOOD-2")->milestone, "received");
}

} // namespace
} // namespace mto::test
