// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: any bytes through parseOrder and parseCommand must end in a value or a reasoned rejection.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

// agent/ is a private include directory of mto_core, so the target names the header by its path.
#include "intake/order_parser.hpp"

namespace {

const mto::Catalog& catalog() {
    static const mto::Catalog c = [] {
        mto::Catalog cat;
        cat.add({"COASTER-OAK-ENGRAVED", "Oak coaster"});
        cat.add({"SIGN-PINE-CNC", "Pine sign"});
        cat.add({"X", "One-letter SKU, easy for the fuzzer to find"});
        return cat;
    }();
    return c;
}

const mto::OrderParser& parser() {
    // Small limits so the fuzzer reaches the item, depth and text limits with short inputs.
    static const mto::OrderParser p([] {
        mto::ParseLimits limits;
        limits.maxPayloadBytes = 64 * 1024;
        limits.maxItems = 8;
        limits.maxTextBytes = 64;
        return limits;
    }());
    return p;
}

void check(bool ok) {
    if (!ok) std::abort();
}

void checkRejections(const mto::Rejections& rej) {
    check(!rej.list.empty());
    for (const auto& r : rej.list) check(!r.reason.empty() && !r.message.empty());
}

// An accepted order must be well formed, and its canonical form, which is what is stored and read back
// by the compiler and after a restart, must be JSON that is accepted as the same order with the same text.
void checkOrder(const mto::Order& order) {
    check(mto::OrderParser::isValidId(order.orderId));
    check(order.revision >= 1);
    check(!order.items.empty() && order.items.size() <= 8);
    check(order.contentHash.size() == 64);
    for (const auto& item : order.items) check(item.qty >= 1 && !item.personalizationJson.empty());
    auto again = parser().parseOrder(order.canonicalJson, catalog());
    const auto* same = std::get_if<mto::Order>(&again);
    check(same && same->orderId == order.orderId && same->revision == order.revision &&
          same->priority == order.priority && same->dueBy == order.dueBy && same->items.size() == order.items.size() &&
          same->canonicalJson == order.canonicalJson && same->contentHash == order.contentHash);
    for (std::size_t i = 0; i < order.items.size(); ++i)
        check(same->items[i].itemId == order.items[i].itemId && same->items[i].sku == order.items[i].sku &&
              same->items[i].qty == order.items[i].qty);
}

}   // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view payload(reinterpret_cast<const char*>(data), size);

    auto order = parser().parseOrder(payload, catalog());
    if (const auto* rej = std::get_if<mto::Rejections>(&order))
        checkRejections(*rej);
    else
        checkOrder(std::get<mto::Order>(order));

    auto command = parser().parseCommand(payload, catalog());
    if (const auto* rej = std::get_if<mto::Rejections>(&command)) {
        checkRejections(*rej);
    } else {
        const auto& cmd = std::get<mto::Command>(command);
        check(mto::OrderParser::isValidId(cmd.commandId));
        check((cmd.kind == mto::CommandKind::Change) == cmd.order.has_value());
        if (cmd.order) checkOrder(*cmd.order);
    }
    return 0;
}
