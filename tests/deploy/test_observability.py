"""The Grafana dashboard and the Prometheus alert rules name only metrics, and label
values, that the code really exports; the alerts a platform team expects are there."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "switchboard.json"
RULES = ROOT / "deploy" / "k8s" / "components" / "prometheus-operator" / "prometheusrule.yaml"
_METRIC = re.compile(r"\b(switchboard_[a-z0-9_]+)")
_LABEL_VALUE = re.compile(r'(\w+)=~?"([^"]+)"')


def exported_metrics() -> dict[str, str]:
    """name → kind, from every Counter/Gauge/Histogram defined in shared/ and services/."""
    found = {}
    for path in [*ROOT.glob("shared/**/*.py"), *ROOT.glob("services/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in {"Counter", "Gauge", "Histogram", "Summary"} and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found[node.args[0].value] = node.func.id
    return found


def series_names(name: str, kind: str) -> set[str]:
    if kind == "Histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    if kind == "Counter":
        return {name if name.endswith("_total") else f"{name}_total"}
    return {name}


def known_series() -> set[str]:
    return set().union(*(series_names(n, k) for n, k in exported_metrics().items()))


def source_text() -> str:
    return "\n".join(p.read_text() for p in [*ROOT.glob("shared/**/*.py"), *ROOT.glob("services/**/*.py")])


def check_expression(expr: str, where: str) -> None:
    assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), f"{where}: unbalanced"
    names = set(_METRIC.findall(expr))
    assert names, f"{where}: names no Switchboard metric"
    assert names <= known_series(), f"{where}: no such metric in the code: {sorted(names - known_series())}"
    source = source_text()
    for _, values in _LABEL_VALUE.findall(expr):
        for value in values.split("|"):
            assert f'"{value}"' in source, f"{where}: label value {value!r} is never set by the code"


def test_every_dashboard_panel_queries_metrics_the_code_exports():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["panels"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            check_expression(target["expr"], f"panel {panel['title']!r}")


def test_the_alert_rules_cover_lag_dead_letters_sends_webhooks_and_the_llm():
    rules = yaml.safe_load(RULES.read_text())
    alerts = {rule["alert"]: rule for group in rules["spec"]["groups"] for rule in group["rules"] if "alert" in rule}
    expected = {"SwitchboardConsumerLagHigh", "SwitchboardDeadLetters", "SwitchboardSendFailures",
                "SwitchboardWebhook5xx", "SwitchboardLLMErrors"}
    assert expected <= set(alerts)
    for name, rule in alerts.items():
        check_expression(rule["expr"], name)
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_a_metric_the_code_does_not_export_is_caught():
    try:
        check_expression("rate(switchboard_no_such_thing_total[5m])", "test")
    except AssertionError as exc:
        assert "no such metric" in str(exc)
    else:
        raise AssertionError("an unknown metric passed")
    try:
        check_expression('rate(switchboard_webhooks_total{outcome="exploded"}[5m])', "test")
    except AssertionError as exc:
        assert "never set" in str(exc)
    else:
        raise AssertionError("an unknown label value passed")
