"""Create the release's generated credentials once, and never change them afterwards.

The chart runs this as a pre-install / pre-upgrade hook Job (in the scheduler image, which ships the `kubernetes`
client). It makes sure the Secret SECRET_NAME holds every key of SECRET_KEYS:

- a key already present is left alone, whatever its value: a running MongoDB or Redis keeps its password;
- a missing key is copied from SOURCE_SECRET_NAME when that Secret holds it (the release's own Secret, where
  earlier chart versions kept generated values and where an explicitly set value lived before it was unset),
  else it gets a new random value of 32 letters and digits (URL-safe, so it fits inside a connection URL).

Writes are optimistic (create, or a patch carrying the resourceVersion that was read): when two hooks race, the
loser re-reads and finds the keys already there. No value is ever printed.

Environment: SECRET_NAME, SECRET_KEYS (comma-separated), SOURCE_SECRET_NAME (optional), SECRET_LABELS and
SECRET_ANNOTATIONS (JSON objects, optional), POD_NAMESPACE (else the service account's namespace file).
"""

import base64
import json
import os
import secrets
import string
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
ALPHABET = string.ascii_letters + string.digits
VALUE_LENGTH = 32
ATTEMPTS = 5


class SecretsApi(Protocol):
    """The three calls of kubernetes.client.CoreV1Api this script makes."""

    def read_namespaced_secret(self, name: str, namespace: str) -> Any: ...

    def create_namespaced_secret(self, namespace: str, body: dict[str, Any]) -> Any: ...

    def patch_namespaced_secret(self, name: str, namespace: str, body: dict[str, Any]) -> Any: ...


class ConflictError(Exception):
    """Another writer changed the Secret between our read and our write."""


def random_value() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(VALUE_LENGTH))


def _status(error: Exception) -> int | None:
    return getattr(error, "status", None)


def read_data(api: SecretsApi, name: str, namespace: str) -> tuple[dict[str, str], str] | None:
    """The decoded data and resourceVersion of a Secret, or None when it does not exist."""
    try:
        secret = api.read_namespaced_secret(name, namespace)
    except Exception as error:
        if _status(error) == 404:
            return None
        raise
    data = secret.data or {}
    decoded = {key: base64.b64decode(value).decode() for key, value in data.items() if value is not None}
    return decoded, secret.metadata.resource_version


def _encoded(values: Mapping[str, str]) -> dict[str, str]:
    return {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}


def ensure_secret(
    api: SecretsApi,
    namespace: str,
    name: str,
    keys: list[str],
    *,
    source: str = "",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    generate: Callable[[], str] = random_value,
) -> dict[str, str]:
    """Add the missing keys to the Secret; returns where each added key came from ("copied" or "generated")."""
    for _ in range(ATTEMPTS):
        current = read_data(api, name, namespace)
        present = current[0] if current else {}
        missing = [key for key in keys if not present.get(key)]
        if not missing:
            return {}
        carried = (read_data(api, source, namespace) or ({}, ""))[0] if source else {}
        added = {key: carried.get(key) or generate() for key in missing}
        origin = {key: "copied" if carried.get(key) else "generated" for key in missing}
        try:
            if current is None:
                _create(api, namespace, name, added, labels or {}, annotations or {})
            else:
                _patch(api, namespace, name, added, current[1])
        except ConflictError:
            continue
        return origin
    raise RuntimeError(f"Secret {namespace}/{name} kept changing under us ({ATTEMPTS} attempts)")


def _create(
    api: SecretsApi,
    namespace: str,
    name: str,
    values: Mapping[str, str],
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels), "annotations": dict(annotations)},
        "type": "Opaque",
        "data": _encoded(values),
    }
    try:
        api.create_namespaced_secret(namespace, body)
    except Exception as error:
        if _status(error) == 409:
            raise ConflictError from error
        raise


def _patch(api: SecretsApi, namespace: str, name: str, values: Mapping[str, str], resource_version: str) -> None:
    # A merge patch only adds the listed keys; the resourceVersion makes the API refuse it (409) if the Secret
    # changed since it was read, so a concurrent writer's value is never overwritten.
    body = {"metadata": {"resourceVersion": resource_version}, "data": _encoded(values)}
    try:
        api.patch_namespaced_secret(name, namespace, body)
    except Exception as error:
        if _status(error) == 409:
            raise ConflictError from error
        raise


def _json_env(name: str) -> dict[str, str]:
    raw = os.environ.get(name, "").strip()
    return dict(json.loads(raw)) if raw else {}


def main() -> int:
    from kubernetes import client, config  # only the Job needs the client, not the tests

    config.load_incluster_config()
    namespace = os.environ.get("POD_NAMESPACE") or NAMESPACE_FILE.read_text().strip()
    name = os.environ["SECRET_NAME"]
    keys = [key.strip() for key in os.environ.get("SECRET_KEYS", "").split(",") if key.strip()]
    added = ensure_secret(
        client.CoreV1Api(),
        namespace,
        name,
        keys,
        source=os.environ.get("SOURCE_SECRET_NAME", ""),
        labels=_json_env("SECRET_LABELS"),
        annotations=_json_env("SECRET_ANNOTATIONS"),
    )
    if added:
        for key, origin in sorted(added.items()):
            print(f"Secret {namespace}/{name}: {key} {origin}")
    else:
        print(f"Secret {namespace}/{name}: every key present ({', '.join(keys) or 'none wanted'}), nothing changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
