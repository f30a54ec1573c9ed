// SPDX-License-Identifier: Apache-2.0
// What the shop floor's barcodes say: the traveler label of an item, an operator's badge, and the action
// sheet's codes. Labels print them; scanners read them back. ASCII only, so Code 128 and QR both carry them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mto::barcode {

enum class Kind {
    Item,       // "MTO:I:<order_id>/<item_id>": the traveler label of an item
    Operator,   // "OP:<id>": an operator's badge
    Action,     // "MTO:A:<ACTION>[:<argument>]": a code of the action sheet
    Other,      // anything else: a carrier's tracking number after SHIPPED, or a code the agent does not know
};

enum class Action {
    QcPass,     // MTO:A:QC_PASS
    QcFail,     // MTO:A:QC_FAIL:<reason>, reason one of qcFailReasons()
    Packed,     // MTO:A:PACKED
    Shipped,    // MTO:A:SHIPPED, then the carrier's tracking barcode
    ClearBed,   // MTO:A:CLEAR:<machine>
    Resume,     // MTO:A:RESUME:<machine>
    Restart,    // MTO:A:RESTART:<machine>
    Scrap,      // MTO:A:SCRAP:<machine>
    Cancel,     // MTO:A:CANCEL: forget the scanner's current context
};

struct Scan {
    Kind kind = Kind::Other;
    std::string raw;          // the scan as read, without surrounding whitespace or line ends
    std::string orderId;      // Item
    std::string itemId;       // Item
    std::string operatorId;   // Operator
    Action action = Action::Cancel;   // Action
    std::string argument;     // Action: the QC failure reason or the machine id
    std::string error;        // non-empty when the code has our prefix but is malformed (kind is then Other)
};

std::string itemCode(const std::string& orderId, const std::string& itemId);
std::string operatorCode(const std::string& operatorId);
// `argument` is required for QcFail (a reason) and the machine actions (a machine id), refused otherwise.
std::string actionCode(Action action, const std::string& argument = "");

// Never throws; a malformed code of ours comes back as Other with `error` set.
Scan parse(std::string_view raw);

const char* toString(Action a);   // "qc_pass", "qc_fail", "packed", ...
// The reasons a QC failure can be scanned with, in the order the action sheet prints them.
const std::vector<std::string>& qcFailReasons();

} // namespace mto::barcode
