"""The backend's memory numbers in values/prod.yaml match what the backend measurably uses: an idle Pod
stays under the HPA's memory target (so it does not scale out for nothing), and the worst login wave of
every worker fits the memory limit (so no Pod is OOM-killed with submissions in flight).

The per-worker figures are measured by tests/backend/test_backend_login_wave.py (idle RSS after start-up,
peak RSS during 200 concurrent logins with the default 64 MiB hashing budget) and docs/security.md."""

from chart_render import render_chart

IDLE_WORKER_MIB = 102
PEAK_WORKER_MIB = 185  # idle + the 64 MiB hashing budget + thread stacks and allocator slack


def mebibytes(quantity: str) -> float:
    units = {"Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


def test_prod_memory_request_limit_and_hpa_target_fit_the_measured_backend() -> None:
    render = render_chart(values_files=["values/prod.yaml"])
    (container,) = render.component("Deployment", "backend")["spec"]["template"]["spec"]["containers"]
    workers = int({e["name"]: e.get("value") for e in container["env"]}["WEB_CONCURRENCY"])
    request = mebibytes(container["resources"]["requests"]["memory"])
    limit = mebibytes(container["resources"]["limits"]["memory"])
    hpa = render.component("HorizontalPodAutoscaler", "backend")
    (memory,) = [m for m in hpa["spec"]["metrics"] if m["resource"]["name"] == "memory"]
    target = request * memory["resource"]["target"]["averageUtilization"] / 100
    assert workers * IDLE_WORKER_MIB < target, "an idle Pod would make the HPA scale out"
    assert workers * PEAK_WORKER_MIB < limit, "a login wave would OOM-kill the Pod"
    assert workers * IDLE_WORKER_MIB < request
