#!/usr/bin/env python3
"""A CloudTrail corpus of any size for end-to-end benchmarks: the Stratus
Red Team captures' records (../shared/data/stratus-red-team), repeated with
fresh event and request ids and times one millisecond apart, as JSON lines.

    cloudtrail_corpus.py STRATUS_DIR RECORDS OUT.jsonl
"""
import datetime
import json
import pathlib
import random
import sys
import uuid


def records(stratus: pathlib.Path):
    for path in sorted(stratus.glob("*.json")):
        doc = json.loads(path.read_text())
        yield from doc if isinstance(doc, list) else doc.get("Records", [])


def shapes_of(stratus) -> list:
    shapes = list(records(pathlib.Path(stratus)))
    if not shapes:
        sys.exit(f"no CloudTrail records under {stratus}")
    return shapes


def fresh(shape: dict, rng: random.Random, when: datetime.datetime) -> dict:
    """The record with new event and request ids, at `when` (CloudTrail's
    format: whole seconds, UTC)."""
    r = dict(shape)
    r["eventID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    r["requestID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    r["eventTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return r


def main() -> None:
    stratus, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    shapes = shapes_of(stratus)
    rng = random.Random(1)
    start = datetime.datetime(2026, 3, 2, tzinfo=datetime.timezone.utc)
    with open(out, "w") as f:
        for i in range(count):
            r = fresh(shapes[i % len(shapes)], rng, start + datetime.timedelta(milliseconds=i))
            f.write(json.dumps(r, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
