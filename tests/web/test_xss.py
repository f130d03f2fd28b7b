"""Untrusted text (code, LLM feedback, names, titles, descriptions) is shown as text and never runs."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CODE = '</textarea><script>window.__x=1</script>\n<img src=x onerror="window.__x=2">\nprint("hi")\n'
FEEDBACK = 'Nice try <img src=x onerror="window.__x=3"> and <script>window.__x=4</script>'
CRITERION_FEEDBACK = '<svg onload="window.__x=5"></svg><a href="javascript:window.__x=6">click</a>'
NAME = '<img src=x onerror="window.__x=7">Mallory'
TITLE = "<script>window.__x=8</script>Title"
DESCRIPTION = '<iframe srcdoc="<script>parent.__x=9</script>"></iframe> Read carefully.'


def assert_nothing_ran(page) -> None:
    assert page.evaluate("typeof window.__x") == "undefined"
    assert page.locator("main img, main svg, main iframe, main script").count() == 0
    assert page.locator("main a[href^='javascript']").count() == 0


def test_hostile_text_renders_as_text_for_students_and_instructors(ui_backend, open_browser) -> None:
    api = ui_backend
    instructor = api.create_user("instructor")
    assignment = api.create_assignment(
        instructor,
        title=TITLE,
        description=DESCRIPTION,
        rubric=[{"id": "safe", "title": "<b>Bold?</b>", "description": "<i>no</i>", "points": 10}],
    )
    student = api.create_user("student", name=NAME)
    api.enrol(assignment, student)

    # The student types the hostile code into the editor and submits it through the page.
    browser = open_browser(api.url)
    page = browser.page
    browser.login(student)
    expect(page.locator("#nav")).to_contain_text(NAME)
    browser.goto("#/assignments")
    expect(page.get_by_role("link", name=TITLE)).to_be_visible()
    page.get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("heading", level=1, name=TITLE)).to_be_visible()
    expect(page.locator(".prose").first).to_have_text(DESCRIPTION)
    expect(page.locator("table.rubric")).to_contain_text("<b>Bold?</b>")
    page.get_by_label("Your code").fill(CODE)
    page.get_by_role("button", name="Submit for grading").click()
    expect(page.locator(".status-line")).to_have_attribute("data-status", "queued")
    submission_id = page.url.rsplit("/", 1)[1]
    assert api.submission(student, submission_id)["code"] == CODE  # stored byte for byte

    # The "LLM" answers with markup in its feedback; the page shows it as text.
    api.post_status(submission_id, "running")
    api.post_result(
        submission_id,
        status="graded",
        score=4,
        max_score=10,
        fail_tags=["off-by-one"],
        feedback=FEEDBACK,
        criteria=[{"id": "safe", "score": 4, "max_score": 10, "feedback": CRITERION_FEEDBACK}],
        metrics={},
        grader="llm",
    )
    expect(page.locator(".status-line")).to_have_attribute("data-status", "graded")
    expect(page.locator(".feedback")).to_have_text(FEEDBACK)
    expect(page.locator("table.criteria")).to_contain_text(CRITERION_FEEDBACK)
    expect(page.locator("table.criteria")).to_contain_text("<b>Bold?</b>")
    expect(page.locator(".code-view")).to_have_text(CODE)
    assert_nothing_ran(page)
    browser.screenshot("xss-student-submission")

    # The instructor sees the student's hostile name in the table and on the submission.
    staff = open_browser(api.url)
    staff.login(instructor)
    staff.goto(f"#/assignments/{assignment['id']}/submissions")
    expect(staff.page.locator("table.submissions")).to_contain_text(NAME)
    assert_nothing_ran(staff.page)
    staff.goto(f"#/submissions/{submission_id}")
    expect(staff.page.locator(".feedback")).to_have_text(FEEDBACK)
    expect(staff.page.locator("main")).to_contain_text(NAME)
    assert_nothing_ran(staff.page)
    staff.goto(f"#/assignments/{assignment['id']}/edit")
    expect(staff.page.get_by_label("Title", exact=True).first).to_have_value(TITLE)
    expect(staff.page.get_by_label("Description")).to_have_value(DESCRIPTION)
    assert_nothing_ran(staff.page)


MARKDOWN = (
    "Write **fast** code, see [the docs](https://docs.python.org/3/) or [this](javascript:window.__x=10).\n\n"
    '<b onclick="window.__x=11">raw</b> stays text.\n\n'
    "```python\ndef f(x):\n    return x  # <script>window.__x=12</script>\n```\n"
)


def test_markdown_descriptions_keep_formatting_and_drop_markup(ui_backend, open_browser) -> None:
    api = ui_backend
    instructor = api.create_user("instructor")
    assignment = api.create_assignment(instructor, description=MARKDOWN)
    browser = open_browser(api.url)
    page = browser.page
    browser.login(instructor)
    browser.goto(f"#/assignments/{assignment['id']}")
    prose = page.locator(".prose.markdown")
    expect(prose.locator("strong")).to_have_text("fast")
    expect(prose.locator("a[href='https://docs.python.org/3/']")).to_have_attribute(
        "rel", "noopener noreferrer nofollow"
    )
    expect(prose.get_by_text("this", exact=True)).to_be_visible()
    assert prose.locator("a[href^='javascript']").count() == 0
    expect(prose).to_contain_text('<b onclick="window.__x=11">raw</b> stays text.')
    assert prose.locator("b").count() == 0
    code = prose.locator("pre code.hljs")
    expect(code).to_contain_text("# <script>window.__x=12</script>")
    expect(code.locator("span.hljs-keyword").first).to_have_text("def")
    assert_nothing_ran(page)


def test_the_csp_would_stop_an_injected_inline_script(ui_backend, open_browser) -> None:
    """Defence in depth: even markup that reached the DOM could not run inline script."""
    browser = open_browser(ui_backend.url)
    page = browser.page
    browser.goto("#/login")
    expect(page.get_by_role("heading", level=1, name="Log in")).to_be_visible()
    browser.console.allowed.append(re.compile(r"Content Security Policy"))
    page.evaluate(
        """() => {
            const holder = document.createElement('div');
            holder.setAttribute('id', 'csp-probe');
            document.body.append(holder);
            const range = document.createRange();
            holder.append(range.createContextualFragment('<img src="/ui/favicon.svg" onload="window.__x=1">'));
            const s = document.createElement('script');
            s.textContent = 'window.__x = 2';
            document.body.append(s);
        }"""
    )
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__x") == "undefined"
    assert any("Content Security Policy" in e for e in browser.console.errors)
