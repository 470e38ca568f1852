"""The benchmark keeps working (its figures are read by people, never asserted as speeds)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def test_pipeline_benchmark_prints_both_rates_and_their_ratio() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench/pipeline_rate.py"),
            "--events",
            "40",
            "--ceiling-events",
            "500",
            # Long enough to print the latency line; its figures are the benchmark's own run's.
            "--latency-seconds",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    ratio = re.search(r"ratio pipeline / ceiling\s+:\s+([0-9.]+)", result.stdout)
    assert ratio is not None, result.stdout
    assert float(ratio.group(1)) > 0
    assert re.search(r"latency at 50/s \(ms\)\s+: p50 \d+", result.stdout), result.stdout


def test_the_figures_utility_benchmark_prints_each_grains_share_and_what_is_never_published() -> (
    None
):
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench/figures_utility.py"), "--days", "40", "--sizes", "40"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = re.findall(
        r"^\| 40 \| (day|week|month) \| (\d+) % \| (\d+) % \| (\d+) % \| (\d+) % \| \d+ of \d+ \|$",
        result.stdout,
        re.M,
    )
    assert [row[0] for row in rows] == ["day", "week", "month"], result.stdout
    for _, *shares in rows:
        within = [int(share) for share in shares]
        assert within == sorted(within), "more is published the longer one waits"
        assert within[-1] <= 100
    never = re.search(r"^\| 40 \| never published \| \| \| \| (\d+) % \| \|$", result.stdout, re.M)
    assert never is not None, result.stdout
    month_ever = int(rows[2][4])
    assert month_ever + int(never.group(1)) in (99, 100, 101), "published or never: all"
    refused = subprocess.run(
        [sys.executable, str(ROOT / "bench/figures_utility.py"), "--sizes", "ten"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (refused.returncode, refused.stderr.count("\n")) == (2, 1)
