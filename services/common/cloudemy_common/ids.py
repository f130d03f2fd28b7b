"""The one ObjectId pattern: every submission, user and assignment id is a MongoDB ObjectId, spelled as its
24 lowercase hex characters wherever it travels (URLs, queue messages, payload hashes, Job names, tokens)."""

import re

OBJECT_ID_HEX = "[0-9a-f]{24}"
"""The pattern without anchors, for patterns that embed an id (runner Job names)."""
OBJECT_ID_PATTERN = rf"^{OBJECT_ID_HEX}$"
_OBJECT_ID = re.compile(OBJECT_ID_PATTERN)


def is_object_id(value: str) -> bool:
    """Whether ``value`` spells an ObjectId (``models.ObjectIdStr`` validates the same pattern)."""
    return _OBJECT_ID.fullmatch(value) is not None
