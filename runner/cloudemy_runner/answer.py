"""Parse and validate a model's answer; the same rules whether it came in json_schema or JSON mode.

An answer is usable when it is one JSON object whose ``criteria`` is a list. Criterion entries that
are not objects with an ``id`` and a numeric ``score`` are dropped (so their criterion counts as
missing); everything else is lenient, because the runner re-checks every value in scoring.
"""

import json
import math
import re
from dataclasses import dataclass
from typing import Any

FENCED_JSON = re.compile(r"^```(?:json)?\s*\n(?P<body>.*)\n```\s*$", re.DOTALL)


class InvalidAnswer(ValueError):
    """The model's content is not a usable grading answer (the message never quotes it)."""


@dataclass(frozen=True)
class CriterionAnswer:
    id: str
    score: float
    status: str
    evidence: str
    feedback: str


@dataclass(frozen=True)
class ModelAnswer:
    criteria: tuple[CriterionAnswer, ...]
    fail_tags: tuple[str, ...]
    feedback: str
    injection_suspected: bool
    confidence: float | None


def parse_answer(content: str | None) -> ModelAnswer:
    if not content or not content.strip():
        raise InvalidAnswer("empty answer")
    text = content.strip()
    fenced = FENCED_JSON.match(text)
    if fenced:
        text = fenced.group("body")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidAnswer("answer is not valid JSON") from exc
    if not isinstance(data, dict):
        raise InvalidAnswer("answer is not a JSON object")
    raw_criteria = data.get("criteria")
    if not isinstance(raw_criteria, list):
        raise InvalidAnswer("answer has no criteria list")
    criteria = tuple(c for c in (_criterion(item) for item in raw_criteria) if c is not None)
    raw_tags = data.get("fail_tags")
    fail_tags = tuple(t for t in raw_tags if isinstance(t, str)) if isinstance(raw_tags, list) else ()
    return ModelAnswer(
        criteria=criteria,
        fail_tags=fail_tags,
        feedback=_text(data.get("feedback")),
        injection_suspected=_flag(data.get("injection_suspected")),
        confidence=_confidence(data.get("confidence")),
    )


def _criterion(item: Any) -> CriterionAnswer | None:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        return None
    score = _number(item.get("score"))
    if score is None:
        return None
    return CriterionAnswer(
        id=item["id"],
        score=score,
        status=_text(item.get("status")),
        evidence=_text(item.get("evidence")),
        feedback=_text(item.get("feedback")),
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _text(value: Any) -> str:
    """A string field; lone surrogates (a JSON ``\\ud800`` escape) become "?" so that the result stays
    valid Unicode, which the backend requires."""
    if not isinstance(value, str):
        return ""
    return value.encode("utf-8", "replace").decode("utf-8")


def _flag(value: Any) -> bool:
    """True for true and "true"; anything unclear about injection errs on the side of review."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() not in {"", "false", "no", "0"}
    return value is not None and bool(value)


def _confidence(value: Any) -> float | None:
    number = _number(value)
    if number is None or math.isnan(number):
        return None
    return min(max(number, 0.0), 1.0)
