"""An LTI 1.3 launch in an iframe, as an LMS opens the tool: Chromium loads an LMS course page on another site
(http://localhost:<port>) whose iframe starts the tool's OIDC login on http://127.0.0.1:<port>; the LMS's
authorization endpoint answers the auto-submitting form post of the id_token, the tool verifies it (the state
cookie is ``SameSite=None; Secure``, so it must survive the cross-site round trip) and the framed UI signs in.
"""

import html
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS, running_backend
from playwright.sync_api import expect
from review_support import patient_expect  # noqa: F401 (a fixture)
from ui_harness import Api

from fakes.lti_platform import FakeLtiPlatform

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("patient_expect")]

# A Playwright context is an incognito-like profile, where Chromium blocks third-party cookies; the tool's state
# cookie is one inside the LMS's iframe. A real browser with default settings sends `SameSite=None; Secure` cookies
# there, so each test runs in a fresh persistent profile whose preferences allow third-party cookies (the flag
# `--disable-features=...` does not reach that setting). With them blocked, the launch answers the page that asks to
# allow cookies or open the link in a new tab.
ALLOW_THIRD_PARTY_COOKIES = {"profile": {"cookie_controls_mode": 0, "block_third_party_cookies": False}}


@dataclass
class LtiStack:
    api: Api
    lms: FakeLtiPlatform


@pytest.fixture(scope="module")
def lti_stack() -> Iterator[LtiStack]:
    """The backend as a real server on 127.0.0.1 (PUBLIC_BASE_URL its own base) and an LMS on http://localhost
    (another site) registered by the admin, which knows the tool's key set."""
    with (
        running_backend(PUBLIC_BASE_URL="{base}") as api,
        FakeLtiPlatform(tool_base=api.url, host="localhost", form_post=True) as lms,
    ):
        created = api.http.post("/api/lti/platforms", json=lms.registration_body(), headers=api.admin.headers)
        assert created.status_code == 201, created.text
        lms.set_tool_keys(api.http.get("/lti/jwks").json())
        yield LtiStack(api, lms)


OpenLms = Callable[[str], tuple[Any, Any, list[str]]]


@pytest.fixture
def open_lms(chromium: Any, tmp_path: Path) -> Iterator[OpenLms]:
    """open_lms(url) -> (page, the tool's frame locator, console errors and page errors seen) in a fresh Chromium
    profile that allows third-party cookies (through the session's Playwright: one per process)."""
    contexts: list[Any] = []

    def open_(url: str) -> tuple[Any, Any, list[str]]:
        profile = tmp_path / f"profile-{len(contexts)}"
        (profile / "Default").mkdir(parents=True)
        (profile / "Default" / "Preferences").write_text(json.dumps(ALLOW_THIRD_PARTY_COOKIES))
        context = chromium.browser_type.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900}
        )
        contexts.append(context)
        context.set_default_timeout(20_000)
        page = context.pages[0] if context.pages else context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(url)
        expect(page.get_by_role("heading", level=1, name="Programming 101")).to_be_visible()
        return page, page.frame_locator("#tool"), errors

    yield open_
    for context in contexts:
        context.close()


def tool_frame(page: Any, tool_base: str) -> Any:
    frame = page.frame(url=lambda url: url.startswith(tool_base))
    assert frame is not None, [f.url for f in page.frames]
    return frame


def course_page(lms: FakeLtiPlatform, path: str, initiation_url: str) -> str:
    """Serve an LMS course page at ``path`` that frames the tool's login initiation; its full URL."""
    lms.pages[path] = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Programming 101 · LMS</title>"
        "<link rel='icon' href='data:,'></head><body>"
        "<h1>Programming 101</h1>"
        f'<iframe id="tool" title="Cloudemy" src="{html.escape(initiation_url)}" width="1100" height="800"></iframe>'
        "</body></html>"
    )
    return f"{lms.base_url}{path}"


def test_instructor_launch_in_an_iframe_signs_in_on_the_course_page(lti_stack: LtiStack, open_lms: OpenLms) -> None:
    lms = lti_stack.lms
    lms.add_member("teach-iframe", "Instructor", name="Dana Framed", email="dana-framed@uni.example")
    page, tool, errors = open_lms(
        course_page(lms, "/course/101", lms.initiation_url("teach-iframe", context_id="course-iframe-1"))
    )
    expect(tool.locator(".who-name")).to_have_text("Dana Framed", timeout=30_000)
    expect(tool.get_by_role("heading", level=1)).to_contain_text("Programming 101")
    expect(tool.get_by_role("button", name="Log out")).to_be_visible()
    frame = tool_frame(page, lti_stack.api.url)
    assert "#/courses/" in frame.url
    assert "lti_code" not in frame.url  # the one-time code does not linger in the address bar
    assert errors == []


def test_student_launch_in_an_iframe_lands_on_the_linked_assignment(lti_stack: LtiStack, open_lms: OpenLms) -> None:
    api, lms = lti_stack.api, lti_stack.lms
    # the instructor's launch (in the LMS's iframe too) creates the course; the assignment is made through the API
    # with the session the launch gave
    lms.add_member("teach-2", "Instructor", name="Ira Instructor")
    page, tool, errors = open_lms(
        course_page(lms, "/course/202-staff", lms.initiation_url("teach-2", context_id="course-202"))
    )
    expect(tool.locator(".who-name")).to_have_text("Ira Instructor", timeout=30_000)
    frame = tool_frame(page, api.url)
    course_id = frame.url.split("#/courses/")[1]
    token = frame.evaluate("() => localStorage.getItem('cloudemy.token')")
    assert errors == []
    body = {
        "title": "FizzBuzz in a frame",
        "description": "Print FizzBuzz.",
        "languages": ["python"],
        "rubric": [{"id": "correct", "title": "Correct", "points": 10}],
        "published": True,
    }
    headers = {"Authorization": f"Bearer {token}"}
    created = api.http.post(f"/api/courses/{course_id}/assignments", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assignment = created.json()

    lms.add_member("stud-2", "Learner", name="Ann Framed")
    page, tool, errors = open_lms(
        course_page(
            lms,
            "/course/202",
            lms.initiation_url("stud-2", context_id="course-202", custom={"assignment_id": assignment["id"]}),
        )
    )
    expect(tool.locator(".who-name")).to_have_text("Ann Framed", timeout=30_000)
    expect(tool.get_by_role("heading", level=1, name="FizzBuzz in a frame")).to_be_visible()
    expect(tool.get_by_label("Your code")).to_be_visible()
    assert tool_frame(page, api.url).url.endswith(f"#/assignments/{assignment['id']}")
    assert errors == []
