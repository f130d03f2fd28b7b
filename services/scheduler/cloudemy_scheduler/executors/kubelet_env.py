"""A container's environment as the kubelet computes it, for processes that stand in for a pod on this machine
(the local executor's runners, and the end-to-end harness's fake kubelet).

Entries are taken in order: a ``value`` has its ``$(VAR)`` references to earlier variables expanded (``$$`` is a
literal dollar; a reference to an undefined variable stays as written), a ``secretKeyRef`` is looked up by Secret
name and key, a ``fieldRef`` by its field path. A missing optional key leaves the variable out; a missing required
one is an error in ``strict`` mode (the harness: a wrong key in the chart must fail) and an empty value otherwise.
"""

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

SecretLookup = Callable[[str, str], str | None]
"""(Secret name, key) -> the value, or None when that Secret has no such key."""

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(value: str, defined: Mapping[str, str]) -> str:
    """Kubernetes' dependent variables: ``$(VAR)`` becomes VAR's value when VAR was defined earlier,
    ``$$`` escapes a dollar, and a reference to an undefined variable stays as written."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return defined.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, value)


def resolve_env(
    container: Mapping[str, Any],
    secret: SecretLookup,
    *,
    fields: Mapping[str, str] | None = None,
    strict: bool = False,
) -> dict[str, str]:
    """The env of ``container`` as the kubelet would give it (see the module's docstring)."""
    resolved: dict[str, str] = {}
    for entry in container.get("env") or []:
        name = entry["name"]
        if "valueFrom" not in entry:
            resolved[name] = expand(str(entry.get("value") or ""), resolved)
            continue
        source = entry.get("valueFrom") or {}
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            value = secret(ref.get("name", ""), ref.get("key", ""))
            if value is not None:
                resolved[name] = value
            elif ref.get("optional"):
                continue
            elif strict:
                raise LookupError(f"Secret {ref.get('name')!r} has no key {ref.get('key')!r} (env {name})")
            else:
                log.info("secret key %s is not set; %s is empty", ref.get("key"), name)
                resolved[name] = ""
        elif "fieldRef" in source and fields is not None and source["fieldRef"].get("fieldPath") in fields:
            resolved[name] = fields[source["fieldRef"]["fieldPath"]]
        elif strict:
            raise LookupError(f"env {name} uses a source this resolver does not support: {sorted(source)}")
        else:
            log.warning("env %s uses an unsupported valueFrom; left out", name)
    return resolved
