// SPDX-License-Identifier: Apache-2.0
// The shop floor's barcode texts: what labels print parses back to the same thing; bad codes are named.
#include <gtest/gtest.h>

#include "mto/barcode.hpp"
#include "mto/error.hpp"

namespace mto::barcode {
namespace {

TEST(Barcode, EveryCodeWeMakeParsesBackToWhatItSays) {
    auto item = parse(itemCode("ORD-1001", "1"));
    EXPECT_EQ(item.kind, Kind::Item);
    EXPECT_EQ(item.orderId, "ORD-1001");
    EXPECT_EQ(item.itemId, "1");
    auto badge = parse(operatorCode("ana.k"));
    EXPECT_EQ(badge.kind, Kind::Operator);
    EXPECT_EQ(badge.operatorId, "ana.k");
    for (const auto& reason : qcFailReasons()) {
        auto fail = parse(actionCode(Action::QcFail, reason));
        EXPECT_EQ(fail.kind, Kind::Action);
        EXPECT_EQ(fail.action, Action::QcFail);
        EXPECT_EQ(fail.argument, reason);
    }
    for (Action a : {Action::ClearBed, Action::Resume, Action::Restart, Action::Scrap}) {
        auto s = parse(actionCode(a, "laser:1"));
        EXPECT_EQ(s.kind, Kind::Action);
        EXPECT_EQ(s.action, a);
        EXPECT_EQ(s.argument, "laser:1") << "machine ids may hold colons";
    }
    for (Action a : {Action::QcPass, Action::Packed, Action::Shipped, Action::Cancel}) {
        auto s = parse(actionCode(a));
        EXPECT_EQ(s.kind, Kind::Action);
        EXPECT_EQ(s.action, a);
        EXPECT_TRUE(s.argument.empty());
    }
    EXPECT_EQ(actionCode(Action::QcPass), "MTO:A:QC_PASS");
    EXPECT_EQ(itemCode("ORD-1", "2"), "MTO:I:ORD-1/2");
}

TEST(Barcode, ScannerLineEndsAndSpacesAreTrimmed) {
    auto s = parse("  MTO:I:ORD-1/2\r\n");
    EXPECT_EQ(s.kind, Kind::Item);
    EXPECT_EQ(s.raw, "MTO:I:ORD-1/2");
}

TEST(Barcode, ATrackingNumberIsOtherWithoutError) {
    auto s = parse("1Z999AA10123456784");
    EXPECT_EQ(s.kind, Kind::Other);
    EXPECT_TRUE(s.error.empty());
    EXPECT_EQ(s.raw, "1Z999AA10123456784");
}

TEST(Barcode, OurPrefixWithABadBodyIsOtherWithTheReason) {
    for (const char* bad : {"MTO:I:ORD-1", "MTO:I:ORD 1/2", "MTO:I:/2", "OP:", "OP:a b", "MTO:A:EXPLODE",
                            "MTO:A:QC_FAIL", "MTO:A:QC_FAIL:ugly", "MTO:A:CLEAR", "MTO:A:CLEAR:", "MTO:A:PACKED:x"}) {
        auto s = parse(bad);
        EXPECT_EQ(s.kind, Kind::Other) << bad;
        EXPECT_FALSE(s.error.empty()) << bad;
    }
}

TEST(Barcode, MakingACodeFromBadPartsThrows) {
    EXPECT_THROW(itemCode("ORD 1", "1"), Error);
    EXPECT_THROW(operatorCode(""), Error);
    EXPECT_THROW(actionCode(Action::QcFail, "ugly"), Error);
    EXPECT_THROW(actionCode(Action::ClearBed), Error);
    EXPECT_THROW(actionCode(Action::Packed, "x"), Error);
}

} // namespace
} // namespace mto::barcode
