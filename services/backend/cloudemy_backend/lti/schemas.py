"""Request and response bodies of the LTI routes."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from cloudemy_common.models import ObjectIdStr


def _https_url(value: str) -> str:
    """Platform URLs must be https (http only for loopback, which is how tests and local demos run)."""
    lowered = value.lower()
    loopback = lowered.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))
    if not (lowered.startswith("https://") or loopback):
        raise ValueError("must be an https:// URL")
    if any(c.isspace() for c in value) or "\x00" in value:
        raise ValueError("must not contain whitespace")
    return value


Url = Annotated[str, StringConstraints(min_length=8, max_length=2000), AfterValidator(_https_url)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f]+$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlatformIn(_Body):
    issuer: Url
    client_id: Text
    auth_login_url: Url
    auth_token_url: Url
    key_set_url: Url
    deployment_ids: Annotated[list[Text], Field(min_length=1, max_length=100)]
    name: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f]*$")] = ""


class PlatformPatch(_Body):
    issuer: Url | None = None
    client_id: Text | None = None
    auth_login_url: Url | None = None
    auth_token_url: Url | None = None
    key_set_url: Url | None = None
    deployment_ids: Annotated[list[Text], Field(min_length=1, max_length=100)] | None = None
    name: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f]*$")] | None = None


class PlatformOut(BaseModel):
    id: str
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    deployment_ids: list[str]
    name: str
    created_at: datetime
    updated_at: datetime
    tool: dict[str, str] = Field(description="the URLs to enter in the LMS for this registration")


def platform_out(doc: dict[str, Any], tool: dict[str, str]) -> PlatformOut:
    return PlatformOut(
        id=str(doc["_id"]),
        issuer=doc["issuer"],
        client_id=doc["client_id"],
        auth_login_url=doc["auth_login_url"],
        auth_token_url=doc["auth_token_url"],
        key_set_url=doc["key_set_url"],
        deployment_ids=list(doc.get("deployment_ids", [])),
        name=doc.get("name", ""),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        tool=tool,
    )


class LtiCodeIn(_Body):
    code: Annotated[str, StringConstraints(min_length=10, max_length=100)]


class DeepLinkIn(_Body):
    deep_link_id: ObjectIdStr
    assignment_id: ObjectIdStr


class DeepLinkOut(BaseModel):
    return_url: str
    jwt: str = Field(description="post it as the form field JWT to return_url")


class RosterSyncOut(BaseModel):
    added: int
    removed: int
    role_changed: int
    unchanged: int
    skipped: list[str] = Field(description="members that could not be removed (the course's last instructor)")


class ScoreSyncOut(BaseModel):
    state: str = Field(description="pending, posting, retrying, synced, failed, unreleased, not-linked, no-line-item")
    attempts: int = 0
    last_error: str | None = None
    synced_at: datetime | None = None
    score: float | None = None
