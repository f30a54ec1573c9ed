// SPDX-License-Identifier: Apache-2.0
// What the floor looks like now (machines, the units on them, the head of the queue) and its JSON form.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scheduler/job_queue.hpp"

namespace mto {

// The unit on a machine.
struct FloorJob {
    std::string orderId;
    std::string itemId;
    std::string operation;
    std::int64_t unit = 1;
    std::int64_t qty = 0;        // 0 when unknown (a unit found on the machine after an agent restart)
    int percent = 0;             // 0..100 of its program
    double secondsLeft = -1;     // < 0 when unknown
};

// The jobs a machine's driver refused since it last connected (it takes other work meanwhile), and the last.
struct FloorRefusal {
    std::size_t jobs = 0;
    std::string orderId;
    std::string itemId;
    std::string operation;
    std::int64_t unit = 1;
    std::string reason;          // the driver's, machine-readable
    std::string message;
};

struct FloorMachine {
    std::string id;
    std::string profile;
    std::string capability;
    std::string bay;             // ready | running | awaiting_clear | needs_attention
    std::string state;           // the driver's: disconnected | connecting | idle | running | paused | alarm | refused
    std::string detail;          // the driver's words with its last state change
    std::optional<FloorJob> job;
    std::string reason;          // why it needs attention; empty otherwise
    std::optional<FloorRefusal> refused{};   // none: it refused nothing
};

struct FloorView {
    std::string factory;
    std::string at;                                    // RFC 3339, when the agent answered
    std::vector<FloorMachine> machines;
    std::vector<QueueEntry> queue;                     // the head of the queue, in queue order
    std::map<std::string, double> queuedSeconds;       // per capability
};

// One machine as the control channel and the retained status give it.
boost::json::object machineJson(const FloorMachine& m);

// The control channel's `status` answer: one line of JSON.
std::string floorViewJson(const FloorView& v);

// Reads an answer written by floorViewJson; throws mto::Error saying what is wrong when it is not one.
FloorView parseFloorView(std::string_view json);

} // namespace mto
