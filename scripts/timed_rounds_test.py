#!/usr/bin/env python3
"""Tests of timed_rounds.py with real processes (run by scripts/test)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "timed_rounds.py")


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def timed(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


def sleeper(seconds: float, log: str, name: str) -> str:
    # Appends its name to log, so the order of the runs can be read back.
    return f"{name}={sys.executable} -c 'import time; open(\"{log}\", \"a\").write(\"{name} \"); time.sleep({seconds})'"


class TimedRounds(unittest.TestCase):
    def test_ratio_is_the_median_of_rounds_and_order_rotates(self):
        with tempfile.TemporaryDirectory() as d:
            log, out = os.path.join(d, "order"), os.path.join(d, "figures.json")
            r = timed("--rounds", "3", "--events", "1000", "--json", out,
                      "--ratio", "fast/slow", sleeper(0.05, log, "fast"), sleeper(0.25, log, "slow"))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(read(log).split(), ["fast", "slow", "slow", "fast", "fast", "slow"])
            figures = json.loads(read(out))
            ratio = figures["ratios"]["fast/slow"]["median"]
            # 0.25 s against 0.05 s, plus an interpreter start on each side.
            self.assertGreater(ratio, 1.5)
            self.assertLess(ratio, 6.0)
            fast = figures["commands"]["fast"]
            self.assertGreaterEqual(fast["wall_min"], 0.05)
            self.assertAlmostEqual(fast["events_per_s"], 1000 / fast["wall_median"])
            self.assertIn("fast vs slow:", r.stdout)

    def test_clear_removes_the_directory_before_every_run(self):
        with tempfile.TemporaryDirectory() as d:
            data = os.path.join(d, "data")
            # Fails if the directory is still there from the run before.
            make = f"mk={sys.executable} -c 'import os; os.mkdir(\"{data}\")'"
            r = timed("--rounds", "2", "--clear", data, make)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_a_failing_command_stops_with_its_error(self):
        r = timed("--rounds", "2", f"bad={sys.executable} -c 'import sys; sys.exit(\"no such input\")'")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("exited 1", r.stderr)
        self.assertIn("no such input", r.stderr)

    def test_a_ratio_must_name_two_commands(self):
        r = timed("--ratio", "a/missing", "a=true")
        self.assertEqual(r.returncode, 2)
        self.assertIn("a/missing", r.stderr)


if __name__ == "__main__":
    unittest.main()
