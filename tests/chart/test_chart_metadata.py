"""Chart.yaml as a published product: an icon, and Artifact Hub's annotations (images, links, changes, license),
each checked against what the chart really installs."""

import xml.etree.ElementTree as ET

import yaml
from chart_render import CHART, containers_of, render_chart

CHART_YAML = yaml.safe_load((CHART / "Chart.yaml").read_text())
ANNOTATIONS = CHART_YAML["annotations"]
CHANGE_KINDS = {"added", "changed", "deprecated", "removed", "fixed", "security"}


def test_the_icon_is_the_charts_own_svg() -> None:
    assert CHART_YAML["icon"].endswith("/charts/cloudemy/icon.svg")
    assert CHART_YAML["icon"].startswith("https://")
    root = ET.fromstring((CHART / "icon.svg").read_text())  # noqa: S314 - the repository's own file
    assert root.tag.endswith("svg")
    assert root.get("viewBox") == "0 0 128 128"


def test_artifact_hub_lists_exactly_the_default_images() -> None:
    listed = {entry["image"] for entry in yaml.safe_load(ANNOTATIONS["artifacthub.io/images"])}
    render = render_chart()
    rendered = {c["image"] for _where, pod in render.workloads() for c in containers_of(pod)}
    assert listed == rendered, "artifacthub.io/images must follow the values' default images and the appVersion"


def test_artifact_hub_links_changes_and_license() -> None:
    links = yaml.safe_load(ANNOTATIONS["artifacthub.io/links"])
    assert {link["name"] for link in links} >= {"Documentation", "Source", "Changelog"}
    assert all(link["url"].startswith("https://github.com/cloudemy/cloudemy") for link in links)
    changes = yaml.safe_load(ANNOTATIONS["artifacthub.io/changes"])
    assert changes
    assert all(change["kind"] in CHANGE_KINDS and change["description"] for change in changes)
    assert ANNOTATIONS["artifacthub.io/license"] == "Apache-2.0"
    assert all(isinstance(value, str) for value in ANNOTATIONS.values()), "Chart.yaml annotations are strings"
