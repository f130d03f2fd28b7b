"""The LTI 1.3 message claims Cloudemy reads, and how LTI roles become course roles.

A verified id_token (see ``protocol.verify_id_token``) is parsed into a ``LaunchMessage``; every claim the tool
relies on is checked here, so the routes only see well-formed launches.
"""

from dataclasses import dataclass, field
from typing import Any

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
CLAIM_MESSAGE_TYPE = LTI + "message_type"
CLAIM_VERSION = LTI + "version"
CLAIM_DEPLOYMENT_ID = LTI + "deployment_id"
CLAIM_TARGET_LINK_URI = LTI + "target_link_uri"
CLAIM_RESOURCE_LINK = LTI + "resource_link"
CLAIM_ROLES = LTI + "roles"
CLAIM_CONTEXT = LTI + "context"
CLAIM_CUSTOM = LTI + "custom"
CLAIM_AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
CLAIM_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
CLAIM_DEEP_LINKING = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
CLAIM_DL_CONTENT_ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
CLAIM_DL_DATA = "https://purl.imsglobal.org/spec/lti-dl/claim/data"

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
DEEP_LINKING_RESPONSE = "LtiDeepLinkingResponse"
LTI_VERSION = "1.3.0"

SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
ROLE_PRECEDENCE = ("instructor", "ta", "student")


class LaunchError(Exception):
    """A launch the tool refuses; the message is shown to the user on the error page (no secrets in it)."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def course_role_of(lti_roles: list[str]) -> str | None:
    """The course role for a list of LTI role URIs: the strongest one wins; None when no role maps.

    Instructor and any Administrator role (membership, institution or system) -> instructor;
    ``membership/Instructor#TeachingAssistant`` (or the TeachingAssistant short name) -> ta; Learner -> student.
    """
    found: set[str] = set()
    for role in lti_roles:
        if not isinstance(role, str):
            continue
        if role.endswith("#TeachingAssistant") or role == "TeachingAssistant":
            found.add("ta")
        elif role.endswith(("#Instructor", "#Administrator")) or role in {"Instructor", "Administrator"}:
            found.add("instructor")
        elif role.endswith("#Learner") or role == "Learner":
            found.add("student")
    return next((r for r in ROLE_PRECEDENCE if r in found), None)


def _text(value: Any, limit: int = 500) -> str:
    return value[:limit] if isinstance(value, str) else ""


@dataclass(frozen=True)
class LaunchMessage:
    """What Cloudemy takes from a verified launch."""

    issuer: str
    client_id: str
    deployment_id: str
    message_type: str
    sub: str
    name: str
    email: str
    roles: list[str]
    context_id: str
    context_title: str
    resource_link_id: str | None
    custom: dict[str, str]
    ags: dict[str, Any] = field(default_factory=dict)
    nrps_url: str | None = None
    deep_linking: dict[str, Any] = field(default_factory=dict)

    @property
    def course_role(self) -> str | None:
        return course_role_of(self.roles)

    @classmethod
    def from_claims(cls, claims: dict[str, Any], *, client_id: str) -> "LaunchMessage":
        message_type = claims.get(CLAIM_MESSAGE_TYPE)
        if message_type not in {RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST}:
            raise LaunchError("this LTI message type is not supported")
        if claims.get(CLAIM_VERSION) != LTI_VERSION:
            raise LaunchError("only LTI 1.3.0 launches are supported")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise LaunchError("the launch names no user (sub)")
        roles = claims.get(CLAIM_ROLES)
        if not isinstance(roles, list):
            raise LaunchError("the launch has no roles claim")
        context = claims.get(CLAIM_CONTEXT)
        if not isinstance(context, dict) or not isinstance(context.get("id"), str) or not context["id"]:
            raise LaunchError("the launch has no course context; open Cloudemy from a course")
        resource_link = claims.get(CLAIM_RESOURCE_LINK)
        resource_link_id = None
        if message_type == RESOURCE_LINK_REQUEST:
            if not isinstance(resource_link, dict) or not isinstance(resource_link.get("id"), str):
                raise LaunchError("a resource link launch must name its resource link")
            resource_link_id = resource_link["id"][:255]
        deep_linking = claims.get(CLAIM_DEEP_LINKING) or {}
        if message_type == DEEP_LINKING_REQUEST and not (
            isinstance(deep_linking, dict) and isinstance(deep_linking.get("deep_link_return_url"), str)
        ):
            raise LaunchError("a deep linking request must carry deep_link_return_url")
        custom = claims.get(CLAIM_CUSTOM) or {}
        ags = claims.get(CLAIM_AGS) or {}
        nrps = claims.get(CLAIM_NRPS) or {}
        nrps_url = nrps.get("context_memberships_url") if isinstance(nrps, dict) else None
        name = _text(claims.get("name")) or " ".join(
            p for p in (_text(claims.get("given_name")), _text(claims.get("family_name"))) if p
        )
        return cls(
            issuer=str(claims["iss"]),
            client_id=client_id,
            deployment_id=str(claims.get(CLAIM_DEPLOYMENT_ID, "")),
            message_type=message_type,
            sub=sub,
            name=name or "LTI user",
            email=_text(claims.get("email"), 254),
            roles=[r for r in roles if isinstance(r, str)],
            context_id=context["id"][:255],
            context_title=_text(context.get("title"), 200) or _text(context.get("label"), 200) or "LTI course",
            resource_link_id=resource_link_id,
            custom={str(k)[:64]: str(v)[:500] for k, v in custom.items()} if isinstance(custom, dict) else {},
            ags=ags if isinstance(ags, dict) else {},
            nrps_url=nrps_url if isinstance(nrps_url, str) else None,
            deep_linking=deep_linking if isinstance(deep_linking, dict) else {},
        )
