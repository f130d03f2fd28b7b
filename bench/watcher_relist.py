"""The scheduler's memory and sync time with many retained runner Jobs: one re-list at start-up.

Three cases, each a fresh fake Kubernetes API process (``fakes.k8s_api.spawn``) and a fresh scheduler process
(``python -m cloudemy_scheduler``, chart env and Job template, real Redis, a sink for the backend):
1. the floor: no retained Job (the scheduler's own start-up and idle memory);
2. ``--retained`` finished Jobs all labelled ``cloudemy.io/reported`` (the steady state);
3. the same Jobs without the label (the first start after an upgrade from a release without it): each is listed,
   handed over and labelled.

For each: seconds from start to ``/readyz`` 200 (the list done), the scheduler's peak RSS (VmHWM) then, and
for case 3 also the seconds until every Job is labelled and the peak RSS after that. The target: peak RSS below
the chart's 256Mi limit with 20,000 retained Jobs (the exam-night target is < 128 MB).

    .venv/bin/python bench/watcher_relist.py [--retained 20000] [--runs 5]
    .venv/bin/python bench/watcher_relist.py --quick
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from common import ROOT, clean_env, git_revision, machine_info, ok_sink, parser, table, verdict, write_json

from cloudemy_common.jobs import REPORTED, REPORTED_LABEL, unreported
from cloudemy_scheduler.job_template import build_job, label_selector, load_template
from demo.chart import BACKEND_SERVICE, write_runner_job_template
from fakes.k8s_api import spawn
from fakes.ports import free_port
from fakes.redis_server import RedisServer

LIMIT_MIB = 256
TARGET_MIB = 128


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_env(extra: dict[str, str]) -> dict[str, str]:
    path = os.pathsep.join([str(ROOT / "tests"), str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**clean_env(), "PYTHONPATH": path, **extra}


def unlabelled_left(kubeconfig: Path, selector: str) -> bool:
    """Whether any runner Job still lacks the label (one page of one item)."""
    url = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    query = {"labelSelector": unreported(selector), "limit": 1}
    answer = httpx.get(f"{url}/apis/batch/v1/namespaces/default/jobs", params=query, timeout=30, trust_env=False)
    return bool(answer.json()["items"])


def one_run(workdir: Path, redis_url: str, sink_port: int, template_path: Path, retained: int,
            labels: tuple[str, ...]) -> dict[str, Any]:  # fmt: skip
    template = load_template(template_path)
    api, kubeconfig = spawn(workdir, build_job(template, "0" * 24, 1, "bench-master-token"), retained, labels)
    metrics = free_port()
    env = child_env({
        "REDIS_URL": redis_url, "KUBECONFIG": str(kubeconfig), "K8S_NAMESPACE": "default",
        "INTERNAL_RESULT_TOKEN": "bench-master-token", "METRICS_PORT": str(metrics),
        "RUNNER_JOB_TEMPLATE": str(template_path), "BACKEND_INTERNAL_URL": f"http://127.0.0.1:{sink_port}/internal",
        "K8S_REQUEST_TIMEOUT_SECONDS": "10", "POD_NAME": "bench-scheduler", "LOG_LEVEL": "WARNING",
    })  # fmt: skip
    log = open(workdir / "scheduler.log", "ab")  # noqa: SIM115
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "cloudemy_scheduler"], env=env, stdout=log, stderr=log)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the scheduler exited: {(workdir / 'scheduler.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{metrics}/readyz", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        result: dict[str, Any] = {"sync_seconds": time.monotonic() - started, "peak_rss_mib": peak_rss_mib(proc.pid)}
        if retained and not labels:
            selector = label_selector(template)
            while unlabelled_left(kubeconfig, selector):
                time.sleep(0.5)
            result["all_labelled_seconds"] = time.monotonic() - started
            result["peak_rss_after_labelling_mib"] = peak_rss_mib(proc.pid)
        return result
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        api.terminate()
        api.wait(timeout=10)


def median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


def main() -> None:
    cli = parser(__doc__, default_runs=3)
    cli.add_argument("--retained", type=int, default=20_000)
    args = cli.parse_args()
    retained = 2_000 if args.quick else args.retained
    runs = 1 if args.quick else max(1, args.runs)
    cases = {
        "floor: no retained Job": (0, ()),
        f"{retained:,} retained, labelled reported": (retained, (f"{REPORTED_LABEL}={REPORTED}",)),
        f"{retained:,} retained, unlabelled (upgrade)": (retained, ()),
    }
    redis_server = RedisServer()
    redis_server.start()
    sink = ok_sink(free_port())
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="watcher-relist-") as tmp:
        workdir = Path(tmp)
        template_path = write_runner_job_template(workdir / "runner-job.yaml",
                                                  services={BACKEND_SERVICE: sink.server_address[1]})  # fmt: skip
        for case, (count, labels) in cases.items():
            measured = []
            for _ in range(runs):
                redis_server.client().flushall()
                measured.append(one_run(workdir, redis_server.url, sink.server_address[1], template_path, count,
                                        labels))  # fmt: skip
            results[case] = {"runs": measured, **{key: median(measured, key) for key in measured[0]}}
    sink.shutdown()
    redis_server.close()
    rows = []
    for case, r in results.items():
        labelled = r.get("all_labelled_seconds")
        rows.append([case, f"{r['sync_seconds']:.1f} s", f"{r['peak_rss_mib']:.1f} MiB",
                     f"{labelled:.1f} s" if labelled else "-",
                     f"{r['peak_rss_after_labelling_mib']:.1f} MiB" if labelled else "-"])  # fmt: skip
    print(table(["case", "start -> synced", "peak RSS synced", "-> all labelled", "peak RSS after"], rows))
    worst = max(max(r["peak_rss_mib"], r.get("peak_rss_after_labelling_mib") or 0) for r in results.values())
    print(f"\nworst peak RSS {worst:.1f} MiB: limit {LIMIT_MIB} MiB {verdict(worst < LIMIT_MIB)}, "
          f"target < {TARGET_MIB} MB {verdict(worst * 1.048576 < TARGET_MIB)} (runs per case: {runs})")  # fmt: skip
    write_json(args.json, {"machine": machine_info(), "revision": git_revision(), "retained": retained,
                           "runs": runs, "results": results, "worst_peak_rss_mib": worst})  # fmt: skip


if __name__ == "__main__":
    main()
