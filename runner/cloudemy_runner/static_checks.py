"""Static checks that read a submission without ever executing it.

Their findings go to the LLM as trusted context and to the result as fail tags. Python gets a
syntax check with ``ast.parse`` (parsing builds a tree; nothing in the code runs). Other languages
have no checks yet.
"""

import ast
import warnings
from dataclasses import dataclass, field

SYNTAX_ERROR_TAG = "syntax-error"
MAX_MESSAGE_CHARS = 200


@dataclass(frozen=True)
class Finding:
    """One problem a static check found; ``line`` is 1-based, None when unknown."""

    check: str
    message: str
    line: int | None = None

    def describe(self) -> str:
        where = f" on line {self.line}" if self.line is not None else ""
        return f"{self.check} failed{where}: {self.message}"


@dataclass(frozen=True)
class StaticFindings:
    """What the static checks of one submission found."""

    checks_run: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    fail_tags: tuple[str, ...] = field(default=())

    def summary_lines(self) -> list[str]:
        """Human-readable lines for the prompt and the feedback."""
        if not self.checks_run:
            return ["No static checks are available for this language."]
        failed = {f.check for f in self.findings}
        lines = [f"{check}: passed." for check in self.checks_run if check not in failed]
        lines += [finding.describe() for finding in self.findings]
        return lines


def python_syntax(code: str) -> StaticFindings:
    """Parse Python source; report the first syntax error's line and message."""
    check = "Python syntax check"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings about the student's code are not ours to print
            ast.parse(code, filename="<submission>", mode="exec")
    except SyntaxError as exc:
        message = (exc.msg or "invalid syntax")[:MAX_MESSAGE_CHARS]
        finding = Finding(check=check, message=message, line=exc.lineno)
        return StaticFindings(checks_run=(check,), findings=(finding,), fail_tags=(SYNTAX_ERROR_TAG,))
    except (ValueError, RecursionError, MemoryError) as exc:
        # NUL bytes (ValueError) or absurd nesting: the parser gives up, which is a finding too.
        finding = Finding(check=check, message=f"the parser rejected the source ({type(exc).__name__})")
        return StaticFindings(checks_run=(check,), findings=(finding,), fail_tags=(SYNTAX_ERROR_TAG,))
    return StaticFindings(checks_run=(check,))


def run_static_checks(language: str, code: str) -> StaticFindings:
    if language == "python":
        return python_syntax(code)
    return StaticFindings()
