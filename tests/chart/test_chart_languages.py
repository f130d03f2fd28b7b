"""runner.languages: the chart hands the scheduler the image of every language it serves (RUNNER_LANGUAGE_IMAGES)."""

import json

import pytest
from chart_render import HELMS, render_chart, render_error

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def language_images(values: dict, helm: str = "helm3") -> dict[str, str]:
    render = render_chart(values, helm=helm)
    container = render.component("Deployment", "scheduler")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    return json.loads(env["RUNNER_LANGUAGE_IMAGES"])


@pytest.mark.parametrize("helm", HELMS)
def test_default_serves_python_from_the_runner_image(helm: str) -> None:
    render = render_chart({}, helm=helm)
    runner_image = render.job_template()["spec"]["template"]["spec"]["containers"][0]["image"]
    assert language_images({}, helm) == {"python": runner_image}


def test_a_language_image_overrides_the_runner_image_field_by_field() -> None:
    values = {
        "runner": {
            "image": {"registry": "registry.example", "repository": "runner", "tag": "2.0"},
            "languages": {
                "python": {},
                "c": {"image": {"tag": "2.0-polyglot"}},
                "java": {"image": {"repository": "jdk-runner", "digest": DIGEST_B}},
                "javascript": {"image": {"registry": "mirror.example", "tag": "2.0-polyglot"}},
            },
        }
    }
    assert language_images(values) == {
        "python": "registry.example/runner:2.0",
        "c": "registry.example/runner:2.0-polyglot",
        "java": f"registry.example/jdk-runner@{DIGEST_B}",
        "javascript": "mirror.example/runner:2.0-polyglot",
    }


def test_a_language_with_its_own_tag_does_not_inherit_the_runner_digest() -> None:
    values = {
        "runner": {
            "image": {"registry": "", "repository": "r/runner", "digest": DIGEST_A},
            "languages": {"python": {}, "cpp": {"image": {"tag": "polyglot"}}},
        }
    }
    assert language_images(values) == {"python": f"r/runner@{DIGEST_A}", "cpp": "r/runner:polyglot"}


def test_no_languages_means_every_submission_is_reported_unavailable() -> None:
    values = {"runner": {"languages": {"python": None}}}
    assert language_images(values) == {}


@pytest.mark.parametrize("helm", HELMS)
@pytest.mark.parametrize(
    "languages",
    [
        pytest.param({"cobol": {}}, id="unknown-language"),
        pytest.param({"c": {"image": {"pullPolicy": "Always"}}}, id="unknown-image-field"),
        pytest.param({"c": {"image": {"digest": "latest"}}}, id="bad-digest"),
        pytest.param({"c": {"toolchain": "gcc"}}, id="unknown-language-field"),
    ],
)
def test_schema_rejects_bad_language_entries(languages: dict, helm: str) -> None:
    message = render_error({"runner": {"languages": languages}}, helm)
    assert "schema" in message
    assert "runner" in message.replace("/", ".")
