"""LTI 1.3 values: the public base URL the backend gives LMS platforms, and the tool's keys from a Secret."""

from chart_render import env_of, render_chart


def _backend(render) -> dict:
    deployment = render.component("Deployment", "backend")
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "backend"]
    return deployment, container


def test_public_base_url_follows_the_ingress_and_can_be_set() -> None:
    _, container = _backend(
        render_chart({"ingress": {"enabled": True, "host": "grader.uni.example", "tls": {"enabled": True}}})
    )
    assert env_of(container)["PUBLIC_BASE_URL"]["value"] == "https://grader.uni.example"
    _, plain = _backend(
        render_chart({"ingress": {"enabled": True, "host": "grader.uni.example", "tls": {"enabled": False}}})
    )
    assert env_of(plain)["PUBLIC_BASE_URL"]["value"] == "http://grader.uni.example"
    _, set_by_hand = _backend(render_chart({"lti": {"publicBaseUrl": "https://lti.uni.example/"}}))
    assert env_of(set_by_hand)["PUBLIC_BASE_URL"]["value"] == "https://lti.uni.example"


def test_keys_come_from_a_secret_mounted_read_only() -> None:
    deployment, container = _backend(render_chart({"lti": {"keysSecret": "cloudemy-lti-keys"}}))
    assert env_of(container)["LTI_KEYS_DIR"]["value"] == "/var/run/cloudemy/lti-keys"
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "lti-keys"]
    assert mount["readOnly"] is True
    (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "lti-keys"]
    assert volume["secret"] == {"secretName": "cloudemy-lti-keys", "defaultMode": 0o400}


def test_without_a_keys_secret_there_is_no_mount() -> None:
    deployment, container = _backend(render_chart())
    assert "LTI_KEYS_DIR" not in env_of(container)
    assert all(v["name"] != "lti-keys" for v in deployment["spec"]["template"]["spec"]["volumes"])
