#!/usr/bin/env python3
"""An independent Kafka client (confluent-kafka) for tests and benchmarks.

produce    send log files to a topic, one message per record, the way log
           shippers deliver them: a CloudTrail {"Records": [...]} document or
           a JSON array becomes one message per element, a JSON-lines file
           one message per line, any other single document one message.
consume    read a topic from the beginning and print each message value.
committed  print a group's committed offsets and where each partition ends.
"""
import argparse
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition


def records_of(path):
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8", errors="surrogateescape")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = None
    if isinstance(doc, list):
        return [json.dumps(r).encode() for r in doc]
    if isinstance(doc, dict) and isinstance(doc.get("Records"), list):
        return [json.dumps(r).encode() for r in doc["Records"]]
    if doc is not None:
        return [data]
    return [line.encode("utf-8", errors="surrogateescape") for line in text.splitlines() if line.strip()]


def produce(args):
    # log_level 0: connection errors during a broker outage are expected;
    # deliveries are checked one by one instead.
    p = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 20, "log_level": 0,
                  "message.timeout.ms": args.timeout * 1000})
    failed = []

    def report(err, _msg):
        if err is not None:
            failed.append(str(err))

    sent = 0
    for path in args.files:
        for i, value in enumerate(records_of(path)):
            if args.limit and sent >= args.limit:
                break
            key = f"{path}#{i}".encode() if args.keyed else None
            while True:
                try:
                    p.produce(args.topic, value=value, key=key, on_delivery=report)
                    break
                except BufferError:
                    p.poll(0.1)
            sent += 1
            if args.rate:
                time.sleep(1.0 / args.rate)
                p.poll(0)
    left = p.flush(args.timeout)
    if failed or left:
        print(f"produce: {len(failed)} failed, {left} undelivered: {failed[:3]}", file=sys.stderr)
        sys.exit(1)
    print(sent)


def consume(args):
    c = Consumer({"bootstrap.servers": args.bootstrap, "group.id": f"reader-{uuid.uuid4()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([args.topic])
    seen = 0
    deadline = time.time() + args.timeout
    last = time.time()
    while time.time() < deadline and (args.expect is None or seen < args.expect):
        # Without --expect: read until the topic has been quiet for 3 s.
        if args.expect is None and seen and time.time() - last > 3:
            break
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        last = time.time()
        key = m.key().decode() if m.key() else None
        print(json.dumps({"key": key, "partition": m.partition(), "offset": m.offset(),
                          "value": m.value().decode("utf-8", errors="replace")}), flush=True)
        seen += 1
    c.close()


def read_ends(bootstrap, topic, quiet=3.0):
    """Next offset after the last message of each partition, found by reading
    the topic (tansu 0.6 answers ListOffsets(latest) with wrong values after
    batched produce, so watermarks are not asked for)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    ends = {}
    last = time.time()
    while time.time() - last < quiet:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        last = time.time()
        ends[m.partition()] = max(ends.get(m.partition(), 0), m.offset() + 1)
    c.close()
    return ends


def committed(args):
    c = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group,
                  "enable.auto.commit": False})
    meta = c.list_topics(args.topic, timeout=10)
    parts = [TopicPartition(args.topic, p) for p in sorted(meta.topics[args.topic].partitions)]
    got = c.committed(parts, timeout=10)
    c.close()
    ends = read_ends(args.bootstrap, args.topic)
    out = {str(tp.partition): {"committed": tp.offset, "end": ends.get(tp.partition, 0)} for tp in got}
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("produce")
    p.add_argument("--topic", required=True)
    p.add_argument("--keyed", action="store_true", help="key each message by file#index")
    p.add_argument("--rate", type=float, default=0, help="messages per second (0: as fast as possible)")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--timeout", type=int, default=120)
    p.add_argument("files", nargs="+")
    c = sub.add_parser("consume")
    c.add_argument("--topic", required=True)
    c.add_argument("--expect", type=int)
    c.add_argument("--timeout", type=float, default=30)
    k = sub.add_parser("committed")
    k.add_argument("--topic", required=True)
    k.add_argument("--group", required=True)
    args = ap.parse_args()
    {"produce": produce, "consume": consume, "committed": committed}[args.cmd](args)


if __name__ == "__main__":
    main()
