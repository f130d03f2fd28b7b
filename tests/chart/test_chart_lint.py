"""helm lint --strict with both helms, yamllint with chart-testing's rules, yamale on Chart.yaml, the README table."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yamale
import yaml
from chart_render import CHART, HELMS, ROOT, SCENARIOS, TOOLS, lint, render_scenario
from yamllint import linter
from yamllint.config import YamlLintConfig

LINTCONF = YamlLintConfig(file=str(ROOT / "ci" / "lintconf.yaml"))


def yamllint_problems(text: str) -> list[str]:
    return [f"{p.line}:{p.column} {p.rule}: {p.desc}" for p in linter.run(text, LINTCONF) if p.level == "error"]


@pytest.mark.parametrize("helm", HELMS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_helm_lint_strict_passes(scenario: str, helm: str) -> None:
    files, values = SCENARIOS[scenario]
    done = lint(files, values, helm)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


def test_helm3_and_helm4_render_the_same_manifests() -> None:
    """Both supported helm majors produce the same text, byte for byte (nothing random is rendered)."""
    for scenario in SCENARIOS:
        assert render_scenario(scenario, "helm3").text == render_scenario(scenario, "helm4").text, scenario


@pytest.mark.parametrize(
    "path",
    [
        "charts/cloudemy/Chart.yaml",
        "charts/cloudemy/values.yaml",
        "values/minikube.yaml",
        "values/prod.yaml",
        *sorted(str(p.relative_to(ROOT)) for p in (CHART / "ci").glob("*-values.yaml")),
        "ci/ct.yaml",
        "ci/checkov-allowlist.yaml",
    ],
)
def test_yaml_files_pass_chart_testing_lintconf(path: str) -> None:
    assert yamllint_problems((ROOT / path).read_text()) == []


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_rendered_output_passes_chart_testing_lintconf(scenario: str) -> None:
    render = render_scenario(scenario)
    assert yamllint_problems(render.text) == []
    assert yamllint_problems(render.job_template_text()) == []


def test_yamllint_rules_catch_bad_yaml() -> None:
    """The lint config is live: trailing spaces and duplicate keys are errors."""
    assert yamllint_problems("a: 1 \n")
    assert yamllint_problems("a: 1\na: 2\n")


def test_chart_yaml_matches_chart_testing_schema() -> None:
    schema = yamale.make_schema(str(ROOT / "ci" / "chart_schema.yaml"))
    yamale.validate(schema, yamale.make_data(str(CHART / "Chart.yaml")), strict=True)


def test_chart_yaml_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "cloudemy"
    assert chart["kubeVersion"] == ">=1.29.0-0"
    assert chart["appVersion"]
    assert chart["description"]
    assert chart["maintainers"]
    assert chart["home"]
    assert chart["sources"]


def test_chart_yaml_schema_rejects_a_broken_chart_yaml(tmp_path: Path) -> None:
    broken = tmp_path / "Chart.yaml"
    broken.write_text("apiVersion: v2\nversion: 1.0.0\nmaintainers: [{email: a@b.c}]\n")
    schema = yamale.make_schema(str(ROOT / "ci" / "chart_schema.yaml"))
    with pytest.raises(yamale.YamaleError):
        yamale.validate(schema, yamale.make_data(str(broken)), strict=True)


def test_readme_values_table_is_generated_from_values(tmp_path: Path) -> None:
    """Regenerating the table from the @param comments changes nothing (run readme-generator when this fails)."""
    readme = tmp_path / "README.md"
    shutil.copy(CHART / "README.md", readme)
    done = subprocess.run(
        [str(TOOLS / "readme-generator"), "--values", str(CHART / "values.yaml"), "--readme", str(readme)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert readme.read_text() == (CHART / "README.md").read_text(), (
        "charts/cloudemy/README.md is stale: run .tools/bin/readme-generator -v charts/cloudemy/values.yaml "
        "-r charts/cloudemy/README.md"
    )


def test_ct_config_points_at_files_that_exist() -> None:
    config = yaml.safe_load((ROOT / "ci" / "ct.yaml").read_text())
    assert (ROOT / config["lint-conf"]).is_file()
    assert (ROOT / config["chart-yaml-schema"]).is_file()
    assert config["charts"] == ["charts/cloudemy"]
    ci_values = sorted(p.name for p in (CHART / "ci").glob("*-values.yaml"))
    assert {f"ci-{name.removesuffix('-values.yaml')}" for name in ci_values} <= set(SCENARIOS), (
        "render every ct values file"
    )
