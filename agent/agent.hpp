// SPDX-License-Identifier: Apache-2.0
// The daemon: one io_context wiring store, intake and uplink, with systemd readiness, watchdog and signals.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "catalog.hpp"
#include "util/clock.hpp"
#include "store/commit_queue.hpp"
#include "compiler/compile_queue.hpp"
#include "control/control_server.hpp"
#include "control/floor_view.hpp"
#include "scan/scan_workflow.hpp"
#include "scan/scanner.hpp"
#include "scheduler/job_queue.hpp"
#include "scheduler/scheduler.hpp"
#include "store/database.hpp"
#include "intake/intake.hpp"
#include "labels/labeler.hpp"
#include "mto/config.hpp"
#include "store/order_store.hpp"
#include "station/station_feed.hpp"
#include "station/station_server.hpp"
#include "uplink/media_uplink.hpp"
#include "uplink/uplink.hpp"
#include "media/media_quota.hpp"
#include "media/media_store.hpp"
#include "qc/qc_cameras.hpp"

namespace mto {

// Thread-bound: run() makes the calling thread the loop thread.
class Agent {
public:
    explicit Agent(Config config);
    ~Agent();

    // Runs until SIGTERM or SIGINT; returns the process exit code.
    int run();

private:
    void onSignal(int signo);
    // The last step of a stop, once machines, uplink and media lane are done: the loop ends.
    void finishShutdown();
    void reload();
    void scheduleWatchdog();
    void addMachines(const Catalog& catalog);
    // A [[machines.jigs]] table checked against the machine's profile and the catalog (errors name `at`).
    Jig jigOf(const Catalog& catalog, const MachineProfile& profile, const JigConfig& c, const std::string& at) const;
    // A printer's plate (plate_max_parts > 1): the SKUs rendered from templates on its profile, sliced together.
    void addPlate(const Catalog& catalog, const MachineConfig& m, const MachineProfile& profile);
    // The slicer profile of each SKU a plate takes, shared with the plate builder's thread.
    std::shared_ptr<std::map<std::string, std::filesystem::path>> plateSlicerProfiles_ =
        std::make_shared<std::map<std::string, std::filesystem::path>>();
    void addScanners();
    std::string control(const std::vector<std::string>& words);
    std::vector<FloorMachine> floorMachines() const;
    FloorView floorView(std::size_t queueHead) const;

    // Queued jobs the control channel's `status` lists unless asked for another number, and at most.
    static constexpr std::size_t kStatusQueueHead = 50;
    static constexpr std::size_t kStatusQueueMax = 1000;

    Config config_;
    boost::asio::io_context io_;
    SystemClock clock_;
    std::unique_ptr<Database> db_;
    std::unique_ptr<OrderStore> store_;
    std::unique_ptr<CommitQueue> commits_;
    std::unique_ptr<Intake> intake_;
    std::unique_ptr<CompileQueue> compiler_;
    std::unique_ptr<JobQueue> jobQueue_;
    std::unique_ptr<PrintJobCompiler> plateCompiler_;   // printers' plates; outlives the scheduler that calls it
    std::unique_ptr<Scheduler> scheduler_;
    std::unique_ptr<MediaStore> media_;
    std::unique_ptr<MediaQuota> mediaQuota_;
    std::unique_ptr<QcCameras> qc_;   // after the store and commit queue it writes through
    std::unique_ptr<Labeler> labeler_;   // null with labels.enabled = false
    std::unique_ptr<ControlServer> control_;
    std::unique_ptr<ScanWorkflow> scans_;
    std::vector<std::unique_ptr<Scanner>> scanners_;
    std::unique_ptr<Uplink> uplink_;
    std::unique_ptr<MediaUplink> mediaUplink_;   // proofs and snapshots, on a broker connection of their own
    // What the station display shows; the rooms that feed it call stationFeed_.changed().
    StationFeed stationFeed_;
    bool afterCommitPosted_ = false;   // the work that follows commits is queued on the loop
    std::unique_ptr<StationServer> station_;   // null without a [station] section
    boost::asio::signal_set signals_;
    boost::asio::steady_timer watchdog_;
    std::chrono::microseconds watchdogInterval_{0};
};

} // namespace mto
