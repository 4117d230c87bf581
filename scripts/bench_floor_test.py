#!/usr/bin/env python3
"""Tests of bench_floor.py on `delegraph bench` output (run by scripts/test)."""
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_floor.py")

# The stage lines as `delegraph bench` prints them (round rates, so the
# costs are easy to check: 4, 5, 8, 2 and 20 us per event), after a line
# that must not be read as one, and followed by a baseline build's run
# whose lines must not replace this build's.
OUTPUT = """-- this build
corpus: 100000 events, 134.1 MB (1341 B/event), 0 dead letters per cycle
baseline  serde_json::Value parse       :     250000 events/s   340.4 MB/s
delegraph decode                        :     200000 events/s   367.8 MB/s  (0.80x baseline)
delegraph decode+Arrow batches          :     125000 events/s   214.7 MB/s  (0.50x baseline)
delegraph full pipeline (+detect, store):      50000 events/s   108.4 MB/s  (0.20x baseline)
delegraph stitch (attribution + graphs)  :    1869669 events/s
delegraph stitch + all detectors         :     500000 events/s (0 findings)
-- baseline build: old
baseline  serde_json::Value parse       :       1000 events/s   340.4 MB/s
delegraph decode                        :       1000 events/s   367.8 MB/s  (0.80x baseline)
"""


def floor(text: str, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bench.txt")
        with open(path, "w") as f:
            f.write(text)
        return subprocess.run([sys.executable, SCRIPT, *args, path], capture_output=True, text=True)


class BenchFloor(unittest.TestCase):
    def test_costs_per_event_against_the_budget(self):
        # 400k events/s on 2 cores: 5 us of CPU per event.
        out = floor(OUTPUT, "--goal", "4x rsigma", "--goal-rate", "400000", "--cores", "2")
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertIn("4x rsigma is 400000 events/s: 5.0 us of CPU per event on 2 cores", lines[0])
        expected = [
            "a plain JSON parse of the record: 4.0 us (0.80x the budget)",
            "decoding it: 5.0 us (1.00x the budget)",
            "decoding it and building its events-table row: 8.0 us (1.60x the budget)",
            "stitching it, every detector looking: 2.0 us (0.40x the budget)",
            "the last two together, the floor before rules, Parquet and Delta: 10.0 us (2.00x the budget)",
            "the whole pipeline (no rules): 20.0 us (4.00x the budget)",
        ]
        self.assertEqual([line.strip() for line in lines[1:]], expected)

    def test_a_missing_stage_is_named(self):
        text = OUTPUT.replace("delegraph stitch + all detectors", "delegraph something else")
        out = floor(text, "--goal", "g", "--goal-rate", "1000", "--cores", "1")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("delegraph stitch + all detectors", out.stderr)
        self.assertEqual(out.stdout, "")

    def test_a_goal_of_nothing_is_refused(self):
        out = floor(OUTPUT, "--goal", "g", "--goal-rate", "0", "--cores", "2")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("must be positive", out.stderr)


if __name__ == "__main__":
    unittest.main()
