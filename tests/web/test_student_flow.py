"""A student in a real browser, through the real backend, scheduler and runner, graded by the fake LLM."""

import re
import secrets

import pytest
from playwright.sync_api import expect

from demo.platform import sample_assignment

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # the whole platform: Redis, backend, scheduler, runners

CODE = (
    "def fizzbuzz(n):\n"
    "    return [str(i) for i in range(1, n + 1)]\n"
    "\n\n"
    'if __name__ == "__main__":\n'
    "    print(fizzbuzz(15))\n"
)


def test_student_registers_submits_and_watches_the_result_arrive(ui_platform, open_browser) -> None:
    # The grader takes a few seconds, so the page has time to show the submission running.
    ui_platform.fake_llm.set_mode("slow", delay=3.0, fraction=0.5)
    browser = open_browser(ui_platform.url)
    page = browser.page
    browser.goto()
    expect(page.get_by_role("heading", level=1, name="Log in")).to_be_visible()
    browser.screenshot("login")

    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", level=1, name="Create an account")).to_be_visible()
    email = f"student-{secrets.token_hex(4)}@example.com"
    page.get_by_label("Name").fill("Sam Student")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct horse battery")
    browser.screenshot("register")
    page.get_by_role("button", name="Create account").click()

    expect(page.get_by_role("heading", level=1, name="Courses")).to_be_visible()
    expect(page.get_by_text("Account created. Welcome!")).to_be_visible()
    expect(page.locator("#nav")).to_contain_text("Sam Student")
    expect(page.get_by_text("You are in no course yet.")).to_be_visible()

    # Join the course with the code the instructor shared (a wrong code first).
    browser.console.allow_http(404)
    page.get_by_label("Join code").fill("WRONG123")
    page.get_by_role("button", name="Join course").click()
    expect(page.get_by_text("No course has this join code.")).to_be_visible()
    page.get_by_label("Join code").fill(ui_platform.course["join_code"].lower())
    page.get_by_role("button", name="Join course").click()
    course_heading = f"{ui_platform.course['code']} · {ui_platform.course['title']}"
    expect(page.get_by_role("heading", level=1, name=course_heading)).to_be_visible()
    expect(page.get_by_text(f"You joined {course_heading}.")).to_be_visible()
    expect(page.get_by_text("Join code for students")).to_have_count(0)  # staff only
    browser.screenshot("student-course")

    page.get_by_role("link", name="FizzBuzz").click()
    expect(page.get_by_role("heading", level=1, name="FizzBuzz")).to_be_visible()
    rubric = page.locator("table.rubric")
    expect(rubric).to_contain_text("Correct output")
    expect(rubric.locator("tfoot")).to_contain_text("10")
    language = page.get_by_label("Language")
    assert language.locator("option").all_inner_texts() == ["Python", "JavaScript"]
    expect(page.get_by_text("You have not submitted anything yet.")).to_be_visible()
    page.get_by_label("Your code").fill(CODE)
    browser.screenshot("student-assignment")

    page.evaluate("window.__samePage = true")  # survives only if nothing reloads the page
    page.get_by_role("button", name="Submit for grading").click()
    expect(page).to_have_url(re.compile(r"#/submissions/[0-9a-f]{24}$"))
    status = page.locator(".status-line")
    expect(status).to_have_attribute("data-status", "running", timeout=20_000)
    expect(page.get_by_text("The result appears here as soon as grading finishes.")).to_be_visible()
    browser.screenshot("student-submission-running")

    expect(status).to_have_attribute("data-status", "graded", timeout=30_000)
    assert page.evaluate("window.__samePage") is True
    # The rubric (graded by the model) and the tests (run by the runner) together: 5 of 10 + 0 of 10.
    expect(page.get_by_test_id("score")).to_have_text("5 / 20")
    expect(page.get_by_test_id("tests-summary")).to_have_text("0 of 6 passed · 0 / 10 points")
    expect(page.locator("tr.test-row.hidden-test")).to_have_count(2)
    criteria = page.locator("table.criteria tbody tr")
    expect(criteria).to_have_count(3)
    expect(criteria.nth(0)).to_contain_text("Correct output")
    expect(criteria.nth(0)).to_contain_text("3 / 6")
    expect(criteria.nth(0)).to_contain_text("Assessment of correctness.")
    expect(page.locator(".feedback")).to_contain_text("Overall assessment from the fake model.")
    expect(page.locator(".code-view")).to_contain_text("def fizzbuzz(n):")
    expect(page.get_by_role("status").filter(has_text="Status: Graded")).to_have_count(1)
    browser.screenshot("student-submission-graded")

    # A second submission: the first one is listed as an earlier submission on both pages.
    ui_platform.fake_llm.set_mode("good", fraction=1.0)
    page.get_by_role("link", name="FizzBuzz").click()
    history = page.locator("ol.history li")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("Graded")
    expect(history.first).to_contain_text("5 / 20")
    page.get_by_label("Your code").fill(sample_assignment(with_llm_rubric=True)["reference_solution"]["code"])
    page.get_by_role("button", name="Submit for grading").click()
    expect(page.locator(".status-line")).to_have_attribute("data-status", "graded", timeout=30_000)
    expect(page.get_by_test_id("score")).to_have_text("20 / 20")
    expect(page.get_by_test_id("tests-summary")).to_have_text("6 of 6 passed · 10 / 10 points")
    earlier = page.locator("section", has=page.get_by_role("heading", name="Earlier submissions")).locator("li")
    expect(earlier).to_have_count(1)  # the first one; the page itself is the current one
    expect(earlier.filter(has_text="5 / 20").get_by_role("link")).to_have_count(1)


def test_pages_fit_a_375px_wide_screen(ui_platform, open_browser) -> None:
    ui_platform.fake_llm.set_mode("good", fraction=0.8)
    student = ui_platform.api.create_user("student", name="Narrow Screen")
    ui_platform.api.enrol(ui_platform.course, student)
    submission = ui_platform.api.submit(student, ui_platform.sample["id"], CODE)
    browser = open_browser(ui_platform.url, width=375, height=740)
    page = browser.page
    browser.login(student)
    for fragment, name in [
        ("#/courses", "mobile-courses"),
        (f"#/courses/{ui_platform.course['id']}", "mobile-course"),
        ("#/assignments", "mobile-assignments"),
        (f"#/assignments/{ui_platform.sample['id']}", "mobile-assignment"),
        (f"#/submissions/{submission['id']}", "mobile-submission"),
    ]:
        browser.goto(fragment)
        expect(page.locator("main h1")).to_be_visible()
        if "submissions" in fragment:
            expect(page.locator(".status-line")).to_have_attribute("data-status", "graded", timeout=30_000)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{fragment} scrolls sideways: {width}px wide"
        browser.screenshot(name)


def test_hostile_code_and_model_feedback_render_as_text_through_the_real_runner(ui_platform, open_browser) -> None:
    """The code and the model's feedback travel the whole path (backend, Redis, runner, LLM, result) and are
    shown as text: nothing they contain runs."""
    hostile_feedback = 'Nice work <img src=x onerror="window.__y=1"> <script>window.__z=1</script>'
    hostile_code = "</textarea><script>window.__x=1</script>\nprint('hi')\n"
    ui_platform.fake_llm.set_mode("good", fraction=1.0, feedback=hostile_feedback)
    student = ui_platform.api.create_user("student", name="<b>Mallory</b>")
    ui_platform.api.enrol(ui_platform.course, student)
    submission = ui_platform.api.submit(student, ui_platform.sample["id"], hostile_code)
    browser = open_browser(ui_platform.url)
    page = browser.page
    browser.login(student)
    browser.goto(f"#/submissions/{submission['id']}")
    expect(page.locator(".status-line")).to_have_attribute("data-status", "graded", timeout=30_000)
    expect(page.locator(".feedback")).to_contain_text(hostile_feedback)
    expect(page.locator(".code-view")).to_contain_text("</textarea><script>window.__x=1</script>")
    page.wait_for_timeout(300)  # give an injected handler the chance to fire
    assert page.evaluate("[window.__x, window.__y, window.__z]") == [None, None, None]
    assert page.locator(".feedback img, .feedback script, .code-view script").count() == 0
    ui_platform.fake_llm.set_mode("good", fraction=1.0, feedback="Overall assessment from the fake model.")
