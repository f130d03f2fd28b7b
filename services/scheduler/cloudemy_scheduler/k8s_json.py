"""Raw API answers read as plain JSON: the scheduler asks the kubernetes client for ``_preload_content=False``
responses (no model round trip, which costs far more memory and time than the dicts it reads) and parses them here,
always handing the connection back to the pool, also when the body is not JSON."""

import json
from typing import Any


def json_body(response: Any) -> dict[str, Any]:
    """The response's body parsed as JSON; the connection is released whatever happens."""
    try:
        return json.loads(response.data)
    finally:
        response.release_conn()
