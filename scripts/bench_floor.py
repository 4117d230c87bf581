#!/usr/bin/env python3
"""What a throughput goal leaves per event, beside what the work costs alone.

A goal of R events/s on a machine of N cores leaves N / R seconds of CPU
per event for everything, however well the work is spread over the cores.
`delegraph bench` measures, in-process on one thread and on the same
records, the stages no implementation of SPEC can skip: parsing each
record, decoding it, building its row of the events table (the raw record
among its columns), and stitching it with every detector looking. Their
costs side by side with the budget say whether trimming the rest (rules,
Parquet encoding, Delta commits, process start) can reach the goal on this
machine at all: when the floor alone is over the budget, it cannot.

Usage:
  bench_floor.py --goal TEXT --goal-rate EVENTS_PER_S --cores N BENCH_OUTPUT
BENCH_OUTPUT is what `delegraph bench` printed. A stage line missing from
it stops the script with the line it looked for.
"""
import argparse
import re
import sys

# (the line's name in `delegraph bench`'s output, what it measures)
PARSE = ("baseline  serde_json::Value parse", "a plain JSON parse of the record")
DECODE = ("delegraph decode", "decoding it")
ROW = ("delegraph decode+Arrow batches", "decoding it and building its events-table row")
ANALYSIS = ("delegraph stitch + all detectors", "stitching it, every detector looking")
WHOLE = ("delegraph full pipeline (+detect, store)", "the whole pipeline (no rules)")

LINE = re.compile(r"^(.*?)\s*:\s*(\d+(?:\.\d+)?) events/s")


def rates(text: str) -> dict:
    """Events/s of every stage line of `delegraph bench`'s output (the
    first of each name: the output measures each once per corpus)."""
    found = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            found.setdefault(m.group(1).strip(), float(m.group(2)))
    return found


def floor_lines(goal: str, goal_rate: float, cores: int, found: dict) -> list:
    missing = [name for name, _ in (PARSE, DECODE, ROW, ANALYSIS, WHOLE) if name not in found]
    if missing:
        raise ValueError(f"no line `{missing[0]}: ... events/s` in delegraph bench's output")
    budget = 1e6 * cores / goal_rate
    us = {name: 1e6 / found[name] for name in found}

    def line(label: str, cost: float) -> str:
        return f"  {label}: {cost:.1f} us ({cost / budget:.2f}x the budget)"

    floor = us[ROW[0]] + us[ANALYSIS[0]]
    return [
        f"  {goal} is {goal_rate:.0f} events/s: {budget:.1f} us of CPU per event on {cores} cores, for everything",
        *(line(label, us[name]) for name, label in (PARSE, DECODE, ROW, ANALYSIS)),
        line("the last two together, the floor before rules, Parquet and Delta", floor),
        line(WHOLE[1], us[WHOLE[0]]),
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--goal", required=True, help="the goal, in words")
    p.add_argument("--goal-rate", type=float, required=True, help="the goal in events/s")
    p.add_argument("--cores", type=int, required=True)
    p.add_argument("bench_output")
    args = p.parse_args()
    if args.goal_rate <= 0 or args.cores <= 0:
        sys.exit("bench_floor: --goal-rate and --cores must be positive")
    with open(args.bench_output) as f:
        found = rates(f.read())
    try:
        print("\n".join(floor_lines(args.goal, args.goal_rate, args.cores, found)))
    except ValueError as e:
        sys.exit(f"bench_floor: {e}")


if __name__ == "__main__":
    main()
