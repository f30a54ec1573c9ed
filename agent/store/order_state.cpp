// SPDX-License-Identifier: Apache-2.0
// The one table of legal order state transitions.
#include "mto/order_state.hpp"

#include <array>
#include <utility>

namespace mto {

namespace {

constexpr std::array<std::pair<OrderState, const char*>, 9> kNames{{
    {OrderState::Received, "received"},
    {OrderState::Accepted, "accepted"},
    {OrderState::Scheduled, "scheduled"},
    {OrderState::InProduction, "in_production"},
    {OrderState::ReadyToShip, "ready_to_ship"},
    {OrderState::Shipped, "shipped"},
    {OrderState::OnHold, "on_hold"},
    {OrderState::Cancelled, "cancelled"},
    {OrderState::Rejected, "rejected"},
}};

using S = OrderState;

// Forward moves of production, plus hold (from any state before shipping) and cancel (before shipping).
// Leaving OnHold goes back to the state the order was held in; the store checks that separately.
constexpr std::array<std::pair<S, S>, 24> kLegal{{
    {S::Received, S::Accepted},
    {S::Accepted, S::Scheduled},
    {S::Scheduled, S::InProduction},
    {S::InProduction, S::ReadyToShip},
    {S::ReadyToShip, S::Shipped},
    {S::Received, S::OnHold},
    {S::Accepted, S::OnHold},
    {S::Scheduled, S::OnHold},
    {S::InProduction, S::OnHold},
    {S::ReadyToShip, S::OnHold},
    {S::OnHold, S::Received},
    {S::OnHold, S::Accepted},
    {S::OnHold, S::Scheduled},
    {S::OnHold, S::InProduction},
    {S::OnHold, S::ReadyToShip},
    // Compiling goes on while an order is held; an order refused then is resumed into its refusal.
    {S::OnHold, S::Rejected},
    {S::Received, S::Cancelled},
    {S::Accepted, S::Cancelled},
    {S::Scheduled, S::Cancelled},
    // Units already running then follow their machine's policy (finish or stop); no other unit starts.
    {S::InProduction, S::Cancelled},
    {S::OnHold, S::Cancelled},
    {S::Received, S::Rejected},
    {S::Rejected, S::Received},
    {S::Rejected, S::Cancelled},
}};

} // namespace

const char* toString(OrderState s) {
    for (const auto& [state, name] : kNames)
        if (state == s) return name;
    return "unknown";
}

std::optional<OrderState> orderStateFromString(std::string_view s) {
    for (const auto& [state, name] : kNames)
        if (s == name) return state;
    return std::nullopt;
}

bool isLegalTransition(OrderState from, OrderState to) {
    for (const auto& [a, b] : kLegal)
        if (a == from && b == to) return true;
    return false;
}

bool acceptsRevision(OrderState s) {
    return s == S::Received || s == S::Accepted || s == S::Scheduled || s == S::OnHold || s == S::Rejected;
}

bool isTerminal(OrderState s) { return s == S::Shipped || s == S::Cancelled; }

} // namespace mto
