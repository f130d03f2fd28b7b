"""`make demo` (python -m demo): starts everything, grades with the configured LLM, leaves no orphans."""

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from demo.processes import ROOT, free_port, image_env
from fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.slow


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def read_banner(proc: subprocess.Popen[str], timeout: float) -> str:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            return "".join(lines)
    raise AssertionError("demo did not print its banner:\n" + "".join(lines))


def test_demo_runs_grades_and_stops_every_process():
    with FakeOpenAI(mode="slow", delay=3) as llm:
        port = free_port()
        env = image_env() | {
            "PORT": str(port),
            "LLM_API_KEY": "demo-key",
            "LLM_BASE_URL": llm.base_url,
            "CLOUDEMY_ADMIN_EMAIL": "boss@example.com",
            "CLOUDEMY_ADMIN_PASSWORD": "a-long-admin-password",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "demo"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            banner = read_banner(proc, timeout=90)
            assert f"http://127.0.0.1:{port}/" in banner
            assert "boss@example.com" in banner
            assert "a-long-admin-password" in banner
            student_pw = re.search(r"student\s+(\S+)\s+password: (\S+)", banner)
            assert student_pw, banner
            assignment_id = re.search(r"\(id ([0-9a-f]{24})\)", banner).group(1)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, trust_env=False) as http:
                token = http.post(
                    "/api/auth/token", data={"username": student_pw.group(1), "password": student_pw.group(2)}
                ).json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                ids = [
                    http.post(
                        f"/api/assignments/{assignment_id}/submissions",
                        json={"language": "python", "code": "print('fizz')\n"},
                        headers=headers,
                    ).json()["id"]
                    for _ in range(2)
                ]
                deadline = time.monotonic() + 60
                statuses: list[str] = []
                while time.monotonic() < deadline:
                    statuses = [http.get(f"/api/submissions/{i}", headers=headers).json()["status"] for i in ids]
                    if statuses == ["graded", "graded"]:
                        break
                    time.sleep(0.3)
                assert statuses == ["graded", "graded"]
                # a third submission is being graded (the LLM is slow) when the demo is stopped
                http.post(
                    f"/api/assignments/{assignment_id}/submissions",
                    json={"language": "python", "code": "print('buzz')\n"},
                    headers=headers,
                )
            time.sleep(1.5)
            family = descendants(proc.pid)
            assert len(family) >= 4, "redis, backend, scheduler and a runner"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
            time.sleep(0.5)
            assert [pid for pid in family if alive(pid)] == []
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_demo_reports_a_failed_start_and_exits_non_zero():
    busy = free_port()
    with socket.create_server(("127.0.0.1", busy)):
        env = image_env() | {"PORT": str(busy)}
        proc = subprocess.run(
            [sys.executable, "-m", "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
    assert proc.returncode == 1
    assert "could not start" in proc.stderr
    assert "Traceback" not in proc.stderr
