"""JSON log lines on stderr, one object per line.

Nothing the backend logs carries a password, a token or submitted code: call sites log ids, statuses and
sizes only, and as a second line of defence the formatter drops any extra field whose name suggests a secret.
"""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# Record attributes that are not extra fields (color_message: uvicorn's ANSI-coloured copy of msg).
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName", "color_message"}
_SECRET_WORDS = ("password", "token", "secret", "code", "authorization", "cookie")
_HANDLER_NAME = "cloudemy-json"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD_ATTRS or key.startswith("_"):
                continue
            if any(word in key.lower() for word in _SECRET_WORDS):
                continue
            entry[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["error_message"] = str(record.exc_info[1])[:500]
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str) -> None:
    """Route the root logger and uvicorn's/gunicorn's loggers through one JSON handler on stderr."""
    root = logging.getLogger()
    if not any(h.get_name() == _HANDLER_NAME for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error"):
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
    # Access lines come from the backend's own request middleware (route templates, no query strings).
    for name in ("uvicorn.access", "gunicorn.access"):
        access_logger = logging.getLogger(name)
        access_logger.handlers.clear()
        access_logger.propagate = False
        access_logger.disabled = True
