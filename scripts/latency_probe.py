#!/usr/bin/env python3
"""Event-to-finding latency of `delegraph serve` over Kafka, measured from
outside with an independent client (confluent-kafka).

The records are the Stratus Red Team captures' CloudTrail records
(../shared/data/stratus-red-team), sent with fresh event and request ids
and the current time as their event time, so the service sees a live feed.

fill     send COUNT records as fast as possible (before the service starts).
taken    wait until the service's /metrics counts COUNT messages taken in;
         print the rate it took them in at (messages per second, from the
         first one it counted).
echo     the broker's own latency, the baseline: send timestamps at RATE
         per second for SECONDS to TOPIC and read them back; print
         percentiles of send-to-read time as JSON.
paced    send records at RATE per second for SECONDS while reading the
         findings topic; for every finding whose evidence includes records
         sent here, the latency is the time it was read minus the time the
         newest of those records was sent (the findings are read in a
         process of its own). Print percentiles as JSON, then
         the median and largest of each seal phase of the epochs that
         ended meanwhile (from the service's /metrics).

Producers batch like a log shipper (linger.ms 5); readers hold a fetch at
most --fetch-wait-ms, as bench-latency has the service's consumer do.
"""
import argparse
import datetime
import json
import multiprocessing
import random
import sys
import threading
import time
import urllib.request
import uuid

from confluent_kafka import Consumer, Producer

import cloudtrail_corpus  # beside this script: the same records and fresh ids


class Records:
    """Stratus records with new ids and the current time, round and round."""

    def __init__(self, stratus):
        self.shapes = cloudtrail_corpus.shapes_of(stratus)
        self.rng = random.Random()
        self.n = 0

    def next(self):
        shape = self.shapes[self.n % len(self.shapes)]
        self.n += 1
        return cloudtrail_corpus.fresh(shape, self.rng, datetime.datetime.now(datetime.timezone.utc))


def producer(bootstrap):
    return Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "log_level": 0})


def produce(p, topic, value):
    while True:
        try:
            p.produce(topic, value=value)
            return
        except BufferError:
            p.poll(0.05)


def send_paced(bootstrap, topic, rate, seconds, value_of):
    """Send `value_of(send_time)` at `rate` per second for `seconds`."""
    p = producer(bootstrap)
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        wait = start + n / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        produce(p, topic, value_of(time.monotonic()))
        p.poll(0)
        n += 1
    p.flush(60)
    return n


class Reader:
    """Reads `topic` from its start on a thread, handing each message and
    the time it was read to `handle`."""

    def __init__(self, bootstrap, topic, handle, fetch_wait_ms):
        self.done = threading.Event()
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"latency-{uuid.uuid4()}",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                  "fetch.wait.max.ms": fetch_wait_ms})
        self.consumer.subscribe([topic])
        self.thread = threading.Thread(target=self.run, args=(handle,))
        self.thread.start()

    def run(self, handle):
        while not self.done.is_set():
            m = self.consumer.poll(0.05)
            if m is not None and not m.error():
                handle(m.value(), time.monotonic())
        self.consumer.close()

    def stop(self):
        self.done.set()
        self.thread.join()


def report(sent, seconds, latencies, what):
    if not latencies:
        sys.exit(f"no {what} read back")
    latencies.sort()

    def pct(q):
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1)

    print(json.dumps({"sent": sent, "rate": round(sent / seconds), what: len(latencies),
                      "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99),
                      "max_ms": round(latencies[-1] * 1000, 1)}))


def metric_lines(metrics_url):
    with urllib.request.urlopen(metrics_url, timeout=5) as r:
        return r.read().decode().splitlines()


def messages_in(metrics_url):
    for line in metric_lines(metrics_url):
        if line.startswith("delegraph_messages_in_total"):
            return float(line.split()[-1])
    return 0.0


class Seals:
    """Samples the service's /metrics on a thread and keeps each epoch's
    seal phases (`held`: what the loop stood still for; the rest happens
    beside it)."""

    def __init__(self, metrics_url):
        self.url = metrics_url
        self.done = threading.Event()
        self.first = None
        self.last = None
        self.seals = []
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while not self.done.wait(0.1):
            epochs, phases = None, {}
            try:
                lines = metric_lines(self.url)
            except OSError:
                continue  # a slow answer: the next sample sees the epoch
            for line in lines:
                if line.startswith("delegraph_epochs_total"):
                    epochs = float(line.split()[-1])
                elif line.startswith("delegraph_epoch_seal_seconds{"):
                    phases[line.split('"')[1]] = float(line.split()[-1]) * 1000
            if epochs is None:
                continue
            if self.first is None:
                self.first = epochs
            elif epochs != self.last:
                # Only the latest of epochs ended between two samples shows.
                self.seals.append(phases)
            self.last = epochs

    def stop(self):
        """Per phase, the median and the largest of the epochs seen."""
        self.done.set()
        self.thread.join()
        out = {}
        for phase in sorted({p for s in self.seals for p in s}):
            v = sorted(s.get(phase, 0.0) for s in self.seals)
            out[phase] = [round(v[len(v) // 2], 1), round(v[-1], 1)]
        ended = int((self.last or 0) - (self.first or 0))
        return {"epochs": ended, "seals_seen": len(self.seals), "seal_ms_median_max": out}


def fill(args):
    records = Records(args.stratus)
    p = producer(args.bootstrap)
    for _ in range(args.count):
        produce(p, args.topic, json.dumps(records.next()).encode())
    if p.flush(60):
        sys.exit("fill: records left undelivered")


def taken(args):
    deadline = time.monotonic() + args.timeout
    first = None
    while True:
        now, n = time.monotonic(), messages_in(args.metrics)
        if first is None and n > 0:
            first = (now, n)
        if n >= args.count:
            break
        if now > deadline:
            sys.exit(f"taken: the service took in {n:.0f} of {args.count}")
        time.sleep(0.02)
    print(f"{(n - first[1]) / max(now - first[0], 1e-3):.0f}")


def echo(args):
    latencies = []
    reader = Reader(args.bootstrap, args.topic, lambda v, at: latencies.append(at - float(v)),
                    args.fetch_wait_ms)
    time.sleep(2)  # the reader joins its group before anything is sent
    sent = send_paced(args.bootstrap, args.topic, args.rate, args.seconds, lambda t: repr(t).encode())
    time.sleep(args.drain)
    reader.stop()
    report(sent, args.seconds, latencies, "messages")


def related_ids(value):
    """The event ids a finding names as its evidence."""
    related = json.loads(value).get("finding_info", {}).get("related_events", [])
    return [e["uid"] for e in related if "uid" in e]


def read_findings(bootstrap, topic, fetch_wait_ms, done, out):
    """In a process of its own, so that parsing findings never waits on the
    sender for the interpreter (nor holds it up): read `topic` until `done`
    is set, then put on `out` each finding's evidence ids and read time."""
    got = []
    reader = Reader(bootstrap, topic, lambda v, at: got.append((related_ids(v), at)), fetch_wait_ms)
    done.wait()
    reader.stop()
    out.put(got)


def paced(args):
    records = Records(args.stratus)
    sent = {}

    def value_of(t):
        r = records.next()
        sent[r["eventID"]] = t
        return json.dumps(r).encode()

    # Forked before this process makes any Kafka client. time.monotonic()
    # is the system's monotonic clock, the same in both processes.
    ctx = multiprocessing.get_context("fork")
    done, out = ctx.Event(), ctx.Queue()
    reader = ctx.Process(target=read_findings,
                         args=(args.bootstrap, args.findings_topic, args.fetch_wait_ms, done, out))
    reader.start()
    time.sleep(2)
    seals = Seals(args.metrics)
    n = send_paced(args.bootstrap, args.topic, args.rate, args.seconds, value_of)
    sealed = seals.stop()
    time.sleep(args.drain)
    done.set()
    found = out.get()
    reader.join()
    latencies = []
    for ids, read_at in found:
        times = [sent[i] for i in ids if i in sent]
        if times:
            latencies.append(read_at - max(times))
    report(n, args.seconds, latencies, "findings")
    print(json.dumps(sealed))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--fetch-wait-ms", type=int, default=500,
                    help="readers' fetch.wait.max.ms (librdkafka's default: 500)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fill")
    f.add_argument("--stratus", required=True)
    f.add_argument("--count", type=int, default=20000)
    t = sub.add_parser("taken")
    t.add_argument("--metrics", required=True, help="the service's /metrics URL")
    t.add_argument("--count", type=int, default=20000)
    t.add_argument("--timeout", type=float, default=300)
    for name in ("echo", "paced"):
        p = sub.add_parser(name)
        p.add_argument("--rate", type=float, required=True)
        p.add_argument("--seconds", type=float, default=30)
        p.add_argument("--drain", type=float, default=10, help="seconds to keep reading after the last send")
    sub.choices["paced"].add_argument("--stratus", required=True)
    sub.choices["paced"].add_argument("--findings-topic", required=True)
    sub.choices["paced"].add_argument("--metrics", required=True,
                                      help="the service's /metrics URL (seal phases are sampled)")
    args = ap.parse_args()
    {"fill": fill, "taken": taken, "echo": echo, "paced": paced}[args.cmd](args)


if __name__ == "__main__":
    main()
