"""Instructors and admins in a real browser against `python -m cloudemy_backend`; grading outcomes are posted
through the internal API exactly as a runner would post them."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_instructor_creates_an_assignment_grades_a_submission_and_downloads_the_csv(ui_backend, open_browser) -> None:
    api = ui_backend
    instructor = api.create_user("instructor", name="Ines Instructor")
    browser = open_browser(api.url)
    page = browser.page
    browser.login(instructor)

    # A new instructor teaches no course yet: create one; its join code is shown to its staff.
    expect(page.get_by_text("You are in no course yet.")).to_be_visible()
    page.get_by_label("Course code").fill("ALG1")
    page.get_by_label("Course title").fill("Algorithms")
    page.get_by_label("Term").fill("Fall 2026")
    page.get_by_role("button", name="Create course").click()
    expect(page.get_by_role("heading", level=1, name="ALG1 · Algorithms")).to_be_visible()
    expect(page.locator(".join-code")).to_have_text(re.compile(r"^[A-Z2-9]{8}$"))
    expect(page.locator("table.members")).to_contain_text(instructor.email)

    # Create an assignment with a two-criterion rubric.
    page.get_by_role("link", name="New assignment").first.click()
    expect(page.get_by_role("heading", level=1, name="New assignment")).to_be_visible()
    page.get_by_label("Title", exact=True).first.fill("Binary search")
    page.get_by_label("Description").fill("Implement search(xs, x) on a sorted list.\nReturn the index or -1.")
    page.get_by_label("JavaScript").check()
    criterion = page.locator(".rubric-row").nth(0)
    criterion.get_by_label("Title", exact=True).fill("Correct result")
    expect(criterion.get_by_label("Id", exact=True)).to_have_value("")
    criterion.get_by_label("Points", exact=True).fill("6")
    criterion.get_by_label("What earns the points").fill("Finds present and absent values.")
    page.get_by_role("button", name="Add criterion").click()
    second = page.locator(".rubric-row").nth(1)
    expect(second.get_by_label("Title", exact=True)).to_be_focused()
    second.get_by_label("Title", exact=True).fill("Logarithmic time")
    second.get_by_label("Points", exact=True).fill("4")
    expect(page.locator("output.total")).to_have_text("Max score: 10")
    page.get_by_label("Fail tags").fill("linear-scan, off-by-one")
    page.get_by_label("Published (students can see and submit)").check()
    browser.screenshot("instructor-editor")
    page.get_by_role("button", name="Create assignment").click()

    expect(page.get_by_role("heading", level=1, name="Binary search")).to_be_visible()
    expect(page.get_by_text("Assignment created.")).to_be_visible()
    assignment_id = re.search(r"#/assignments/([0-9a-f]{24})$", page.url).group(1)
    stored = api.http.get(f"/api/assignments/{assignment_id}", headers=instructor.headers).json()
    assert [(c["id"], c["title"], c["points"]) for c in stored["rubric"]] == [
        ("correct-result", "Correct result", 6),
        ("logarithmic-time", "Logarithmic time", 4),
    ]
    assert stored["languages"] == ["python", "javascript"]
    assert stored["fail_tags"] == ["linear-scan", "off-by-one"]
    assert stored["published"] is True
    assert stored["max_score"] == 10

    # Edit it: the change is saved through PATCH.
    page.get_by_role("link", name="Edit assignment").click()
    expect(page.get_by_label("Title", exact=True).first).to_have_value("Binary search")
    page.get_by_label("Title", exact=True).first.fill("Binary search (v2)")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", level=1, name="Binary search (v2)")).to_be_visible()

    # Two students submit; the grader leaves one for review and grades the other.
    ada = api.create_user("student", name="Ada Lovelace")
    bob = api.create_user("student", name="Bob Builder")
    api.enrol(stored, ada, bob)
    review = api.submit(ada, assignment_id, "def search(xs, x):\n    return xs.index(x)\n")
    api.post_status(review["id"], "running")
    api.post_result(
        review["id"],
        status="needs_review",
        score=3,
        max_score=10,
        fail_tags=["possible-prompt-injection"],
        feedback="The code contains text addressed to the grader; an instructor will grade it.",
        metrics={},
        grader="llm",
    )
    done = api.submit(bob, assignment_id, "def search(xs, x):\n    return -1\n", language="javascript")
    api.post_result(done["id"], status="graded", score=2, max_score=10, feedback="Always -1.", fail_tags=[], metrics={})

    page.get_by_role("link", name="All submissions").click()
    expect(page.get_by_role("heading", level=1, name="Submissions: Binary search (v2)")).to_be_visible()
    rows = page.locator("table.submissions tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="Ada Lovelace")).to_contain_text("Needs review")
    expect(rows.filter(has_text="Bob Builder")).to_contain_text("2 / 10")
    page.get_by_label("Status", exact=True).select_option("needs_review")
    expect(rows).to_have_count(1)
    page.get_by_label("Status", exact=True).select_option("")
    page.get_by_label("Student", exact=True).fill("bob")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(bob.email)
    page.get_by_label("Student", exact=True).fill("")
    expect(page.get_by_text("Showing 2 of 2 submissions.")).to_be_visible()
    browser.screenshot("instructor-submissions")

    # Open the one that needs review, read its code, grade it by hand.
    rows.filter(has_text="Ada Lovelace").get_by_role("link", name=re.compile("^Review")).click()
    expect(page.locator(".status-line")).to_have_attribute("data-status", "needs_review")
    expect(page.locator(".code-view")).to_contain_text("return xs.index(x)")
    expect(page.locator("main")).to_contain_text("Ada Lovelace")
    expect(page.locator(".tags")).to_contain_text("possible-prompt-injection")
    browser.screenshot("instructor-review")
    page.get_by_label("Score (0 to 10)").fill("11")
    page.get_by_role("button", name="Save grade").click()
    expect(page.get_by_text("Enter a score between 0 and 10, or marks per criterion.")).to_be_visible()
    page.get_by_label("Score (0 to 10)").fill("7.5")
    page.get_by_label("Feedback for the student").fill("Works, but index() raises for absent values.")
    page.get_by_role("button", name="Save grade").click()
    expect(page.locator(".status-line")).to_have_attribute("data-status", "graded")
    expect(page.get_by_test_id("score")).to_have_text("7.5 / 10")
    expect(page.locator(".feedback")).to_have_text("Works, but index() raises for absent values.")
    # the grade can be corrected again: the form now overrides it, its feedback box empty
    expect(page.get_by_role("heading", name="Override the grade")).to_be_visible()
    expect(page.get_by_label("Feedback for the student")).to_have_value("")
    graded = api.submission(instructor, review["id"])
    assert (graded["status"], graded["result"]["score"]) == ("graded", 7.5)
    browser.screenshot("instructor-graded")

    # The student sees the instructor's grade.
    student_view = open_browser(api.url)
    student_view.login(ada)
    student_view.goto(f"#/submissions/{review['id']}")
    expect(student_view.page.get_by_test_id("score")).to_have_text("7.5 / 10")
    expect(student_view.page.get_by_role("button", name="Regrade", exact=True)).to_have_count(0)  # staff only

    # Download the CSV: the latest score of each student.
    page.get_by_role("link", name="Submissions", exact=True).click()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download grades (CSV)").click()
    download = download_info.value
    assert download.suggested_filename == "grades-binary-search-v2.csv"
    rows_csv = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8-sig").read())))  # noqa: SIM115
    scores = {row["student_email"]: (row["status"], row["score"], row["max_score"]) for row in rows_csv}
    assert scores == {ada.email: ("graded", "7.5", "10"), bob.email: ("graded", "2", "10")}
    expect(page.get_by_text("Grades downloaded")).to_be_visible()


def test_regrade_starts_the_next_attempt_and_the_page_follows_it(ui_backend, open_browser) -> None:
    api = ui_backend
    instructor = api.create_user("instructor")
    assignment = api.create_assignment(instructor)
    student = api.create_user("student")
    api.enrol(assignment, student)
    submission = api.submit(student, assignment["id"], "def reverse(xs):\n    return xs[::-1]\n")
    api.post_result(submission["id"], status="error", feedback="LLM unavailable", fail_tags=["llm-unavailable"])
    browser = open_browser(api.url)
    page = browser.page
    browser.login(instructor)
    browser.goto(f"#/submissions/{submission['id']}")
    expect(page.locator(".status-line")).to_have_attribute("data-status", "error")
    page.get_by_role("button", name="Regrade").click()
    expect(page.get_by_text("Attempt 2", exact=True)).to_be_visible()
    expect(page.locator(".status-line")).to_have_attribute("data-status", "queued")
    api.post_status(submission["id"], "running")
    expect(page.locator(".status-line")).to_have_attribute("data-status", "running")
    api.post_result(submission["id"], status="graded", score=9, max_score=10, feedback="Fine now.")
    expect(page.get_by_test_id("score")).to_have_text("9 / 10")


def test_admin_creates_an_instructor_who_can_then_log_in(ui_backend, open_browser) -> None:
    api = ui_backend
    browser = open_browser(api.url)
    page = browser.page
    browser.login(api.admin)
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", level=1, name="Users")).to_be_visible()
    page.get_by_label("Name").fill("Grace Hopper")
    page.get_by_label("Email").fill("grace.hopper@example.com")
    page.get_by_label("Initial password").fill("compiler-1952")
    page.get_by_label("Role").select_option("instructor")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_text("Created grace.hopper@example.com as instructor.")).to_be_visible()
    expect(page.locator("table")).to_contain_text("Grace Hopper")
    expect(page.get_by_label("Name")).to_be_focused()
    browser.screenshot("admin-users")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    page.get_by_label("Email").fill("grace.hopper@example.com")
    page.get_by_label("Password").fill("compiler-1952")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#nav")).to_contain_text("Grace Hopper")
    expect(page.get_by_role("link", name="New assignment").first).to_be_visible()
    expect(page.get_by_role("link", name="Users")).to_have_count(0)


def test_students_cannot_open_staff_pages(ui_backend, open_browser) -> None:
    student = ui_backend.create_user("student")
    browser = open_browser(ui_backend.url)
    browser.login(student)
    expect(browser.page.get_by_role("link", name="New assignment")).to_have_count(0)
    for fragment in ("#/admin/users", "#/assignments/new"):
        browser.goto(fragment)
        expect(browser.page.get_by_role("heading", level=1, name="Not allowed")).to_be_visible()


def test_staff_pages_fit_a_375px_wide_screen(ui_backend, open_browser) -> None:
    api = ui_backend
    instructor = api.create_user("instructor")
    assignment = api.create_assignment(instructor)
    student = api.create_user("student", name="A Student With A Rather Long Name")
    api.enrol(assignment, student)
    submission = api.submit(student, assignment["id"], "def reverse(xs):\n    return list(reversed(xs))\n")
    api.post_result(submission["id"], status="needs_review", score=5, max_score=10, feedback="Please check.")
    browser = open_browser(api.url, width=375, height=740)
    page = browser.page
    browser.login(api.admin)
    for fragment, ready, name in [
        (f"#/assignments/{assignment['id']}/edit", ".rubric-row", "mobile-editor"),
        (f"#/assignments/{assignment['id']}/submissions", "table.submissions", "mobile-submissions"),
        (f"#/submissions/{submission['id']}", "form.manual-grade", "mobile-review"),
        ("#/admin/users", "form", None),
    ]:
        browser.goto(fragment)
        expect(page.locator(ready).first).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{fragment} scrolls sideways: {width}px wide"
        if name:
            browser.screenshot(name)
