"""Monitoring: ServiceMonitors that select the chart's Services, a PrometheusRule that promtool accepts and whose
alerts fire on the series the services really export, and a Grafana dashboard for the sidecar.

Every metric name in an alert or a dashboard query must be one the backend or the scheduler defines (found in
their code), so a renamed metric cannot leave a silent alert behind."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_render import NAMESPACE, RELEASE, ROOT, labels, render_chart, render_error

ON = {
    "metrics": {
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "dashboard": {"enabled": True},
    }
}
METRIC = re.compile(r"\b(cloudemy_[a-z0-9_]+)\b")
SUFFIXES = {
    "Counter": ("_total",),
    "Histogram": ("_bucket", "_count", "_sum"),
    "Gauge": ("",),
    "Summary": ("_count", "_sum"),
}
BACKEND_JOB = f"{RELEASE}-backend"
SCHEDULER_JOB = f"{RELEASE}-scheduler"


def exported_series() -> set[str]:
    """Every series name the services' prometheus-client metrics produce, read from their code."""
    names: set[str] = set()
    definition = re.compile(r"""(Counter|Gauge|Histogram|Summary)\(\s*["'](cloudemy_[a-z0-9_]+)["']""")
    for source in [*(ROOT / "services").rglob("*.py"), *(ROOT / "runner").rglob("*.py")]:
        for kind, name in definition.findall(source.read_text()):
            # prometheus-client exposes a Counter as <name>_total, whether or not the name already ends so.
            base = name.removesuffix("_total") if kind == "Counter" else name
            names.update(base + suffix for suffix in SUFFIXES[kind])
    return names


def monitoring() -> Any:
    return render_chart(ON)


def rule_groups() -> list[dict[str, Any]]:
    (rule,) = monitoring().of_kind("PrometheusRule")
    return rule["spec"]["groups"]


def dashboard() -> dict[str, Any]:
    config_map = monitoring().named("ConfigMap", f"{RELEASE}-dashboard")
    return json.loads(config_map["data"]["cloudemy.json"])


def test_nothing_is_rendered_unless_asked() -> None:
    render = render_chart()
    assert render.of_kind("ServiceMonitor") == []
    assert render.of_kind("PrometheusRule") == []
    assert [c for c in render.of_kind("ConfigMap") if "dashboard" in c["metadata"]["name"]] == []


def test_service_monitors_select_the_metrics_ports_of_the_chart_services() -> None:
    render = render_chart({"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}}}})
    services = {s["metadata"]["name"]: s for s in render.of_kind("Service")}
    monitors = {m["metadata"]["name"]: m for m in render.of_kind("ServiceMonitor")}
    assert set(monitors) == {BACKEND_JOB, SCHEDULER_JOB}
    for name, monitor in monitors.items():
        assert labels(monitor)["release"] == "kps"
        spec = monitor["spec"]
        assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
        selected = [s for s in services.values() if spec["selector"]["matchLabels"].items() <= labels(s).items()]
        assert [s["metadata"]["name"] for s in selected] == [name], "exactly its own Service, so job = Service name"
        (endpoint,) = spec["endpoints"]
        assert endpoint["path"] == "/metrics"
        assert endpoint["port"] in {p["name"] for p in selected[0]["spec"]["ports"]}


def test_every_alert_and_panel_uses_metrics_the_services_export() -> None:
    exported = exported_series()
    assert {"cloudemy_queue_length", "cloudemy_scheduler_dispatched_total", "cloudemy_llm_tokens_total"} <= exported
    expressions = [rule["expr"] for group in rule_groups() for rule in group["rules"]]
    expressions += [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]
    used = {name for expr in expressions for name in METRIC.findall(expr)}
    assert used, "the parser found no metric"
    assert used - exported == set(), "alerts or panels refer to series no service exports"


def test_the_metric_parser_sees_a_misspelt_metric() -> None:
    assert METRIC.findall("sum(rate(cloudemy_queue_lenght[5m]))") == ["cloudemy_queue_lenght"]
    assert "cloudemy_queue_lenght" not in exported_series()


def test_alerts_cover_queue_grading_llm_jobs_and_the_scheduler() -> None:
    alerts = {rule["alert"]: rule for group in rule_groups() for rule in group["rules"]}
    assert set(alerts) == {
        "CloudemySubmissionsWaitedTooLong",
        "CloudemyQueueStalled",
        "CloudemyTimeToGradeHigh",
        "CloudemySubmissionsTimedOut",
        "CloudemyLlmRateLimited",
        "CloudemyRunnerJobsFailing",
        "CloudemySchedulerDown",
        "CloudemySchedulerErrors",
        "CloudemyBackendDown",
    }
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name
        assert f'namespace="{NAMESPACE}"' in rule["expr"], f"{name} must only see this release's series"


def promtool() -> str:
    path = shutil.which("promtool")
    if not path:
        pytest.fail("promtool is missing: run ci/install-tools.sh (Debian's prometheus package ships it)")
    return path


def write_rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule_groups()}))
    return path


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    done = subprocess.run(
        [promtool(), "check", "rules", str(write_rules(tmp_path))], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 9 rules found" in done.stdout


def series(name: str, job: str, values: str, **extra: str) -> dict[str, str]:
    matchers = {"job": job, "namespace": NAMESPACE, **extra}
    inner = ", ".join(f'{key}="{value}"' for key, value in matchers.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def fired(alert: str, severity: str, value: str = "") -> list[dict[str, Any]]:
    """The one alert promtool must see firing, with its annotations as Prometheus renders them for ``value``."""
    rule = next(r for group in rule_groups() for r in group["rules"] if r.get("alert") == alert)
    annotations = {key: text.replace("{{ $value | humanize }}", value) for key, text in rule["annotations"].items()}
    return [{"exp_labels": {"severity": severity}, "exp_annotations": annotations}]


def test_the_alerts_fire_on_the_series_that_mean_trouble(tmp_path: Path) -> None:
    """promtool's rule unit tests: synthetic series one minute apart, and the alerts expected at a given time."""
    rules = write_rules(tmp_path)
    cases = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # 30 gradings put back for LLM 429s each minute.
                    series("cloudemy_requeued_total", BACKEND_JOB, "0+30x40", reason="rate-limited"),
                    # No scheduler target is up.
                    series("up", SCHEDULER_JOB, "0x40"),
                    series("up", BACKEND_JOB, "1x40"),
                    # 20 queued, nothing dispatched.
                    series("cloudemy_queue_length", BACKEND_JOB, "20x40"),
                    series("cloudemy_scheduler_dispatched_total", SCHEDULER_JOB, "5x40", how="created"),
                    # One runner Job times out every minute.
                    series("cloudemy_scheduler_failures_total", SCHEDULER_JOB, "0+1x40", reason="job-timeout"),
                ],
                "alert_rule_test": [
                    {"eval_time": "30m", "alertname": "CloudemyLlmRateLimited",
                     "exp_alerts": fired("CloudemyLlmRateLimited", "warning", "30")},
                    {"eval_time": "30m", "alertname": "CloudemySchedulerDown",
                     "exp_alerts": fired("CloudemySchedulerDown", "critical")},
                    {"eval_time": "30m", "alertname": "CloudemyBackendDown", "exp_alerts": []},
                    {"eval_time": "30m", "alertname": "CloudemyQueueStalled",
                     "exp_alerts": fired("CloudemyQueueStalled", "critical")},
                    {"eval_time": "30m", "alertname": "CloudemyRunnerJobsFailing",
                     "exp_alerts": fired("CloudemyRunnerJobsFailing", "warning", "15")},
                ],
            },
            {
                "interval": "1m",
                "input_series": [
                    series("cloudemy_requeued_total", BACKEND_JOB, "0x40", reason="rate-limited"),
                    series("up", SCHEDULER_JOB, "1x40"),
                    series("cloudemy_queue_length", BACKEND_JOB, "20x40"),
                    series("cloudemy_scheduler_dispatched_total", SCHEDULER_JOB, "0+10x40", how="created"),
                    # Another release's failures in another namespace are not ours.
                    {"series": 'cloudemy_scheduler_failures_total{job="other-scheduler", namespace="other", '
                     'reason="job-error"}', "values": "0+9x40"},
                ],
                "alert_rule_test": [
                    {"eval_time": "30m", "alertname": name, "exp_alerts": []}
                    for name in ("CloudemyLlmRateLimited", "CloudemySchedulerDown", "CloudemyQueueStalled",
                                 "CloudemyRunnerJobsFailing")
                ],
            },
        ],
    }  # fmt: skip
    path = tmp_path / "tests.yaml"
    path.write_text(yaml.safe_dump(cases))
    done = subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dashboard_shows_queue_throughput_time_to_grade_tokens_and_cost() -> None:
    config_map = monitoring().named("ConfigMap", f"{RELEASE}-dashboard")
    assert labels(config_map)["grafana_dashboard"] == "1", "the label Grafana's sidecar looks for"
    board = dashboard()
    titles = {panel["title"] for panel in board["panels"]}
    assert {"Queue depth", "Throughput (results per minute, by status)", "Time to grade", "LLM tokens per minute",
            "LLM cost per hour"} <= titles  # fmt: skip
    text = json.dumps(board)
    assert "__" not in text.replace("$__range", ""), "a placeholder was left in the dashboard"
    assert f'job=\\"{BACKEND_JOB}\\"' in text
    assert "* 0.15" in text
    assert "* 0.6" in text
    assert board["uid"].startswith("cloudemy-")
    priced = render_chart({"metrics": {"dashboard": {"enabled": True, "llmPricePerMillionTokens": {"prompt": 2.5}}}})
    assert "* 2.5" in priced.named("ConfigMap", f"{RELEASE}-dashboard")["data"]["cloudemy.json"]


def test_two_releases_get_two_dashboards() -> None:
    def uid(release: str) -> str:
        render = render_chart({"metrics": {"dashboard": {"enabled": True}}}, release=release)
        (config_map,) = [c for c in render.of_kind("ConfigMap") if "dashboard" in c["metadata"]["name"]]
        return json.loads(config_map["data"]["cloudemy.json"])["uid"]

    assert uid("cloudemy") != uid("exams")


def test_the_schema_checks_monitoring_values() -> None:
    assert "interval" in render_error({"metrics": {"serviceMonitor": {"interval": "often"}}}).replace("/", ".")
    assert "labels" in render_error({"metrics": {"dashboard": {"labels": {"a": 1}}}}).replace("/", ".")
