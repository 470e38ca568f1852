"""The Grafana dashboard in deploy/ shows only metrics the services export, and every one."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import palaute_runtime.metrics  # noqa: F401 - registers the metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "palaute.json"


def test_the_dashboard_charts_every_exported_metric_and_nothing_else() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    used = {
        re.sub(r"_(total|bucket|count|sum)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bpalaute_\w+", target["expr"])
    }
    exported = {metric.name for metric in REGISTRY.collect() if metric.name.startswith("palaute_")}
    assert used == exported
