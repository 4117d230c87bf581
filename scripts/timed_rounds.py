#!/usr/bin/env python3
"""Time whole commands against each other on a noisy machine.

Each round runs every command once, one after the other, starting with a
different command each round (so none always runs first or after the same
neighbour); a machine that slows down for a while slows every command of
that round alike. Per command it prints the median, fastest and slowest
wall time, the median CPU time (user + system, of the process and its
children, from wait4) and the peak resident memory; with --events, events
per second and per CPU-second.

Ratios compare two commands round by round: the ratio of their two wall
times in each round, then the median of those ratios. That holds where a
"best of three of A, then best of three of B" does not: when the machine's
load changes between A's runs and B's, the two figures measure different
machines.

Usage:
  timed_rounds.py [--rounds N] [--clear DIR] [--events N] [--json OUT]
                  [--ratio A/B ...] NAME=COMMAND ...
COMMAND is one shell-quoted string (split with shlex, run without a shell);
--clear removes DIR before every run, untimed (a replay's data directory);
--ratio A/B prints B's wall over A's, the median over the rounds ("A is
x times as fast as B"). A command that fails stops the script with its
exit status and the end of its error output.
"""
import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run_once(argv: list[str]) -> dict:
    """Run argv once; its wall seconds, CPU seconds and peak RSS in MiB."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read()[-2000:].decode(errors="replace")
            sys.exit(f"timed_rounds: {shlex.join(argv)} exited {proc.returncode}:\n{tail}")
    # ru_maxrss is in KiB on Linux.
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024}


def named_command(text: str) -> tuple[str, list[str]]:
    name, sep, command = text.partition("=")
    if not sep or not name or not command.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=COMMAND, got {text!r}")
    return name, shlex.split(command)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--clear", help="directory removed before every run")
    p.add_argument("--events", type=int, help="events each command processes")
    p.add_argument("--ratio", action="append", default=[], help="A/B: median over rounds of B's wall / A's")
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("commands", nargs="+", type=named_command)
    args = p.parse_intermixed_args()
    names = [n for n, _ in args.commands]
    if len(set(names)) != len(names):
        p.error("command names must differ")
    pairs = []
    for r in args.ratio:
        a, sep, b = r.partition("/")
        if not sep or a not in names or b not in names:
            p.error(f"--ratio {r!r}: expected A/B with names among {names}")
        pairs.append((a, b))

    runs = {n: [] for n in names}
    for round_no in range(args.rounds):
        start = round_no % len(args.commands)
        for name, argv in args.commands[start:] + args.commands[:start]:
            if args.clear:
                shutil.rmtree(args.clear, ignore_errors=True)
            runs[name].append(run_once(argv))

    summary = {"rounds": args.rounds, "commands": {}, "ratios": {}}
    width = max(len(n) for n in names)
    for name in names:
        walls = [r["wall"] for r in runs[name]]
        cpu = statistics.median(r["cpu"] for r in runs[name])
        rss = max(r["rss_mib"] for r in runs[name])
        wall = statistics.median(walls)
        s = {"wall_median": wall, "wall_min": min(walls), "wall_max": max(walls), "cpu_median": cpu, "rss_mib_max": rss}
        line = f"{name:<{width}}  {wall:6.2f} s wall (min {min(walls):.2f}, max {max(walls):.2f}), {cpu:6.2f} s CPU, {rss:6.0f} MiB peak"
        if args.events:
            s["events_per_s"] = args.events / wall
            s["events_per_cpu_s"] = args.events / cpu
            line += f", {args.events / wall:>9.0f} events/s ({args.events / cpu:.0f} per CPU-second)"
        summary["commands"][name] = s
        print(line)
    for a, b in pairs:
        per_round = [rb["wall"] / ra["wall"] for ra, rb in zip(runs[a], runs[b])]
        ratio = statistics.median(per_round)
        summary["ratios"][f"{a}/{b}"] = {"median": ratio, "min": min(per_round), "max": max(per_round)}
        print(f"{a} vs {b}: {ratio:.2f}x as fast (median of {len(per_round)} rounds; {min(per_round):.2f}-{max(per_round):.2f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
