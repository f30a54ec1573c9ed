// SPDX-License-Identifier: Apache-2.0
// The MQTT side of the agent: Paho async client, outbox drain in seq order, status, reconnects.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <mqtt/async_client.h>
#include <random>
#include <map>
#include <set>
#include <vector>

#include "control/floor_view.hpp"
#include "uplink/status_report.hpp"
#include "scan/scanner.hpp"
#include "store/commit_queue.hpp"
#include "intake/intake.hpp"
#include "mto/config.hpp"
#include "store/order_store.hpp"
#include "uplink/paho_call_queue.hpp"

namespace mto {

// Thread-bound to the io_context; Paho's threads only post reports to the loop, with two exceptions
// written out below (the delivery callback and the publish gate).
//
// Invariants:
// - The loop owns every piece of delivery state: connect attempts (`conn_`, `connecting_`,
//   `pahoUp_`), the publish epoch (`epoch_`), `connected_`, the window (`nextSeq_`, `inflight_`)
//   and the delivery mark (`ackedSeq_`, `ackedAbove_`). Paho's threads never read or write them;
//   their reports carry the attempt or epoch the request was made for (in the token's user
//   context), and the loop judges them. A PUBACK counts whichever epoch it came in.
// - Every seq <= ackedSeq_ has a PUBACK; ackedAbove_ holds PUBACKs above ackedSeq_ + 1 (a hole below).
//   inflight_ ⊆ (ackedSeq_, nextSeq_).
// - Within one publish epoch seqs are handed to Paho strictly ascending. An epoch ends at a new
//   connection (the window restarts at ackedSeq_ + 1) or when Paho refuses a publish (the window
//   restarts at the refused seq): the publish gate guarantees nothing after the refused one reached
//   Paho. A publish that fails after Paho took it ends the connection instead: later seqs may be on the wire.
// - The publish gate: a publish call on Paho's side goes out only if its epoch is the live one
//   (`liveEpoch_`, written by the loop only) and no earlier publish of that epoch was refused
//   (`refusedEpoch_`, written by the Paho call sequence only, which runs one call at a time).
// - A connect starts only after Paho reported the previous connection lost (`pahoUp_` false), so
//   Paho never swaps connections under a window. Cutting a connection is a socket shutdown; the
//   reconnect waits for Paho's report of it.
// - Every connection gets a fresh Paho client, so nothing Paho queued on one connection is sent on the
//   next, and it has no offline buffer (sendWhileDisconnected off): a publish while disconnected is
//   refused. The broker keeps our session (clean_session false) across clients.
// - An inbound message is acknowledged only once committed: if Intake cannot commit it (disk full,
//   I/O error, stopping), the delivery thread shuts the broker socket down before the callback returns,
//   so the PUBACK Paho writes next cannot leave; the persistent session redelivers it after the reconnect.
// - Paho holds its internal lock while it delivers an inbound message, and an inbound order waits for
//   the loop; so the loop never calls Paho itself: every Paho call goes through a PahoCallQueue.
class Uplink {
public:
    Uplink(boost::asio::io_context& io, const Config& config, OrderStore& store, JobQueue& queue, CommitQueue& commits,
           Intake& intake);
    ~Uplink();

    void start();
    // New events were committed: publish what the window allows.
    void poke();
    // Publishes the retained status now (after a health change, say).
    void publishStatus();
    // Where the status reads the machines from (the agent's scheduler); none set: an empty list.
    void setMachines(std::function<std::vector<FloorMachine>()> machines) { machines_ = std::move(machines); }
    // Fills what other rooms add to the status (cameras and their alerts, what the media quota shed).
    void setStatusExtras(std::function<void(StatusInputs&)> f) { statusExtras_ = std::move(f); }
    // Where the status reads the scanners from; none set: an empty list. A scanner connecting or going away
    // calls machinesChanged() too (same coalescing).
    void setScanners(std::function<std::vector<ScannerStatus>()> scanners) { scanners_ = std::move(scanners); }
    // A machine's bay or driver state changed: the status goes out again soon, coalesced with other changes
    // to at most one publication per kMachineStatusGap.
    void machinesChanged();
    static constexpr std::chrono::milliseconds kMachineStatusGap{1000};
    // Waits for in-flight events (up to `grace`), stores the delivery mark, says offline, disconnects.
    void stop(std::chrono::milliseconds grace, std::function<void()> done);

    bool connected() const { return connected_; }
    std::int64_t ackedSeq() const { return ackedSeq_; }
    // Events wait in the outbox beyond what is in flight: a backlog is being worked through on a live connection.
    bool backlogged() const { return connected_ && !atTail_; }
    // Runs on the loop when the backlog ends (the outbox read reached its tail, or the connection went).
    void onBacklogEnd(std::function<void()> f) { backlogEnd_ = std::move(f); }

private:
    class PahoCallbacks;

    // Queues a call into Paho (see PahoCallQueue).
    void onPahoThread(std::function<void()> f);
    // On the Paho call sequence, off any delivery thread: replaces the client before a connect.
    void newClient();
    void connect();
    void scheduleReconnect();
    void onConnected(std::uint64_t conn);
    void onConnectFailed(std::uint64_t conn, const std::string& cause);
    void onConnectionLost(const std::string& cause);
    void dropConnection(const std::string& cause);
    void closeWindow();
    void openEpoch();
    // PUBACKs of events, in the order Paho reported them.
    void onAcked(const std::vector<std::int64_t>& seqs);
    void noteAcked(std::int64_t seq);
    void onPublishRefused(std::uint64_t epoch, std::int64_t firstUnsent, const std::string& why);
    void onPublishFailed(std::uint64_t epoch, std::int64_t seq);
    // Holds publishing back for `delay`, then tries again (closeWindow() ends the pause early).
    void pauseThenPoke(std::chrono::milliseconds delay);
    void persistAcked();
    void scheduleStatus();
    std::string statusTopic() const;
    std::string statusText(const std::string& state);
    void finishStop();
    void disconnectNow();
    void completeStop();

    boost::asio::io_context& io_;
    const Config& config_;
    OrderStore& store_;
    JobQueue& queue_;   // read for the status's queued work
    CommitQueue& commits_;
    Intake& intake_;
    PahoCallQueue pahoCalls_;
    // Declared before the client: the client's destruction fails pending requests into these listeners.
    std::unique_ptr<PahoCallbacks> callbacks_;
    std::unique_ptr<mqtt::async_client> client_;   // one per connection; touched on the Paho call sequence only
    mqtt::connect_options connectOptions_;

    bool connected_ = false;
    bool connecting_ = false;
    bool pahoUp_ = false;                // Paho holds a connection it has not reported lost
    bool paused_ = false;                // publishing waits a moment after a refusal
    bool stopping_ = false;
    int attempts_ = 0;
    std::uint64_t conn_ = 0;             // connect attempts so far; reports of another one are stale
    std::uint64_t epoch_ = 0;            // publish epochs so far (see the invariants)
    std::int64_t ackedSeq_ = 0;
    std::int64_t persistedAcked_ = 0;
    std::int64_t nextSeq_ = 1;           // next event to publish on this connection
    std::set<std::int64_t> inflight_;
    bool atTail_ = false;                // the last read of the outbox found fewer events than it asked for
    std::set<std::int64_t> ackedAbove_;
    std::atomic<std::uint64_t> liveEpoch_{0};     // written by the loop: the epoch publishes may use
    std::atomic<std::uint64_t> refusedEpoch_{0};  // written by the Paho call sequence only
    bool persistScheduled_ = false;
    boost::asio::steady_timer reconnectTimer_;
    boost::asio::steady_timer retryTimer_;
    boost::asio::steady_timer persistTimer_;
    boost::asio::steady_timer statusTimer_;
    boost::asio::steady_timer machinesTimer_;
    bool machinesTimerArmed_ = false;
    std::chrono::steady_clock::time_point lastStatusAt_{};
    std::function<std::vector<FloorMachine>()> machines_;
    std::function<void(StatusInputs&)> statusExtras_;
    std::function<std::vector<ScannerStatus>()> scanners_;
    boost::asio::steady_timer stopTimer_;
    enum class StopPhase { Running, Draining, Closing, Done };
    StopPhase stopPhase_ = StopPhase::Running;
    std::function<void()> stopDone_;
    std::function<void()> backlogEnd_;
    void noteTail(bool atTail);
    std::mt19937 rng_{std::random_device{}()};
};

} // namespace mto
