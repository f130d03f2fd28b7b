"""`make demo`: run the whole platform locally until Ctrl-C or SIGTERM, then stop every process it started."""

import signal
import sys
import time
from types import FrameType

from demo.platform import LocalPlatform, PlatformConfig


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def main() -> int:
    cfg = PlatformConfig.from_env()
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    platform = LocalPlatform(cfg)
    try:
        print("Starting Cloudemy: Redis, backend (in-memory store), scheduler (local executor)...", flush=True)
        platform.start()
        platform.seed()
        print(banner(platform), flush=True)
        while True:
            problem = platform.check_alive()
            if problem:
                print(f"\nA process stopped unexpectedly; shutting down.\n{problem}", file=sys.stderr, flush=True)
                return 1
            time.sleep(1)
    except _Stop as stop:
        print(f"\nReceived {stop}; stopping every process...", flush=True)
        return 0
    except Exception as exc:  # a start-up failure: say what failed, not a traceback
        print(f"\nThe demo could not start: {exc}", file=sys.stderr, flush=True)
        for proc in (platform.backend, platform.scheduler):
            if proc is not None:
                print(f"--- last lines of {proc.log_path} ---\n{proc.log_tail()}", file=sys.stderr, flush=True)
        return 1
    finally:
        platform.stop()
        print(f"Stopped. Logs are in {platform.workdir}", flush=True)


def banner(platform: LocalPlatform) -> str:
    grader = (
        f"LLM {platform.cfg.llm_env.get('LLM_MODEL', 'gpt-4o-mini')} at "
        f"{platform.cfg.llm_env.get('LLM_BASE_URL', 'https://api.openai.com/v1')}"
        if platform.cfg.llm_configured
        else "the sample's tests (no LLM configured: tests-only assignments are graded; a rubric waits for an "
        "instructor as needs_review)"
    )
    lines = [
        "",
        "Cloudemy is running.",
        f"  Web UI:   {platform.url}/",
        f"  API docs: {platform.url}/docs",
        f"  Grading:  {grader}",
        f"  Sample assignment: {platform.assignment.get('title')} (id {platform.assignment.get('id')})",
        "  Accounts (this run only; the store is in memory):",
    ]
    for role, account in platform.accounts.items():
        lines.append(f"    {role:<11} {account.email:<28} password: {account.password}")
    for code, course in platform.courses.items():
        lines.append(f"  Course {code}: {course['title']} (join code {course['join_code']})")
    lines += [f"  Logs:     {platform.workdir}", "Press Ctrl-C to stop."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
