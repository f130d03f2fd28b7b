"""Reviewing AI grades in the browser: an instructor overrides the LLM's marks per criterion and the student sees
the instructor's grade and name; grades of a manually released assignment stay hidden until the instructor
releases them; a student's regrade request and the staff's answer. Results are posted through the internal API."""

import pytest
from playwright.sync_api import expect
from review_support import AI_FEEDBACK, graded_by_the_ai, patient_expect  # noqa: F401 (a fixture)
from ui_harness import Api

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("patient_expect")]


def test_instructor_overrides_the_ai_per_criterion_and_the_student_sees_it(ui_backend: Api, open_browser) -> None:
    api = ui_backend
    case = graded_by_the_ai(api, instructor_name="Irene Reviewer", student_name="Sam Student")
    fragment = f"#/submissions/{case.submission['id']}"

    staff = open_browser(api.url)
    page = staff.page
    staff.login(case.instructor)
    staff.goto(fragment)
    expect(page.get_by_test_id("score")).to_have_text("8 / 10")
    expect(page.get_by_test_id("grader")).to_have_text("Graded by the AI grader")
    form = page.locator("form.manual-grade")
    expect(form.get_by_role("heading", name="Override the grade")).to_be_visible()
    feedback = form.get_by_label("Feedback for the student")
    expect(feedback).to_have_value("")  # never pre-filled with the grader's text
    expect(page.get_by_text("History of results")).to_have_count(0)  # one result so far

    form.get_by_label("Correct result (0 to 6)").fill("4")
    form.get_by_label("Readable code (0 to 4)").fill("3")
    feedback.fill("Fails on a tuple; the AI missed it.")
    form.get_by_role("button", name="Save grade").click()
    expect(page.get_by_test_id("score")).to_have_text("7 / 10")
    expect(page.get_by_test_id("grader")).to_have_text("Graded by Irene Reviewer")
    expect(page.get_by_role("heading", name="History of results")).to_be_visible()
    history = page.get_by_test_id("result-history").locator("li")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_contain_text("8 / 10 by llm")
    expect(history.nth(0)).to_contain_text("replaced by an instructor's grade")
    expect(history.nth(1)).to_contain_text("7 / 10 by instructor (Irene Reviewer)")
    expect(history.nth(1)).to_contain_text("current")
    expect(page.get_by_role("heading", name="AI and instructor, per criterion")).to_be_visible()
    rows = page.get_by_test_id("ai-vs-human").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="Correct result").locator("td")).to_have_text(["6 / 6", "4 / 6"])
    expect(rows.filter(has_text="Readable code").locator("td")).to_have_text(["2 / 4", "3 / 4"])
    staff.screenshot("review-override-staff")

    learner = open_browser(api.url)
    learner.login(case.student)
    learner.goto(fragment)
    page = learner.page
    expect(page.get_by_test_id("score")).to_have_text("7 / 10")
    expect(page.get_by_test_id("grader")).to_have_text("Graded by Irene Reviewer")
    expect(page.locator(".feedback")).to_have_text("Fails on a tuple; the AI missed it.")
    expect(page.locator("table.criteria tbody tr")).to_have_count(2)
    expect(page.locator("table.criteria tbody tr", has_text="Correct result")).to_contain_text("4 / 6")
    # the student sees the grade, not the staff's tools or the replaced result
    expect(page.locator("form.manual-grade")).to_have_count(0)
    expect(page.get_by_text("History of results")).to_have_count(0)
    expect(page.get_by_text(AI_FEEDBACK)).to_have_count(0)


def test_manual_release_hides_the_grade_until_the_instructor_releases_it(ui_backend: Api, open_browser) -> None:
    api = ui_backend
    case = graded_by_the_ai(api, instructor_name="Rhea Release", student_name="Hugo Hidden", release="manual")
    fragment = f"#/submissions/{case.submission['id']}"

    learner = open_browser(api.url)
    student_page = learner.page
    learner.login(case.student)
    learner.goto(fragment)
    expect(student_page.get_by_test_id("unreleased")).to_have_text("Submitted, grade not released yet.")
    expect(student_page.get_by_test_id("score")).to_have_count(0)
    expect(student_page.get_by_text("8 / 10")).to_have_count(0)
    expect(student_page.get_by_text(AI_FEEDBACK)).to_have_count(0)
    expect(student_page.get_by_role("button", name="Ask for a regrade")).to_have_count(0)

    staff = open_browser(api.url)
    page = staff.page
    staff.login(case.instructor)
    staff.goto(f"#/assignments/{case.assignment['id']}")
    state = page.get_by_test_id("release-state")
    expect(state).to_have_text("Grades are hidden from students until you release them.")
    page.get_by_role("button", name="Release grades").click()
    expect(state).to_have_text("Grades are released to students.")
    expect(page.get_by_role("button", name="Released")).to_be_disabled()
    staff.goto(f"#/assignments/{case.assignment['id']}")  # the release is stored, not only shown
    expect(page.get_by_role("button", name="Released")).to_be_disabled()

    student_page.reload()
    expect(student_page.get_by_test_id("score")).to_have_text("8 / 10")
    expect(student_page.locator(".feedback")).to_have_text(AI_FEEDBACK)
    expect(student_page.get_by_test_id("unreleased")).to_have_count(0)


def test_student_asks_for_a_regrade_and_sees_the_answer(ui_backend: Api, open_browser) -> None:
    api = ui_backend
    case = graded_by_the_ai(api, instructor_name="Otto Answer", student_name="Rita Request")
    learner = open_browser(api.url)
    page = learner.page
    learner.login(case.student)
    learner.goto(f"#/submissions/{case.submission['id']}")
    expect(page.get_by_test_id("score")).to_have_text("8 / 10")
    page.get_by_label("Why should this grade change?").fill("My names follow the course's style guide.")
    page.get_by_role("button", name="Ask for a regrade").click()
    requests = page.locator(".regrade-request")
    expect(requests).to_have_count(1)
    expect(requests).to_contain_text("My names follow the course's style guide.")
    expect(requests).to_contain_text("Waiting for an answer from the course staff.")
    expect(page.get_by_role("button", name="Ask for a regrade")).to_have_count(0)  # one open request at a time

    course_id = case.assignment["course_id"]
    listed = api.http.get(
        f"/api/courses/{course_id}/regrade-requests", params={"state": "open"}, headers=case.instructor.headers
    )
    listed.raise_for_status()
    body = listed.json()
    items = body["items"] if isinstance(body, dict) else body
    (request,) = [r for r in items if r["submission_id"] == case.submission["id"]]
    resolved = api.http.post(
        f"/api/regrade-requests/{request['id']}/resolve",
        json={
            "response": "Agreed: style raised to 4.",
            "grade": {"feedback": "Style matches the guide.", "criteria": [{"id": "style", "score": 4}]},
        },
        headers=case.instructor.headers,
    )
    assert resolved.status_code == 200, resolved.text

    page.reload()
    expect(page.get_by_test_id("regrade-answer")).to_have_text("Answer: Agreed: style raised to 4.")
    expect(page.get_by_test_id("score")).to_have_text("10 / 10")
    expect(page.get_by_test_id("grader")).to_have_text("Graded by Otto Answer")
    expect(page.get_by_text("Waiting for an answer from the course staff.")).to_have_count(0)
    # the request is answered: the student may ask again
    expect(page.get_by_role("button", name="Ask for a regrade")).to_be_visible()
