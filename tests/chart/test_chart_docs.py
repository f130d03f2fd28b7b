"""Every values example in docs/install.md renders: a snippet whose top-level keys are chart values (or the values
of an Argo CD Application or a Flux HelmRelease) is passed to helm as a values file, schema and chart checks
included, so the documentation cannot drift from the chart."""

import re

import pytest
import yaml
from chart_render import CHART, ROOT, render_chart

DOC = ROOT / "docs" / "install.md"
VALUE_KEYS = set(yaml.safe_load((CHART / "values.yaml").read_text()))
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)


def values_examples() -> list[tuple[int, dict]]:
    found = []
    for number, block in enumerate(BLOCKS):
        for data in yaml.safe_load_all(block):
            if not isinstance(data, dict):
                continue
            if data.get("kind") == "Application":  # Argo CD
                data = data["spec"]["source"]["helm"]["valuesObject"]
            elif data.get("kind") == "HelmRelease":  # Flux
                data = data["spec"]["values"]
            if set(data) <= VALUE_KEYS:
                found.append((number, data))
    return found


def test_the_docs_hold_values_examples() -> None:
    assert len(values_examples()) >= 7


@pytest.mark.parametrize(("number", "values"), values_examples(), ids=lambda v: str(v) if isinstance(v, int) else "")
def test_every_values_example_renders(number: int, values: dict) -> None:
    values = dict(values)
    if "httpRoute" in values or "ingress" in values:
        values.setdefault("ingress", {}).setdefault("host", "cloudemy.example.org")
    render_chart(values)
