"""The one logging setup: JSON lines with the process's fields, no secret-looking field, one handler."""

import json
import logging
import sys
from collections.abc import Iterator

import pytest

from cloudemy_common.logs import HANDLER_NAME, QUIET_LIBRARIES, JsonFormatter, configure_logging


@pytest.fixture
def restored_root() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_formatter_drops_secret_looking_extra_fields() -> None:
    record = logging.makeLogRecord(
        {"msg": "hello", "levelname": "INFO", "password": "p", "X_Result_Token": "t", "code": "c", "user_id": "u"}
    )
    line = JsonFormatter().format(record)
    assert '"user_id": "u"' in line
    for dropped in ('"p"', '"t"', '"c"'):
        assert dropped not in line


def test_a_line_is_one_json_object_with_the_fixed_fields_and_the_error() -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed %s", ("once",), exc_info=sys.exc_info(), extra={"attempt": 2}
        )
    entry = json.loads(JsonFormatter({"submission_id": "abc"}).format(record))
    assert entry["msg"] == "failed once"
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "x"
    assert entry["submission_id"] == "abc"
    assert entry["attempt"] == 2
    assert entry["error"] == "ValueError"
    assert entry["error_message"] == "bad value"


def test_configuring_twice_keeps_one_handler_with_the_new_fields(restored_root: logging.Logger) -> None:
    configure_logging("debug", {"submission_id": "first"})
    configure_logging("WARNING", {"submission_id": "second"})
    ours = [h for h in restored_root.handlers if h.get_name() == HANDLER_NAME]
    assert len(ours) == 1
    formatter = ours[0].formatter
    assert isinstance(formatter, JsonFormatter)
    assert formatter.fields == {"submission_id": "second"}
    assert restored_root.level == logging.WARNING
    configure_logging("no-such-level")
    assert restored_root.level == logging.INFO


def test_libraries_that_print_request_bodies_stay_at_warning(restored_root: logging.Logger) -> None:
    configure_logging("DEBUG")
    for name in QUIET_LIBRARIES:
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
