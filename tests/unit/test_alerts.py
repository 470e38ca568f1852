"""The alert rules (deploy/prometheus/alerts.yml): valid, each tested by promtool on series
that fire and series that stay quiet, on metrics the services export, each with its runbook
entry."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import palaute_runtime.metrics  # noqa: F401 - registers the metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
CASES = DEPLOY / "prometheus" / "alerts.test.yml"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool is not installed (apt-get install prometheus)"
        if os.environ.get("PALAUTE_REQUIRE_PROMTOOL") == "1":
            pytest.fail(f"{reason}; PALAUTE_REQUIRE_PROMTOOL=1")
        pytest.skip(reason)
    return found


def rules() -> list[dict[str, object]]:
    loaded = yaml.safe_load(RULES.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def test_the_rules_are_valid_and_each_fires_and_stays_quiet_where_it_should() -> None:
    tool = promtool()
    checked = subprocess.run(
        [tool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [tool, "test", "rules", str(CASES)],
        capture_output=True,
        text=True,
        check=False,
        cwd=CASES.parent,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_each_rule_has_a_firing_case_a_quiet_case_and_a_runbook_entry() -> None:
    cases = yaml.safe_load(CASES.read_text())["tests"]
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in cases:
        series = [s["series"] for s in case["input_series"]]
        for check in case["alert_rule_test"]:
            expected = check["exp_alerts"]
            if expected:
                fired.add(check["alertname"])
            # Quiet: an explicit empty case, or a series of the case that raised no alert.
            if not expected or len(series) > len(expected):
                quiet.add(check["alertname"])
    names = {str(rule["alert"]) for rule in rules()}
    assert fired == names, f"never seen firing: {names - fired}"
    assert quiet == names, f"never seen quiet: {names - quiet}"
    runbook = (DEPLOY.parent / "docs" / "runbook.md").read_text()
    for name in names:
        assert f"### {name}" in runbook, f"no runbook entry for {name}"


def test_the_rules_read_only_metrics_the_services_export() -> None:
    exported = {metric.name for metric in REGISTRY.collect() if metric.name.startswith("palaute_")}
    used = {
        re.sub(r"_(total|bucket|count|sum)$", "", name)
        for rule in rules()
        for name in re.findall(r"\bpalaute_\w+", str(rule["expr"]))
    }
    assert used <= exported, used - exported
