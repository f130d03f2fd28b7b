"""Runner images per language through the rendered chart: each Job runs the image that carries its language's
toolchain, and a language the assignment allows but no image serves ends at once as a clear error, never as a
Job that waits or cannot grade."""

from cloudemy_common.jobs import job_name
from e2e.conftest import RUBRIC, Campus, open_campus

JAVA = "public class Main { public static void main(String[] a) { System.out.println(1); } }\n"


def java_assignment(campus: Campus) -> str:
    resp = campus.http.post(
        f"/api/courses/{campus.course_id}/assignments",
        json={"title": "Print one", "languages": ["python", "java"], "rubric": RUBRIC, "published": True},
        headers=campus.instructor,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def submit(campus: Campus, assignment_id: str, student: dict[str, str], language: str, code: str) -> str:
    resp = campus.http.post(
        f"/api/assignments/{assignment_id}/submissions", json={"language": language, "code": code}, headers=student
    )
    assert resp.status_code == 202, resp.text
    return resp.json()["id"]


def test_a_language_no_image_serves_is_an_error_without_a_job(campus: Campus) -> None:
    """The default chart serves Python only."""
    assignment_id = java_assignment(campus)
    student = campus.register_student("jo")
    java = submit(campus, assignment_id, student, "java", JAVA)
    python = submit(campus, assignment_id, student, "python", "print(1)\n")
    done = campus.wait([java, python])
    assert done[java]["status"] == "error"
    assert done[java]["result"]["fail_tags"] == ["language-unavailable"]
    assert "java" in done[java]["result"]["feedback"]
    assert done[python]["status"] == "graded"
    assert campus.platform.k8s.created_names() == [job_name(python)], "no Job for the Java submission"
    seen = campus.get(java, student)
    assert seen["result"]["fail_tags"] == ["language-unavailable"], "the student is told why"


def test_each_job_runs_the_image_of_its_language(make_platform) -> None:
    campus = open_campus(make_platform(set_strings=("runner.languages.java.image.tag=9.9-polyglot",)))
    try:
        assignment_id = java_assignment(campus)
        student = campus.register_student("kim")
        java = submit(campus, assignment_id, student, "java", JAVA)
        python = submit(campus, assignment_id, student, "python", "print(1)\n")
        campus.wait([java, python], timeout=120)
        images = {
            name: campus.platform.k8s.get_job(name, campus.platform.namespace)["spec"]["template"]["spec"][
                "containers"
            ][0]["image"]
            for name in (job_name(java), job_name(python))
        }
        assert images[job_name(java)].endswith(":9.9-polyglot")
        assert not images[job_name(python)].endswith("-polyglot")
        assert images[job_name(java)].rsplit(":", 1)[0] == images[job_name(python)].rsplit(":", 1)[0]
    finally:
        campus.http.close()
