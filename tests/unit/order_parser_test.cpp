// SPDX-License-Identifier: Apache-2.0
// OrderParser against valid, hostile and random payloads: every refusal names its reason and JSON path.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "intake/order_parser.hpp"

namespace mto {
namespace {

namespace json = boost::json;

const char* kSku = "COASTER-OAK-ENGRAVED";

Catalog testCatalog() {
    Catalog c;
    c.add({"COASTER-OAK-ENGRAVED", "Oak coaster"});
    c.add({"SIGN-PINE-CNC", "Pine sign"});
    return c;
}

std::string goodItem(const std::string& extra = "", const std::string& id = "1") {
    return R"({"item_id":")" + id + R"(","sku":"COASTER-OAK-ENGRAVED","qty":1)" + extra + "}";
}

// An order whose only item has the given fields (written without the braces).
std::string orderWithItem(const std::string& fields) { return R"({"order_id":"ORD-1","items":[{)" + fields + "}]}"; }

// A valid order plus extra top-level fields (written with a trailing comma).
std::string orderWith(const std::string& fieldsFirst) {
    return R"({)" + fieldsFirst + R"("order_id":"ORD-1","items":[)" + goodItem() + "]}";
}

std::string orderWithId(const std::string& idJson) {
    return R"({"order_id":)" + idJson + R"(,"items":[)" + goodItem() + "]}";
}

std::string personalized(const std::string& personalizationJson) {
    return R"({"order_id":"ORD-1","items":[)" + goodItem(R"(,"personalization":)" + personalizationJson) + "]}";
}

Order mustParse(const OrderParser& parser, const std::string& payload) {
    auto result = parser.parseOrder(payload, testCatalog());
    if (auto* rej = std::get_if<Rejections>(&result)) {
        ADD_FAILURE() << "rejected: " << rej->first().reason << " at '" << rej->first().path
                      << "': " << rej->first().message << "\npayload: " << payload.substr(0, 300);
        return {};
    }
    return std::get<Order>(result);
}

Command mustParseCommand(const OrderParser& parser, const std::string& payload) {
    auto result = parser.parseCommand(payload, testCatalog());
    if (auto* rej = std::get_if<Rejections>(&result)) {
        ADD_FAILURE() << "rejected: " << rej->first().reason << " at '" << rej->first().path
                      << "': " << rej->first().message << "\npayload: " << payload.substr(0, 300);
        return {};
    }
    return std::get<Command>(result);
}

TEST(OrderParser, MinimalOrderGetsDefaultRevisionPriorityAndEmptyPersonalization) {
    OrderParser parser{ParseLimits{}};
    Order o =
        mustParse(parser, R"({"order_id":"ORD-1","items":[{"item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":2}]})");
    EXPECT_EQ(o.orderId, "ORD-1");
    EXPECT_EQ(o.revision, 1);
    EXPECT_EQ(o.priority, Priority::Standard);
    EXPECT_EQ(o.dueBy, "");
    ASSERT_EQ(o.items.size(), 1u);
    EXPECT_EQ(o.items[0].itemId, "1");
    EXPECT_EQ(o.items[0].sku, kSku);
    EXPECT_EQ(o.items[0].qty, 2);
    EXPECT_EQ(o.items[0].personalizationJson, "{}");
    EXPECT_EQ(o.contentHash.size(), 64u);
    EXPECT_EQ(o.contentHash.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_EQ(json::parse(o.canonicalJson),
              json::parse(R"({"items":[{"item_id":"1","qty":2,"sku":"COASTER-OAK-ENGRAVED"}],"order_id":"ORD-1"})"));
}

TEST(OrderParser, RushOrderWithDueDateAndRevisionKeepsAllThree) {
    OrderParser parser{ParseLimits{}};
    Order o = mustParse(parser, R"({"order_id":"ORD-2","revision":3,"priority":"rush","due_by":"2026-12-01T12:00:00Z",)"
                                R"("items":[{"item_id":"a","sku":"SIGN-PINE-CNC","qty":5},)"
                                R"({"item_id":"b","sku":"COASTER-OAK-ENGRAVED","qty":100000}]})");
    EXPECT_EQ(o.revision, 3);
    EXPECT_EQ(o.priority, Priority::Rush);
    EXPECT_EQ(o.dueBy, "2026-12-01T12:00:00Z");
    ASSERT_EQ(o.items.size(), 2u);
    EXPECT_EQ(o.items[1].qty, 100000);
}

TEST(OrderParser, StandardPriorityAndOffsetDueDateAreAccepted) {
    OrderParser parser{ParseLimits{}};
    Order o = mustParse(parser, orderWith(R"("priority":"standard","due_by":"2028-02-29T23:59:59.5+01:00",)"));
    EXPECT_EQ(o.priority, Priority::Standard);
    EXPECT_EQ(o.dueBy, "2028-02-29T23:59:59.5+01:00");
}

TEST(OrderParser, EmojiRightToLeftAndCjkPersonalizationIsAcceptedUnchanged) {
    OrderParser parser{ParseLimits{}};
    const std::string emoji = "Ada \xe2\x99\xa5 2026 \xf0\x9f\x8e\x89";   // ♥ and 🎉
    const std::string rtl =
        "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7";   // Hebrew, Arabic
    const std::string cjk = "\xe5\xb1\xb1\xe7\x94\xb0\xe5\xa4\xaa\xe9\x83\x8e";        // 山田太郎
    Order o = mustParse(parser, personalized(R"({"text":")" + emoji + R"(","line2":")" + rtl + R"(","line3":")" + cjk +
                                             R"(","size":12.5,"mirror":true})"));
    ASSERT_EQ(o.items.size(), 1u);
    auto p = json::parse(o.items[0].personalizationJson).as_object();
    EXPECT_EQ(p.at("text").as_string(), emoji);
    EXPECT_EQ(p.at("line2").as_string(), rtl);
    EXPECT_EQ(p.at("line3").as_string(), cjk);
    EXPECT_EQ(p.at("size").as_double(), 12.5);
    EXPECT_TRUE(p.at("mirror").as_bool());
}

TEST(OrderParser, SqlLookingTextIsAcceptedAndKeptVerbatim) {
    OrderParser parser{ParseLimits{}};
    Order o = mustParse(parser, personalized(R"({"text":"'; DROP TABLE orders; --"})"));
    ASSERT_EQ(o.items.size(), 1u);
    EXPECT_EQ(json::parse(o.items[0].personalizationJson).at("text").as_string(), "'; DROP TABLE orders; --");
}

TEST(OrderParser, NewlinesAndTabsAreTheOnlyControlCharactersAllowedInText) {
    OrderParser parser{ParseLimits{}};
    Order o = mustParse(parser, personalized(R"({"text":"line one\nline two\tend"})"));
    EXPECT_EQ(json::parse(o.items[0].personalizationJson).at("text").as_string(), "line one\nline two\tend");
}

TEST(OrderParser, TextOfExactlyTheByteLimitIsAccepted) {
    OrderParser parser{ParseLimits{}};
    std::string text;
    while (text.size() < 1023) text += "\xc3\xa9";   // é, two bytes each: 1024 bytes in all
    ASSERT_EQ(text.size(), 1024u);
    Order o = mustParse(parser, personalized(R"({"text":")" + text + "\"}"));
    EXPECT_EQ(json::parse(o.items[0].personalizationJson).at("text").as_string(), text);
}

TEST(OrderParser, IdsOfSixtyFourAllowedCharactersAreAccepted) {
    OrderParser parser{ParseLimits{}};
    const std::string id = "Az09._:-" + std::string(56, 'x');
    ASSERT_EQ(id.size(), 64u);
    Order o = mustParse(parser, R"({"order_id":")" + id + R"(","items":[)" + goodItem("", id) + "]}");
    EXPECT_EQ(o.orderId, id);
    EXPECT_EQ(o.items[0].itemId, id);
    EXPECT_TRUE(OrderParser::isValidId(id));
    EXPECT_FALSE(OrderParser::isValidId(id + "x"));
    EXPECT_FALSE(OrderParser::isValidId(""));
}

TEST(OrderParser, ExactlyMaxItemsIsAcceptedAndOneMoreIsNot) {
    ParseLimits limits;
    limits.maxItems = 5;
    OrderParser parser{limits};
    std::string items;
    for (int i = 0; i < 5; ++i) items += (i ? "," : "") + goodItem("", std::to_string(i));
    EXPECT_EQ(mustParse(parser, R"({"order_id":"ORD-1","items":[)" + items + "]}").items.size(), 5u);
    auto result =
        parser.parseOrder(R"({"order_id":"ORD-1","items":[)" + items + "," + goodItem("", "5") + "]}", testCatalog());
    ASSERT_TRUE(std::holds_alternative<Rejections>(result));
    EXPECT_EQ(std::get<Rejections>(result).first().reason, "too_many_items");
}

TEST(OrderParser, TenThousandRealItemsAreRefusedForTheirCountWhenThePayloadLimitAllowsTheSize) {
    ParseLimits limits;
    limits.maxPayloadBytes = 4 * 1024 * 1024;
    OrderParser parser{limits};
    std::string items;
    for (int i = 0; i < 10000; ++i) items += (i ? "," : "") + goodItem("", std::to_string(i));
    auto result = parser.parseOrder(R"({"order_id":"ORD-1","items":[)" + items + "]}", testCatalog());
    ASSERT_TRUE(std::holds_alternative<Rejections>(result));
    const auto& rej = std::get<Rejections>(result);
    EXPECT_EQ(rej.first().reason, "too_many_items");
    EXPECT_EQ(rej.first().path, "items");
    EXPECT_EQ(rej.list.size(), 1u) << "the items themselves are not inspected once the count is over";
}

struct BadInput {
    std::string name;
    bool command;
    std::string payload;
    std::string reason;
    std::string path;
};

std::vector<BadInput> badInputs() {
    std::string deep;
    for (int i = 0; i < 100; ++i) deep += R"({"a":)";
    deep += "1";
    for (int i = 0; i < 100; ++i) deep += "}";
    std::string manyItems = R"({"order_id":"ORD-1","items":[)";
    for (int i = 0; i < 10000; ++i) manyItems += i ? ",{}" : "{}";
    manyItems += "]}";
    const std::string item = R"("item_id":"1","sku":"COASTER-OAK-ENGRAVED")";

    return {
        // Not a JSON object at all.
        {"not json", false, "hello factory", "invalid_json", ""},
        {"empty payload", false, "", "invalid_json", ""},
        {"only whitespace", false, " \n\t ", "invalid_json", ""},
        {"truncated json", false, R"({"order_id":"ORD-1","items":[)", "invalid_json", ""},
        {"trailing garbage", false, orderWithId(R"("ORD-1")") + "x", "invalid_json", ""},
        {"array at top level", false, "[1,2,3]", "not_an_object", ""},
        {"string at top level", false, R"("order")", "not_an_object", ""},
        {"number at top level", false, "42", "not_an_object", ""},
        {"null at top level", false, "null", "not_an_object", ""},
        {"huge payload", false, R"({"order_id":"ORD-1","pad":")" + std::string(300 * 1024, 'x') + "\"}",
         "payload_too_large", ""},
        {"deep nesting", false, deep, "too_deep", ""},
        {"lone continuation byte", false, "{\"order_id\":\"ORD-\x80\"}", "invalid_utf8", ""},
        {"overlong encoding of slash", false, "{\"order_id\":\"\xc0\xaf\"}", "invalid_utf8", ""},
        {"three-byte overlong", false, "{\"order_id\":\"\xe0\x80\xaf\"}", "invalid_utf8", ""},
        {"utf-16 surrogate encoded in utf-8", false, "{\"order_id\":\"\xed\xa0\x80\"}", "invalid_utf8", ""},
        {"truncated sequence", false, "{\"order_id\":\"\xe2\x82\"}", "invalid_utf8", ""},
        {"code point above U+10FFFF", false, "{\"order_id\":\"\xf4\x90\x80\x80\"}", "invalid_utf8", ""},
        {"byte 0xFF", false, "{\"order_id\":\"\xff\"}", "invalid_utf8", ""},
        // Boost.JSON refuses an escaped surrogate that is not part of a pair, so it never reaches the checks.
        {"escaped lone leading surrogate", false, personalized(R"({"text":"\ud800"})"), "invalid_json", ""},
        {"escaped lone trailing surrogate", false, personalized(R"({"text":"\udc00"})"), "invalid_json", ""},
        {"raw control byte inside a string", false, personalized("{\"text\":\"a\x01z\"}"), "invalid_json", ""},
        {"ten thousand items", false, manyItems, "too_many_items", "items"},

        // order_id
        {"missing order id", false, R"({"items":[)" + goodItem() + "]}", "missing_field", "order_id"},
        {"order id as number", false, orderWithId("42"), "wrong_type", "order_id"},
        {"order id as null", false, orderWithId("null"), "wrong_type", "order_id"},
        {"empty order id", false, orderWithId(R"("")"), "invalid_id", "order_id"},
        {"order id with space", false, orderWithId(R"("ORD 1")"), "invalid_id", "order_id"},
        {"order id with slash", false, orderWithId(R"("a/b")"), "invalid_id", "order_id"},
        {"order id with plus wildcard", false, orderWithId(R"("+")"), "invalid_id", "order_id"},
        {"order id with hash wildcard", false, orderWithId(R"("ORD#1")"), "invalid_id", "order_id"},
        {"order id with accented letter", false, orderWithId("\"ORD-\xc3\xa9\""), "invalid_id", "order_id"},
        {"order id with right-to-left override", false,
         orderWithId("\"ORD\xe2\x80\xae"
                     "1\""),
         "invalid_id", "order_id"},
        {"order id of 65 characters", false, orderWithId("\"" + std::string(65, 'a') + "\""), "invalid_id", "order_id"},
        {"sql in order id", false, orderWithId(R"("'; DROP TABLE orders; --")"), "invalid_id", "order_id"},
        {"reserved order id _invalid", false, orderWithId(R"("_invalid")"), "invalid_id", "order_id"},
        {"reserved order id _floor", false, orderWithId(R"("_floor")"), "invalid_id", "order_id"},

        // revision, priority, due_by
        {"revision zero", false, orderWith(R"("revision":0,)"), "invalid_value", "revision"},
        {"negative revision", false, orderWith(R"("revision":-2,)"), "invalid_value", "revision"},
        {"revision as string", false, orderWith(R"("revision":"2",)"), "wrong_type", "revision"},
        {"fractional revision", false, orderWith(R"("revision":1.5,)"), "wrong_type", "revision"},
        {"revision beyond 64 bits", false, orderWith(R"("revision":18446744073709551615,)"), "invalid_value",
         "revision"},
        {"priority as number", false, orderWith(R"("priority":1,)"), "wrong_type", "priority"},
        {"unknown priority", false, orderWith(R"("priority":"urgent",)"), "invalid_value", "priority"},
        {"priority in capitals", false, orderWith(R"("priority":"RUSH",)"), "invalid_value", "priority"},
        {"due date as number", false, orderWith(R"("due_by":20261201,)"), "wrong_type", "due_by"},
        {"due date in words", false, orderWith(R"("due_by":"next week",)"), "invalid_value", "due_by"},
        {"due date without time", false, orderWith(R"("due_by":"2026-12-01",)"), "invalid_value", "due_by"},
        {"due date without zone", false, orderWith(R"("due_by":"2026-12-01T12:00:00",)"), "invalid_value", "due_by"},
        {"due date on 30 February", false, orderWith(R"("due_by":"2026-02-30T12:00:00Z",)"), "invalid_value", "due_by"},
        {"due date on 29 February of a common year", false, orderWith(R"("due_by":"2027-02-29T12:00:00Z",)"),
         "invalid_value", "due_by"},

        // items
        {"missing items", false, R"({"order_id":"ORD-1"})", "missing_field", "items"},
        {"items as object", false, R"({"order_id":"ORD-1","items":{}})", "wrong_type", "items"},
        {"items as string", false, R"({"order_id":"ORD-1","items":"1 coaster"})", "wrong_type", "items"},
        {"empty items", false, R"({"order_id":"ORD-1","items":[]})", "invalid_value", "items"},
        {"item as number", false, R"({"order_id":"ORD-1","items":[1]})", "wrong_type", "items[0]"},
        {"missing item id", false, orderWithItem(R"("sku":"COASTER-OAK-ENGRAVED","qty":1)"), "missing_field",
         "items[0].item_id"},
        {"item id as number", false, orderWithItem(R"("item_id":1,"sku":"COASTER-OAK-ENGRAVED","qty":1)"), "wrong_type",
         "items[0].item_id"},
        {"empty item id", false, orderWithItem(R"("item_id":"","sku":"COASTER-OAK-ENGRAVED","qty":1)"), "invalid_id",
         "items[0].item_id"},
        {"item id with space", false, orderWithItem(R"("item_id":"a b","sku":"COASTER-OAK-ENGRAVED","qty":1)"),
         "invalid_id", "items[0].item_id"},
        {"duplicate item ids", false, R"({"order_id":"ORD-1","items":[)" + goodItem() + "," + goodItem() + "]}",
         "duplicate_item_id", "items[1].item_id"},
        {"missing sku", false, orderWithItem(R"("item_id":"1","qty":1)"), "missing_field", "items[0].sku"},
        {"sku as number", false, orderWithItem(R"("item_id":"1","sku":7,"qty":1)"), "wrong_type", "items[0].sku"},
        {"empty sku", false, orderWithItem(R"("item_id":"1","sku":"","qty":1)"), "invalid_value", "items[0].sku"},
        {"unknown sku", false, orderWithItem(R"("item_id":"1","sku":"NOPE","qty":1)"), "unknown_sku", "items[0].sku"},
        {"sku in other case", false, orderWithItem(R"("item_id":"1","sku":"coaster-oak-engraved","qty":1)"),
         "unknown_sku", "items[0].sku"},

        // qty
        {"missing quantity", false, orderWithItem(item), "missing_field", "items[0].qty"},
        {"negative quantity", false, orderWithItem(item + R"(,"qty":-1)"), "invalid_quantity", "items[0].qty"},
        {"zero quantity", false, orderWithItem(item + R"(,"qty":0)"), "invalid_quantity", "items[0].qty"},
        {"quantity over the limit", false, orderWithItem(item + R"(,"qty":100001)"), "invalid_quantity",
         "items[0].qty"},
        {"largest 64-bit quantity", false, orderWithItem(item + R"(,"qty":9223372036854775807)"), "invalid_quantity",
         "items[0].qty"},
        {"quantity beyond int64", false, orderWithItem(item + R"(,"qty":18446744073709551615)"), "invalid_quantity",
         "items[0].qty"},
        {"quantity beyond uint64", false, orderWithItem(item + R"(,"qty":99999999999999999999)"), "invalid_quantity",
         "items[0].qty"},
        {"negative quantity beyond int64", false, orderWithItem(item + R"(,"qty":-99999999999999999999)"),
         "invalid_quantity", "items[0].qty"},
        {"fractional quantity", false, orderWithItem(item + R"(,"qty":1.5)"), "wrong_type", "items[0].qty"},
        {"float quantity without fraction", false, orderWithItem(item + R"(,"qty":2.0)"), "wrong_type", "items[0].qty"},
        {"quantity as string", false, orderWithItem(item + R"(,"qty":"1")"), "wrong_type", "items[0].qty"},
        {"quantity as null", false, orderWithItem(item + R"(,"qty":null)"), "wrong_type", "items[0].qty"},
        {"quantity as boolean", false, orderWithItem(item + R"(,"qty":true)"), "wrong_type", "items[0].qty"},

        // personalization
        {"personalization as string", false, personalized(R"("Ada")"), "wrong_type", "items[0].personalization"},
        {"personalization as array", false, personalized(R"(["Ada"])"), "wrong_type", "items[0].personalization"},
        {"nested object in personalization", false, personalized(R"({"text":{"x":1}})"), "wrong_type",
         "items[0].personalization.text"},
        {"array in personalization", false, personalized(R"({"text":["a"]})"), "wrong_type",
         "items[0].personalization.text"},
        {"null in personalization", false, personalized(R"({"text":null})"), "wrong_type",
         "items[0].personalization.text"},
        {"empty personalization key", false, personalized(R"({"":"x"})"), "invalid_value", "items[0].personalization."},
        {"bell character in text", false, personalized(R"({"text":"a\u0007b"})"), "invalid_text",
         "items[0].personalization.text"},
        {"escaped NUL in text", false, personalized(R"({"text":"a\u0000b"})"), "invalid_text",
         "items[0].personalization.text"},
        {"escape character in text", false, personalized(R"({"text":"\u001b[31mred"})"), "invalid_text",
         "items[0].personalization.text"},
        {"DEL in text", false, personalized(R"({"text":"a\u007fb"})"), "invalid_text", "items[0].personalization.text"},
        {"text over 1024 bytes", false, personalized(R"({"text":")" + std::string(1025, 'a') + "\"}"), "text_too_long",
         "items[0].personalization.text"},

        // commands
        {"command not json", true, "cancel ORD-1", "invalid_json", ""},
        {"command as array", true, R"(["cancel"])", "not_an_object", ""},
        {"unknown command", true, R"({"command":"explode","command_id":"c-1","order_id":"ORD-1"})", "unknown_command",
         "command"},
        {"command name in capitals", true, R"({"command":"CANCEL","command_id":"c-1","order_id":"ORD-1"})",
         "unknown_command", "command"},
        {"missing command", true, R"({"command_id":"c-1","order_id":"ORD-1"})", "missing_field", "command"},
        {"command as number", true, R"({"command":1,"command_id":"c-1","order_id":"ORD-1"})", "wrong_type", "command"},
        {"missing command id", true, R"({"command":"cancel","order_id":"ORD-1"})", "missing_field", "command_id"},
        {"command id with slash", true, R"({"command":"cancel","command_id":"c/1","order_id":"ORD-1"})", "invalid_id",
         "command_id"},
        {"cancel without order id", true, R"({"command":"cancel","command_id":"c-1"})", "missing_field", "order_id"},
        {"hold with order id as number", true, R"({"command":"hold","command_id":"c-1","order_id":7})", "wrong_type",
         "order_id"},
        {"resume with sql order id", true,
         R"({"command":"resume","command_id":"c-1","order_id":"x'; DROP TABLE orders; --"})", "invalid_id", "order_id"},
        {"resync with empty order id", true, R"({"command":"resync","command_id":"c-1","order_id":""})", "invalid_id",
         "order_id"},
        {"reason as number", true, R"({"command":"hold","command_id":"c-1","order_id":"ORD-1","reason":5})",
         "wrong_type", "reason"},
        {"reason with control character", true,
         R"({"command":"hold","command_id":"c-1","order_id":"ORD-1","reason":"a\u0000"})", "invalid_text", "reason"},
        {"reason over 1024 bytes", true,
         R"({"command":"hold","command_id":"c-1","order_id":"ORD-1","reason":")" + std::string(1025, 'r') + "\"}",
         "invalid_text", "reason"},
        {"change without order", true, R"({"command":"change","command_id":"c-1"})", "missing_field", "order"},
        {"change with order as string", true, R"({"command":"change","command_id":"c-1","order":"ORD-1"})",
         "wrong_type", "order"},
        {"change with bad quantity inside", true,
         R"({"command":"change","command_id":"c-1","order":{"order_id":"ORD-1","revision":2,"items":[{)" + item +
             R"(,"qty":0}]}})",
         "invalid_quantity", "order.items[0].qty"},
        {"change with inner order lacking its id", true,
         R"({"command":"change","command_id":"c-1","order":{"revision":2,"items":[)" + goodItem() + "]}}",
         "missing_field", "order.order_id"},
        {"change with stale revision zero", true,
         R"({"command":"change","command_id":"c-1","order":{"order_id":"ORD-1","revision":0,"items":[)" + goodItem() +
             "]}}",
         "invalid_value", "order.revision"},
    };
}

TEST(OrderParser, EveryMalformedInputIsRefusedWithItsReasonAndPath) {
    OrderParser parser{ParseLimits{}};
    const Catalog catalog = testCatalog();
    const auto inputs = badInputs();
    ASSERT_GE(inputs.size(), 35u);
    for (const auto& bad : inputs) {
        SCOPED_TRACE(bad.name);
        std::variant<Order, Rejections> order;
        std::variant<Command, Rejections> command;
        const Rejections* rej = nullptr;
        if (bad.command) {
            command = parser.parseCommand(bad.payload, catalog);
            rej = std::get_if<Rejections>(&command);
        } else {
            order = parser.parseOrder(bad.payload, catalog);
            rej = std::get_if<Rejections>(&order);
        }
        ASSERT_NE(rej, nullptr) << "accepted: " << bad.payload.substr(0, 200);
        ASSERT_FALSE(rej->list.empty());
        EXPECT_EQ(rej->first().reason, bad.reason) << rej->first().message;
        EXPECT_EQ(rej->first().path, bad.path) << rej->first().message;
        EXPECT_FALSE(rej->first().message.empty());
    }
}

TEST(OrderParser, ValidCommandsOfEveryKindAreAccepted) {
    OrderParser parser{ParseLimits{}};
    Command cancel = mustParseCommand(
        parser, R"({"command":"cancel","command_id":"c-1","order_id":"ORD-1","reason":"customer changed mind"})");
    EXPECT_EQ(cancel.kind, CommandKind::Cancel);
    EXPECT_EQ(cancel.commandId, "c-1");
    EXPECT_EQ(cancel.orderId, "ORD-1");
    EXPECT_EQ(cancel.reason, "customer changed mind");
    EXPECT_FALSE(cancel.order);

    EXPECT_EQ(mustParseCommand(parser, R"({"command":"hold","command_id":"c-2","order_id":"ORD-1"})").kind,
              CommandKind::Hold);
    EXPECT_EQ(mustParseCommand(parser, R"({"command":"resume","command_id":"c-3","order_id":"ORD-1"})").kind,
              CommandKind::Resume);

    Command change = mustParseCommand(parser, R"({"command":"change","command_id":"c-4","order":{"order_id":"ORD-9",)"
                                              R"("revision":2,"items":[)" +
                                                  goodItem() + "]}}");
    EXPECT_EQ(change.kind, CommandKind::Change);
    EXPECT_EQ(change.orderId, "ORD-9");
    ASSERT_TRUE(change.order);
    EXPECT_EQ(change.order->revision, 2);
    EXPECT_EQ(change.order->items.size(), 1u);
}

TEST(OrderParser, ResyncWithoutOrderIdAsksAboutAllOrders) {
    OrderParser parser{ParseLimits{}};
    Command all = mustParseCommand(parser, R"({"command":"resync","command_id":"c-5"})");
    EXPECT_EQ(all.kind, CommandKind::Resync);
    EXPECT_EQ(all.orderId, "");
    Command one = mustParseCommand(parser, R"({"command":"resync","command_id":"c-6","order_id":"ORD-1"})");
    EXPECT_EQ(one.orderId, "ORD-1");
}

TEST(OrderParser, BulkOrderWithSeveralBadItemsReportsEachOfThemInOrder) {
    OrderParser parser{ParseLimits{}};
    std::string items;
    for (int i = 0; i < 8; ++i) {
        std::string it;
        switch (i) {
        case 1: it = R"({"item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":0})"; break;
        case 3: it = R"({"item_id":"3","sku":"NOPE","qty":1})"; break;
        case 4: it = R"({"item_id":"a b","sku":"COASTER-OAK-ENGRAVED","qty":1})"; break;
        case 6: it = R"({"item_id":"6","sku":"COASTER-OAK-ENGRAVED","qty":1,"personalization":{"t":"\u0001"}})"; break;
        default: it = goodItem("", std::to_string(i));
        }
        items += (i ? "," : "") + it;
    }
    auto result = parser.parseOrder(R"({"order_id":"BULK-1","revision":4,"items":[)" + items + "]}", testCatalog());
    ASSERT_TRUE(std::holds_alternative<Rejections>(result));
    const auto& rej = std::get<Rejections>(result);
    ASSERT_EQ(rej.list.size(), 4u);
    EXPECT_EQ(rej.list[0].reason, "invalid_quantity");
    EXPECT_EQ(rej.list[0].path, "items[1].qty");
    EXPECT_EQ(rej.list[1].reason, "unknown_sku");
    EXPECT_EQ(rej.list[1].path, "items[3].sku");
    EXPECT_EQ(rej.list[2].reason, "invalid_id");
    EXPECT_EQ(rej.list[2].path, "items[4].item_id");
    EXPECT_EQ(rej.list[3].reason, "invalid_text");
    EXPECT_EQ(rej.list[3].path, "items[6].personalization.t");
    // What could be read still reaches the right topic and receipt.
    EXPECT_EQ(rej.probe.orderId, "BULK-1");
    ASSERT_TRUE(rej.probe.revision);
    EXPECT_EQ(*rej.probe.revision, 4);
}

TEST(OrderParser, ManyBadItemsAreReportedUpToTheCap) {
    OrderParser parser{ParseLimits{}};
    std::string items;
    for (int i = 0; i < 500; ++i)
        items += (i ? "," : "") + std::string(R"({"item_id":")") + std::to_string(i) + R"(","sku":"NOPE","qty":0})";
    auto result = parser.parseOrder(R"({"order_id":"BULK-2","items":[)" + items + "]}", testCatalog());
    ASSERT_TRUE(std::holds_alternative<Rejections>(result));
    EXPECT_EQ(std::get<Rejections>(result).list.size(), 100u);
}

TEST(OrderParser, RejectedCommandStillTellsWhichCommandAndOrderItWas) {
    OrderParser parser{ParseLimits{}};
    auto result = parser.parseCommand(
        R"({"command":"change","command_id":"c-7","order":{"order_id":"ORD-3","revision":5,"items":[]}})",
        testCatalog());
    ASSERT_TRUE(std::holds_alternative<Rejections>(result));
    const auto& rej = std::get<Rejections>(result);
    EXPECT_EQ(rej.first().path, "order.items");
    EXPECT_EQ(rej.probe.command, "change");
    EXPECT_EQ(rej.probe.commandId, "c-7");
    EXPECT_EQ(rej.probe.orderId, "ORD-3");
    ASSERT_TRUE(rej.probe.revision);
    EXPECT_EQ(*rej.probe.revision, 5);
}

TEST(OrderParser, ReservedOrderIdIsNotReportedAsTheRejectedOrdersId) {
    OrderParser parser{ParseLimits{}};
    auto result = parser.parseOrder(orderWithId(R"("_invalid")"), testCatalog());
    ASSERT_TRUE(std::holds_alternative<Rejections>(result));
    EXPECT_EQ(std::get<Rejections>(result).probe.orderId, "");
}

TEST(OrderParser, SameContentWithKeysInAnotherOrderHasTheSameHash) {
    OrderParser parser{ParseLimits{}};
    Order a = mustParse(
        parser,
        R"({"order_id":"ORD-1","revision":2,"priority":"rush","items":[)"
        R"({"item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":3,"personalization":{"text":"Hi","font":"serif"}}]})");
    Order b = mustParse(
        parser,
        R"({ "items" : [ {"personalization":{"font":"serif","text":"H\u0069"},"qty":3,)"
        R"("sku":"COASTER-OAK-ENGRAVED","item_id":"1"} ], "priority":"rush", "revision":2, "order_id":"ORD-1" })");
    EXPECT_EQ(a.contentHash, b.contentHash);
    EXPECT_EQ(a.canonicalJson, b.canonicalJson);

    Order otherQty = mustParse(
        parser,
        R"({"order_id":"ORD-1","revision":2,"priority":"rush","items":[)"
        R"({"item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":4,"personalization":{"text":"Hi","font":"serif"}}]})");
    Order otherText = mustParse(
        parser,
        R"({"order_id":"ORD-1","revision":2,"priority":"rush","items":[)"
        R"({"item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":3,"personalization":{"text":"hi","font":"serif"}}]})");
    Order otherRevision = mustParse(
        parser,
        R"({"order_id":"ORD-1","revision":3,"priority":"rush","items":[)"
        R"({"item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":3,"personalization":{"text":"Hi","font":"serif"}}]})");
    EXPECT_NE(a.contentHash, otherQty.contentHash);
    EXPECT_NE(a.contentHash, otherText.contentHash);
    EXPECT_NE(a.contentHash, otherRevision.contentHash);
}

TEST(OrderParser, ItemOrderIsPartOfTheContent) {
    OrderParser parser{ParseLimits{}};
    Order a =
        mustParse(parser, R"({"order_id":"ORD-1","items":[)" + goodItem("", "1") + "," + goodItem("", "2") + "]}");
    Order b =
        mustParse(parser, R"({"order_id":"ORD-1","items":[)" + goodItem("", "2") + "," + goodItem("", "1") + "]}");
    EXPECT_NE(a.contentHash, b.contentHash);
}

// Checks one outcome of parsing untrusted bytes: a usable value or a rejection a person can read.
template <typename T>
void expectUsable(const std::variant<T, Rejections>& result, const std::string& input, int& accepted, int& rejected) {
    if (const auto* rej = std::get_if<Rejections>(&result)) {
        ++rejected;
        ASSERT_FALSE(rej->list.empty()) << input;
        for (const auto& r : rej->list) ASSERT_FALSE(r.reason.empty()) << input;
    } else {
        ++accepted;
    }
}

TEST(OrderParser, RandomBytesAreEitherParsedOrRejectedWithAReason) {
    OrderParser parser{ParseLimits{}};
    const Catalog catalog = testCatalog();
    std::mt19937 rng(20261126);
    const std::string alphabet = R"({}[]:,"\ 0123456789-.eEtrufalsnbx)";
    int accepted = 0, rejected = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string input(std::uniform_int_distribution<std::size_t>(0, 120)(rng), '\0');
        // Half fully random bytes, half drawn from JSON's own characters so the parser gets past the first byte.
        const bool jsonish = i % 2 == 0;
        for (auto& c : input)
            c = jsonish ? alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)]
                        : static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
        ASSERT_NO_THROW({
            expectUsable(parser.parseOrder(input, catalog), input, accepted, rejected);
            expectUsable(parser.parseCommand(input, catalog), input, accepted, rejected);
        });
    }
    EXPECT_EQ(accepted + rejected, 40000);
    EXPECT_GT(rejected, 0);
}

// Random edits of a valid order and of a change command carrying it: the corpus both mutation tests share.
std::vector<std::string> mutationCorpus() {
    const std::string valid =
        R"({"order_id":"ORD-1","revision":2,"priority":"rush","due_by":"2026-12-01T12:00:00Z","items":[)"
        R"({"item_id":"1","sku":"COASTER-OAK-ENGRAVED","qty":2,"personalization":{"text":"Ada \u2665","size":12}},)"
        R"({"item_id":"2","sku":"SIGN-PINE-CNC","qty":1}]})";
    const std::string command = R"({"command":"change","command_id":"c-1","order":)" + valid + "}";
    const std::vector<std::string> tokens = {"{",
                                             "}",
                                             "[",
                                             "]",
                                             ",",
                                             ":",
                                             "\"",
                                             "\\",
                                             "\\u0000",
                                             "\\ud800",
                                             "-1",
                                             "1e999",
                                             "null",
                                             "true",
                                             "18446744073709551616",
                                             "\xc0\xaf",
                                             "\xed\xa0\x80",
                                             "\xff",
                                             "\"order_id\"",
                                             "\"items\"",
                                             "\"qty\"",
                                             "[[[[[[[[[[[[[[[[[["};
    std::mt19937 rng(4242);
    auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
    std::vector<std::string> corpus;
    corpus.reserve(20000);
    for (int i = 0; i < 20000; ++i) {
        std::string input = i % 4 == 0 ? command : valid;
        const std::size_t edits = 1 + pick(4);
        for (std::size_t e = 0; e < edits && !input.empty(); ++e) {
            const std::size_t at = pick(input.size());
            switch (pick(6)) {
            case 0: input[at] = static_cast<char>(pick(256)); break;
            case 1: input.erase(at, 1 + pick(8)); break;
            case 2: input.insert(at, 1, static_cast<char>(pick(256))); break;
            case 3: input.insert(at, tokens[pick(tokens.size())]); break;
            case 4: input.resize(at); break;
            default: input.insert(at, input.substr(pick(input.size()), pick(40))); break;
            }
        }
        corpus.push_back(std::move(input));
    }
    // Numbers at the edges of what a double holds, where the random edits above seldom put them: in place
    // of a personalization value, in an unknown top-level key and in an unknown item key.
    for (const std::string number : {"1e999", "-1e400", "1e-999", "18446744073709551616", "1.7976931348623157e308",
                                     "4.9e-324", "-0", "0.1000000000000000055511151231257827", "123456789012345678901234"}) {
        for (const std::string& base : {valid, command}) {
            std::string inPersonalization = base;
            inPersonalization.replace(inPersonalization.find("\"size\":12"), 9, "\"size\":" + number);
            corpus.push_back(inPersonalization);
            std::string topLevel = base;
            topLevel.insert(topLevel.find("\"order_id\""), "\"extra\":" + number + ",");
            corpus.push_back(topLevel);
            std::string inItem = base;
            inItem.insert(inItem.find("\"item_id\":\"2\""), "\"weight\":" + number + ",");
            corpus.push_back(inItem);
        }
    }
    return corpus;
}

TEST(OrderParser, RandomMutationsOfAValidOrderAreEitherParsedOrRejectedWithAReason) {
    OrderParser parser{ParseLimits{}};
    const Catalog catalog = testCatalog();
    int accepted = 0, rejected = 0;
    const auto corpus = mutationCorpus();
    for (const auto& input : corpus) {
        ASSERT_NO_THROW({
            expectUsable(parser.parseOrder(input, catalog), input, accepted, rejected);
            expectUsable(parser.parseCommand(input, catalog), input, accepted, rejected);
        });
    }
    EXPECT_EQ(accepted + rejected, static_cast<int>(2 * corpus.size()));
    // The mutations must exercise both outcomes, or the test would prove nothing about one of them.
    EXPECT_GT(accepted, 0);
    EXPECT_GT(rejected, 0);
}

// What is stored is read back by the compiler, at every start and by mtoctl: it must be JSON, and
// parsing it again must give the same order.
void expectStoredFormRoundTrips(const OrderParser& parser, const Catalog& catalog, const Order& order,
                                const std::string& input) {
    std::error_code ec;
    json::value back = json::parse(order.canonicalJson, ec);
    ASSERT_FALSE(ec) << "stored text is not JSON: " << order.canonicalJson << "\ninput: " << input;
    ASSERT_TRUE(back.is_object());
    for (const auto& item : order.items) {
        json::parse(item.personalizationJson, ec);
        ASSERT_FALSE(ec) << "stored personalization is not JSON: " << item.personalizationJson;
    }
    auto again = parser.parseOrder(order.canonicalJson, catalog);
    ASSERT_TRUE(std::holds_alternative<Order>(again))
        << std::get<Rejections>(again).first().reason << " at " << std::get<Rejections>(again).first().path
        << "\nstored: " << order.canonicalJson;
    const Order& o = std::get<Order>(again);
    EXPECT_EQ(o.canonicalJson, order.canonicalJson);
    EXPECT_EQ(o.contentHash, order.contentHash);
    EXPECT_EQ(o.orderId, order.orderId);
    EXPECT_EQ(o.revision, order.revision);
    EXPECT_EQ(o.priority, order.priority);
    EXPECT_EQ(o.dueBy, order.dueBy);
    ASSERT_EQ(o.items.size(), order.items.size());
    for (std::size_t i = 0; i < o.items.size(); ++i) {
        EXPECT_EQ(o.items[i].itemId, order.items[i].itemId);
        EXPECT_EQ(o.items[i].sku, order.items[i].sku);
        EXPECT_EQ(o.items[i].qty, order.items[i].qty);
        EXPECT_EQ(o.items[i].personalizationJson, order.items[i].personalizationJson);
    }
}

TEST(OrderParser, EveryMutatedOrderThatParsesIsStoredAsJsonThatParsesBackToTheSameOrder) {
    OrderParser parser{ParseLimits{}};
    const Catalog catalog = testCatalog();
    int checked = 0;
    for (const auto& input : mutationCorpus()) {
        if (auto order = parser.parseOrder(input, catalog); std::holds_alternative<Order>(order)) {
            expectStoredFormRoundTrips(parser, catalog, std::get<Order>(order), input);
            ++checked;
        }
        if (auto cmd = parser.parseCommand(input, catalog); std::holds_alternative<Command>(cmd)) {
            if (const auto& inner = std::get<Command>(cmd).order) {
                expectStoredFormRoundTrips(parser, catalog, *inner, input);
                ++checked;
            }
        }
        if (HasFatalFailure() || HasFailure()) return;
    }
    EXPECT_GT(checked, 100) << "too few mutations parse for the property to mean anything";
}

TEST(OrderParser, NumbersOfEveryMagnitudeAreStoredAsTextThatReadsBackToTheSameOrder) {
    OrderParser parser{ParseLimits{}};
    const Catalog catalog = testCatalog();
    std::mt19937_64 rng(20261201);
    int checked = 0;
    for (int i = 0; i < 3000; ++i) {
        // Random bit patterns cover every exponent; Boost.JSON reads many of their 17-digit forms inexactly.
        double d;
        const std::uint64_t bits = rng();
        std::memcpy(&d, &bits, sizeof d);
        // Next to the largest double the reading may round up to infinity, which is refused, rightly.
        if (!std::isfinite(d) || std::abs(d) > 1e307) continue;
        char text[64];
        std::snprintf(text, sizeof text, "%.17g", d);
        const std::string payload = personalized(std::string(R"({"text":"Ada","size":)") + text + "}");
        auto first = parser.parseOrder(payload, catalog);
        ASSERT_TRUE(std::holds_alternative<Order>(first)) << payload;
        expectStoredFormRoundTrips(parser, catalog, std::get<Order>(first), payload);
        if (HasFailure()) return;
        ++checked;
    }
    EXPECT_GT(checked, 2500);
}

TEST(OrderParser, NumbersBeyondTheRangeOfADoubleAreRefusedWithTheirPathWhereverTheyStand) {
    OrderParser parser{ParseLimits{}};
    const Catalog catalog = testCatalog();
    struct Case {
        std::string payload;
        std::string path;
    };
    const std::vector<Case> orders = {
        {orderWith(R"("note":1e400,)"), "note"},
        {orderWith(R"("note":-1e400,)"), "note"},
        {orderWith(R"("extra":{"deep":[1,2,1e999]},)"), "extra.deep[2]"},
        {R"({"order_id":"ORD-1","items":[)" + goodItem(R"(,"weight":1e400)") + "]}", "items[0].weight"},
        {personalized(R"({"text":"Ada","size":1e400})"), "items[0].personalization.size"},
    };
    for (const auto& c : orders) {
        SCOPED_TRACE(c.payload);
        auto result = parser.parseOrder(c.payload, catalog);
        ASSERT_TRUE(std::holds_alternative<Rejections>(result)) << std::get<Order>(result).canonicalJson;
        const auto& rej = std::get<Rejections>(result);
        EXPECT_EQ(rej.first().reason, "number_out_of_range");
        EXPECT_EQ(rej.first().path, c.path);
        EXPECT_FALSE(rej.first().message.empty());
        EXPECT_EQ(rej.probe.orderId, "ORD-1") << "the rejection must reach the order's own topic";
    }
    const std::vector<Case> commands = {
        {R"({"command":"hold","command_id":"c-1","order_id":"ORD-1","extra":1e400})", "extra"},
        {R"({"command":"change","command_id":"c-1","order":)" + personalized(R"({"size":-1e999})") + "}",
         "order.items[0].personalization.size"},
    };
    for (const auto& c : commands) {
        SCOPED_TRACE(c.payload);
        auto result = parser.parseCommand(c.payload, catalog);
        ASSERT_TRUE(std::holds_alternative<Rejections>(result));
        const auto& rej = std::get<Rejections>(result);
        EXPECT_EQ(rej.first().reason, "number_out_of_range");
        EXPECT_EQ(rej.first().path, c.path);
        EXPECT_EQ(rej.probe.commandId, "c-1");
        EXPECT_EQ(rej.probe.orderId, "ORD-1");
    }
    // Large but finite numbers are still numbers.
    Order big = mustParse(parser, personalized(R"({"size":1e300,"tiny":1e-400})"));
    EXPECT_NE(big.canonicalJson.find("size"), std::string::npos);
}

TEST(OrderParser, OversizedOrderIsRefusedUnderTheOrderIdReadFromItsStart) {
    OrderParser parser{ParseLimits{}};
    const Catalog catalog = testCatalog();
    const std::string pad(300 * 1024, 'x');
    auto probeOf = [&](const std::string& payload) {
        auto result = parser.parseOrder(payload, catalog);
        EXPECT_TRUE(std::holds_alternative<Rejections>(result));
        if (!std::holds_alternative<Rejections>(result)) return PayloadProbe{};
        EXPECT_EQ(std::get<Rejections>(result).first().reason, "payload_too_large");
        return std::get<Rejections>(result).probe;
    };
    EXPECT_EQ(probeOf(R"({"order_id":"ORD-BIG","pad":")" + pad + "\"}").orderId, "ORD-BIG");
    EXPECT_EQ(probeOf("{ \"revision\": 2,\n  \"order_id\" :\t\"ORD-BIG\", \"pad\":\"" + pad + "\"}").orderId, "ORD-BIG");
    // Ids that would be refused anyway, or that stand too far in, are not guessed at.
    EXPECT_EQ(probeOf(R"({"order_id":"a/b","pad":")" + pad + "\"}").orderId, "");
    EXPECT_EQ(probeOf(R"({"order_id":"_invalid","pad":")" + pad + "\"}").orderId, "");
    EXPECT_EQ(probeOf(R"({"pad":")" + pad + R"(","order_id":"ORD-LATE"})").orderId, "");
    EXPECT_EQ(probeOf(R"({"order_id":17,"pad":")" + pad + "\"}").orderId, "");

    auto cmd = parser.parseCommand(
        R"({"command":"change","command_id":"c-9","order":{"order_id":"ORD-BIG","pad":")" + pad + "\"}}", catalog);
    ASSERT_TRUE(std::holds_alternative<Rejections>(cmd));
    EXPECT_EQ(std::get<Rejections>(cmd).probe.orderId, "ORD-BIG");
    EXPECT_EQ(std::get<Rejections>(cmd).probe.command, "change");
    EXPECT_EQ(std::get<Rejections>(cmd).probe.commandId, "c-9");
}

}   // namespace
}   // namespace mto
