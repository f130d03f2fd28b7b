"""Self-consistency: several samples of the model's grade, one grade from them.

With ``LLM_SAMPLES`` > 1 the runner asks for that many answers (the Chat Completions ``n`` parameter: one prompt,
billed once for its input; a server that ignores ``n`` gets separate requests). Each criterion's score is the
median of its samples; the feedback, evidence and statuses come from the sample whose total is closest to the
median total. When a criterion's samples spread over more than ``LLM_MAX_SPREAD`` of its points, the models
disagree with themselves: the result goes to an instructor (``needs_review``, fail tag ``low-agreement``).
"""

import statistics
from dataclasses import dataclass, replace

from cloudemy_runner.answer import CriterionAnswer, ModelAnswer


@dataclass(frozen=True)
class Consensus:
    answer: ModelAnswer
    samples: int
    max_spread: float
    """The largest (max - min) / points over the criteria, 0 with one sample."""


def combine(answers: list[ModelAnswer], points: dict[str, float]) -> Consensus:
    """One answer from ``answers`` (at least one); ``points`` are the rubric's, by criterion id."""
    if len(answers) == 1:
        return Consensus(answers[0], 1, 0.0)
    medians: dict[str, float] = {}
    spread = 0.0
    for criterion_id, maximum in points.items():
        scores = [c.score for a in answers for c in a.criteria if c.id == criterion_id]
        if not scores:
            continue
        medians[criterion_id] = float(statistics.median(scores))
        if maximum > 0:
            spread = max(spread, (max(scores) - min(scores)) / maximum)
    median_total = sum(medians.values())
    closest = min(answers, key=lambda a: abs(sum(c.score for c in a.criteria if c.id in medians) - median_total))
    criteria: list[CriterionAnswer] = []
    for criterion in closest.criteria:
        if criterion.id in medians:
            criteria.append(replace(criterion, score=medians[criterion.id]))
        else:
            criteria.append(criterion)
    present = {c.id for c in criteria}
    for answer in answers:  # a criterion the representative sample left out, when others graded it
        for criterion in answer.criteria:
            if criterion.id in medians and criterion.id not in present:
                criteria.append(replace(criterion, score=medians[criterion.id]))
                present.add(criterion.id)
    confidences = [a.confidence for a in answers if a.confidence is not None]
    combined = replace(
        closest,
        criteria=tuple(criteria),
        injection_suspected=any(a.injection_suspected for a in answers),
        confidence=float(statistics.median(confidences)) if confidences else None,
    )
    return Consensus(combined, len(answers), round(spread, 4))
