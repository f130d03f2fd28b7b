"""Upgrades keep what Kubernetes will not change in place: the selectors of Deployments, StatefulSets and
Services, StatefulSet service names and volume claim names (so PVCs, data-<statefulset>-0, are reused).

tests/chart/releases/<version>/identity.yaml holds those fields as the released chart rendered them (for its
default values, its values/prod.yaml, kept beside it, and persistence on); the current chart must render the same
ones from the same values. Regenerate a snapshot from a release's chart (e.g. ``git archive v0.1.0 charts``):
``python tests/chart/test_chart_upgrade.py <that chart dir> > tests/chart/releases/<version>/identity.yaml``."""

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from chart_render import NAMESPACE, RELEASE, TOOLS, render_chart, values_args  # noqa: E402

RELEASES = sorted(p.name for p in (HERE / "releases").iterdir() if (p / "identity.yaml").exists())
PERSISTENCE = {"mongodb": {"persistence": {"enabled": True}}, "redis": {"persistence": {"enabled": True}}}


def cases(release_dir: Path) -> dict[str, tuple[list[str], dict[str, Any]]]:
    """The values the snapshot was rendered with: (values files, inline values) per case."""
    return {
        "default": ([], {}),
        "prod": ([str(release_dir / "prod-values.yaml")], {}),
        "persistence": ([], PERSISTENCE),
    }


def identity(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The fields of a release that an upgrade must never change, by kind/name."""
    found: dict[str, Any] = {}
    for obj in objects:
        kind, name, spec = obj["kind"], obj["metadata"]["name"], obj.get("spec") or {}
        if kind in ("Deployment", "StatefulSet"):
            entry: dict[str, Any] = {"selector": spec["selector"]}
            if kind == "StatefulSet":
                entry["serviceName"] = spec["serviceName"]
                entry["volumeClaims"] = [claim["metadata"]["name"] for claim in spec.get("volumeClaimTemplates") or []]
            found[f"{kind}/{name}"] = entry
        elif kind == "Service":
            found[f"Service/{name}"] = {"selector": spec.get("selector")}
    return found


def render_identity(chart: Path, files: list[str], values: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir:
        argv = [str(TOOLS / "helm3"), "template", RELEASE, str(chart), "--namespace", NAMESPACE]
        argv += values_args(values, files, workdir)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return identity([doc for doc in yaml.safe_load_all(done.stdout) if doc])


@pytest.mark.parametrize("version", RELEASES)
def test_an_upgrade_keeps_selectors_service_names_and_volume_claims(version: str) -> None:
    release_dir = HERE / "releases" / version
    snapshot = yaml.safe_load((release_dir / "identity.yaml").read_text())
    for case, (files, values) in cases(release_dir).items():
        current = identity(list(render_chart(values, values_files=files).objects))
        for key, before in snapshot[case].items():
            assert key in current, f"{case}: {key} of {version} is gone (an upgrade would orphan it)"
            assert current[key] == before, f"{case}: {key} changed since {version}"


@pytest.mark.parametrize("version", RELEASES)
def test_the_released_values_still_render_the_same_images(version: str) -> None:
    """Values written for an older chart, with the registry inside the repository, keep pulling that image."""
    render = render_chart(values_files=[str(HERE / "releases" / version / "prod-values.yaml")])
    backend = render.component("Deployment", "backend")["spec"]["template"]["spec"]["containers"][0]
    assert backend["image"] == "ghcr.io/cloudemy/cloudemy-backend:0.1.0"


def test_the_comparison_catches_a_renamed_claim() -> None:
    objects = [{"kind": "StatefulSet", "metadata": {"name": "db"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
               "serviceName": "db-headless", "volumeClaimTemplates": [{"metadata": {"name": "data"}}]}}]  # fmt: skip
    before = identity(objects)
    objects[0]["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] = "storage"
    assert identity(objects) != before


if __name__ == "__main__":
    chart_dir = Path(sys.argv[1])
    release_dir = HERE / "releases" / yaml.safe_load((chart_dir / "Chart.yaml").read_text())["version"]
    snapshot = {case: render_identity(chart_dir, files, values) for case, (files, values) in cases(release_dir).items()}
    sys.stdout.write(yaml.safe_dump(snapshot, sort_keys=True))
