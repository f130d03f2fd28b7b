"""What a person sees when the API says no (401, 404, 409, 413, 422, network down, expired session),
and keyboard-only use: the code editor's Tab handling, labels and visible focus."""

import base64
import json
import re
import time

import pytest
from playwright.sync_api import expect
from ui_harness import MAX_CODE_BYTES, Browser

pytestmark = pytest.mark.browser


def fake_jwt(exp: float) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    header, claims = part({"alg": "HS256", "typ": "JWT"}), part({"sub": "x", "type": "access", "exp": int(exp)})
    return f"{header}.{claims}.c2lnbmF0dXJl"


@pytest.fixture
def course(ui_backend) -> dict:
    instructor = ui_backend.create_user("instructor")
    assignment = ui_backend.create_assignment(instructor)
    student = ui_backend.create_user("student")
    ui_backend.enrol(assignment, student)
    return {"instructor": instructor, "assignment": assignment, "student": student}


def open_assignment(browser: Browser, course: dict) -> None:
    browser.login(course["student"])
    browser.goto(f"#/assignments/{course['assignment']['id']}")
    expect(browser.page.get_by_role("heading", level=1, name=course["assignment"]["title"])).to_be_visible()


def test_wrong_password_and_duplicate_email(ui_backend, open_browser, course) -> None:
    browser = open_browser(ui_backend.url)
    browser.console.allow_http(401, 409)
    page = browser.page
    browser.goto("#/login")
    page.get_by_label("Email").fill(course["student"].email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert").filter(has_text="Wrong email or password.")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_focused()

    browser.goto("#/register")
    page.get_by_label("Name").fill("Twin")
    page.get_by_label("Email").fill(course["student"].email)
    page.get_by_label("Password").fill("long enough password")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("An account with this email already exists. Log in instead.")).to_be_visible()


def test_code_over_the_size_limit_says_so_and_keeps_the_code(ui_backend, open_browser, course) -> None:
    browser = open_browser(ui_backend.url)
    browser.console.allow_http(413)
    page = browser.page
    open_assignment(browser, course)
    code = "x = 1\n" * (MAX_CODE_BYTES // 6 + 50)
    page.get_by_label("Your code").fill(code)
    page.get_by_role("button", name="Submit for grading").click()
    expect(page.get_by_role("alert").filter(has_text="Your code is too large")).to_contain_text(
        f"({len(code.encode()):,} bytes)"
    )
    expect(page.get_by_label("Your code")).to_have_value(code)
    browser.screenshot("error-413")


def test_validation_errors_name_the_field(ui_backend, open_browser, course) -> None:
    browser = open_browser(ui_backend.url)
    browser.console.allow_http(422)
    page = browser.page
    browser.login(course["instructor"])
    browser.goto("#/assignments/new")
    page.get_by_role("button", name="Create assignment").click()  # empty: checked in the page first
    alert = page.get_by_role("alert").filter(has_text="Please correct the following")
    expect(alert).to_contain_text("Give the assignment a title.")
    expect(alert).to_contain_text("Add a rubric criterion or a test: there is nothing to grade.")
    page.get_by_label("Title", exact=True).first.fill("Too many points")
    row = page.locator(".rubric-row").first
    row.get_by_label("Title", exact=True).fill("Everything")
    row.get_by_label("Points", exact=True).fill("20000")  # only the server knows the upper bound
    page.get_by_role("button", name="Create assignment").click()
    expect(alert).to_contain_text("rubric › #1 › points")
    expect(alert).to_contain_text("10000")


def test_unknown_submission_is_a_clear_404(ui_backend, open_browser, course) -> None:
    browser = open_browser(ui_backend.url)
    browser.console.allow_http(404)
    browser.login(course["student"])
    browser.goto("#/submissions/0123456789abcdef01234567")
    expect(browser.page.get_by_role("heading", level=1, name="Could not load this page")).to_be_visible()
    expect(browser.page.get_by_text("Not found: it does not exist, or you do not have access to it.")).to_be_visible()


def test_network_down_while_submitting_then_back(ui_backend, open_browser, course) -> None:
    browser = open_browser(ui_backend.url)
    browser.console.allow_network_failure()
    page = browser.page
    open_assignment(browser, course)
    page.get_by_label("Your code").fill("print('offline')\n")
    page.route("**/api/**", lambda route: route.abort("internetdisconnected"))
    page.get_by_role("button", name="Submit for grading").click()
    expect(page.get_by_role("alert").filter(has_text="Cannot reach the Cloudemy server")).to_be_visible()
    page.unroute("**/api/**")
    page.get_by_role("button", name="Submit for grading").click()
    expect(page.locator(".status-line")).to_have_attribute("data-status", "queued")


def test_live_status_survives_a_network_blip(ui_backend, open_browser, course) -> None:
    api = ui_backend
    submission = api.submit(course["student"], course["assignment"]["id"], "print(1)\n")
    browser = open_browser(api.url)
    browser.console.allow_network_failure()
    page = browser.page
    browser.login(course["student"])
    browser.goto(f"#/submissions/{submission['id']}")
    expect(page.locator(".status-line")).to_have_attribute("data-status", "queued")
    page.route("**/api/**", lambda route: route.abort("internetdisconnected"))
    expect(page.get_by_text("Cannot reach the Cloudemy server")).to_be_visible()
    api.post_status(submission["id"], "running")
    api.post_result(submission["id"], status="graded", score=1, max_score=10, feedback="ok")
    page.unroute("**/api/**")
    expect(page.locator(".status-line")).to_have_attribute("data-status", "graded", timeout=15_000)
    expect(page.get_by_text("Cannot reach the Cloudemy server")).to_have_count(0)


def test_expired_token_goes_to_login_and_back(ui_backend, open_browser, course) -> None:
    browser = open_browser(ui_backend.url)
    page = browser.page
    browser.login(course["student"])
    target = f"#/assignments/{course['assignment']['id']}"
    page.evaluate("t => localStorage.setItem('cloudemy.token', t)", fake_jwt(time.time() - 60))
    browser.goto(target)
    expect(page.get_by_role("heading", level=1, name="Log in")).to_be_visible()
    expect(page.get_by_text("Your session has expired. Please log in again.")).to_be_visible()
    assert page.evaluate("localStorage.getItem('cloudemy.token')") is None
    page.get_by_label("Email").fill(course["student"].email)
    page.get_by_label("Password").fill(course["student"].password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(re.escape(target) + "$"))
    expect(page.get_by_role("heading", level=1, name=course["assignment"]["title"])).to_be_visible()


def test_a_token_the_server_rejects_goes_to_login(ui_backend, open_browser, course) -> None:
    browser = open_browser(ui_backend.url)
    browser.console.allow_http(401)
    page = browser.page
    browser.login(course["student"])
    page.evaluate("t => localStorage.setItem('cloudemy.token', t)", fake_jwt(time.time() + 3600))
    page.reload()
    expect(page.get_by_role("heading", level=1, name="Log in")).to_be_visible()
    expect(page.get_by_text("Your session has expired. Please log in again.")).to_be_visible()


def test_code_editor_tab_indents_and_esc_tab_leaves(ui_backend, open_browser, course) -> None:
    browser = open_browser(ui_backend.url)
    page = browser.page
    open_assignment(browser, course)
    editor = page.get_by_label("Your code")
    editor.focus()
    page.keyboard.type("def f():")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.type("return 1")
    expect(editor).to_have_value("def f():\n    return 1")
    expect(editor).to_be_focused()
    page.keyboard.press("Control+a")
    page.keyboard.press("Tab")
    expect(editor).to_have_value("    def f():\n        return 1")
    page.keyboard.press("Shift+Tab")
    expect(editor).to_have_value("def f():\n    return 1")
    expect(page.locator(".code-gutter").first).to_have_text("1\n2")
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    submit = page.get_by_role("button", name="Submit for grading")
    expect(submit).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused button shows no focus ring"
    page.keyboard.press("Shift+Tab")
    expect(editor).to_be_focused()
    page.keyboard.press("Tab")  # back in the editor, Tab indents again
    expect(editor).to_be_focused()
    page.keyboard.press("Enter")  # Enter on the button would submit; here it is a newline
    expect(page).to_have_url(re.compile(r"#/assignments/"))


def test_keyboard_only_login(ui_backend, open_browser, course) -> None:
    browser = open_browser(ui_backend.url)
    page = browser.page
    browser.goto("#/login")
    expect(page.get_by_role("heading", level=1, name="Log in")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(course["student"].email)
    page.keyboard.press("Tab")
    page.keyboard.type(course["student"].password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Courses")).to_be_focused()


CONTROLS_WITHOUT_LABEL = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length))
  .filter(el => !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML.slice(0, 120))"""


def test_every_control_has_a_label(ui_backend, open_browser, course) -> None:
    api = ui_backend
    submission = api.submit(course["student"], course["assignment"]["id"], "print(1)\n")
    api.post_result(submission["id"], status="needs_review", score=0, max_score=10, feedback="review me")
    browser = open_browser(api.url)
    page = browser.page
    for fragment in ("#/login", "#/register"):
        browser.goto(fragment)
        expect(page.locator("main h1")).to_be_visible()
        assert page.evaluate(CONTROLS_WITHOUT_LABEL) == [], fragment
    browser.login(api.admin)
    aid = course["assignment"]["id"]
    for fragment, ready in [
        ("#/assignments", ".card-list"),
        (f"#/assignments/{aid}", ".code-editor"),
        ("#/assignments/new", ".rubric-row"),
        (f"#/assignments/{aid}/edit", ".rubric-row"),
        (f"#/assignments/{aid}/submissions", "table.submissions"),
        (f"#/submissions/{submission['id']}", "form.manual-grade"),
        ("#/admin/users", "form"),
    ]:
        browser.goto(fragment)
        expect(page.locator(ready).first).to_be_visible()
        assert page.evaluate(CONTROLS_WITHOUT_LABEL) == [], fragment


def test_skip_link_moves_focus_to_the_content_and_keeps_the_page(ui_backend, open_browser, course) -> None:
    browser = open_browser(ui_backend.url)
    page = browser.page
    open_assignment(browser, course)
    url = page.url
    page.get_by_role("link", name="Cloudemy home").focus()
    page.keyboard.press("Shift+Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    assert page.url == url
    expect(page.get_by_role("heading", level=1, name=course["assignment"]["title"])).to_be_visible()


def test_signup_turned_off_and_server_errors_read_clearly(ui_backend, open_browser, course) -> None:
    """Answers this backend does not give on demand (ALLOW_SIGNUP=false, a 503) are stubbed at the network."""
    browser = open_browser(ui_backend.url)
    browser.console.allow_http(403, 503)
    page = browser.page
    page.route(
        "**/api/auth/register",
        lambda route: route.fulfill(status=403, json={"detail": "sign-up is disabled"}),
    )
    browser.goto("#/register")
    page.get_by_label("Name").fill("Late Comer")
    page.get_by_label("Email").fill("late@example.com")
    page.get_by_label("Password").fill("long enough password")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert").filter(has_text="Sign-up is turned off")).to_contain_text("Ask an administrator")

    browser.login(course["student"])
    page.route(
        "**/api/assignments?*",
        lambda route: route.fulfill(status=503, json={"detail": "database unavailable, try again shortly"}),
    )
    browser.goto("#/login")  # leave and come back, so the list is fetched again
    browser.goto("#/assignments")
    expect(page.get_by_role("heading", level=1, name="Could not load this page")).to_be_visible()
    expect(page.get_by_text("The server had a problem (HTTP 503). Try again in a moment.")).to_be_visible()
    page.unroute("**/api/assignments?*")
    page.get_by_role("button", name="Try again").click()
    expect(page.get_by_role("heading", level=1, name="Assignments")).to_be_visible()
