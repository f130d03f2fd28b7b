"""One logging setup for every Cloudemy process: JSON lines on stderr, one object per line.

Each line holds ``ts``, ``level``, ``logger`` and ``msg``, the process's fixed fields (the runner adds its
``submission_id``), and the record's ``extra`` fields. Nothing logged carries a password, a token or submitted
code: call sites log ids, statuses and sizes only, and as a second line of defence the formatter drops any
extra field whose name suggests a secret and keeps the libraries that print request bodies at WARNING.
"""

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# Record attributes that are not extra fields (color_message: uvicorn's ANSI-coloured copy of msg).
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName", "color_message"}
SECRET_WORDS = ("password", "token", "secret", "code", "authorization", "cookie")
HANDLER_NAME = "cloudemy-json"
QUIET_LIBRARIES = ("openai", "httpx", "httpx2", "httpcore", "httpcore2", "urllib3", "redis", "pymongo", "kubernetes")
"""Their DEBUG logs print request bodies and headers (the code, a key): never below WARNING."""


class JsonFormatter(logging.Formatter):
    """A record as one JSON object; ``fields`` are added to every line."""

    def __init__(self, fields: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.fields = dict(fields or {})

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **self.fields,
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD_ATTRS or key.startswith("_"):
                continue
            if any(word in key.lower() for word in SECRET_WORDS):
                continue
            entry[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["error_message"] = str(record.exc_info[1])[:500]
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fields: Mapping[str, str] | None = None) -> None:
    """Route the root logger through one JSON handler on stderr at ``level`` (a name; unknown means INFO).

    Calling it again replaces the fields and the level, never adds a second handler.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.get_name() == HANDLER_NAME), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name(HANDLER_NAME)
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter(fields))
    root.setLevel(logging.getLevelNamesMapping().get(level.upper(), logging.INFO))
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
