"""The three images follow one recipe: multi-stage python:3.12-slim, UID 10001, SPEC's entrypoints."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGES = {
    "backend": (ROOT / "services/backend/Dockerfile", "gunicorn cloudemy_backend.main:app"),
    "scheduler": (ROOT / "services/scheduler/Dockerfile", '"python", "-m", "cloudemy_scheduler"'),
    "runner": (ROOT / "runner/Dockerfile", '"python", "-m", "cloudemy_runner"'),
}


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_dockerfile_recipe(name):
    path, entry = IMAGES[name]
    text = path.read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, flags=re.M)
    assert stages == ["python:3.12-slim", "python:3.12-slim"], "multi-stage on python:3.12-slim"
    final = text.split("\nFROM ")[-1]
    assert "USER 10001:10001" in final
    assert "COPY services/common" in text, "the shared contracts install into every image"
    assert "apt-get" not in final, "no package installs (compilers) in the final stage"
    assert "gcc" not in final, "no compilers in the final stage"
    assert "PIP_NO_CACHE_DIR=1" in text
    assert entry in final.splitlines()[-1]


def test_backend_workers_follow_web_concurrency():
    assert "--workers ${WEB_CONCURRENCY" in IMAGES["backend"][0].read_text()
    assert "uvicorn.workers.UvicornWorker" in IMAGES["backend"][0].read_text()


def test_dockerignore_keeps_context_small():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".tools", "tests"):
        assert entry in ignored
