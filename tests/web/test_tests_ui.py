"""Instructor tests in a real browser: the student's test table (hidden tests as a verdict only, the first differing
line marked, compile errors as such), every test's output for staff, and the instructor's tests editor with its run
against the reference solution. Results are posted through the internal API exactly as a runner posts them."""

import re
import time

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

HIDDEN_STDIN = "hidden-input-5b1e"
HIDDEN_EXPECTED = "hidden-expected-77c0"
HIDDEN_STDOUT = "hidden-stdout-a3f9"
HOSTILE = '<img src=x onerror="window.__pwned=1">'

TESTS = [
    {"id": "t-three", "name": "n = 3", "stdin": "3\n", "expected_stdout": "1\n2\nFizz\n", "points": 2},
    {
        "id": "t-secret",
        "name": "big n",
        "stdin": HIDDEN_STDIN,
        "expected_stdout": HIDDEN_EXPECTED,
        "points": 3,
        "hidden": True,
    },
    {"id": "t-hostile", "name": HOSTILE, "stdin": HOSTILE, "expected_stdout": "ok\n", "points": 1},
]


def outcome(test_id: str, verdict: str, points: float, max_points: float, stdout: str, **extra: object) -> dict:
    return {"id": test_id, "verdict": verdict, "points": points, "max_points": max_points, "time_ms": 17,
            "exit_code": 0, "stdout": stdout, "stderr": "", **extra}  # fmt: skip


def result_with_tests(**overrides: object) -> dict:
    return {
        "status": "graded",
        "score": 2,
        "max_score": 6,
        "fail_tags": [],
        "feedback": "1 of 3 tests passed.",
        "metrics": {},
        "grader": "tests",
        "tests": [
            outcome("t-three", "wrong_output", 0, 2, "1\n2\n3\n"),
            outcome("t-secret", "passed", 3, 3, HIDDEN_STDOUT, stderr="hidden-stderr"),
            outcome("t-hostile", "runtime_error", 0, 1, HOSTILE, exit_code=1, stderr=f"Traceback: {HOSTILE}"),
        ],
        "compile_output": "",
        **overrides,
    }


def arrange(api, **result_overrides: object) -> tuple:
    instructor = api.create_user("instructor")
    student = api.create_user("student")
    assignment = api.create_assignment(instructor, rubric=[], tests=TESTS)
    api.enrol(assignment, student)
    submission = api.submit(student, assignment["id"], "print(input())\n")
    api.post_result(submission["id"], **result_with_tests(**result_overrides))
    return instructor, student, assignment, submission


def test_student_sees_the_test_table_with_hidden_tests_as_a_verdict_only(ui_backend, open_browser) -> None:
    api = ui_backend
    _instructor, student, assignment, submission = arrange(api)
    browser = open_browser(api.url)
    page = browser.page
    browser.login(student)

    # Before submitting: the visible tests with their input and expected output, the hidden one by name only.
    browser.goto(f"#/assignments/{assignment['id']}")
    listing = page.locator(".assignment-tests")
    expect(listing.locator("li")).to_have_count(3)
    expect(listing.locator("li").nth(1)).to_contain_text("Hidden test")
    expect(listing.locator("li").nth(1)).to_contain_text("3 points")
    assert HIDDEN_STDIN not in page.content()

    browser.goto(f"#/submissions/{submission['id']}")
    table = page.locator("table.tests")
    expect(table).to_be_visible()
    expect(page.get_by_test_id("tests-summary")).to_have_text("1 of 3 passed · 3 / 6 points")
    rows = table.locator("tr.test-row")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("n = 3")
    expect(rows.nth(0)).to_contain_text("Wrong output")
    expect(rows.nth(0)).to_contain_text("0 / 2")
    expect(rows.nth(0)).to_contain_text("17 ms")
    hidden = rows.nth(1)
    expect(hidden).to_contain_text("Hidden test")
    expect(hidden).to_contain_text("Passed")
    expect(hidden).to_contain_text("3 / 3")
    expect(hidden.get_by_role("button")).to_have_count(0)
    html = page.content()
    for secret in (HIDDEN_STDIN, HIDDEN_EXPECTED, HIDDEN_STDOUT, "hidden-stderr", "big n"):
        assert secret not in html, f"{secret} reached the student's page"

    # The first failing visible test starts open: input, expected and actual side by side, line 3 marked.
    detail = page.locator("tr.test-detail").first
    expect(detail).to_be_visible()
    expect(detail).to_contain_text("First difference at line 3")
    expect(detail.get_by_label("Input of n = 3")).to_have_text("3\n")
    expect(detail.get_by_label("Expected output of n = 3").locator("mark")).to_have_text("Fizz\n")
    expect(detail.get_by_label("Actual output of n = 3").locator("mark")).to_have_text("3\n")

    # Hostile names and outputs are text, never markup.
    rows.nth(2).get_by_role("button", name="Show output").click()
    expect(rows.nth(2)).to_contain_text(HOSTILE)
    expect(page.get_by_label(f"Error output of {HOSTILE}")).to_contain_text(HOSTILE)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src=x]").count() == 0
    browser.screenshot("student-test-table")


def test_compile_errors_show_the_compiler_output(ui_backend, open_browser) -> None:
    api = ui_backend
    failed = [outcome(t["id"], "compile_error", 0, t["points"], "") for t in TESTS]
    _instructor, student, _assignment, submission = arrange(
        api, score=0, tests=failed, compile_output="main.c:3:5: error: expected ';' before '}' token"
    )
    browser = open_browser(api.url)
    page = browser.page
    browser.login(student)
    browser.goto(f"#/submissions/{submission['id']}")
    expect(page.get_by_text("The program did not compile, so no test could run.")).to_be_visible()
    expect(page.get_by_label("Compiler output")).to_contain_text("expected ';' before '}' token")
    expect(page.locator("tr.test-row .verdict-compile_error")).to_have_count(3)
    expect(page.locator("tr.test-row").first.get_by_role("button")).to_have_count(0)


def test_staff_see_every_tests_full_output(ui_backend, open_browser) -> None:
    api = ui_backend
    instructor, _student, _assignment, submission = arrange(api)
    browser = open_browser(api.url)
    page = browser.page
    browser.login(instructor)
    browser.goto(f"#/submissions/{submission['id']}")
    hidden = page.locator("tr.test-row").nth(1)
    expect(hidden).to_contain_text("big n")
    expect(hidden).to_contain_text("hidden")
    hidden.get_by_role("button", name="Show output").click()
    expect(page.get_by_label("Input of big n")).to_have_text(HIDDEN_STDIN)
    expect(page.get_by_label("Expected output of big n")).to_have_text(HIDDEN_EXPECTED)
    expect(page.get_by_label("Actual output of big n")).to_have_text(HIDDEN_STDOUT)
    expect(page.get_by_label("Error output of big n")).to_have_text("hidden-stderr")
    browser.screenshot("staff-test-table")


def test_instructor_builds_tests_and_runs_the_reference_solution_before_publishing(ui_backend, open_browser) -> None:
    api = ui_backend
    instructor = api.create_user("instructor")
    api.course_of(instructor)  # assignments are made in a course
    browser = open_browser(api.url)
    page = browser.page
    browser.login(instructor)
    page.get_by_role("link", name="New assignment").first.click()
    page.get_by_label("Title", exact=True).first.fill("Echo")
    page.get_by_role("button", name="Remove criterion 1").click()
    expect(page.locator(".rubric-editor .rubric-row:not(.test-row)")).to_have_count(0)

    page.get_by_role("button", name="Add test").click()
    first = page.locator(".test-row").nth(0)
    expect(first.get_by_label("Test name")).to_be_focused()
    first.get_by_label("Test name").fill("Say hi")
    first.get_by_label("Input (stdin)").fill("hi\n")
    first.get_by_label("Expected output").fill("hi\n")
    first.get_by_label("Points", exact=True).fill("2")
    page.get_by_role("button", name="Add test").click()
    second = page.locator(".test-row").nth(1)
    second.get_by_label("Test name").fill("Numbers")
    second.get_by_label("Input (stdin)").fill("0.1\n")
    second.get_by_label("Expected output").fill("0.1000001\n")
    second.get_by_label("Points", exact=True).fill("3")
    second.get_by_label("Compare output").select_option("float")
    expect(second.get_by_label("Tolerance")).to_be_visible()
    second.get_by_label("Hidden from students").check()
    second.get_by_role("button", name="Move up test 2").click()
    expect(page.locator(".test-row").nth(0).get_by_label("Test name")).to_have_value("Numbers")
    expect(page.locator("output.total")).to_have_text("Max score: 5")
    page.locator("fieldset.limits").get_by_label("Time limit (seconds)").fill("1.5")
    page.locator("textarea[name=reference_code]").fill("print(input())\n")
    browser.screenshot("instructor-tests-editor")

    # The run creates the (unpublished) assignment, grades the reference solution, and shows the verdicts here.
    page.get_by_role("button", name="Run against the reference solution").click()
    expect(page).to_have_url(re.compile(r"#/assignments/[0-9a-f]{24}/edit$"))
    assignment_id = re.search(r"#/assignments/([0-9a-f]{24})/edit$", page.url).group(1)
    stored = api.http.get(f"/api/assignments/{assignment_id}", headers=instructor.headers).json()
    assert stored["published"] is False
    assert stored["rubric"] == []
    assert [(t["id"], t["name"], t["hidden"], t["compare"], t["points"]) for t in stored["tests"]] == [
        ("t-numbers", "Numbers", True, "float", 3),
        ("t-say-hi", "Say hi", False, "trim", 2),
    ]
    assert stored["limits"]["time_seconds"] == 1.5
    assert stored["max_score"] == 5
    assert stored["reference_solution"] == {"language": "python", "code": "print(input())\n"}

    runs = wait_for_runs(api, instructor, assignment_id)
    assert runs[0]["test_run"] is True
    api.post_status(runs[0]["id"], "running")
    api.post_result(
        runs[0]["id"],
        status="graded",
        score=2,
        max_score=5,
        fail_tags=[],
        feedback="1 of 2 tests passed.",
        metrics={},
        grader="tests",
        tests=[outcome("t-numbers", "wrong_output", 0, 3, "0.2\n"), outcome("t-say-hi", "passed", 2, 2, "hi\n")],
    )
    panel = page.locator(".reference-run")
    expect(panel).to_contain_text("The reference solution fails 1 of 2 tests", timeout=20_000)
    expect(panel.locator("tr.test-row").nth(0)).to_contain_text("Wrong output")
    expect(panel.get_by_label("Actual output of Numbers")).to_have_text("0.2\n")
    expect(panel).not_to_contain_text("null")
    browser.screenshot("instructor-reference-run")

    # Not counted: the students' submission list and the grades stay empty.
    grades = api.http.get(f"/api/assignments/{assignment_id}/grades", headers=instructor.headers).json()
    assert grades["items"] == []

    # Opened again later, the editor shows the latest reference run.
    page.reload()
    panel = page.locator(".reference-run")
    expect(panel).to_contain_text("Latest reference run")
    expect(panel).to_contain_text("The reference solution fails 1 of 2 tests")
    expect(page.locator("li.test-row")).to_have_count(2)
    expect(page.locator("output.total")).to_have_text("Max score: 5")


def wait_for_runs(api, instructor, assignment_id: str) -> list:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        params = {"assignment_id": assignment_id, "test_runs": "true"}
        items = api.http.get("/api/submissions", params=params, headers=instructor.headers).json()["items"]
        if items:
            return items
        time.sleep(0.1)
    raise AssertionError("no test run was created")


def test_editor_refuses_a_test_id_that_is_a_rubric_id(ui_backend, open_browser) -> None:
    api = ui_backend
    instructor = api.create_user("instructor")
    api.course_of(instructor)  # assignments are made in a course
    browser = open_browser(api.url)
    page = browser.page
    browser.login(instructor)
    page.get_by_role("link", name="New assignment").first.click()
    page.get_by_label("Title", exact=True).first.fill("Clash")
    criterion = page.locator(".rubric-row:not(.test-row)").nth(0)
    criterion.get_by_label("Id", exact=True).fill("style")
    criterion.get_by_label("Title", exact=True).fill("Style")
    criterion.get_by_label("Points", exact=True).fill("2")
    page.get_by_role("button", name="Add test").click()
    test = page.locator(".test-row").nth(0)
    test.get_by_label("Test id").fill("style")
    page.get_by_role("button", name="Create assignment").click()
    message = page.locator(".editor > .form-message")
    expect(message).to_contain_text('Test 1: the id "style" is also a rubric criterion\'s id.')
    expect(page.get_by_role("heading", level=1, name="New assignment")).to_be_visible()
