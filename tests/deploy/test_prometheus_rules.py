"""deploy/prometheus and deploy/grafana against promtool (Debian's, installed by deploy/prometheus/check-deps.sh)
and a real app: the rules and the example config load, the alerts fire as their unit tests say, every metric the
rules and the dashboard read is one the app exports, and the dashboard's queries parse."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "loopdesk.json"
ROWS = [
    "Traffic & errors", "Runs, queue & sessions", "Approvals", "Tasks & SLA", "Notifications", "WebSocket",
    "Database pool", "LLM",
]  # fmt: skip
# What Grafana puts in the dashboard's queries before Prometheus sees them.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$job": "loopdesk"}
METRIC = re.compile(r"\bloopdesk_[a-z0-9_]+")


def promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `bash deploy/prometheus/check-deps.sh` installs it (Debian's prometheus)"
    return subprocess.run([found, *args], cwd=cwd, capture_output=True, text=True, timeout=60)  # noqa: S603


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row holds its panels
    return found


def dashboard_queries() -> list[str]:
    queries = [target["expr"] for panel in panels(dashboard()) for target in panel.get("targets", [])]
    resolved = []
    for query in queries:
        for variable, value in GRAFANA_VARIABLES.items():
            query = query.replace(variable, value)
        assert "$" not in query, f"a Grafana variable this test does not know: {query}"
        resolved.append(query)
    return resolved


def test_promtool_accepts_the_alert_rules():
    checked = promtool("check", "rules", "rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in checked.stdout


def test_every_alert_fires_as_its_unit_test_expects():
    tested = promtool("test", "rules", "rules_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    cases = yaml.safe_load((PROMETHEUS / "rules_test.yml").read_text())["tests"]
    covered = {check["alertname"] for case in cases for check in case["alert_rule_test"] if check["exp_alerts"]}
    assert covered == {rule["alert"] for rule in alerts()}, "an alert without a case where it fires"


def test_every_alert_says_for_how_long_how_bad_and_what_to_do():
    for rule in alerts():
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "")), f"{rule['alert']} has no for:"
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"].strip() and rule["annotations"]["description"].strip(), rule["alert"]


def test_the_example_scrape_config_loads_with_its_rules(tmp_path):
    for name in ("prometheus.yml", "rules.yml"):
        shutil.copy(PROMETHEUS / name, tmp_path / name)
    (tmp_path / "loopdesk-metrics-token").write_text("a-token\n")  # the credentials file the config names
    checked = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout


def test_the_dashboards_queries_parse(tmp_path):
    queries = dashboard_queries()
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(queries)],
            }
        ]
    }
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(rules))
    checked = promtool("check", "rules", "dashboard.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(queries)} rules found" in checked.stdout


def test_the_dashboard_is_json_with_its_rows_and_unique_panel_ids():
    board = dashboard()
    every = panels(board)
    ids = [panel["id"] for panel in every]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    assert [panel["title"] for panel in every if panel["type"] == "row"] == ROWS
    for panel in every:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24, panel["title"]
        assert len({target["refId"] for target in panel["targets"]}) == len(panel["targets"]), panel["title"]
    assert board["uid"] and {variable["name"] for variable in board["templating"]["list"]} == {"datasource", "job"}


def exported(exposition: str) -> set[str]:
    """The sample names a /metrics page can hold, from its TYPE lines (a series may have no sample yet)."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            if kind in ("histogram", "summary"):
                names.update({f"{name}_sum", f"{name}_count"} | ({f"{name}_bucket"} if kind == "histogram" else set()))
    return names


async def test_every_metric_the_rules_and_the_dashboard_read_is_exported(client, admin):
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {admin.token}"})
    assert response.status_code == 200, response.text
    names = exported(response.text)
    read = {name for rule in alerts() for name in METRIC.findall(rule["expr"])}
    read |= {name for query in dashboard_queries() for name in METRIC.findall(query)}
    assert len(read) >= 25  # the search found the metrics: this test is not passing on nothing
    assert sorted(read - names) == []
