"""An LMS on 127.0.0.1 for LTI tests, built on the ``lti1p3platform`` package (a platform-side implementation of
LTI 1.3 Advantage that nobody in this project wrote); only the HTTP glue and the gradebook dictionary are ours.

The package does the protocol work a real LMS does:

- ``initiation_url``: the OIDC third-party login initiation URL for a user (``OIDCLoginAbstract``);
- ``GET /auth``: validates the tool's authentication request and signs the id_token launch
  (``MessageLaunchAbstract.lti_launch``; deep linking via ``LTIAdvantageMessageLaunchAbstract.set_dl``);
- ``POST /token``: checks the tool's client-credentials JWT assertion against the tool's key set and issues an
  access token (``LTI1P3PlatformConfAbstract.get_access_token``);
- ``/lineitems``, ``/lineitems/<n>/scores``, ``/memberships``: check the bearer token and its scopes
  (``validate_token``) and keep line items, scores and the roster in memory;
- ``accept_deep_link``: validates the tool's ``LtiDeepLinkingResponse`` (``validate_deeplinking_resp``).

Usage::

    with FakeLtiPlatform(tool_base="http://backend.test") as lms:
        lms.set_tool_keys(jwks)                    # the tool's /lti/jwks
        lms.add_member("stud-1", "Learner", name="Ann")
        url = lms.initiation_url("stud-1", resource_link_id="rl-1", custom={"assignment_id": ...})
        lms.scores                                 # {"<lineitem id>": [score, ...]}

For a browser, ``FakeLtiPlatform(tool_base=..., host="localhost", form_post=True)`` is an LMS on another site than
a tool on 127.0.0.1 (the server still listens on 127.0.0.1 only): ``/auth`` answers the HTML page that
auto-submits ``id_token`` and ``state`` to the tool's launch URL, as a real LMS does, and ``lms.pages[path] = html``
serves a course page (an ``<iframe>`` of the initiation URL, say).
"""

import html
import json
import threading
import time
import typing as t
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.registration import Registration

from fakes.http_json import send_html, send_json

CLIENT_ID = "cloudemy-tool"
DEPLOYMENT_ID = "deployment-1"
ROLE_URIS = {
    "Instructor": "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",
    "Learner": "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",
    "TeachingAssistant": "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant",
    "Administrator": "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator",
}


def launch_form_page(form: dict[str, Any]) -> str:
    """The page an LMS answers the authentication request with: a form that posts the id_token and the state to
    the tool's launch URL as soon as it loads."""
    fields = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(str(form[name]))}">' for name in ("id_token", "state")
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Launching</title></head><body>"
        f'<form id="launch" method="post" action="{html.escape(form["launch_url"])}">{fields}</form>'
        "<script>document.getElementById('launch').submit();</script></body></html>"
    )


def _pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


class _PlatformConf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        return self._registration


class _Launch(LTIAdvantageMessageLaunchAbstract):
    def __init__(self, params: dict[str, Any], conf: LTI1P3PlatformConfAbstract) -> None:
        super().__init__(None, conf)  # type: ignore[arg-type]
        self._params = params

    def get_preflight_response(self) -> dict[str, Any]:
        return self._params

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


@dataclass
class PendingLaunch:
    """What the LMS will put in the id_token for one login (chosen when the test starts the login)."""

    user_id: str
    roles: list[str]
    name: str
    email: str
    context_id: str
    context_title: str
    resource_link_id: str | None
    custom: dict[str, str]
    deep_link: bool
    ags: bool
    nrps: bool
    extra_claims: dict[str, Any] = field(default_factory=dict)


@dataclass
class Member:
    user_id: str
    role: str
    name: str
    email: str
    status: str = "Active"


class FakeLtiPlatform:
    def __init__(
        self, *, tool_base: str, issuer: str | None = None, host: str = "127.0.0.1", form_post: bool = False
    ) -> None:
        self.tool_base = tool_base.rstrip("/")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.base_url = f"http://{host}:{self._server.server_address[1]}"
        self.form_post = form_post  # /auth answers the auto-submitting launch form (HTML), not its fields (JSON)
        self.pages: dict[str, str] = {}  # path -> HTML served on GET (the LMS's own pages)
        self.issuer = issuer or self.base_url
        self.private_pem, self.public_pem = _pem_pair()
        self.registration = (
            Registration()
            .set_iss(self.issuer)
            .set_client_id(CLIENT_ID)
            .set_deployment_id(DEPLOYMENT_ID)
            .set_oidc_login_url(f"{self.tool_base}/lti/login")
            .set_launch_url(f"{self.tool_base}/lti/launch")
            .set_deeplink_launch_url(f"{self.tool_base}/lti/launch")
            .set_platform_public_key(self.public_pem)
            .set_platform_private_key(self.private_pem)
        )
        self.conf = _PlatformConf(registration=self.registration)
        self._lock = threading.Lock()
        self._pending: dict[str, PendingLaunch] = {}
        self.line_items: dict[str, dict[str, Any]] = {}
        self.scores: dict[str, list[dict[str, Any]]] = {}
        self.members: dict[str, Member] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_next: list[int] = []  # status codes the next service calls answer (429, 500, ...)
        self.tokens_issued = 0
        self.roster_page_size = 2
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> "FakeLtiPlatform":
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeLtiPlatform":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # what a test arranges

    def registration_body(self, **overrides: Any) -> dict[str, Any]:
        """The body for ``POST /api/lti/platforms`` that registers this LMS."""
        return {
            "issuer": self.issuer,
            "client_id": CLIENT_ID,
            "auth_login_url": f"{self.base_url}/auth",
            "auth_token_url": f"{self.base_url}/token",
            "key_set_url": f"{self.base_url}/jwks",
            "deployment_ids": [DEPLOYMENT_ID],
            "name": "Fake LMS",
            **overrides,
        }

    def set_tool_keys(self, jwks: dict[str, Any]) -> None:
        self.registration.set_tool_key_set(jwks)

    def add_member(self, user_id: str, role: str, *, name: str = "", email: str = "", status: str = "Active") -> None:
        self.members[user_id] = Member(user_id, role, name or user_id, email or f"{user_id}@lms.example", status)

    def initiation_url(
        self,
        user_id: str,
        *,
        role: str | None = None,
        context_id: str = "course-101",
        context_title: str = "Programming 101",
        resource_link_id: str | None = "link-1",
        custom: dict[str, str] | None = None,
        deep_link: bool = False,
        ags: bool = True,
        nrps: bool = True,
        extra_claims: dict[str, Any] | None = None,
        deployment_id: str | None = None,
    ) -> str:
        """The URL an LMS sends the browser to (the tool's /lti/login) when this user opens the link."""
        member = self.members.get(user_id)
        role_name = role or (member.role if member else "Learner")
        hint = f"hint-{len(self._pending)}-{time.monotonic_ns()}"
        with self._lock:
            self._pending[hint] = PendingLaunch(
                user_id=user_id,
                roles=[ROLE_URIS.get(role_name, role_name)],
                name=member.name if member else user_id,
                email=member.email if member else f"{user_id}@lms.example",
                context_id=context_id,
                context_title=context_title,
                resource_link_id=None if deep_link else resource_link_id,
                custom=custom or {},
                deep_link=deep_link,
                ags=ags,
                nrps=nrps,
                extra_claims=extra_claims or {},
            )
        params = {
            "iss": self.issuer,
            "login_hint": user_id,
            "lti_message_hint": hint,
            "target_link_uri": f"{self.tool_base}/lti/launch",
            "client_id": CLIENT_ID,
            "lti_deployment_id": deployment_id or DEPLOYMENT_ID,
        }
        return f"{self.tool_base}/lti/login?{urlencode(params)}"

    def authorize(self, query: dict[str, str]) -> dict[str, Any]:
        """The platform's answer to the tool's authentication request: the auto-posted launch form's fields."""
        hint = query.get("lti_message_hint", "")
        with self._lock:
            pending = self._pending.pop(hint, None)
        if pending is None or query.get("login_hint") != pending.user_id:
            raise ValueError("unknown login")
        for required, value in (("response_type", "id_token"), ("scope", "openid"), ("response_mode", "form_post")):
            if query.get(required) != value:
                raise ValueError(f"{required} must be {value}")
        launch = _Launch(query, self.conf)
        launch.set_user_data(pending.user_id, pending.roles, full_name=pending.name, email_address=pending.email)
        launch.set_launch_context_claim(pending.context_id, context_title=pending.context_title)
        if pending.resource_link_id:
            launch.set_resource_link_claim(pending.resource_link_id, title="Cloudemy assignment")
        if pending.custom:
            launch.set_custom_parameters_claim(pending.custom)
        if pending.ags:
            launch.set_ags(f"{self.base_url}/lineitems", None, allow_creating_lineitems=True)
        if pending.nrps:
            launch.set_nrps(f"{self.base_url}/memberships")
        if pending.deep_link:
            launch.set_dl(
                f"{self.base_url}/deep-link-return",
                accept_types={"ltiResourceLink"},
                extra_data={"data": "opaque-platform-data"},
            )
        if pending.extra_claims:
            launch.set_extra_claims(pending.extra_claims)
        return launch.lti_launch()

    def accept_deep_link(self, token: str) -> list[dict[str, Any]]:
        """The content items of the tool's deep linking response, validated by the platform library."""
        return self.conf.validate_deeplinking_resp({"JWT": token})

    def sign_launch(self, claims: dict[str, Any], *, key_pem: str | None = None) -> str:
        """A launch id_token signed by this platform's key (or another key, to forge one)."""
        return Registration.encode_and_sign(dict(claims), key_pem or self.private_pem, expiration=300)

    # HTTP

    def _service_auth(self, handler: BaseHTTPRequestHandler, scopes: list[str]) -> bool:
        auth = handler.headers.get("Authorization", "").split()
        if len(auth) != 2 or auth[0].lower() != "bearer":
            return False
        try:
            return bool(self.conf.validate_token(auth[1], scopes))
        except Exception:
            return False

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                send_json(self, status, payload, headers)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _failing(self) -> bool:
                with platform._lock:
                    status = platform.fail_next.pop(0) if platform.fail_next else None
                if status is None:
                    return False
                self._json(status, {"error": "injected failure"}, {"Retry-After": "0"})
                return True

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = dict(parse_qsl(url.query))
                platform.requests.append(("GET", url.path))
                if url.path == "/jwks":
                    self._json(200, platform.conf.get_jwks())
                elif url.path == "/auth":
                    try:
                        form = platform.authorize(query)
                    except Exception as exc:
                        self._json(400, {"error": str(exc)})
                        return
                    if platform.form_post:
                        send_html(self, 200, launch_form_page(form))
                    else:
                        self._json(200, form)
                elif url.path in platform.pages:
                    send_html(self, 200, platform.pages[url.path])
                elif url.path == "/lineitems":
                    if not platform._service_auth(self, ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"]):
                        self._json(401, {"error": "unauthorized"})
                        return
                    items = [
                        i
                        for i in platform.line_items.values()
                        if "resource_id" not in query or i.get("resourceId") == query["resource_id"]
                    ]
                    self._json(200, items)
                elif url.path == "/memberships":
                    if self._failing():
                        return
                    scope = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
                    if not platform._service_auth(self, [scope]):
                        self._json(401, {"error": "unauthorized"})
                        return
                    members = list(platform.members.values())
                    page = int(query.get("page", "0"))
                    size = platform.roster_page_size
                    chunk = members[page * size : (page + 1) * size]
                    headers = {}
                    if (page + 1) * size < len(members):
                        headers["Link"] = f'<{platform.base_url}/memberships?page={page + 1}>; rel="next"'
                    self._json(
                        200,
                        {
                            "id": f"{platform.base_url}/memberships",
                            "context": {"id": "course-101"},
                            "members": [
                                {
                                    "user_id": m.user_id,
                                    "roles": [ROLE_URIS.get(m.role, m.role)],
                                    "name": m.name,
                                    "email": m.email,
                                    "status": m.status,
                                }
                                for m in chunk
                            ],
                        },
                        headers,
                    )
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:
                url = urlparse(self.path)
                platform.requests.append(("POST", url.path))
                raw = self._body()
                if url.path == "/token":
                    if self._failing():
                        return
                    form = dict(parse_qsl(raw.decode()))
                    try:
                        answer = platform.conf.get_access_token(form)
                    except Exception as exc:
                        self._json(400, {"error": "invalid_client", "error_description": str(exc)})
                        return
                    platform.tokens_issued += 1
                    self._json(200, answer)
                elif url.path == "/lineitems":
                    if not platform._service_auth(self, ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"]):
                        self._json(401, {"error": "unauthorized"})
                        return
                    item = json.loads(raw)
                    item_id = f"{platform.base_url}/lineitems/{len(platform.line_items) + 1}"
                    item["id"] = item_id
                    platform.line_items[item_id] = item
                    self._json(201, item)
                elif url.path.startswith("/lineitems/") and url.path.endswith("/scores"):
                    if self._failing():
                        return
                    if not platform._service_auth(self, ["https://purl.imsglobal.org/spec/lti-ags/scope/score"]):
                        self._json(401, {"error": "unauthorized"})
                        return
                    if self.headers.get("Content-Type") != "application/vnd.ims.lis.v1.score+json":
                        self._json(415, {"error": "score media type required"})
                        return
                    item_id = platform.base_url + url.path.removesuffix("/scores")
                    if item_id not in platform.line_items:
                        self._json(404, {"error": "no such line item"})
                        return
                    platform.scores.setdefault(item_id, []).append(json.loads(raw))
                    self._json(200, {})
                else:
                    self._json(404, {"error": "not found"})

        return Handler

    def latest_score(self, user_id: str) -> dict[str, Any] | None:
        found = [s for scores in self.scores.values() for s in scores if s.get("userId") == user_id]
        return found[-1] if found else None


__all__: t.Sequence[str] = ("CLIENT_ID", "DEPLOYMENT_ID", "ROLE_URIS", "FakeLtiPlatform")
