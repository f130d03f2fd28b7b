"""Courses in the browser: a student joins by code, submits after the due date and sees the late penalty;
a TA grades; an instructor grants an extension. Results are posted through the internal API."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from ui_harness import Api, User

pytestmark = pytest.mark.browser

CODE = "print('Hello, world!')\n"


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def late_assignment(api: Api, instructor: User) -> dict:
    return api.create_assignment(
        instructor,
        title="Hello, late world",
        description="Print `Hello, world!`.\n\n- one line\n- nothing else",
        opens_at=iso(timedelta(days=-3)),
        due_at=iso(timedelta(days=-1, hours=-2)),  # 26 h ago: the second started day
        late_until=iso(timedelta(days=2)),
        late_penalty_percent_per_day=10,
        max_submissions=3,
    )


def test_student_joins_by_code_submits_late_and_sees_the_penalty(ui_backend: Api, open_browser) -> None:
    api = ui_backend
    instructor = api.create_user("instructor", name="Ines Instructor")
    late_assignment(api, instructor)
    course = api.course_of(instructor)
    student = api.create_user("student", name="Lena Late")
    browser = open_browser(api.url)
    page = browser.page
    browser.login(student)

    page.get_by_label("Join code").fill(course["join_code"])
    page.get_by_role("button", name="Join course").click()
    expect(page.get_by_role("heading", level=1, name=f"{course['code']} · {course['title']}")).to_be_visible()
    card = page.locator(".assignment-card", has_text="Hello, late world")
    expect(card.locator(".countdown")).to_have_text(
        re.compile(r"^Past due: late submissions close in [12] d.*, −10 % per day$")
    )
    expect(card).to_contain_text("0 of 3 submissions used")
    browser.screenshot("student-course-late")

    card.get_by_role("link", name="Hello, late world").click()
    expect(page.get_by_role("heading", level=1, name="Hello, late world")).to_be_visible()
    expect(page.locator(".prose.markdown li")).to_have_count(2)
    expect(page.locator(".schedule-card")).to_contain_text("10 % per started day")
    expect(page.get_by_test_id("attempts")).to_have_text("0 of 3 submissions used")
    page.get_by_label("Your code").fill(CODE)
    page.get_by_role("button", name="Submit for grading").click()
    expect(page).to_have_url(re.compile(r"#/submissions/[0-9a-f]{24}$"))
    expect(page.get_by_text("Submitted late. Grading has started")).to_be_visible()
    expect(page.locator(".badge.late").first).to_have_text("Late (2 days, −20 %)")
    expect(page.locator(".status-line")).to_contain_text("Queued")
    submission_id = page.url.rsplit("/", 1)[1]

    api.post_status(submission_id, "dispatched")
    expect(page.locator(".status-line")).to_contain_text("Waiting for a grader")  # students' word for dispatched
    api.post_result(
        submission_id, status="graded", score=8, max_score=10, feedback="Correct.", fail_tags=[], metrics={}
    )
    expect(page.locator(".status-line")).to_have_attribute("data-status", "graded")
    expect(page.get_by_test_id("score")).to_have_text("6.4 / 10")
    expect(page.locator(".penalty")).to_have_text(
        "Submitted 2 days late: −20 % late penalty. Score before the penalty: 8 / 10."
    )
    browser.screenshot("student-late-penalty")

    page.get_by_role("link", name="Hello, late world").click()
    expect(page.get_by_test_id("attempts")).to_have_text("1 of 3 submissions used")
    expect(page.locator("ol.history li").first).to_contain_text("Late")


def test_a_ta_grades_but_cannot_edit_and_an_instructor_grants_an_extension(ui_backend: Api, open_browser) -> None:
    api = ui_backend
    instructor = api.create_user("instructor")
    assignment = late_assignment(api, instructor)
    student = api.create_user("student", name="Sam Student")
    ta = api.create_user("student", name="Tara Assistant")
    api.enrol(assignment, student)
    api.enrol(assignment, ta, role="ta")
    submission = api.submit(student, assignment["id"], CODE)
    api.post_result(
        submission["id"], status="needs_review", score=None, max_score=10, feedback="No LLM.", fail_tags=[], metrics={}
    )

    browser = open_browser(api.url)
    page = browser.page
    browser.login(ta)
    page.get_by_role("link", name=re.compile(r"Course of")).click()
    expect(page.get_by_text("Your role: Teaching assistant")).to_be_visible()
    expect(page.locator("table.members")).to_contain_text("Sam Student")
    expect(page.get_by_role("button", name="Add member")).to_have_count(0)  # members are the instructor's
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    page.get_by_role("link", name="Submissions").click()
    page.locator("table.submissions tbody tr", has_text="Sam Student").get_by_role("link").click()
    expect(page.locator(".status-line")).to_have_attribute("data-status", "needs_review")
    expect(page.locator(".badge.late").first).to_be_visible()
    page.get_by_label("Score (0 to 10)").fill("10")
    page.get_by_label("Feedback for the student").fill("Well done.")
    page.get_by_role("button", name="Save grade").click()
    expect(page.locator(".status-line")).to_have_attribute("data-status", "graded")
    expect(page.get_by_test_id("score")).to_have_text("8 / 10")  # the late penalty applies to a TA's grade too
    stored = api.submission(ta, submission["id"])["result"]
    assert (stored["score"], stored["score_before_penalty"], stored["graded_by"]) == (8, 10, ta.id)
    browser.screenshot("ta-graded")
    edit = api.http.patch(f"/api/assignments/{assignment['id']}", json={"title": "x"}, headers=ta.headers)
    assert edit.status_code == 403

    # The instructor gives the student two more days and one more submission.
    staff = open_browser(api.url)
    staff.login(instructor)
    staff.goto(f"#/assignments/{assignment['id']}")
    form = staff.page.locator("form.extension-form")
    form.get_by_label("Student").select_option(label=f"Sam Student ({student.email})")
    form.get_by_label("New due date").fill((datetime.now() + timedelta(days=4)).strftime("%Y-%m-%dT%H:%M"))
    form.get_by_label("Extra submissions").fill("1")
    form.get_by_role("button", name="Save extension").click()
    expect(staff.page.get_by_text("Extension saved for Sam Student.")).to_be_visible()
    expect(staff.page.locator("table.extensions-table tbody tr")).to_have_count(1)
    mine = api.http.get(f"/api/assignments/{assignment['id']}", headers=student.headers).json()["mine"]
    assert (mine["extended"], mine["allowed"], mine["used"]) == (True, 4, 1)
