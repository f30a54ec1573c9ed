// SPDX-License-Identifier: Apache-2.0
// Baseline C of the ingest benchmark: the least a receiver can do that acknowledges only after a commit.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace mto::bench {

// The child side: `mto_bench --commit-subscriber URI TOPIC COUNT DATABASE` connects with Paho, subscribes at
// QoS1 and, inside the delivery callback (so Paho acknowledges only after it), commits each message as one
// row of a SQLite table (WAL, synchronous FULL: the agent's settings). It prints "ready" once subscribed and
// "done <monotonic ns of the last commit>" after COUNT messages. Returns the process exit code.
int runCommitSubscriber(int argc, char** argv);

// The parent side: starts that child against `uri`, publishes `payloads` on `topic` with the test HQ's client
// and returns the seconds from the first publish to the last commit.
double commitSubscriberSeconds(const std::string& uri, const std::string& topic,
                               const std::vector<std::string>& payloads, const std::filesystem::path& dir);

} // namespace mto::bench
