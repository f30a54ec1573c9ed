// SPDX-License-Identifier: Apache-2.0
// The shop floor's barcode texts: made for labels and the action sheet, parsed from scans.
#include "mto/barcode.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "mto/error.hpp"

namespace mto::barcode {

namespace {

constexpr std::string_view kItemPrefix = "MTO:I:";
constexpr std::string_view kActionPrefix = "MTO:A:";
constexpr std::string_view kOperatorPrefix = "OP:";

struct ActionName {
    Action action;
    std::string_view code;   // on the barcode
    const char* name;        // in events and logs
    bool needsMachine;
};

constexpr std::array<ActionName, 9> kActions{{
    {Action::QcPass, "QC_PASS", "qc_pass", false},
    {Action::QcFail, "QC_FAIL", "qc_fail", false},
    {Action::Packed, "PACKED", "packed", false},
    {Action::Shipped, "SHIPPED", "shipped", false},
    {Action::ClearBed, "CLEAR", "clear_bed", true},
    {Action::Resume, "RESUME", "resume", true},
    {Action::Restart, "RESTART", "restart", true},
    {Action::Scrap, "SCRAP", "scrap", true},
    {Action::Cancel, "CANCEL", "cancel", false},
}};

// The id rule of the MQTT contract: 1..64 of A-Z a-z 0-9 . _ : -
bool validId(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == ':' || c == '-';
    });
}

bool isReason(std::string_view r) {
    const auto& all = qcFailReasons();
    return std::find(all.begin(), all.end(), r) != all.end();
}

const ActionName& entry(Action a) {
    for (const auto& e : kActions)
        if (e.action == a) return e;
    return kActions.back();
}

std::string_view trim(std::string_view s) {
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return s;
}

} // namespace

std::string itemCode(const std::string& orderId, const std::string& itemId) {
    if (!validId(orderId) || !validId(itemId)) throw Error("an item barcode needs a valid order id and item id");
    return std::string(kItemPrefix) + orderId + "/" + itemId;
}

std::string operatorCode(const std::string& operatorId) {
    if (!validId(operatorId)) throw Error("an operator badge needs 1..64 of A-Z a-z 0-9 . _ : -");
    return std::string(kOperatorPrefix) + operatorId;
}

std::string actionCode(Action action, const std::string& argument) {
    const ActionName& e = entry(action);
    std::string code = std::string(kActionPrefix) + std::string(e.code);
    if (action == Action::QcFail) {
        if (!isReason(argument)) throw Error("QC_FAIL needs one of the known reasons, not '" + argument + "'");
        return code + ":" + argument;
    }
    if (e.needsMachine) {
        if (!validId(argument)) throw Error(std::string(e.code) + " needs a machine id");
        return code + ":" + argument;
    }
    if (!argument.empty()) throw Error(std::string(e.code) + " takes no argument");
    return code;
}

Scan parse(std::string_view input) {
    Scan s;
    const std::string_view raw = trim(input);
    s.raw = std::string(raw);
    auto malformed = [&](std::string why) {
        s.kind = Kind::Other;
        s.error = std::move(why);
        return s;
    };
    if (raw.starts_with(kItemPrefix)) {
        const std::string_view rest = raw.substr(kItemPrefix.size());
        const auto slash = rest.find('/');
        if (slash == std::string_view::npos) return malformed("an item code is MTO:I:<order_id>/<item_id>");
        const auto order = rest.substr(0, slash), item = rest.substr(slash + 1);
        if (!validId(order) || !validId(item)) return malformed("the order or item id of this item code is not valid");
        s.kind = Kind::Item;
        s.orderId = std::string(order);
        s.itemId = std::string(item);
        return s;
    }
    if (raw.starts_with(kOperatorPrefix)) {
        const std::string_view id = raw.substr(kOperatorPrefix.size());
        if (!validId(id)) return malformed("an operator badge is OP:<id> (1..64 of A-Z a-z 0-9 . _ : -)");
        s.kind = Kind::Operator;
        s.operatorId = std::string(id);
        return s;
    }
    if (raw.starts_with(kActionPrefix)) {
        const std::string_view rest = raw.substr(kActionPrefix.size());
        const auto colon = rest.find(':');
        const std::string_view word = rest.substr(0, colon);
        const std::string_view arg = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
        for (const auto& e : kActions) {
            if (e.code != word) continue;
            if (e.action == Action::QcFail && !isReason(arg))
                return malformed("QC_FAIL needs a known reason (misaligned, burn_marks, ...), not '" + std::string(arg) + "'");
            if (e.needsMachine && !validId(arg)) return malformed(std::string(e.code) + " needs a machine id");
            if (!e.needsMachine && e.action != Action::QcFail && colon != std::string_view::npos)
                return malformed(std::string(e.code) + " takes no argument");
            s.kind = Kind::Action;
            s.action = e.action;
            s.argument = std::string(arg);
            return s;
        }
        return malformed("unknown action code '" + std::string(word) + "'");
    }
    return s;
}

const char* toString(Action a) { return entry(a).name; }

const std::vector<std::string>& qcFailReasons() {
    static const std::vector<std::string> reasons{"misaligned",  "burn_marks", "wrong_text",
                                                  "damaged",     "incomplete", "material_defect",
                                                  "other"};
    return reasons;
}

} // namespace mto::barcode
