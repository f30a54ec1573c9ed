// SPDX-License-Identifier: Apache-2.0
// mtoctl: a look into the agent's state database for factory IT, and the operator's decisions on machines.
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>
#include <string>
#include <vector>

#include "control/control_server.hpp"
#include "control/floor_view.hpp"
#include "control/watch_screen.hpp"
#include "labels/action_sheet.hpp"
#include "labels/label_renderer.hpp"
#include "util/clock.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "mto/config.hpp"
#include "store/order_store.hpp"

namespace {

int usage(int code) {
    (code ? std::cerr : std::cout)
        << "usage: mtoctl [--config PATH] [--timeout S] COMMAND\n"
           "  orders             list stored orders\n"
           "  order ID           one order with its milestones\n"
           "  events --pending   events not yet acknowledged by the broker\n"
           "  events [--all]     every event, oldest first\n"
           "  proof ORDER/ITEM[/OPERATION] -o FILE.png\n"
           "                                 the toolpath proof of an item (of one operation on another machine)\n"
           "  clear MACHINE      the bed of MACHINE is clear: it may take its next job (asks the running agent)\n"
           "  restart MACHINE    run the unit interrupted on MACHINE again from its first line (bed cleared first)\n"
           "  resume MACHINE     continue the unit interrupted on MACHINE after its last acknowledged line\n"
           "                     (only machines whose driver can; GRBL cannot: restart or scrap instead)\n"
           "  scrap MACHINE      throw away the part of the unit on MACHINE (interrupted, or finished and bad):\n"
           "                     the unit is queued again for any capable machine; then clear the bed\n"
           "  unlock MACHINE     clear MACHINE's alarm (GRBL $X) after checking it is safe\n"
           "  watch [--once] [--interval S]\n"
           "                     each machine's state, job, progress and time left, then the head of the queue,\n"
           "                     redrawn every S seconds (default 1) until Ctrl-C; plain lines when not on a\n"
           "                     terminal, one screen and exit with --once (asks the running agent)\n"
           "  status             the same as one line of JSON, for scripts (asks the running agent)\n"
           "  label ORDER/ITEM [-o FILE.png|.pdf|.zpl]\n"
           "                     print the item's traveler label again (asks the running agent; drawn again when\n"
           "                     its files are gone) and copy it to FILE\n"
           "  labels             labels not printed yet, with the printer's last error\n"
           "  action-sheet [-o FILE.pdf|.png]\n"
           "                     every action barcode (QC, packed, shipped, cancel, each machine's clear, resume,\n"
           "                     restart, scrap) on A4 pages; reads only the config (default action-sheet.pdf)\n"
           "--config defaults to /etc/mto-agent/agent.toml\n"
           "--timeout S: how long a command that asks the running agent waits for its answer (default 10, from\n"
           "             0.1 to 3600); an agent that does not answer in time is an error (exit 1); watch shows it\n"
           "             as unreachable and keeps asking\n";
    return code;
}

void printEvent(const mto::Event& e) {
    std::printf("%8lld  %s  %-20s %-12s %s\n", static_cast<long long>(e.seq), mto::formatRfc3339Ms(e.atMs).c_str(),
                e.orderId.empty() ? "-" : e.orderId.c_str(), e.milestone.c_str(), e.payload.c_str());
}

// Seconds from 0.1 to 3600 as given on the command line, or nullopt.
std::optional<std::chrono::milliseconds> parseSeconds(const std::string& v) {
    char* end = nullptr;
    const double seconds = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !(seconds >= 0.1 && seconds <= 3600)) return std::nullopt;
    return std::chrono::milliseconds(static_cast<long>(seconds * 1000.0 + 0.5));
}

volatile std::sig_atomic_t interrupted = 0;

void onInterrupt(int) { interrupted = 1; }

// The agent's `status` answer without its "ok "; throws mto::Error with the agent's reason when it refused.
std::string askStatus(const std::filesystem::path& socket, std::chrono::milliseconds timeout) {
    const std::string reply = mto::controlRequest(socket, "status", timeout);
    if (reply.rfind("ok ", 0) != 0) throw mto::Error("the agent answered: " + reply);
    return reply.substr(3);
}

// Polls the agent until Ctrl-C (or once). Only a first poll that fails ends it with an error: later ones
// (an agent restarting) are shown and tried again.
int watch(const std::filesystem::path& socket, bool once, std::chrono::milliseconds interval,
          std::chrono::milliseconds timeout) {
    const bool terminal = ::isatty(STDOUT_FILENO) == 1;
    struct sigaction sa {};
    sa.sa_handler = onInterrupt;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    bool reached = false;
    while (!interrupted) {
        winsize ws{};
        if (terminal) ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);
        const mto::WatchScreen screen(terminal, ws.ws_col, ws.ws_row);
        std::string frame;
        try {
            frame = screen.frame(mto::parseFloorView(askStatus(socket, timeout)));
            reached = true;
        } catch (const std::exception& e) {
            if (!reached) {
                std::cerr << "mtoctl: " << e.what() << "\n";
                return 1;
            }
            frame = screen.unreachable(e.what());
        }
        std::fwrite(frame.data(), 1, frame.size(), stdout);
        std::fflush(stdout);
        if (once) break;
        for (auto slept = std::chrono::milliseconds(0); slept < interval && !interrupted; slept += std::chrono::milliseconds(50))
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const std::string leave = mto::WatchScreen(terminal, 0, 0).leave();
    std::fwrite(leave.data(), 1, leave.size(), stdout);
    std::fflush(stdout);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    std::string configPath = "/etc/mto-agent/agent.toml";
    std::vector<std::string> args;
    std::chrono::milliseconds timeout = mto::kControlTimeout;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--config" || a == "-c") {
            if (i + 1 >= argc) return usage(2);
            configPath = argv[++i];
        } else if (a == "--timeout") {
            if (i + 1 >= argc) return usage(2);
            const std::string v = argv[++i];
            const auto seconds = parseSeconds(v);
            if (!seconds) {
                std::cerr << "mtoctl: --timeout wants seconds from 0.1 to 3600, got '" << v << "'\n";
                return 2;
            }
            timeout = *seconds;
        } else if (a == "--help" || a == "-h") {
            return usage(0);
        } else {
            args.push_back(a);
        }
    }
    if (args.empty()) return usage(2);
    try {
        auto cfg = mto::loadConfig(configPath);
        if (args[0] == "clear" || args[0] == "restart" || args[0] == "unlock" || args[0] == "resume" ||
            args[0] == "scrap") {
            if (args.size() != 2) return usage(2);
            const std::string reply =
                mto::controlRequest(cfg.stateDir / "control.sock", args[0] + " " + args[1], timeout);
            const bool ok = reply.rfind("ok", 0) == 0;
            (ok ? std::cout : std::cerr) << (ok ? "" : "mtoctl: ") << reply << "\n";
            return ok ? 0 : 1;
        }
        if (args[0] == "action-sheet") {
            std::string out = "action-sheet.pdf";
            if (args.size() == 3 && args[1] == "-o") out = args[2];
            else if (args.size() != 1) return usage(2);
            std::vector<std::string> machines;
            for (const auto& m : cfg.machines) machines.push_back(m.id);
            const auto entries = mto::ActionSheet::entries(machines);
            mto::ActionSheet(entries, cfg.labels.symbology, "Action sheet - factory " + cfg.factoryId).write(out);
            std::printf("%s: %zu action codes (%zu machine(s))\n", out.c_str(), entries.size(), machines.size());
            return 0;
        }
        if (args[0] == "label") {
            std::string out;
            if (args.size() == 4 && args[2] == "-o") out = args[3];
            else if (args.size() != 2) return usage(2);
            const auto slash = args[1].find('/');
            if (slash == std::string::npos) {
                std::cerr << "mtoctl: label takes ORDER/ITEM, got '" << args[1] << "'\n";
                return 2;
            }
            const std::string ext = std::filesystem::path(out).extension().string();
            if (!out.empty() && ext != ".png" && ext != ".pdf" && ext != ".zpl") {
                std::cerr << "mtoctl: -o wants a .png, .pdf or .zpl file, got '" << out << "'\n";
                return 2;
            }
            const std::string reply = mto::controlRequest(cfg.stateDir / "control.sock", "label " + args[1], timeout);
            const bool ok = reply.rfind("ok", 0) == 0;
            (ok ? std::cout : std::cerr) << (ok ? "" : "mtoctl: ") << reply << "\n";
            if (!ok) return 1;
            if (out.empty()) return 0;
            auto file = mto::labelBasePath(cfg.stateDir, args[1].substr(0, slash), args[1].substr(slash + 1));
            file += ext;
            // A label being drawn (again) appears within moments; its files are replaced whole, never half written.
            for (int i = 0; i < 300 && !std::filesystem::exists(file); ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            std::filesystem::copy_file(file, out, std::filesystem::copy_options::overwrite_existing);
            std::printf("%s: label %s\n", out.c_str(), args[1].c_str());
            return 0;
        }
        if (args[0] == "status") {
            if (args.size() != 1) return usage(2);
            std::cout << askStatus(cfg.stateDir / "control.sock", timeout) << "\n";
            return 0;
        }
        if (args[0] == "watch") {
            bool once = false;
            std::chrono::milliseconds interval(1000);
            for (std::size_t i = 1; i < args.size(); ++i) {
                if (args[i] == "--once") {
                    once = true;
                } else if (args[i] == "--interval" && i + 1 < args.size()) {
                    const std::string& v = args[++i];
                    const auto parsed = parseSeconds(v);
                    if (!parsed) {
                        std::cerr << "mtoctl: --interval wants seconds from 0.1 to 3600, got '" << v << "'\n";
                        return 2;
                    }
                    interval = *parsed;
                } else {
                    std::cerr << "mtoctl: watch does not know '" << args[i] << "'\n";
                    return usage(2);
                }
            }
            return watch(cfg.stateDir / "control.sock", once, interval, timeout);
        }
        if (!std::filesystem::exists(cfg.databasePath()))
            throw mto::Error("no database at " + cfg.databasePath().string() + " (has the agent run yet?)");
        mto::Database db(cfg.databasePath(), mto::Database::Mode::ReadOnly);
        if (mto::schemaVersion(db) != mto::latestSchemaVersion())
            throw mto::Error("database " + cfg.databasePath().string() + " has schema version " +
                             std::to_string(mto::schemaVersion(db)) + "; this mtoctl reads version " +
                             std::to_string(mto::latestSchemaVersion()));
        mto::SystemClock clock;
        mto::OrderStore store(db, cfg.factoryId, clock);

        if (args[0] == "orders" && args.size() == 1) {
            auto rows = store.orders(1000000);
            std::printf("%-24s %4s %-9s %-14s %5s  %s\n", "ORDER", "REV", "PRIORITY", "STATE", "ITEMS", "RECEIVED");
            for (const auto& o : rows)
                std::printf("%-24s %4lld %-9s %-14s %5lld  %s\n", o.orderId.c_str(),
                            static_cast<long long>(o.revision), o.priority.c_str(), o.state.c_str(),
                            static_cast<long long>(o.items), mto::formatRfc3339Ms(o.receivedAtMs).c_str());
            std::printf("%zu order(s)\n", rows.size());
            return 0;
        }
        if (args[0] == "order" && args.size() == 2) {
            auto o = store.order(args[1]);
            if (!o) {
                std::cerr << "mtoctl: no order " << args[1] << "\n";
                return 1;
            }
            std::printf("order %s revision %lld, %s, state %s, %lld item(s), due %s\n%s\nmilestones:\n",
                        o->orderId.c_str(), static_cast<long long>(o->revision), o->priority.c_str(),
                        o->state.c_str(), static_cast<long long>(o->items), o->dueBy.empty() ? "-" : o->dueBy.c_str(),
                        o->body.c_str());
            for (const auto& e : store.eventsForOrder(o->orderId)) printEvent(e);
            const auto jobs = store.jobsForOrder(o->orderId);
            if (!jobs.empty()) {
                std::printf("jobs:\n  %-10s %-14s %-6s %-8s %10s  %s\n", "ITEM", "OPERATION", "MACHINE", "STATE", "ESTIMATE",
                            "PROGRAM");
                for (const auto& j : jobs)
                    std::printf("  %-10s %-14s %-6s %-8s %9.1fs  %s%s\n", j.itemId.c_str(), j.operation.c_str(),
                                j.capability.c_str(), j.state.c_str(), j.estimatedSeconds,
                                (cfg.stateDir / "artifacts" / (j.artifactSha + ".gcode")).c_str(), j.rush ? "  RUSH" : "");
            }
            return 0;
        }
        if (args[0] == "labels" && args.size() == 1) {
            auto& st = db.prepare("SELECT order_id, item_id, state, print_state, attempts, COALESCE(error, '') FROM labels "
                                  "WHERE state IN ('pending', 'failed') OR print_state = 'queued' ORDER BY order_id, item_id");
            std::printf("%-24s %-10s %-8s %-8s %8s  %s\n", "ORDER", "ITEM", "LABEL", "PRINT", "ATTEMPTS", "LAST ERROR");
            std::size_t n = 0;
            while (st.step()) {
                ++n;
                std::printf("%-24s %-10s %-8s %-8s %8lld  %s\n", st.columnText(0).c_str(), st.columnText(1).c_str(),
                            st.columnText(2).c_str(), st.columnText(3).c_str(), static_cast<long long>(st.columnInt(4)),
                            st.columnText(5).c_str());
            }
            st.reset();
            std::printf("%zu label(s) waiting\n", n);
            return 0;
        }
        if (args[0] == "events" && args.size() <= 2) {
            bool pending = args.size() == 2 && args[1] == "--pending";
            if (args.size() == 2 && !pending && args[1] != "--all") return usage(2);
            auto stats = store.outboxStats();
            std::int64_t from = pending ? stats.ackedSeq : 0;
            std::size_t shown = 0;
            for (;;) {
                auto batch = store.eventsAfter(from, 1000);
                if (batch.empty()) break;
                for (const auto& e : batch) printEvent(e);
                shown += batch.size();
                from = batch.back().seq;
            }
            std::printf("%zu event(s)%s; acknowledged up to seq %lld of %lld\n", shown, pending ? " pending" : "",
                        static_cast<long long>(stats.ackedSeq), static_cast<long long>(stats.lastSeq));
            return 0;
        }
        if (args[0] == "proof" && args.size() == 3 && args[2].rfind("-o", 0) != 0) return usage(2);
        if (args[0] == "proof" && (args.size() == 3 || args.size() == 4)) {
            auto slash = args[1].find('/');
            std::string out = args.size() == 4 ? args[3] : args[2].substr(2);
            if (slash == std::string::npos || (args.size() == 4 && args[2] != "-o") || out.empty()) return usage(2);
            // ORDER/ITEM or ORDER/ITEM/OPERATION (item ids cannot hold '/': they go into topics).
            std::string item = args[1].substr(slash + 1), operation;
            if (auto second = item.find('/'); second != std::string::npos) {
                operation = item.substr(second + 1);
                item.resize(second);
            }
            auto sha = store.proofSha(args[1].substr(0, slash), item, operation);
            if (!sha) {
                std::cerr << "mtoctl: no compiled job for " << args[1] << "\n";
                return 1;
            }
            std::filesystem::copy_file(cfg.stateDir / "media" / (*sha + ".png"), out,
                                       std::filesystem::copy_options::overwrite_existing);
            std::printf("%s: proof %s\n", out.c_str(), sha->c_str());
            return 0;
        }
        return usage(2);
    } catch (const std::exception& e) {
        std::cerr << "mtoctl: " << e.what() << "\n";
        return 1;
    }
}
