// SPDX-License-Identifier: Apache-2.0
// The daemon: one io_context wiring store, intake and uplink, with systemd readiness, watchdog and signals.
#include <algorithm>
#include "agent.hpp"

#include "grbl/grbl_driver.hpp"
#include "marlin/marlin_driver.hpp"
#include "moonraker/moonraker_driver.hpp"
#include "octoprint/octoprint_driver.hpp"

#include <boost/asio/post.hpp>
#include <csignal>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "util/logging.hpp"
#include "store/migrations.hpp"

namespace mto {

Agent::Agent(Config config)
    : config_(std::move(config)), signals_(io_, SIGTERM, SIGINT, SIGHUP), watchdog_(io_) {
    std::error_code ec;
    std::filesystem::create_directories(config_.stateDir, ec);
    if (ec) throw Error("storage.state_dir " + config_.stateDir.string() + ": cannot create: " + ec.message());
    auto catalog = std::make_shared<const Catalog>(Catalog::load(config_.intake.catalogPath));
    db_ = std::make_unique<Database>(config_.databasePath(), Database::Mode::ReadWrite);
    migrate(*db_);
    store_ = std::make_unique<OrderStore>(*db_, config_.factoryId, clock_);
    commits_ = std::make_unique<CommitQueue>(io_, *db_);
    store_->setStateDir(config_.stateDir);
    media_ = std::make_unique<MediaStore>(*db_, config_.stateDir);
    {
        // Nothing is in flight after a start: media sent before and never acknowledged go out again.
        Transaction txn(*db_);
        media_->requeueSent();
        txn.commit();
    }
    mediaQuota_ = std::make_unique<MediaQuota>(*commits_, *store_, *media_, config_.stateDir, config_.mediaQuotaBytes,
                                               clock_);
    // Long answers (a resync of every open order) go on page by page, each page its own transaction.
    store_->onFollowUp([this](std::function<void()> work) { commits_->submit(std::move(work), {}); });
    ParseLimits limits;
    limits.maxPayloadBytes = config_.intake.maxPayloadBytes;
    limits.maxItems = config_.intake.maxItems;
    intake_ = std::make_unique<Intake>(io_, *commits_, *store_, config_.factoryId, limits, catalog);
    // A new order is committed on the MQTT delivery thread that received it, through a connection of its own:
    // its PUBACK then waits for its fsync only, not also for two hand-offs to this loop and back.
    intake_->storeNewOrdersOnDelivery(std::make_unique<Database>(*db_, Database::Mode::ReadWrite), clock_);
    compiler_ = std::make_unique<CompileQueue>(io_, *commits_, *store_, config_.stateDir, catalog, config_.sliceCacheMaxBytes);
    intake_->onOrderStored([this](const std::string& id, std::optional<CompileInput> content) {
        if (content)
            compiler_->enqueue(std::move(*content));
        else
            compiler_->enqueue(id);
    });
    jobQueue_ = std::make_unique<JobQueue>(*db_);
    scheduler_ = std::make_unique<Scheduler>(
        io_, *commits_, *store_, *jobQueue_,
        [dir = config_.stateDir](const std::string& sha) { return CompileQueue::loadArtifact(dir, sha); }, clock_);
    scheduler_->setProgressStep(config_.progressStepPercent);
    ForecastOptions forecast;
    forecast.bedClearS = static_cast<double>(config_.bedClearAllowance.count());
    scheduler_->setForecastOptions(forecast);
    addMachines(*catalog);
    qc_ = std::make_unique<QcCameras>(io_, *commits_, *store_, *media_, config_.stateDir, config_.cameras, clock_);
    // The unit's milestone is committed before the camera is asked: production never waits for a shot.
    scheduler_->onUnitMilestone([this](const Scheduler::UnitMilestone& m) { qc_->onUnitMilestone(m); });
    if (config_.labels.enabled)
        labeler_ = std::make_unique<Labeler>(io_, *commits_, *db_, config_.labels, config_.stateDir, clock_,
                                             makeLabelPrinter(io_, config_.labels));
    addScanners();
    control_ = std::make_unique<ControlServer>(io_, config_.stateDir / "control.sock",
                                               [this](const std::vector<std::string>& words) { return control(words); });
    uplink_ = std::make_unique<Uplink>(io_, config_, *store_, *jobQueue_, *commits_, *intake_);
    // Every commit may bring new events (for HQ) and new work (a compiled order, a resumed one, a cleared bed).
    // The uplink comes first and at once: an inbound order's receipt is then queued before its delivery
    // thread is released (it publishes the receipt on its way out). The rest runs right after the commit's
    // handlers, once for any number of commits before it: none of it need delay a delivery's PUBACK.
    commits_->onCommitted([this] {
        uplink_->poke();
        if (afterCommitPosted_) return;
        afterCommitPosted_ = true;
        boost::asio::post(io_, [this] {
            afterCommitPosted_ = false;
            mediaUplink_->poke();
            scheduler_->poke();
            mediaQuota_->check();
            // The queue a station shows may have changed (coalesced; nothing happens while no page is open).
            stationFeed_.changed();
            if (labeler_) labeler_->poke();   // an `accepted` milestone brings labels to draw
        });
    });
    mediaUplink_ = std::make_unique<MediaUplink>(io_, config_, *store_, *commits_, *media_);
    mediaUplink_->setEventsWaiting([this] { return uplink_->backlogged(); });
    uplink_->onBacklogEnd([this] { mediaUplink_->poke(); });
    uplink_->setStatusExtras([this](StatusInputs& in) {
        in.cameras = qc_->statusJson();
        in.alerts = qc_->alerts();
        in.shed = mediaQuota_->statusJson();
    });
    qc_->onChange([this] { uplink_->machinesChanged(); });
    commits_->onHealthChange([this](const std::string&) { uplink_->publishStatus(); });
    uplink_->setMachines([this] { return floorMachines(); });
    scheduler_->onMachineChange([this] { uplink_->machinesChanged(); });
    stationFeed_.floor = [this](std::size_t queueHead) { return floorView(queueHead); };
    // The last scans of a station's scanners (every scanner when it names none), newest first.
    stationFeed_.scans = [this](const StationConfig& station, std::size_t n) {
        std::vector<ScanLine> out;
        // Read a wider window than shown, so a busy scanner of another station does not crowd this one out.
        for (const auto& r : scans_->recent(n * 8)) {
            if (out.size() >= n) break;
            if (!station.scanners.empty() &&
                std::find(station.scanners.begin(), station.scanners.end(), r.scanner) == station.scanners.end())
                continue;
            out.push_back({formatRfc3339Ms(r.atMs), r.scanner, r.raw, r.accepted ? "accepted" : "refused", r.message,
                           r.operatorId});
        }
        return out;
    };
    scans_->onChange([this] { stationFeed_.changed(); });
    stationFeed_.latestSnapshot = [this](const StationConfig& station) -> std::optional<SnapshotRef> {
        auto v = media_->latestSnapshot(station.machines);
        if (!v || !v->imageOnDisk) return std::nullopt;   // a shed picture cannot be shown
        return SnapshotRef{v->shot.mediaSha256, formatRfc3339Ms(v->shot.atMs), v->shot.machineId, v->shot.orderId,
                           v->shot.itemId, v->shot.flags};
    };
    // The QC verdict names the shot taken when the item's last unit finished; a scan never waits for a camera.
    scans_->setSnapshotLookup([this](const std::string& orderId, const std::string& itemId) -> std::optional<std::string> {
        auto v = media_->latestQcSnapshot(orderId, itemId);
        if (!v || v->shot.mediaSha256.empty()) return std::nullopt;
        return v->shot.mediaSha256;
    });
    scheduler_->onMachineChange([this] { stationFeed_.changed(); });
    if (config_.station.enabled)
        station_ = std::make_unique<StationServer>(io_, config_.station, config_.factoryId, config_.stateDir / "media",
                                                   stationFeed_);
    uplink_->setScanners([this] {
        std::vector<ScannerStatus> out;
        for (const auto& s : scanners_) out.push_back(s->status());
        return out;
    });
    spdlog::info("mto-agent {} for factory {}: database {} (schema {}), catalog {} ({} SKUs)", MTO_VERSION,
                 config_.factoryId, config_.databasePath().string(), schemaVersion(*db_),
                 config_.intake.catalogPath.string(), catalog->size());
}

Jig Agent::jigOf(const Catalog& catalog, const MachineProfile& profile, const JigConfig& c, const std::string& at) const {
    auto fail = [&](const std::string& key, const std::string& what) {
        throw Error(config_.sourcePath.string() + ": key '" + at + key + "': " + what);
    };
    if (auto i = slotOutsideEnvelope(c.slots, profile)) {
        const JigSlot& s = c.slots[*i];
        fail(".slots", "slot " + std::to_string(*i) + " (x " + std::to_string(s.x) + ".." + std::to_string(s.x + s.width) +
                           ", y " + std::to_string(s.y) + ".." + std::to_string(s.y + s.height) +
                           " mm) is outside the work area of profile " + profile.name + " (0.." +
                           std::to_string(profile.sizeX) + " x 0.." + std::to_string(profile.sizeY) + " mm)");
    }
    Jig jig{c.id, c.slots, {}};
    for (const auto& sku : c.skus) {
        const CatalogEntry* e = catalog.find(sku);
        if (!e) fail(".skus", "the catalog has no SKU " + sku);
        bool onThisMachine = false;
        for (const Operation& op : e->operations) onThisMachine |= op.machine == profile.name;
        if (!onThisMachine) fail(".skus", "SKU " + sku + " is not made on machine profile " + profile.name);
        if (!e->workArea || e->workArea->width <= 0 || e->workArea->height <= 0)
            fail(".skus", "SKU " + sku + " has no work_area in the catalog: where its part lies is not known");
        if (e->workArea->width > c.slots.front().width + 1e-9 || e->workArea->height > c.slots.front().height + 1e-9)
            fail(".slot_width", "SKU " + sku + "'s work area (" + std::to_string(e->workArea->width) + " x " +
                                    std::to_string(e->workArea->height) + " mm) does not fit a slot");
        jig.partOrigins[sku] = {e->workArea->x, e->workArea->y};
    }
    return jig;
}

namespace {

std::unique_ptr<MachineDriver> makeGrblDriver(boost::asio::io_context& io, const MachineConfig& m,
                                              const MachineProfile& p, DriverListener& listener) {
    grbl::GrblDriverOptions o;
    o.machineId = m.id;
    o.port = m.port;
    o.baud = m.baud;
    o.profile = p;
    o.characterCounting = m.characterCounting;
    o.dryRun = m.dryRun;
    o.statusWhileRunning = m.statusWhileRunning;
    o.statusWhileIdle = m.statusWhileIdle;
    return std::make_unique<grbl::GrblDriver>(io, o, listener);
}

std::unique_ptr<MachineDriver> makeMarlinDriver(boost::asio::io_context& io, const MachineConfig& m,
                                                const MachineProfile& p, DriverListener& listener) {
    marlin::MarlinDriverOptions o;
    o.machineId = m.id;
    o.port = m.port;
    o.baud = m.baud;
    o.profile = p;
    o.inFlight = m.inFlight;
    if (m.pauseGcode) o.pauseGcode = *m.pauseGcode;
    if (m.resumeGcode) o.resumeGcode = *m.resumeGcode;
    if (m.cancelGcode) o.cancelGcode = *m.cancelGcode;
    return std::make_unique<marlin::MarlinDriver>(io, o, listener);
}

http::PrintHostOptions printHostOptions(const MachineConfig& m, const MachineProfile& p) {
    http::PrintHostOptions o;
    o.machineId = m.id;
    o.url = m.url;
    o.apiKey = m.apiKey;
    o.profile = p;
    o.pollInterval = m.pollInterval;
    return o;
}

std::unique_ptr<MachineDriver> makeOctoPrintDriver(boost::asio::io_context& io, const MachineConfig& m,
                                                   const MachineProfile& p, DriverListener& listener) {
    return std::make_unique<octoprint::OctoPrintDriver>(io, printHostOptions(m, p), listener);
}

std::unique_ptr<MachineDriver> makeMoonrakerDriver(boost::asio::io_context& io, const MachineConfig& m,
                                                   const MachineProfile& p, DriverListener& listener) {
    return std::make_unique<moonraker::MoonrakerDriver>(io, printHostOptions(m, p), listener);
}

using DriverMaker = std::unique_ptr<MachineDriver> (*)(boost::asio::io_context&, const MachineConfig&,
                                                       const MachineProfile&, DriverListener&);

// The driver for a [[machines]] entry, and the capabilities it runs; throws naming the key when they do not fit.
DriverMaker driverFor(const MachineConfig& m, const MachineProfile& profile, const std::string& where) {
    const auto& cap = profile.capability;
    auto wrong = [&](const char* runs) {
        return Error(where + ".driver': " + m.driver + " runs " + runs + " machines; profile " + m.profile + " is " + cap);
    };
    if (m.driver == "grbl") {
        if (cap == "fdm")
            throw Error(where + ".driver': grbl runs laser and cnc machines; profile " + m.profile +
                        " is fdm (use driver = \"marlin\" for a printer on a serial line, \"octoprint\" or "
                        "\"moonraker\" for one behind a print host)");
        if (cap != "laser" && cap != "cnc") throw wrong("laser and cnc");
        return makeGrblDriver;
    }
    if (m.driver == "marlin") {
        if (cap != "fdm")
            throw Error(where + ".driver': marlin runs fdm printers; profile " + m.profile + " is " + cap +
                        " (use driver = \"grbl\")");
        return makeMarlinDriver;
    }
    if (m.driver == "octoprint") {
        if (cap != "fdm") throw wrong("fdm");
        return makeOctoPrintDriver;
    }
    if (m.driver == "moonraker") {
        if (cap != "fdm") throw wrong("fdm");
        return makeMoonrakerDriver;
    }
    throw Error(where + ".driver': no driver named " + m.driver);
}

} // namespace

void Agent::addMachines(const Catalog& catalog) {
    scheduler_->setProofWriter([dir = config_.stateDir](const std::string& sha, const std::string& png) {
        writeFileDurably(CompileQueue::mediaPath(dir, sha), png);
    });
    for (std::size_t i = 0; i < config_.machines.size(); ++i) {
        const MachineConfig& m = config_.machines[i];
        const MachineProfile* profile = catalog.machine(m.profile);
        if (!profile)
            throw Error(config_.sourcePath.string() + ": key 'machines[" + std::to_string(i) + "].profile': the catalog " +
                        config_.intake.catalogPath.string() + " has no [machine." + m.profile + "]");
        const DriverMaker make =
            driverFor(m, *profile, config_.sourcePath.string() + ": key 'machines[" + std::to_string(i) + "]");
        if (m.driver != "grbl" && !m.jigs.empty())
            throw Error(config_.sourcePath.string() + ": key 'machines[" + std::to_string(i) +
                        "].jigs': jig programs are built for grbl machines (lasers and routers); a printer's plate of "
                        "several parts comes from the slicer (plate_max_parts)");
        MachineSlot slot{m.id, m.profile, profile->capability, {}};
        const auto& allowed = m.materials.empty() ? catalog.materialsAllowedOn(m.profile)
                                                  : std::set<std::string>(m.materials.begin(), m.materials.end());
        slot.materials = allowed;
        scheduler_->addMachine(slot, [this, m, p = *profile, make](DriverListener& listener) {
            return make(io_, m, p, listener);
        }, MachinePolicy{m.pauseOnHold, m.stopOnCancel});
        spdlog::info("machine {}: {} ({}) via {} on {}", m.id, m.profile, profile->capability, m.driver,
                     m.url.empty() ? m.port : m.url);
        for (std::size_t k = 0; k < m.jigs.size(); ++k) {
            scheduler_->addJig(m.id, jigOf(catalog, *profile, m.jigs[k], "machines[" + std::to_string(i) + "].jigs[" +
                                                                            std::to_string(k) + "]"),
                               *profile);
            spdlog::info("machine {}: jig {} with {} slots", m.id, m.jigs[k].id, m.jigs[k].slots.size());
        }
        if (m.plateMaxParts > 1) addPlate(catalog, m, *profile);
    }
}

void Agent::addPlate(const Catalog& catalog, const MachineConfig& m, const MachineProfile& profile) {
    // Every SKU rendered from a template on this profile can share a plate; pre-sliced prints have no model.
    Jig plate{"plate", {}, {}, m.plateMaxParts};
    auto slicerProfiles = plateSlicerProfiles_;   // filled before the agent runs, read-only afterwards
    for (const auto& [sku, e] : catalog.entries())
        for (const Operation& op : e.operations)
            if (op.generator == "print_scad" && op.machine == profile.name) {
                plate.partOrigins[sku] = {0, 0};
                (*slicerProfiles)[sku] = e.printerProfile;
            }
    if (plate.partOrigins.empty()) {
        spdlog::warn("machine {}: plate_max_parts = {}, but no SKU on profile {} is rendered from a template; every "
                     "print runs alone",
                     m.id, m.plateMaxParts, profile.name);
        return;
    }
    if (!plateCompiler_) {
        plateCompiler_ = std::make_unique<PrintJobCompiler>(
            CompileQueue::printToolOptions(config_.stateDir, config_.sliceCacheMaxBytes));
        PrintJobCompiler* compiler = plateCompiler_.get();
        Scheduler::PlateTools tools;
        tools.hasModel = [compiler](const std::string& sha) { return compiler->modelOf(sha).has_value(); };
        tools.build = [compiler, slicerProfiles](const Jig& jig, const std::vector<JigPlacement>& placements,
                                                 const MachineProfile& p, bool withProof) -> std::variant<JigProgram, JigRefusal> {
            if (placements.empty()) return JigRefusal{"no_units", "no part for plate " + jig.id};
            auto slicer = slicerProfiles->find(placements.front().sku);
            if (slicer == slicerProfiles->end())
                return JigRefusal{"no_units", "plate " + jig.id + " does not take SKU " + placements.front().sku};
            PlateRequest request;
            request.profilePath = slicer->second;
            request.bedX = p.sizeX;
            request.bedY = p.sizeY;
            for (const JigPlacement& part : placements) {
                auto model = part.artifact ? compiler->modelOf(part.artifact->sha256) : std::nullopt;
                if (!model) return JigRefusal{"slice_failed", "the model of " + part.label + " is no longer kept"};
                request.parts.push_back({*model});
            }
            PlateResult sliced;
            try {
                sliced = compiler->compilePlate(request);
            } catch (const PlateDoesNotFit& e) {
                return JigRefusal{"does_not_fit", e.what()};
            } catch (const std::exception& e) {
                return JigRefusal{"slice_failed", e.what()};
            }
            if (!sliced.cacheHit)
                spdlog::info("{}: prusa-slicer sliced a plate of {} parts ({})", jig.id, placements.size(),
                             placements.front().label);
            PlateSlice slice{std::move(sliced.artifact), {}};
            for (const PlacedPart& b : sliced.placed) slice.parts.push_back({b.minX, b.minY, b.maxX - b.minX, b.maxY - b.minY});
            return buildPlateProgram(jig, placements, std::move(slice), p, withProof);
        };
        scheduler_->setPlateTools(std::move(tools));
    }
    spdlog::info("machine {}: plates of up to {} parts arranged by the slicer on {} x {} mm ({} SKUs)", m.id,
                 m.plateMaxParts, profile.sizeX, profile.sizeY, plate.partOrigins.size());
    scheduler_->addJig(m.id, std::move(plate), profile);
}

void Agent::addScanners() {
    scans_ = std::make_unique<ScanWorkflow>(io_, *commits_, *store_, *jobQueue_,
                                            [this](barcode::Action a, const std::string& machine) {
        switch (a) {
        case barcode::Action::ClearBed: return scheduler_->clear(machine);
        case barcode::Action::Resume: return scheduler_->resume(machine);
        case barcode::Action::Restart: return scheduler_->restart(machine);
        case barcode::Action::Scrap: return scheduler_->scrap(machine);
        default: return std::optional<std::string>("not a machine action");
        }
    });
    for (const auto& c : config_.scanners) {
        scans_->addScanner(c.id, c.station, c.contextTimeout);
        scanners_.push_back(makeScanner(
            io_, c,
            [this](const std::string& id, const std::string& raw, Scanner::Reply reply) {
                ScanWorkflow::Done done;
                if (reply) done = [reply = std::move(reply)](const ScanRecord& r) { reply(scanReplyLine(r)); };
                scans_->handle(id, raw, std::move(done));
            },
            [this] { uplink_->machinesChanged(); }));
        spdlog::info("scanner {}: {} at {} (station {})", c.id, c.kind,
                     c.kind == "evdev" ? c.path : c.kind == "serial" ? c.port : c.listen, c.station);
    }
}

std::string Agent::control(const std::vector<std::string>& words) {
    if (words.size() == 2 && words[0] == "clear") {
        if (auto why = scheduler_->clear(words[1])) return "error: " + *why;
        return "ok bed of " + words[1] + " cleared";
    }
    if (words.size() == 2 && words[0] == "restart") {
        if (auto why = scheduler_->restart(words[1])) return "error: " + *why;
        return "ok the interrupted unit on " + words[1] + " runs again from its first line";
    }
    if (words.size() == 2 && words[0] == "unlock") {
        if (auto why = scheduler_->unlock(words[1])) return "error: " + *why;
        return "ok unlock sent to " + words[1];
    }
    if (words.size() == 2 && words[0] == "resume") {
        if (auto why = scheduler_->resume(words[1])) return "error: " + *why;
        return "ok the interrupted unit on " + words[1] + " continues after its last acknowledged line";
    }
    if (words.size() == 2 && words[0] == "scrap") {
        if (auto why = scheduler_->scrap(words[1])) return "error: " + *why;
        return "ok the unit on " + words[1] + " is scrapped and queued again; clear the bed (mtoctl clear " +
               words[1] + ")";
    }
    if (words.size() == 2 && words[0] == "label") {
        const auto slash = words[1].find('/');
        if (slash == std::string::npos) return "error: label takes ORDER/ITEM, got '" + words[1] + "'";
        if (!labeler_) return "error: labels are off in this agent's configuration (labels.enabled = false)";
        return labeler_->reprint(words[1].substr(0, slash), words[1].substr(slash + 1));
    }
    if (!words.empty() && words[0] == "status" && words.size() <= 2) {
        std::size_t head = kStatusQueueHead;
        if (words.size() == 2) {
            const std::string& n = words[1];
            if (n.empty() || n.size() > 4 || n.find_first_not_of("0123456789") != std::string::npos ||
                std::stoul(n) > kStatusQueueMax)
                return "error: status takes the number of queued jobs to list, 0 to " + std::to_string(kStatusQueueMax) +
                       "; got '" + n + "'";
            head = std::stoul(n);
        }
        return "ok " + floorViewJson(floorView(head));
    }
    return "error: unknown command (known: clear, restart, resume, scrap, unlock, each with a MACHINE; label ORDER/ITEM; "
           "status [QUEUED])";
}

std::vector<FloorMachine> Agent::floorMachines() const {
    std::vector<FloorMachine> out;
    for (const auto& v : scheduler_->machines()) {
        FloorMachine m;
        m.id = v.machineId;
        m.profile = v.profile;
        m.capability = v.capability;
        m.bay = toString(v.bay);
        m.state = toString(v.state);
        m.detail = v.stateDetail;
        m.reason = v.reason;
        if (v.lastRefusal) {
            const auto& r = *v.lastRefusal;
            m.refused = FloorRefusal{v.refusedJobs, r.unit.orderId, r.unit.itemId, r.unit.operation, r.unit.unit,
                                     r.reason, r.message};
        }
        if (v.unit) {
            FloorJob j;
            j.orderId = v.unit->orderId;
            j.itemId = v.unit->itemId;
            j.operation = v.unit->operation;
            j.unit = v.unit->unit;
            j.qty = v.unit->qty;
            j.percent = static_cast<int>(v.fraction * 100.0);
            j.secondsLeft = v.secondsLeft;
            m.job = std::move(j);
        }
        out.push_back(std::move(m));
    }
    return out;
}

FloorView Agent::floorView(std::size_t queueHead) const {
    FloorView v;
    v.factory = config_.factoryId;
    v.at = formatRfc3339Ms(clock_.nowMs());
    v.machines = floorMachines();
    v.queue = jobQueue_->head(queueHead);
    // Every capability on the floor (0 when nothing waits for it), and any the queue asks for that no machine has.
    v.queuedSeconds = jobQueue_->queuedSeconds();
    for (const auto& m : v.machines) v.queuedSeconds.try_emplace(m.capability, 0.0);
    return v;
}

Agent::~Agent() {
    // The uplinks go first: their Paho threads may still be waiting on the loop.
    uplink_.reset();
    mediaUplink_.reset();
    // Camera threads are joined before the store they post into goes.
    qc_.reset();
    compiler_->stop();
    labeler_.reset();   // joins its drawing thread while the store it reports to still exists
}

int Agent::run() {
    signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
        if (!ec) onSignal(signo);
    });
    // main() blocked these until now; a signal that arrived during start-up is delivered here.
    sigset_t handled;
    sigemptyset(&handled);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&handled, s);
    pthread_sigmask(SIG_UNBLOCK, &handled, nullptr);
    control_->start();
    if (station_) station_->start();
    scheduler_->start();
    for (auto& s : scanners_) s->start();
    // The orders stored before this start are listed before the broker connection can bring new ones: those
    // are committed on the delivery thread and handed to the compiler by their own post, so none is listed twice.
    compiler_->resumePending();
    uplink_->start();
    mediaUplink_->start();
    if (labeler_) labeler_->start();
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0) {
        // Pinged from the loop itself, so a stuck loop is restarted by systemd.
        watchdogInterval_ = std::chrono::microseconds(usec / 2);
        scheduleWatchdog();
    }
    sd_notify(0, "READY=1\nSTATUS=database open; connecting to the broker");
    io_.run();
    // Blocked again before anything is torn down: the signal set's destruction restores the default
    // action, and a second SIGTERM must not kill the process halfway through closing the database.
    pthread_sigmask(SIG_BLOCK, &handled, nullptr);
    spdlog::info("mto-agent stopped cleanly");
    return 0;
}

void Agent::scheduleWatchdog() {
    watchdog_.expires_after(watchdogInterval_);
    watchdog_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        sd_notify(0, "WATCHDOG=1");
        scheduleWatchdog();
    });
}

void Agent::onSignal(int signo) {
    if (signo == SIGHUP) {
        reload();
        signals_.async_wait([this](const boost::system::error_code& ec, int s) {
            if (!ec) onSignal(s);
        });
        return;
    }
    spdlog::info("received {}: draining in-flight work", signo == SIGTERM ? "SIGTERM" : "SIGINT");
    sd_notify(0, "STOPPING=1");
    signals_.async_wait([this](const boost::system::error_code& ec, int) {
        if (!ec) {
            spdlog::warn("second signal: stopping now");
            io_.stop();
        }
    });
    // Machines first: a running job is held and reset (a laser must not go on) and its interruption is
    // committed; then the uplink drains, so HQ hears of it within the grace time.
    control_->stop();
    if (station_) station_->stop();
    if (labeler_) labeler_->stop();
    for (auto& s : scanners_) s->stop();
    scheduler_->stop([this] {
        uplink_->stop(std::chrono::seconds(5), [this] {
            // Media states written, the media connection closed; what HQ has not acknowledged goes next start.
            mediaUplink_->stop([this] { finishShutdown(); });
        });
    });
}

void Agent::finishShutdown() {
    intake_->stop();
    watchdog_.cancel();
    signals_.cancel();
    io_.stop();
}

void Agent::reload() {
    sd_notify(0, "RELOADING=1");
    try {
        Config fresh = loadConfig(config_.sourcePath);
        setLogLevel(fresh.logLevel);
        auto catalog = std::make_shared<const Catalog>(Catalog::load(fresh.intake.catalogPath));
        intake_->setCatalog(catalog);
        compiler_->setCatalog(catalog);
        // A profile or machine setting may have been fixed: what the machines refused is tried again.
        scheduler_->forgetRefusals("the configuration was reloaded");
        spdlog::info("reloaded: log level {}, catalog {} ({} SKUs)", fresh.logLevel,
                     fresh.intake.catalogPath.string(), catalog->size());
    } catch (const std::exception& e) {
        spdlog::error("reload refused, keeping the running configuration: {}", e.what());
    }
    sd_notify(0, "READY=1");
}

} // namespace mto
