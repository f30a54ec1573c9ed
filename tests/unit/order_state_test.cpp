// SPDX-License-Identifier: Apache-2.0
// The order state table: legal moves, revisions and terminal states.
#include <gtest/gtest.h>

#include "mto/order_state.hpp"

namespace mto {
namespace {

TEST(OrderState, NamesRoundTrip) {
    for (auto s : {OrderState::Received, OrderState::Accepted, OrderState::Scheduled, OrderState::InProduction,
                   OrderState::ReadyToShip, OrderState::Shipped, OrderState::OnHold, OrderState::Cancelled})
        EXPECT_EQ(orderStateFromString(toString(s)), s);
    EXPECT_FALSE(orderStateFromString("bogus"));
}

TEST(OrderState, ShippedAndCancelledOrdersNeverMoveAgain) {
    for (auto from : {OrderState::Shipped, OrderState::Cancelled})
        for (auto to : {OrderState::Received, OrderState::Accepted, OrderState::OnHold, OrderState::Cancelled,
                        OrderState::Shipped})
            EXPECT_FALSE(isLegalTransition(from, to)) << toString(from) << "->" << toString(to);
}

TEST(OrderState, ProductionCanBeHeldOrCancelledButMadeGoodsAreNotCancelled) {
    EXPECT_TRUE(isLegalTransition(OrderState::InProduction, OrderState::Cancelled));
    EXPECT_FALSE(isLegalTransition(OrderState::ReadyToShip, OrderState::Cancelled));
    EXPECT_TRUE(isLegalTransition(OrderState::InProduction, OrderState::OnHold));
    EXPECT_TRUE(isLegalTransition(OrderState::Received, OrderState::Cancelled));
}

TEST(OrderState, MilestonesNeverGoBackwards) {
    EXPECT_FALSE(isLegalTransition(OrderState::Accepted, OrderState::Received));
    EXPECT_FALSE(isLegalTransition(OrderState::ReadyToShip, OrderState::InProduction));
    EXPECT_FALSE(isLegalTransition(OrderState::Shipped, OrderState::ReadyToShip));
}

TEST(OrderState, RevisionsOnlyBeforeProduction) {
    EXPECT_TRUE(acceptsRevision(OrderState::Received));
    EXPECT_TRUE(acceptsRevision(OrderState::OnHold));
    EXPECT_FALSE(acceptsRevision(OrderState::InProduction));
    EXPECT_FALSE(acceptsRevision(OrderState::Cancelled));
}

TEST(OrderState, HeldOrderRefusedAtCompileCanBeResumedIntoItsRefusal) {
    EXPECT_TRUE(isLegalTransition(OrderState::OnHold, OrderState::Rejected));
    EXPECT_FALSE(isLegalTransition(OrderState::Rejected, OrderState::OnHold)) << "a refused order is not held";
}

} // namespace
} // namespace mto
