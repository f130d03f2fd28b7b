"""Fail tags the runner knows besides an assignment's own list.

A result's fail tags are limited to the assignment's ``fail_tags`` plus this small built-in set.
The model may choose from the assignment's list and ``MODEL_TAGS``; the runner alone sets
``RUNNER_TAGS`` (a model answer carrying one of them has it dropped).
"""

from cloudemy_runner.static_checks import SYNTAX_ERROR_TAG

INCOMPLETE_SOLUTION = "incomplete-solution"
OFF_TOPIC = "off-topic"

INCOMPLETE_GRADING = "incomplete-grading"
LOW_AGREEMENT = "low-agreement"
POSSIBLE_PROMPT_INJECTION = "possible-prompt-injection"
PAYLOAD_MISSING = "payload-missing"
PAYLOAD_INVALID = "payload-invalid"
PAYLOAD_UNAVAILABLE = "payload-unavailable"
LLM_UNAVAILABLE = "llm-unavailable"
INTERNAL_ERROR = "internal-error"
LANGUAGE_UNAVAILABLE = "language-unavailable"
SANDBOX_ERROR = "sandbox-error"
STARTED_LATE = "started-late"
"""The cluster started this runner so late that its grading time ran out: an ``error``, never a ``timeout``."""

MODEL_TAGS: tuple[str, ...] = (SYNTAX_ERROR_TAG, INCOMPLETE_SOLUTION, OFF_TOPIC)
"""Built-in tags the model may assign (the static checks also set ``syntax-error``)."""

RUNNER_TAGS: tuple[str, ...] = (
    INCOMPLETE_GRADING,
    POSSIBLE_PROMPT_INJECTION,
    PAYLOAD_MISSING,
    PAYLOAD_INVALID,
    PAYLOAD_UNAVAILABLE,
    LLM_UNAVAILABLE,
    INTERNAL_ERROR,
    LANGUAGE_UNAVAILABLE,
    SANDBOX_ERROR,
    STARTED_LATE,
)
"""Tags only the runner sets, each for one named failure path."""


def model_choosable(assignment_tags: list[str] | tuple[str, ...]) -> list[str]:
    """The tags offered to the model: the assignment's own, then the built-in ones it may use."""
    return unique([t for t in assignment_tags if t not in RUNNER_TAGS] + list(MODEL_TAGS))


def unique(tags: list[str] | tuple[str, ...]) -> list[str]:
    """Tags without repeats, in first-seen order."""
    return list(dict.fromkeys(tags))
