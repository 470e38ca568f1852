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
