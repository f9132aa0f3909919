"""deploy/: the Grafana dashboard, Prometheus config and alert rules, and their compose services.

Every PromQL expression may name only metrics the code defines (read from fresh
registries, with the suffixes Prometheus sees) plus Prometheus' own `up`, so a renamed
metric cannot leave a dashboard panel or an alert silently empty.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from api.metrics import ApiMetrics
from projector.metrics import ProjectorMetrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "custstats.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
BUILTIN = {"up"}
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}
_LABEL_LISTS = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"  # label lists
)
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "inf", "nan"}


def defined_names() -> set[str]:
    """Every sample name the projector's and the API's registries can expose."""
    registry = CollectorRegistry()
    ProjectorMetrics(registry)
    ApiMetrics(registry)
    return {
        family.name + suffix for family in registry.collect() for suffix in _SUFFIXES[family.type]
    }


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels, strings left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings (label values, regexes)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\$\w+", "", text)  # Grafana variables
    text = _LABEL_LISTS.sub(" ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)\s*(\()?", text):
        if match.group(2) is None and match.group(1).lower() not in _KEYWORDS:
            names.add(match.group(1))
    return names


def dashboard_exprs() -> Iterator[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_the_expression_parser_sees_metric_names_only() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le, route) "
        '(rate(x_bucket{job=~"a.*"}[$__rate_interval])))'
        " > 1 and on () sum(y_total offset 5m) / deriv(sum by (topic) (z)[15m:1m]) and time() - w"
    )
    assert metric_names(expr) == {"x_bucket", "y_total", "z", "w"}


def test_the_defined_names_carry_prometheus_suffixes() -> None:
    names = defined_names()
    assert {"custstats_events_applied_total", "custstats_partition_lag"} <= names
    assert "custstats_redis_write_duration_seconds_bucket" in names
    assert "custstats_http_request_duration_seconds_count" in names
    assert "custstats_events_applied" not in names
    assert all(name.startswith("custstats_") for name in names)


def test_dashboard_parses_and_queries_only_defined_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "custstats"
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    known = defined_names() | BUILTIN
    used: set[str] = set()
    for title, expr in dashboard_exprs():
        names = metric_names(expr)
        assert names, f"{title}: {expr} selects no metric"
        assert names <= known, f"{title}: unknown {names - known}"
        used |= names
    for wanted in (
        "custstats_events_applied_total",
        "custstats_partition_lag",
        "custstats_poison_total",
        "custstats_batch_size_events_bucket",
        "custstats_redis_write_duration_seconds_bucket",
        "custstats_server_errors_total",
        "custstats_server_outage",
        "custstats_rebuild_progress_ratio",
        "custstats_http_requests_total",
        "custstats_http_request_duration_seconds_bucket",
    ):
        assert wanted in used, f"no panel shows {wanted}"


def test_alert_rules_parse_and_use_only_defined_metrics() -> None:
    document = yaml.safe_load(ALERTS.read_text())
    assert {group["name"] for group in document["groups"]} == {
        "custstats-projector",
        "custstats-api",
    }
    rules = alert_rules()
    known = defined_names() | BUILTIN
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"Custstats[A-Za-z]+", rule["alert"])
        assert rule["labels"]["severity"] in {"page", "warning"}
        assert rule["annotations"]["summary"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"])
        names = metric_names(rule["expr"])
        assert names and names <= known, f"{rule['alert']}: unknown {names - known}"
    alerts = {rule["alert"] for rule in rules}
    assert {
        "CuststatsLagOverReadyBound",
        "CuststatsLagGrowing",
        "CuststatsDeadLetters",
        "CuststatsProjectorDown",
        "CuststatsProjectorStalled",
        "CuststatsApiUnavailable",
        "CuststatsServerOutage",
    } <= alerts


def test_prometheus_config_scrapes_the_api_and_the_projectors() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["custstats-api"]["static_configs"][0]["targets"] == ["api:8000"]
    projector = jobs["custstats-projector"]["dns_sd_configs"][0]
    assert projector["names"] == ["projector"] and projector["port"] == 9100
    # The alerts select the jobs by these names.
    for job in ("custstats-api", "custstats-projector"):
        assert any(f'job="{job}"' in rule["expr"] for rule in alert_rules())


def test_grafana_provisioning_points_at_prometheus_and_the_dashboard() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    source = sources["datasources"][0]
    assert (source["uid"], source["url"]) == ("prometheus", "http://prometheus:9090")
    uids = {
        target["datasource"]["uid"]
        for panel in json.loads(DASHBOARD.read_text())["panels"]
        for target in panel.get("targets", [])
    }
    assert uids == {"prometheus"}
    providers = yaml.safe_load((provisioning / "dashboards" / "custstats.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"


def test_compose_services_mount_files_that_exist() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    mounts: dict[str, str] = {}
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
                mounts[target] = source
            else:
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert mounts["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    assert mounts[config["rule_files"][0]] == "./deploy/prometheus/alerts.yml"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    assert mounts["/etc/grafana/dashboards/custstats.json"] == "./deploy/grafana/custstats.json"
    command = services["projector"]["command"]
    assert command[command.index("--metrics-port") + 1] == "9100"
    api_port = services["api"]["command"][services["api"]["command"].index("--port") + 1]
    assert f"api:{api_port}" in PROMETHEUS.read_text()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_config_and_the_rules() -> None:  # pragma: no cover - optional
    for args in (
        ["check", "rules", str(ALERTS)],
        ["check", "config", "--syntax-only", str(PROMETHEUS)],
    ):
        done = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
