#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the end-to-end demo: a private mosquitto broker, mto-agent and the example HQ client streaming order milestones to the terminal.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/demo.sh [--once]

Builds mto-agent, starts a private mosquitto broker and the agent on a free
local port, and sends the sample orders in docs/examples/orders/ with the
example HQ client, which prints the milestones the agent reports (per-item
ones summarised, one line per order and milestone; every event is kept in
events.jsonl in the temporary directory).
Press Ctrl-C to stop; the temporary directory with the logs and the state
database is kept.

  --once   stop by itself once every order and command has its receipt,
           and fail if that takes longer than 60 s (for tests)
EOF
}

ONCE=0
for arg in "$@"; do
  case "$arg" in
    --once) ONCE=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
FACTORY=demo-factory

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

# True while PID runs. Bash reaps finished background children itself, so
# kill -0 fails as soon as one has exited.
alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }

# shellcheck disable=SC2317  # reached only through the EXIT trap
# stop_pid NAME PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL.
# Returns the process's exit status.
stop_pid() {
  local name=$1 pid=$2 secs=$3 i
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    say "$name did not stop within ${secs}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  return "$rc"
}

TMP_DIR="" BROKER_PID="" AGENT_PID="" CLIENT_PID="" LASER_PID="" CNC_PID="" PRINTER_PID="" HOST_PID="" OPERATOR_PID="" SCANNER_PID=""

# shellcheck disable=SC2317  # reached only through the EXIT trap
cleanup() {
  local rc=$? agent_rc=0
  trap - EXIT INT TERM
  set +e
  stop_pid "HQ client" "$CLIENT_PID" 5
  if [[ -n $AGENT_PID ]]; then
    # The agent goes before the broker so it can still publish its final
    # status and hand over queued events.
    say "stopping mto-agent"
    stop_pid "mto-agent" "$AGENT_PID" 15
    agent_rc=$?
    if ((agent_rc != 0)); then
      say "mto-agent exited with status $agent_rc; last lines of $TMP_DIR/agent.log:"
      tail -n 20 "$TMP_DIR/agent.log" | sed 's/^/    /'
      ((rc != 0)) || rc=1
    fi
  fi
  stop_pid "operator" "$OPERATOR_PID" 2
  stop_pid "scripted scanner" "$SCANNER_PID" 2
  stop_pid "emulated laser" "$LASER_PID" 5
  stop_pid "emulated CNC" "$CNC_PID" 5
  stop_pid "emulated printer" "$PRINTER_PID" 5
  stop_pid "emulated Moonraker host" "$HOST_PID" 5
  stop_pid "mosquitto" "$BROKER_PID" 5
  if [[ -n $TMP_DIR ]]; then
    say "logs (agent.log; events.jsonl, every event HQ got), config and state database are kept in $TMP_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Setup comes before anything that it installs (python3, paho-mqtt, cmake,
# mosquitto) is looked for or used: on a fresh machine none of them is there yet.
bash "$ROOT/scripts/setup.sh"

# The client needs paho-mqtt, which Debian installs for its own python3; a
# python3 earlier in PATH (a virtualenv, pyenv) may not have it.
PYTHON=${PYTHON:-}
if [[ -z $PYTHON ]]; then
  for candidate in python3 /usr/bin/python3; do
    if "$candidate" -c 'import paho.mqtt.client' 2>/dev/null; then
      PYTHON=$candidate
      break
    fi
  done
fi
[[ -n $PYTHON ]] || die "no python3 with paho-mqtt found (Debian package python3-paho-mqtt)"
[[ -f config/demo.toml ]] || die "config/demo.toml is missing"

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build
[[ -x build/mto-agent ]] || die "build/mto-agent was not built"

TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mto-demo.XXXXXX")
STATE_DIR=$TMP_DIR/state
mkdir -p "$STATE_DIR"
# Port 0 makes the kernel pick a free port; it is released again right away
# and mosquitto takes it a moment later.
PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The factory settings of README.md ("Broker settings"); message_size_limit is
# above the agent's largest message (a QC snapshot) and its intake.max_payload_bytes.
# "user" keeps a broker started by root from switching to the mosquitto user,
# which could not write its persistence file into this private temp dir.
mkdir -p "$TMP_DIR/broker"
cat >"$TMP_DIR/mosquitto.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
user $(id -un)
set_tcp_nodelay true
persistence true
persistence_location $TMP_DIR/broker/
autosave_interval 10
max_queued_messages 100000
max_queued_bytes 1073741824
message_size_limit 8388608
EOF

# The replacement text of a sed s||| command must have \, & and | escaped.
sed_escape() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }
sed -e "s|@MQTT_PORT@|$(sed_escape "$PORT")|g" \
    -e "s|@STATE_DIR@|$(sed_escape "$STATE_DIR")|g" \
    -e "s|@CATALOG@|$(sed_escape "$ROOT/config/catalog.toml")|g" \
    config/demo.toml >"$TMP_DIR/demo.toml"
if grep -n '@[A-Z_]*@' "$TMP_DIR/demo.toml" >&2; then
  die "config/demo.toml has placeholders this script does not fill in (above)"
fi

# Broker and agent get their own session so a Ctrl-C in the terminal reaches
# only this script and the client; cleanup then stops them in the right order.
SETSID=()
if command -v setsid >/dev/null; then SETSID=(setsid); fi

"${SETSID[@]}" mosquitto -c "$TMP_DIR/mosquitto.conf" >"$TMP_DIR/mosquitto.log" 2>&1 &
BROKER_PID=$!
for ((i = 0; i < 50; i++)); do
  alive "$BROKER_PID" || { cat "$TMP_DIR/mosquitto.log" >&2; die "mosquitto did not start"; }
  mosquitto_pub -h 127.0.0.1 -p "$PORT" -t "mto/demo/ping" -n 2>/dev/null && break
  sleep 0.1
done

cat <<EOF

demo: temp dir     $TMP_DIR
demo: broker       mosquitto on 127.0.0.1:$PORT (log: $TMP_DIR/mosquitto.log)
demo: agent log    $TMP_DIR/agent.log    (tail -f it in another terminal)
demo: all events   $TMP_DIR/events.jsonl (every milestone as HQ got it, JSON, one a line; below, per-item ones are summarised)
demo: state DB     $STATE_DIR/
demo: proofs       $STATE_DIR/media/<sha256>.png (one per item and machine; also: build/mtoctl --config $TMP_DIR/demo.toml proof ORD-1002/1 -o sign.png)
demo: jobs         $STATE_DIR/artifacts/<sha256>.gcode
demo: machines     emulated GRBL laser-1 (with a 20-slot tag jig) and cnc-1, Marlin printer-1, printer-2 behind an emulated Moonraker ($TMP_DIR/laser.log, cnc.log, printer.log, moonraker.log); beds cleared with mtoctl clear (operator.log)
demo: QC camera    cam-engraving over laser-1 and cnc-1 (frames in $TMP_DIR/camera): a snapshot milestone at 50 % and at job_done, $STATE_DIR/media/<sha256>.jpg
demo: scanning     a scripted scanner takes ORD-1001 through QC, packing and shipping on the line input (scanner.log)
demo: inspect      build/mtoctl --config $TMP_DIR/demo.toml orders
demo: watch        build/mtoctl --config $TMP_DIR/demo.toml watch   (the machines live, in another terminal; a frame every 15 s below)
demo: raw traffic  mosquitto_sub -h 127.0.0.1 -p $PORT -t 'mto/v1/$FACTORY/#' -v
demo: stop with Ctrl-C

EOF

# The floor: an emulated GRBL laser and CNC router on pseudo-terminals, fast enough that the sample orders
# are made in about a minute, listed in the agent's config as a factory lists its real machines.
"${SETSID[@]}" build/mto-machine-sim --grbl "$TMP_DIR/laser-1" --laser --speed 20 --travel 400,400,50 \
  >"$TMP_DIR/laser.log" 2>&1 &
LASER_PID=$!
"${SETSID[@]}" build/mto-machine-sim --grbl "$TMP_DIR/cnc-1" --speed 20 --max-spindle 24000 --travel 600,400,50 \
  >"$TMP_DIR/cnc.log" 2>&1 &
CNC_PID=$!
printf '\n[[machines]]\nid = "laser-1"\nprofile = "laser-400"\nport = "%s"\n' "$TMP_DIR/laser-1" >>"$TMP_DIR/demo.toml"
# A 20-pocket jig for the steel tags: the 200-tag bulk order (ORD-1004) runs as 10 jig programs.
printf '[[machines.jigs]]\nid = "tags-20"\nskus = ["TAG-STEEL-ENGRAVED"]\nslot_width = 50\nslot_height = 20\n%s\n' \
  'grid = { origin_x = 10, origin_y = 10, columns = 4, rows = 5, pitch_x = 60, pitch_y = 30 }' >>"$TMP_DIR/demo.toml"
printf '\n[[machines]]\nid = "cnc-1"\nprofile = "cnc-600"\nport = "%s"\n' "$TMP_DIR/cnc-1" >>"$TMP_DIR/demo.toml"
# A Marlin FDM printer (the keychain order), with 1% of its serial lines damaged and asked for again.
"${SETSID[@]}" build/mto-machine-sim --marlin "$TMP_DIR/printer-1" --speed 50 --checksum-errors 0.01 \
  >"$TMP_DIR/printer.log" 2>&1 &
PRINTER_PID=$!
printf '\n[[machines]]\nid = "printer-1"\nprofile = "mk3s"\ndriver = "marlin"\nport = "%s"\n' "$TMP_DIR/printer-1" \
  >>"$TMP_DIR/demo.toml"
# A second printer behind an emulated Moonraker (Klipper) host: the agent uploads the sliced G-code over HTTP and
# follows the print on Moonraker's WebSocket. Each print takes 60 s of host time, 2 s at --speed 30.
"${SETSID[@]}" build/mto-machine-sim --moonraker 0 --print-seconds 60 --speed 30 >"$TMP_DIR/moonraker.log" 2>&1 &
HOST_PID=$!
for _ in $(seq 1 50); do grep -q '^moonraker: http' "$TMP_DIR/moonraker.log" 2>/dev/null && break; sleep 0.1; done
MOONRAKER_URL=$(sed -n 's/^moonraker: \(http[^ ]*\).*/\1/p' "$TMP_DIR/moonraker.log")
[[ -n "$MOONRAKER_URL" ]] || die "the emulated Moonraker host did not start: $(cat "$TMP_DIR/moonraker.log")"
printf '\n[[machines]]\nid = "printer-2"\nprofile = "mk3s"\ndriver = "moonraker"\nurl = "%s"\n' "$MOONRAKER_URL" \
  >>"$TMP_DIR/demo.toml"
echo "demo: printers     printer-1 Marlin on $TMP_DIR/printer-1, printer-2 Moonraker at $MOONRAKER_URL"

# --- labels: the traveler labels are files (config/demo.toml [labels]); the action sheet is made from the config ---
build/mtoctl --config "$TMP_DIR/demo.toml" action-sheet -o "$TMP_DIR/action-sheet.pdf" >/dev/null ||
  die "mtoctl could not write the action sheet"
echo "demo: labels       $STATE_DIR/labels/order-<id>/item-<id>.png|pdf|zpl (again: build/mtoctl --config $TMP_DIR/demo.toml label ORD-1001/1 -o label.png)"
echo "demo: action sheet $TMP_DIR/action-sheet.pdf (every action barcode: QC, packed, shipped, each machine)"
# --- end of labels ---
# --- scan flow (scanners): a line-input scanner in the agent's config ---------------------------------
SCAN_PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '\n[[scanners]]\nid = "packing-1"\nkind = "line"\nstation = "packing"\nlisten = "127.0.0.1:%s"\n' \
  "$SCAN_PORT" >>"$TMP_DIR/demo.toml"
# --- end of scan flow block --------------------------------------------------------------------------
# --- QC camera: a folder of frames stands in for the camera over the laser and the router ------------
mkdir -p "$TMP_DIR/camera"
ffmpeg -loglevel error -f lavfi -i "testsrc=size=1280x720:rate=1" -frames:v 4 -q:v 3 "$TMP_DIR/camera/frame-%02d.jpg" ||
  die "ffmpeg could not draw the demo camera's frames"
printf '\n[[cameras]]\nid = "cam-engraving"\nsource = "%s"\nmachines = ["laser-1", "cnc-1"]\nprogress_points = [50]\n' \
  "$TMP_DIR/camera" >>"$TMP_DIR/demo.toml"
# --- end of QC camera block ---------------------------------------------------------------------------

"${SETSID[@]}" build/mto-agent --config "$TMP_DIR/demo.toml" >"$TMP_DIR/agent.log" 2>&1 &
AGENT_PID=$!

# The demo's operator: takes the finished part off each machine's bed every few seconds, and every 15 s
# shows the floor as `mtoctl watch` sees it.
(
  round=0
  while sleep 3; do
    # A machine that is still working answers "not awaiting a bed clear"; that is fine.
    for machine in laser-1 cnc-1 printer-1 printer-2; do
      build/mtoctl --config "$TMP_DIR/demo.toml" clear "$machine" >>"$TMP_DIR/operator.log" 2>&1 || true
    done
    if ((++round % 5 == 0)); then
      build/mtoctl --config "$TMP_DIR/demo.toml" watch --once 2>/dev/null | sed 's/^/floor: /' || true
    fi
  done
) &
OPERATOR_PID=$!

# --- scan flow (scanners): a scripted operator at the packing station --------------------------------
# Once every unit of ORD-1001 is done, it scans what an operator would (badge, traveler label, QC pass,
# packed, shipped, the carrier's tracking barcode) into the line input; first one scan that is refused
# (PACKED before QC), so HQ's output shows a scan_refused too. Each scan is one line; see README, Scanning.
(
  scan() { exec 3<>"/dev/tcp/127.0.0.1/$SCAN_PORT" && printf '%s\n' "$@" >&3 && exec 3>&-; }
  done_query="SELECT COUNT(*) > 0 AND SUM(state = 'done') = COUNT(*) FROM jobs WHERE order_id = 'ORD-1001'"
  until [[ $("$PYTHON" - "$STATE_DIR/agent.db" "$done_query" 2>/dev/null <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(db.execute(sys.argv[2]).fetchone()[0])
PY
  ) == 1 ]]; do sleep 1; done
  echo "scripted scanner: ORD-1001 is made; scanning it through QC, packing and shipping"
  scan "OP:demo-operator" "MTO:I:ORD-1001/1" "MTO:A:PACKED"
  sleep 1
  scan "MTO:A:QC_PASS" "MTO:A:PACKED" "MTO:A:SHIPPED" "1ZDEMO00010010001"
  echo "scripted scanner: done (scans: build/mtoctl --config $TMP_DIR/demo.toml order ORD-1001; events.jsonl)"
  shot=$("$PYTHON" - "$STATE_DIR/agent.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
row = db.execute("SELECT media_sha256 FROM snapshots WHERE order_id = 'ORD-1001' AND kind = 'qc' "
                 "AND media_sha256 IS NOT NULL ORDER BY id DESC LIMIT 1").fetchone()
print(row[0] if row else "")
PY
  )
  [[ -n "$shot" ]] && echo "demo: QC snapshot  ORD-1001/1 passed QC on $STATE_DIR/media/$shot.jpg" >&4
) 4>&1 >>"$TMP_DIR/scanner.log" 2>&1 &
SCANNER_PID=$!
# --- end of scan flow block --------------------------------------------------------------------------

# Orders sent before the agent subscribes would only be re-sent later;
# waiting for its retained status keeps the output easy to follow.
say "waiting for mto-agent to report online"
ready=0
for ((i = 0; i < 30; i++)); do
  alive "$AGENT_PID" || die "mto-agent exited during start-up"
  status=$(mosquitto_sub -h 127.0.0.1 -p "$PORT" -t "mto/v1/$FACTORY/status" -C 1 -W 1 2>/dev/null || true)
  if [[ $status =~ \"state\"[[:space:]]*:[[:space:]]*\"(online|degraded)\" ]]; then
    ready=1
    break
  fi
done
if ((ready)); then
  say "mto-agent is ${BASH_REMATCH[1]}; sending the sample orders"
else
  say "no online status from mto-agent yet; sending anyway (the client re-sends until the agent answers)"
fi

CLIENT_ARGS=(--port "$PORT" --factory "$FACTORY" --client-id hq-demo --event-log "$TMP_DIR/events.jsonl")
if ((ONCE)); then
  # Until every order is compiled (or refused, or cancelled), so the proofs are all there when it stops.
  CLIENT_ARGS+=(--exit-when-done --wait-for-jobs --timeout 120)
fi
# Run in the background and wait, so INT/TERM traps fire at once instead of
# after the client has finished; its output still goes straight to the terminal.
"$PYTHON" docs/examples/hq_client.py "${CLIENT_ARGS[@]}" docs/examples/orders/*.json &
CLIENT_PID=$!
client_rc=0
wait "$CLIENT_PID" || client_rc=$?
CLIENT_PID=""

if ! alive "$AGENT_PID"; then
  say "mto-agent stopped during the demo"
  ((client_rc != 0)) || client_rc=1
fi
if ((client_rc == 0)); then
  say "every order and command got its receipt$( ((ONCE)) && echo "; every order is compiled, refused or cancelled")"
else
  say "HQ client finished with status $client_rc"
fi
exit "$client_rc"
