// SPDX-License-Identifier: Apache-2.0
// The life of an order: its states and the one table of legal transitions.
#pragma once

#include <optional>
#include <string_view>

namespace mto {

enum class OrderState {
    Received,
    Accepted,
    Scheduled,
    InProduction,
    ReadyToShip,
    Shipped,
    OnHold,
    Cancelled,
    Rejected,   // an item could not be compiled; a new revision brings it back to Received
};

const char* toString(OrderState s);
std::optional<OrderState> orderStateFromString(std::string_view s);

// True when moving from `from` to `to` is allowed. Every state change in the agent asks this.
bool isLegalTransition(OrderState from, OrderState to);

// True while a new revision may still replace the order (nothing has been produced yet).
bool acceptsRevision(OrderState s);

// True for states an order never leaves.
bool isTerminal(OrderState s);

} // namespace mto
