"""Logging to stderr as ``key=value`` events. Logs never carry code, keys or tokens."""

import logging
import sys

QUIET_LIBRARIES = ("openai", "httpx", "httpx2", "httpcore", "httpcore2", "urllib3", "redis")


def setup_logging(level: str, submission_id: str = "-") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s %(name)s submission={submission_id} %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.getLevelNamesMapping().get(level.upper(), logging.INFO))
    for name in QUIET_LIBRARIES:
        # Library DEBUG logs print request bodies and headers (the code, the key): never below WARNING.
        logging.getLogger(name).setLevel(logging.WARNING)
