#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Example HQ client for the mto-agent MQTT contract v1: sends orders and commands until the agent confirms them, and prints the milestones it reports.
"""Example HQ client for the mto-agent MQTT contract v1 (docs/mqtt-contract.md).

Copy this when you integrate an HQ system. It shows the rules that matter:

* Connect with a persistent session (clean_session=False, fixed client id), so
  the broker keeps the events published while HQ is offline.
* Publish orders and commands at QoS 1 and re-send each one until its receipt
  arrives. A PUBACK only says the broker has the message; the receipt is the
  agent's own answer (received or rejected) that it has processed it.
* Events arrive at least once: de-duplicate them by event_id.
* seq is per factory and has no gaps: after de-duplication a gap or a step
  back means events were lost or reordered, which HQ must notice (and then
  ask for a resync).

Per-item milestones (proof_ready for each of 200 tags) are summarised: one line
per order and milestone, printed when that run of events ends (a run of up to
three is shown event by event). --verbose prints every event instead;
--event-log FILE keeps every event (JSON, one a line).

Example:
    python3 hq_client.py --factory demo-factory --exit-when-done orders/*.json
    # and wait for the machine jobs (accepted) of every order, too:
    python3 hq_client.py --factory demo-factory --exit-when-done --wait-for-jobs orders/*.json
"""

import argparse
import collections
import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
from datetime import datetime, timezone

import paho.mqtt.client as mqtt

QOS = 1
# Ids are safe to use in a topic. "_invalid" matches too but is reserved for
# the agent's answers to input without a usable order id.
ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SEEN_EVENT_IDS_MAX = 100_000
# A gap larger than this is still reported, but its missing numbers are not
# remembered one by one (that would let one bad event eat the memory).
MAX_TRACKED_GAP = 10_000
# A run of per-item milestones counts as ended after this long without another
# one; a long run still shows progress at the other interval.
SUMMARY_QUIET_S = 2.0
SUMMARY_PROGRESS_S = 15.0
# Runs this short are shown event by event: a few lines with their details say more than a count.
SUMMARY_IN_FULL_MAX = 3

EXIT_OK = 0
EXIT_NOT_DONE = 1
# 2 is what argparse uses for bad arguments; bad input files use it too.
EXIT_BROKER_REFUSED = 3
EXIT_INTERRUPTED = 130


def utc_now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def valid_id(value):
    return isinstance(value, str) and ID_RE.match(value) is not None


class Output:
    """stdout is the running log of what HQ sees; stderr is for problems only."""

    def __init__(self, quiet):
        self.quiet = quiet
        # Lines must appear as they happen even when stdout is a pipe or file.
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(line_buffering=True, errors="backslashreplace")

    def line(self, text):
        print(text)

    def info(self, text):
        if not self.quiet:
            print(f"{utc_now()}  {text}")

    def warn(self, text):
        print(f"{utc_now()}  !! WARNING: {text}", file=sys.stderr)


class Outbound:
    """One order or command from the input files, tracked until its receipt."""

    def __init__(self, payload, source):
        self.payload = payload
        self.source = source
        self.body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.sends = 0
        self.first_sent = None
        self.last_sent = None
        self.done = False

        if "command" in payload:
            self.kind = "command"
            self.command_id = payload.get("command_id")
            target = payload.get("order_id")
            if payload.get("command") == "change" and isinstance(payload.get("order"), dict):
                target = payload["order"].get("order_id")
            self.order_id = target
            self.revision = None
            self.expects_receipt = valid_id(self.command_id)
        else:
            # Anything that is not a command is sent as an order, even if it is
            # malformed: the agent is the authority on what is valid, and its
            # rejection is the answer HQ needs to see.
            self.kind = "order"
            self.command_id = None
            self.order_id = payload.get("order_id")
            self.revision = payload.get("revision")
            self.expects_receipt = valid_id(self.order_id) and self.order_id != "_invalid"

        # Messages about the same order are sent one after the other, each only
        # once the previous one has its receipt. MQTT keeps order only within a
        # topic, and re-sends break even that; a "hold" must not overtake the
        # order it holds, nor a "resume" the hold.
        self.lane = self.order_id if valid_id(self.order_id) else None

    def describe(self):
        if self.kind == "order":
            items = self.payload.get("items")
            count = len(items) if isinstance(items, list) else "?"
            return f"order {self.order_id} rev {self.revision} ({count} item{'' if count == 1 else 's'})"
        target = f" for {self.order_id}" if self.order_id else ""
        return f"command {self.payload.get('command')} {self.command_id}{target}"

    def is_receipt(self, event, data):
        if self.kind == "command":
            return data.get("command_id") == self.command_id
        if event.get("order_id") != self.order_id:
            return False
        milestone = event.get("milestone")
        if milestone not in ("received", "rejected"):
            return False
        if "revision" in data:
            return data["revision"] == self.revision
        # A rejection without a revision (e.g. the revision itself was missing
        # or invalid) still answers the order, unless it is about a command.
        return milestone == "rejected" and "command_id" not in data


class SeenIds:
    """Bounded set of event ids: forgets the oldest ids once it is full."""

    def __init__(self, limit):
        self.limit = limit
        self.ids = collections.OrderedDict()

    def add(self, event_id):
        """Returns False if the id was already seen."""
        if event_id in self.ids:
            return False
        self.ids[event_id] = None
        if len(self.ids) > self.limit:
            self.ids.popitem(last=False)
        return True


def event_line(at, seq, order_id, item, milestone, details):
    return f"{at!s:<24}  #{seq!s:<5} {order_id!s:<10} {item:<4} {milestone!s:<13} {details}".rstrip()


class ItemRun:
    """Per-item events of one milestone kind for one order, until the run ends."""

    def __init__(self, seq, now):
        self.lines = []  # shown as they are if the run stays short
        self.count = 0
        self.first_seq = seq
        self.last_seq = seq
        self.last_at = None
        self.last_event = now
        self.last_progress = now
        self.shown = 0  # events already covered by a progress line


class MilestoneSummary:
    """Folds per-item milestones into one line per order and milestone kind.

    A bulk order of 200 items yields 200 proof_ready events; a person wants to
    know that they all arrived, not their hashes. Events without an item are
    printed at once, after any run of the same order, so each order's lines stay
    in the order the agent reported them.
    """

    def __init__(self, out):
        self.out = out
        self.runs = collections.OrderedDict()  # (order_id, milestone) -> ItemRun

    def add(self, order_id, milestone, seq, at, line, now):
        key = (order_id, milestone)
        run = self.runs.get(key)
        if run is None:
            run = self.runs[key] = ItemRun(seq, now)
        if len(run.lines) <= SUMMARY_IN_FULL_MAX:
            run.lines.append(line)
        run.count += 1
        run.last_seq = seq
        run.last_at = at
        run.last_event = now

    def before_order_event(self, order_id):
        for key in [k for k in self.runs if k[0] == order_id]:
            self.end(key)

    def end(self, key):
        run = self.runs.pop(key, None)
        if run is None:
            return
        if run.count <= SUMMARY_IN_FULL_MAX and not run.shown:
            for line in run.lines:
                self.out.line(line)
        else:
            self.out.line(self.summary_line(key, run, final=True))

    def tick(self, now):
        for key, run in list(self.runs.items()):
            if now - run.last_event >= SUMMARY_QUIET_S:
                self.end(key)
            elif (now - run.last_progress >= SUMMARY_PROGRESS_S and run.count > run.shown
                  and run.count > SUMMARY_IN_FULL_MAX):
                run.last_progress = now
                run.shown = run.count
                self.out.line(self.summary_line(key, run, final=False))

    def end_all(self):
        for key in list(self.runs):
            self.end(key)

    @staticmethod
    def summary_line(key, run, final):
        order_id, milestone = key
        count = f"×{run.count} items{'' if final else ' so far'}"
        return event_line(run.last_at, f"{run.first_seq}..{run.last_seq}", order_id, "*", milestone, count)


# An image larger than this comes in parts on media/<sha256>/<part>/<parts>.
MEDIA_PART_BYTES = 64 * 1024
MEDIA_MAX_PARTS = 1 << 16


class MediaAssembler:
    """Puts images together from media/# messages: whole on media/<sha256>, or in
    parts on media/<sha256>/<part>/<parts> (any order, a part may come twice)."""

    def __init__(self):
        self.partial = {}   # sha256 -> (parts, {part: bytes})

    def add(self, tail, payload):
        """tail: the topic after '/media/'. Returns (sha256, bytes) once an image is
        complete, else None; raises ValueError for a topic that is not a media topic."""
        levels = tail.split("/")
        sha = levels[0]
        if not sha:
            raise ValueError("media topic without a sha256")
        if len(levels) == 1:
            return sha, bytes(payload)
        if len(levels) != 3 or not levels[1].isdigit() or not levels[2].isdigit():
            raise ValueError(f"media topic {tail!r} is neither media/<sha256> nor media/<sha256>/<part>/<parts>")
        part, parts = int(levels[1]), int(levels[2])
        if parts < 2 or parts > MEDIA_MAX_PARTS or part >= parts:
            raise ValueError(f"media topic {tail!r}: part {part} of {parts}")
        known, got = self.partial.setdefault(sha, (parts, {}))
        if known != parts:
            del self.partial[sha]
            raise ValueError(f"media {sha} announced in {parts} parts, earlier in {known}")
        got[part] = bytes(payload)
        if len(got) < parts:
            return None
        del self.partial[sha]
        return sha, b"".join(got[i] for i in range(parts))


class MediaReceiver:
    """Takes media/# on a connection of its own (client id <client_id>-media), so
    images queued at the broker never hold up events, and stores each complete
    image whose SHA-256 matches as <media_dir>/<sha256>."""

    def __init__(self, args, out):
        self.args = args
        self.out = out
        self.topic = f"mto/v1/{args.factory}/media/#"
        self.assembler = MediaAssembler()
        self.stored = 0
        os.makedirs(args.media_dir, exist_ok=True)
        self.client = mqtt.Client(client_id=args.client_id + "-media", clean_session=False)
        if args.username:
            self.client.username_pw_set(args.username, args.password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = lambda client, userdata, flags, rc: (
            rc == mqtt.CONNACK_ACCEPTED and client.subscribe(self.topic, QOS))
        self.client.on_message = self.on_message

    def start(self):
        self.client.connect_async(self.args.host, self.args.port, keepalive=30)
        self.client.loop_start()

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()

    def on_message(self, client, userdata, msg):
        self.take(msg.topic, msg.payload)

    def take(self, topic, payload):
        at = topic.find("/media/")
        try:
            image = self.assembler.add(topic[at + 7:], payload) if at >= 0 else None
        except ValueError as e:
            self.out.warn(f"media ignored: {e}")
            return None
        if image is None:
            return None
        sha, data = image
        if hashlib.sha256(data).hexdigest() != sha:
            self.out.warn(f"media {sha}: the bytes do not match their hash; dropped")
            return None
        path = os.path.join(self.args.media_dir, sha)
        with open(path + ".part", "wb") as f:
            f.write(data)
        os.replace(path + ".part", path)
        self.stored += 1
        return path


class HqClient:
    def __init__(self, args, messages, out, event_log=None):
        self.args = args
        self.messages = messages
        self.out = out
        self.lock = threading.Lock()
        self.events_topic = f"mto/v1/{args.factory}/events/#"
        self.status_topic = f"mto/v1/{args.factory}/status"
        self.connected = False
        self.ever_connected = False
        self.subscribed = False
        self.subscribe_mid = None
        self.fatal = None
        self.seen = SeenIds(SEEN_EVENT_IDS_MAX)
        self.last_seq = None
        self.missing_seqs = set()
        self.duplicates = 0
        # Orders the agent stored, and those whose outcome is known: made into jobs
        # (accepted), refused (rejected, at intake or at compile) or cancelled.
        self.stored_orders = set()
        self.settled_orders = set()
        # Accepted orders still owed proof images: order_id -> item ids without proof_ready yet.
        self.proofs_owed = {}
        self.proofs_seen = {}
        self.agent_state = None
        self.last_status_key = None
        self.summary = None if args.verbose else MilestoneSummary(out)
        self.event_log = event_log

        self.client = mqtt.Client(client_id=args.client_id, clean_session=False)
        if args.username:
            self.client.username_pw_set(args.username, args.password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self.on_connect
        self.client.on_connect_fail = self.on_connect_fail
        self.client.on_disconnect = self.on_disconnect
        self.client.on_subscribe = self.on_subscribe
        self.client.on_message = self.on_message

    # --- connection ---------------------------------------------------------

    def start(self):
        self.out.info(f"connecting to {self.args.host}:{self.args.port} as {self.args.client_id!r}")
        self.client.connect_async(self.args.host, self.args.port, keepalive=30)
        # The network thread also reconnects on its own after a broker restart.
        self.client.loop_start()

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()

    def on_connect(self, client, userdata, flags, rc):
        if rc != mqtt.CONNACK_ACCEPTED:
            msg = mqtt.connack_string(rc)
            if rc in (mqtt.CONNACK_REFUSED_BAD_USERNAME_PASSWORD, mqtt.CONNACK_REFUSED_NOT_AUTHORIZED,
                      mqtt.CONNACK_REFUSED_IDENTIFIER_REJECTED):
                # Retrying cannot fix these; stop instead of looping forever.
                with self.lock:
                    self.fatal = f"broker refused the connection: {msg}"
            else:
                self.out.warn(f"broker refused the connection: {msg}; retrying")
            return
        with self.lock:
            self.connected = True
            self.subscribed = False
            session_present = bool(flags.get("session present"))
            if self.ever_connected and not session_present:
                self.out.warn("the broker lost HQ's session (restart without persistence?); events published "
                              "meanwhile are gone, watch for seq gaps and resync")
            self.ever_connected = True
            self.out.info(f"connected ({'resumed' if session_present else 'new'} session), "
                          f"subscribing to {self.events_topic} and {self.status_topic}")
            # Subscribe on every connect: if the broker lost the session (restart
            # without persistence) the subscriptions would be gone silently.
            _, self.subscribe_mid = client.subscribe([(self.events_topic, QOS), (self.status_topic, QOS)])

    def on_connect_fail(self, client, userdata):
        self.out.warn(f"cannot reach broker {self.args.host}:{self.args.port}; retrying")

    def on_disconnect(self, client, userdata, rc):
        with self.lock:
            was_connected = self.connected
            self.connected = False
            self.subscribed = False
        if rc != mqtt.MQTT_ERR_SUCCESS and was_connected:
            self.out.warn("connection to the broker lost; reconnecting (the broker keeps our events meanwhile)")

    def on_subscribe(self, client, userdata, mid, granted_qos):
        with self.lock:
            if mid != self.subscribe_mid:
                return
            if any(q not in (0, 1, 2) for q in granted_qos):
                self.fatal = f"broker refused the subscription (granted {granted_qos}); check the ACL"
                return
            if any(q < QOS for q in granted_qos):
                self.out.warn(f"broker granted QoS {granted_qos}; events may be lost while HQ is offline")
            # Only now may orders go out: an answer published before the
            # subscription exists would never reach us on a brand-new session.
            self.subscribed = True

    # --- sending ------------------------------------------------------------

    def send_due(self, now):
        """Sends what is ready and re-sends what still waits for a receipt."""
        if not (self.connected and self.subscribed):
            # Nothing is lost by waiting: a publish made now would only sit in
            # the client library's queue.
            return
        waiting_lanes = set()
        for m in self.messages:
            blocked = m.lane is not None and m.lane in waiting_lanes
            if not m.done and m.lane is not None:
                waiting_lanes.add(m.lane)
            if m.done or blocked:
                continue
            if m.sends == 0:
                self.publish(m, now)
            elif now - m.last_sent >= self.args.resend_interval and self.agent_state != "offline":
                # While the agent is offline the broker queues our earlier copy
                # for it; re-sending then would only pile up duplicates.
                self.publish(m, now, resend=True)

    def publish(self, m, now, resend=False):
        topic = f"mto/v1/{self.args.factory}/{'commands' if m.kind == 'command' else 'orders'}"
        info = self.client.publish(topic, m.body, qos=QOS)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.out.warn(f"publishing {m.describe()} failed ({mqtt.error_string(info.rc)}); will retry")
            return
        m.sends += 1
        m.last_sent = now
        if m.first_sent is None:
            m.first_sent = now
        if resend:
            self.out.info(f"--> re-sent {m.describe()} (attempt {m.sends}, no receipt after "
                          f"{self.args.resend_interval:g}s)")
        else:
            self.out.info(f"--> sent {m.describe()} from {m.source}")
        if not m.expects_receipt:
            # Without a usable id the agent can only answer on events/_invalid,
            # which cannot be matched to this message, so it goes out once.
            m.done = True

    def all_done(self):
        return all(m.done for m in self.messages)

    def unsettled(self):
        """Stored orders still waiting to be compiled (or refused, or cancelled), or for their proofs."""
        waiting = self.stored_orders - self.settled_orders
        waiting |= {o for o, items in self.proofs_owed.items() if items}
        return sorted(o for o in waiting if o)

    def pending(self):
        return [m for m in self.messages if not m.done]

    # --- receiving ----------------------------------------------------------

    def on_message(self, client, userdata, msg):
        with self.lock:
            if msg.topic == self.status_topic:
                self.handle_status(msg.payload)
            else:
                self.handle_event(msg.topic, msg.payload)

    def handle_event(self, topic, payload):
        try:
            event = json.loads(payload.decode("utf-8"))
            if not isinstance(event, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            self.out.warn(f"unreadable event on {topic} ({e}): {payload[:200]!r}")
            return

        event_id = event.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            self.out.warn(f"event without event_id on {topic}; it cannot be de-duplicated")
        elif not self.seen.add(event_id):
            # Expected after reconnects and agent restarts: at-least-once delivery.
            self.duplicates += 1
            self.out.info(f"    (duplicate of event {event_id} seq {event.get('seq')} ignored)")
            return

        if self.event_log is not None:
            self.event_log.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
            self.event_log.flush()

        if event.get("factory") != self.args.factory:
            self.out.warn(f"event {event_id} claims factory {event.get('factory')!r} on {topic}")
        self.check_seq(event.get("seq"), event_id)

        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        self.print_event(topic, event, data)
        milestone = event.get("milestone")
        if milestone == "received":
            self.stored_orders.add(event.get("order_id"))
        elif milestone in ("accepted", "rejected", "cancelled"):
            self.settled_orders.add(event.get("order_id"))
            if milestone == "accepted" and isinstance(data.get("items"), list):
                owed = {i.get("item_id") for i in data["items"] if isinstance(i, dict)}
                self.proofs_owed[event.get("order_id")] = owed - self.proofs_seen.get(event.get("order_id"), set())
        elif milestone == "proof_ready":
            order_id = event.get("order_id")
            self.proofs_seen.setdefault(order_id, set()).add(event.get("item_id"))
            owed = self.proofs_owed.get(order_id)
            if owed is not None:
                owed.discard(event.get("item_id"))
                if not owed and self.summary is not None:
                    # Every proof of the order is in: that run is over, no need to wait for quiet.
                    self.summary.end((order_id, milestone))

        for m in self.messages:
            if m.sends and not m.done and m.is_receipt(event, data):
                m.done = True
                took_ms = (time.monotonic() - m.first_sent) * 1000
                self.out.info(f"    receipt for {m.describe()} after {took_ms:.0f} ms, {m.sends} send(s)")

    def check_seq(self, seq, event_id):
        if not isinstance(seq, int) or isinstance(seq, bool):
            self.out.warn(f"event {event_id} has no integer seq ({seq!r})")
            return
        last = self.last_seq
        if last is None:
            # The first event of this run sets the baseline. A real HQ stores
            # last_seq (and recent event ids) with its data and checks across
            # restarts too.
            self.last_seq = seq
        elif seq == last + 1:
            self.last_seq = seq
        elif seq > last + 1:
            self.out.warn(f"seq gap: expected {last + 1}, got {seq}; "
                          f"{seq - last - 1} event(s) missing so far")
            if seq - last - 1 <= MAX_TRACKED_GAP:
                self.missing_seqs.update(range(last + 1, seq))
            self.last_seq = seq
        elif seq in self.missing_seqs:
            self.missing_seqs.discard(seq)
            self.out.warn(f"seq {seq} arrived out of order (after {last}); "
                          f"{len(self.missing_seqs)} still missing")
        else:
            self.out.warn(f"seq went backwards: {seq} after {last} with a new event_id; "
                          "the agent's sequence was reset or an event was re-numbered. Ask for a resync")
            self.last_seq = seq

    def print_event(self, topic, event, data):
        order_id = event.get("order_id")
        if order_id is None:
            order_id = topic.rsplit("/", 1)[-1]  # "_invalid" for unusable input
        item_id = event.get("item_id")
        item = "-" if item_id is None else str(item_id)
        milestone = event.get("milestone", "?")
        line = event_line(event.get("at", "?"), event.get("seq"), order_id, item, milestone, format_data(data))
        if self.summary is None:
            self.out.line(line)
        elif item_id is None:
            self.summary.before_order_event(order_id)
            self.out.line(line)
        else:
            self.summary.add(order_id, milestone, event.get("seq"), event.get("at", "?"), line, time.monotonic())

    def handle_status(self, payload):
        if not payload:
            self.out.line(f"{utc_now():<24}  status: (retained status cleared)")
            self.agent_state = None
            self.last_status_key = None
            return
        try:
            status = json.loads(payload.decode("utf-8"))
            if not isinstance(status, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            self.out.warn(f"unreadable status ({e}): {payload[:200]!r}")
            return
        self.agent_state = status.get("state")
        # The agent refreshes its status regularly; only changes are news.
        key = (status.get("state"), status.get("degraded_reason"))
        if key == self.last_status_key:
            return
        self.last_status_key = key
        details = format_data({k: v for k, v in status.items() if k not in ("state", "factory", "at")})
        self.out.line(f"{status.get('at', utc_now()):<24}  status: agent {status.get('state')} {details}".rstrip())
        if status.get("state") == "offline":
            self.out.warn("the agent is offline; re-sending is paused until it is back")


PREFERRED_KEYS = ("reason", "path", "revision", "items", "duplicate", "state",
                  "command", "command_id", "message")


def format_data(data):
    """Renders event data as key=value, most interesting keys first."""
    keys = [k for k in PREFERRED_KEYS if k in data] + sorted(k for k in data if k not in PREFERRED_KEYS)
    parts = []
    for k in keys:
        v = data[k]
        if k == "items" and isinstance(v, list):
            v = len(v)  # a count is enough on one line
        if isinstance(v, str) and v and not re.search(r"[\s\"=]", v):
            text = v
        else:
            text = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
        parts.append(f"{k}={text}")
    return " ".join(parts)


def load_messages(paths, parser):
    messages = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            parser.error(f"{path}: {e}")
        entries = doc if isinstance(doc, list) else [doc]
        for i, payload in enumerate(entries):
            source = f"{path}[{i}]" if isinstance(doc, list) else path
            if not isinstance(payload, dict):
                parser.error(f"{source}: expected a JSON object (an order or a command)")
            messages.append(Outbound(payload, source))
    return messages


def parse_args():
    parser = argparse.ArgumentParser(
        description="Example HQ client for mto-agent: sends orders and commands from JSON files, "
                    "re-sends them until the agent confirms receipt and prints the milestones "
                    "(per-item ones summed up per order; --verbose for each).",
        epilog="Exit status: 0 every message has its receipt; 1 --timeout reached while messages "
               "still wait for theirs; 2 bad arguments or files; 3 the broker refused the "
               "connection; 130 stopped by Ctrl-C or SIGTERM.")
    parser.add_argument("--host", default="127.0.0.1", help="broker host (default %(default)s)")
    parser.add_argument("--port", type=int, default=1883, help="broker port (default %(default)s)")
    parser.add_argument("--factory", default="demo-factory", help="factory id in the topics (default %(default)s)")
    parser.add_argument("--client-id", default="hq-demo",
                        help="MQTT client id; keep it fixed so the broker keeps HQ's session (default %(default)s)")
    parser.add_argument("--username", help="broker user name")
    parser.add_argument("--password", help="broker password")
    parser.add_argument("--resend-interval", type=float, default=2.0, metavar="SECONDS",
                        help="re-send a message that has no receipt after this long (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=0, metavar="SECONDS",
                        help="stop after this long; 0 runs until Ctrl-C (default %(default)s)")
    parser.add_argument("--exit-when-done", action="store_true",
                        help="exit as soon as every message has its receipt")
    parser.add_argument("--wait-for-jobs", action="store_true",
                        help="with --exit-when-done: also wait until every stored order is accepted "
                             "(compiled into machine jobs, with every proof image), rejected or cancelled")
    parser.add_argument("--quiet", action="store_true",
                        help="print only milestones, status changes and warnings")
    parser.add_argument("--verbose", action="store_true",
                        help="print every per-item milestone on its own line instead of one summary line "
                             "per order and milestone")
    parser.add_argument("--event-log", metavar="FILE",
                        help="append every event, de-duplicated, to FILE as JSON, one a line")
    parser.add_argument("--media-dir", metavar="DIR",
                        help="also take the agent's images (proofs, QC snapshots) on a second connection and "
                             "store each, checked against its hash, as DIR/<sha256>")
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="JSON file holding an order, a command, or an array of them")
    args = parser.parse_args()
    if args.resend_interval <= 0:
        parser.error("--resend-interval must be positive")
    if args.timeout < 0:
        parser.error("--timeout must not be negative")
    if not valid_id(args.factory):
        parser.error("--factory must be 1..64 characters of [A-Za-z0-9._:-]")
    return args, load_messages(args.files, parser)


def main():
    args, messages = parse_args()
    out = Output(args.quiet)
    event_log = None
    if args.event_log:
        try:
            event_log = open(args.event_log, "a", encoding="utf-8")
        except OSError as e:
            print(f"hq_client.py: error: --event-log: {e}", file=sys.stderr)
            return 2
    hq = HqClient(args, messages, out, event_log)
    for m in messages:
        if not m.expects_receipt:
            what = "command_id" if m.kind == "command" else "order_id"
            out.warn(f"{m.source}: no usable {what}; it is sent once and any rejection "
                     "arrives on events/_invalid, unmatched")

    # SIGTERM (e.g. from a supervising script) takes the same clean path as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    deadline = time.monotonic() + args.timeout if args.timeout > 0 else None
    code = EXIT_OK
    media = MediaReceiver(args, out) if args.media_dir else None
    if media is not None:
        media.start()
    hq.start()
    try:
        while True:
            now = time.monotonic()
            with hq.lock:
                if hq.fatal:
                    out.warn(hq.fatal)
                    code = EXIT_BROKER_REFUSED
                    break
                hq.send_due(now)
                if hq.summary is not None:
                    hq.summary.tick(now)
                done = hq.all_done() and (not args.wait_for_jobs or not hq.unsettled())
                if args.exit_when_done and done:
                    out.info(f"all {len(messages)} message(s) have their receipt" +
                             (f"; all {len(hq.stored_orders)} stored order(s) settled" if args.wait_for_jobs else ""))
                    break
            if deadline is not None and now >= deadline:
                code = EXIT_OK if done else EXIT_NOT_DONE
                break
            time.sleep(0.05)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    finally:
        hq.stop()
        if media is not None:
            media.stop()
            out.info(f"{media.stored} image(s) stored in {args.media_dir}")

    with hq.lock:
        if hq.summary is not None:
            hq.summary.end_all()
        if event_log is not None:
            event_log.close()
        waiting = hq.pending()
        if waiting:
            out.warn(f"{len(waiting)} message(s) without receipt: " + ", ".join(m.describe() for m in waiting))
        if args.wait_for_jobs and hq.unsettled():
            out.warn("order(s) not yet accepted, rejected or cancelled: " + ", ".join(hq.unsettled()))
        if hq.missing_seqs:
            out.warn(f"{len(hq.missing_seqs)} event seq number(s) never arrived: {sorted(hq.missing_seqs)[:20]}")
        out.info(f"stopped; {hq.duplicates} duplicate event(s) ignored")
    return code


if __name__ == "__main__":
    sys.exit(main())
