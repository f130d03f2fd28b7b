"""Hostile programs against the real runner: each is graded by ``python -m cloudemy_runner`` as a Job runs
it, and every run must end with the right verdict, exactly one result, no secret or hidden test data in
anything posted or logged, no process left behind, and the runner within its deadline (``grade``)."""

import shutil
from urllib.parse import urlsplit

import pytest
from sandbox_support import grade

needs_polyglot = pytest.mark.skipif(
    not all(shutil.which(p) for p in ("gcc", "g++", "javac", "java")), reason="needs gcc, g++ and a JDK"
)

DENIED = """
def attempt(action):
    try:
        action()
        return "allowed"
    except (OSError, ValueError):
        return "denied"
"""


@pytest.fixture
def hostile(store_payload, runner_env, backend, tmp_path):
    def run(code, **kwargs):
        return grade(store_payload, runner_env, backend, tmp_path, code, **kwargs)

    return run


def expect(stdout: str, stdin: str = "") -> list[dict]:
    return [{"id": "t1", "stdin": stdin, "expected_stdout": stdout}]


def test_environment_holds_path_home_and_lang_only(hostile):
    graded = hostile("import os\nprint(sorted(os.environ))\n", visible=expect("['HOME', 'LANG', 'PATH']\n"))
    assert graded.test("t1")["verdict"] == "passed"


def test_the_program_is_the_oom_killers_first_choice_not_the_runner(hostile):
    graded = hostile("print(open('/proc/self/oom_score_adj').read().strip())\n", visible=expect("1000\n"))
    assert graded.test("t1")["verdict"] == "passed"


def test_runner_and_init_environment_and_memory_are_unreadable(hostile):
    code = (
        DENIED
        + """
import os
ppid = os.getppid()
print(attempt(lambda: open(f"/proc/{ppid}/environ", "rb").read()))
print(attempt(lambda: open("/proc/1/environ", "rb").read()))
print(attempt(lambda: open(f"/proc/{ppid}/mem", "rb").read(1)))
print(attempt(lambda: os.listdir(f"/proc/{ppid}/fd")))
"""
    )
    graded = hostile(code, visible=expect("denied\n" * 4))
    assert graded.test("t1")["verdict"] == "passed", graded.test("t1")


def test_no_network_to_redis_backend_metadata_or_dns(hostile, redis_url, backend):
    redis_port = urlsplit(redis_url).port
    code = (
        DENIED
        + f"""
import socket
def connect(host, port):
    socket.create_connection((host, port), timeout=1).close()
print(attempt(lambda: connect("127.0.0.1", {redis_port})))
print(attempt(lambda: connect("127.0.0.1", {backend.port})))
print(attempt(lambda: connect("169.254.169.254", 80)))
print(attempt(lambda: socket.getaddrinfo("example.com", 80)))
print(attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("10.0.0.2", 53))))
print(attempt(lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM)))
a, b = socket.socketpair()  # AF_UNIX stays usable
print("unix ok")
"""
    )
    graded = hostile(code, visible=expect("denied\n" * 6 + "unix ok\n"))
    assert graded.test("t1")["verdict"] == "passed", graded.test("t1")


def test_fork_bomb_is_contained_and_cleaned_up(hostile):
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    graded = hostile(code)
    assert graded.verdicts == ["time_limit", "time_limit"]


def test_allocating_4_gb_is_a_memory_limit(hostile):
    graded = hostile("x = bytearray(4 << 30)\nprint(len(x))\n")
    assert graded.test("t1")["verdict"] == "memory_limit"
    assert graded.test("t1")["points"] == 0


@pytest.mark.parametrize("code", ["while True:\n    pass\n", "import time\ntime.sleep(1000)\n"])
def test_endless_programs_get_time_limit(hostile, code):
    graded = hostile(code)
    assert graded.verdicts == ["time_limit", "time_limit"]
    assert all(t["time_ms"] < 3000 for t in graded.result["tests"])


def test_writing_2_gb_to_a_file_is_an_output_limit(hostile):
    code = 'chunk = "x" * (1 << 20)\nwith open("big", "w") as f:\n    for _ in range(2048):\n        f.write(chunk)\n'
    graded = hostile(code)
    assert graded.test("t1")["verdict"] == "output_limit"


def test_filling_the_disk_with_many_files_is_an_output_limit(hostile):
    code = "i = 0\nwhile True:\n    open(f'f{i}', 'w').close()\n    i += 1\n"
    # time enough to create the 10,000 entries a working directory may hold
    graded = hostile(code, visible=[{"id": "t1", "stdin": "", "expected_stdout": "", "time_limit_seconds": 5}])
    assert graded.test("t1")["verdict"] == "output_limit"


def test_writing_outside_the_working_directory_is_denied(hostile):
    code = (
        DENIED
        + """
import os
print(attempt(lambda: open("/tmp/escape", "w")))
print(attempt(lambda: open(os.path.join(os.path.dirname(__file__), "main.py"), "a")))
open("mine", "w").write("ok")
print(open("mine").read())
"""
    )
    graded = hostile(code, visible=expect("denied\ndenied\nok\n"))
    assert graded.test("t1")["verdict"] == "passed", graded.test("t1")


def test_printing_200_mb_is_an_output_limit_with_a_bounded_excerpt(hostile):
    graded = hostile('import sys\nfor _ in range(200):\n    sys.stdout.write("y" * (1 << 20))\n')
    outcome = graded.test("t1")
    assert outcome["verdict"] == "output_limit"
    assert len(outcome["stdout"].encode()) <= 4096


def test_killing_the_runner_is_refused_and_the_result_still_posted(hostile):
    code = (
        DENIED
        + """
import os, signal
ppid = os.getppid()
print(attempt(lambda: os.kill(ppid, signal.SIGKILL)))
print(attempt(lambda: os.kill(-1, signal.SIGKILL)))
print(attempt(lambda: os.killpg(os.getpgid(ppid), signal.SIGKILL)))
"""
    )
    graded = hostile(code, visible=expect("denied\ndenied\ndenied\n"))
    assert graded.test("t1")["verdict"] == "passed", graded.test("t1")


def test_setsid_and_double_fork_do_not_outlive_the_test(hostile):
    code = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1000)
    os._exit(0)
os.wait()
print("parent done")
"""
    graded = hostile(code, visible=expect("parent done\n"))
    assert graded.test("t1")["verdict"] == "passed"
    assert graded.result["metrics"]["sandbox_leftovers"] >= 1


def test_other_tests_expected_output_is_nowhere_to_be_found(hostile):
    code = """
import os, sys
seen = []
def look(path):
    try:
        with open(path, "rb") as handle:
            seen.append(handle.read(1 << 20))
    except OSError:
        pass
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    for name in ("environ", "cmdline"):
        look(f"/proc/{pid}/{name}")
for root in (".", "..", os.path.dirname(__file__), "/tmp"):
    try:
        for name in os.listdir(root):
            look(os.path.join(root, name))
    except OSError:
        pass
blob = b"".join(seen) + sys.stdin.buffer.read() + repr(dict(os.environ)).encode()
wanted = [prefix.encode() + b"-EXPECTED" for prefix in ("HIDDEN", "VISIBLE")]  # not in this file's text
print("found" if any(w in blob for w in wanted) else "nothing")
"""
    graded = hostile(code, visible=[{"id": "t1", "stdin": "", "expected_stdout": "VISIBLE-EXPECTED\n"}])
    assert graded.test("t1")["stdout"] == "nothing\n"
    assert graded.test("t1")["verdict"] == "wrong_output"


@needs_polyglot
def test_c_segfault_is_a_runtime_error_with_its_signal(hostile):
    code = "#include <stdio.h>\nint main(void) { volatile int *p = 0; *p = 1; return 0; }\n"
    graded = hostile(code, language="c")
    outcome = graded.test("t1")
    assert (outcome["verdict"], outcome["signal"]) == ("runtime_error", "SIGSEGV")


@needs_polyglot
def test_java_program_that_never_ends_gets_time_limit(hostile):
    code = "public class Main { public static void main(String[] a) { while (true) { } } }\n"
    graded = hostile(code, language="java")
    assert graded.verdicts == ["time_limit", "time_limit"]


@needs_polyglot
def test_compile_that_loops_is_stopped_and_reported_as_compile_error(hostile):
    code = """
template <int N> struct Burn {
    static constexpr long value() {
        long s = 0;
        for (long i = 0; i < 200000; ++i) for (long j = 0; j < 200000; ++j) s += i ^ j ^ N;
        return s + Burn<N - 1>::value();
    }
};
template <> struct Burn<0> { static constexpr long value() { return 0; } };
constexpr long forever = Burn<800>::value();
int main() { return forever == 42; }
"""
    graded = hostile(code, language="cpp", SANDBOX_COMPILE_SECONDS="2")
    assert graded.verdicts == ["compile_error", "compile_error"]
    assert "compile limit" in graded.result["compile_output"]
    assert graded.result["status"] == "graded"
    assert graded.result["score"] == 0
