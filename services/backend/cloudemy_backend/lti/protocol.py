"""LTI 1.3 and the IMS Security Framework, tool side, on PyJWT and httpx.

- ``authorization_redirect``: the OIDC authentication request the login initiation answers with.
- ``PlatformKeys``: each platform's JWKS, fetched over HTTPS and cached; refetched once for an unknown ``kid``.
- ``verify_id_token``: signature (RS256 only), ``iss``, ``aud``, ``azp``, ``exp``/``iat``, ``nonce`` presence.
- ``ServiceClient``: OAuth 2 client-credentials tokens (a JWT assertion signed with the tool's key) and the
  calls of Assignment and Grade Services 2.0 and Names and Role Provisioning Services 2.0, retried with
  jittered back-off on 429/5xx/network errors.
- ``deep_linking_response``: the signed ``LtiDeepLinkingResponse`` JWT.

Platforms are described by the registration document stored by the admin API (``issuer``, ``client_id``,
``auth_login_url``, ``auth_token_url``, ``key_set_url``, ``deployment_ids``).
"""

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from cloudemy_backend.lti.claims import (
    CLAIM_DEPLOYMENT_ID,
    CLAIM_DL_CONTENT_ITEMS,
    CLAIM_DL_DATA,
    CLAIM_MESSAGE_TYPE,
    CLAIM_VERSION,
    DEEP_LINKING_RESPONSE,
    LTI_VERSION,
    SCOPE_NRPS,
    SCOPE_SCORE,
    LaunchError,
)
from cloudemy_backend.lti.keys import ToolKeys

log = logging.getLogger(__name__)

JWKS_CACHE_SECONDS = 600
JWKS_REFETCH_MIN_SECONDS = 30
CLOCK_LEEWAY_SECONDS = 60
ASSERTION_LIFETIME_SECONDS = 300
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_MEDIA_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS_MEDIA_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
MEMBERSHIP_MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
MAX_ROSTER_PAGES = 200


def authorization_redirect(platform: dict[str, Any], *, params: dict[str, str], redirect_uri: str) -> str:
    """The platform's authorization URL for an OIDC third-party-initiated login (response_mode form_post)."""
    query = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": platform["client_id"],
        "redirect_uri": redirect_uri,
        "login_hint": params["login_hint"],
        "state": params["state"],
        "nonce": params["nonce"],
    }
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    separator = "&" if "?" in platform["auth_login_url"] else "?"
    return platform["auth_login_url"] + separator + urlencode(query)


class PlatformKeys:
    """Platform JWKS by URL, cached for ``JWKS_CACHE_SECONDS``; shared by every request of one process."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self._cache: dict[str, tuple[float, jwt.PyJWKSet]] = {}
        self._lock = asyncio.Lock()

    async def _fetch(self, url: str) -> jwt.PyJWKSet:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            log.warning("LTI platform key set unavailable", extra={"url": url, "reason": type(exc).__name__})
            raise LaunchError("the platform's key set could not be read; try again shortly", 502) from None
        self._cache[url] = (time.monotonic(), keys)
        return keys

    async def key(self, url: str, kid: str | None) -> jwt.PyJWK:
        async with self._lock:
            cached = self._cache.get(url)
            now = time.monotonic()
            if cached is None or now - cached[0] > JWKS_CACHE_SECONDS:
                cached = (now, await self._fetch(url))
            key = _find_key(cached[1], kid)
            if key is None and now - cached[0] >= JWKS_REFETCH_MIN_SECONDS:
                key = _find_key(await self._fetch(url), kid)  # the platform rotated its keys
            if key is None:
                raise LaunchError("the launch is signed with a key the platform does not publish")
            return key


def _find_key(keys: jwt.PyJWKSet, kid: str | None) -> jwt.PyJWK | None:
    candidates = [k for k in keys.keys if k.key_type == "RSA"]
    if kid is None:
        return candidates[0] if len(candidates) == 1 else None
    return next((k for k in candidates if k.key_id == kid), None)


async def verify_id_token(id_token: str, platform: dict[str, Any], keys: PlatformKeys) -> dict[str, Any]:
    """The id_token's claims after every check of the IMS Security Framework that needs no stored state."""
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        raise LaunchError("the id_token is not a JWT") from None
    if header.get("alg") != "RS256":
        raise LaunchError("the id_token must be signed with RS256")
    key = await keys.key(platform["key_set_url"], header.get("kid"))
    try:
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=["RS256"],
            audience=platform["client_id"],
            issuer=platform["issuer"],
            leeway=CLOCK_LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "nonce"]},
        )
    except jwt.ExpiredSignatureError:
        raise LaunchError("the launch has expired; open it again from the course") from None
    except jwt.InvalidAudienceError:
        raise LaunchError("the launch is addressed to another tool (aud)") from None
    except jwt.InvalidIssuerError:
        raise LaunchError("the launch comes from another issuer than the registered one") from None
    except jwt.InvalidSignatureError:
        raise LaunchError("the launch's signature is not valid") from None
    except jwt.PyJWTError as exc:
        raise LaunchError(f"the launch is not valid ({type(exc).__name__})") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != platform["client_id"]:
        raise LaunchError("the launch's authorized party (azp) is not this tool")
    if claims.get(CLAIM_DEPLOYMENT_ID) not in platform.get("deployment_ids", []):
        raise LaunchError("this deployment of the tool is not registered in Cloudemy; ask an administrator", 403)
    return claims


def deep_linking_response(
    keys: ToolKeys, platform: dict[str, Any], *, deployment_id: str, data: str | None, items: list[dict[str, Any]]
) -> str:
    """The signed ``LtiDeepLinkingResponse`` the platform receives at its ``deep_link_return_url``."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": platform["client_id"],
        "aud": platform["issuer"],
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_SECONDS,
        "nonce": uuid.uuid4().hex,
        CLAIM_MESSAGE_TYPE: DEEP_LINKING_RESPONSE,
        CLAIM_VERSION: LTI_VERSION,
        CLAIM_DEPLOYMENT_ID: deployment_id,
        CLAIM_DL_CONTENT_ITEMS: items,
    }
    if data is not None:
        claims[CLAIM_DL_DATA] = data
    return keys.sign(claims)


class ServiceError(Exception):
    """A platform service call failed; ``retryable`` says whether trying again later may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ServiceError) and exc.retryable


@dataclass
class _Token:
    value: str
    expires_at: float


class ServiceClient:
    """Calls to one platform's services with client-credentials tokens (cached per scope set)."""

    def __init__(self, http: httpx.AsyncClient, keys: ToolKeys, *, attempts: int = 4) -> None:
        self._http = http
        self._keys = keys
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._attempts = attempts

    def client_assertion(self, platform: dict[str, Any]) -> str:
        now = int(time.time())
        return self._keys.sign(
            {
                "iss": platform["client_id"],
                "sub": platform["client_id"],
                "aud": platform["auth_token_url"],
                "iat": now,
                "exp": now + ASSERTION_LIFETIME_SECONDS,
                "jti": uuid.uuid4().hex,
            }
        )

    async def _token(self, platform: dict[str, Any], scopes: list[str]) -> str:
        cache_key = (str(platform["_id"]), " ".join(sorted(scopes)))
        cached = self._tokens.get(cache_key)
        if cached and cached.expires_at - 60 > time.monotonic():
            return cached.value
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": self.client_assertion(platform),
            "scope": " ".join(scopes),
        }
        body = await self._call("POST", platform["auth_token_url"], data=form, accept="application/json")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            raise ServiceError("the platform's token endpoint answered without an access_token", retryable=False)
        expires_in = body.get("expires_in", 3600)
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        self._tokens[cache_key] = _Token(token, time.monotonic() + lifetime)
        return token

    async def _call(self, method: str, url: str, **options: Any) -> Any:
        """``_request`` for the body only."""
        body, _ = await self._request(method, url, **options)
        return body

    async def _request(
        self,
        method: str,
        url: str,
        *,
        accept: str,
        token: str | None = None,
        json_body: dict[str, Any] | None = None,
        content_type: str | None = None,
        data: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[Any, httpx.Headers]:
        headers = {"Accept": accept}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self._attempts),
            wait=wait_random_exponential(multiplier=0.5, max=8),
            reraise=True,
        ):
            with attempt:
                try:
                    if json_body is not None:
                        response = await self._http.request(
                            method, url, headers=headers, content=json.dumps(json_body), params=params
                        )
                    else:
                        response = await self._http.request(method, url, headers=headers, data=data, params=params)
                except httpx.HTTPError as exc:
                    raise ServiceError(f"{method} {url}: {type(exc).__name__}", retryable=True) from None
                if response.status_code == 429 or response.status_code >= 500:
                    raise ServiceError(f"{method} {url}: HTTP {response.status_code}", retryable=True)
                if response.status_code >= 400:
                    raise ServiceError(f"{method} {url}: HTTP {response.status_code}", retryable=False)
                if not response.content:
                    return None, response.headers
                try:
                    return response.json(), response.headers
                except ValueError:
                    return None, response.headers
        raise AssertionError("unreachable")  # pragma: no cover - AsyncRetrying either returns or raises

    # Assignment and Grade Services 2.0

    async def find_or_create_line_item(
        self,
        platform: dict[str, Any],
        lineitems_url: str,
        *,
        resource_id: str,
        label: str,
        score_maximum: float,
        resource_link_id: str | None,
        scopes: list[str],
    ) -> str:
        """The line item for ``resource_id`` in the container, created when the platform has none yet."""
        token = await self._token(platform, scopes)
        found = await self._call(
            "GET", lineitems_url, accept=LINEITEMS_MEDIA_TYPE, token=token, params={"resource_id": resource_id}
        )
        for item in found if isinstance(found, list) else []:
            if isinstance(item, dict) and item.get("resourceId") == resource_id and isinstance(item.get("id"), str):
                return item["id"]
        body: dict[str, Any] = {"scoreMaximum": score_maximum, "label": label, "resourceId": resource_id}
        if resource_link_id:
            body["resourceLinkId"] = resource_link_id
        created = await self._call(
            "POST",
            lineitems_url,
            accept=LINEITEM_MEDIA_TYPE,
            token=token,
            json_body=body,
            content_type=LINEITEM_MEDIA_TYPE,
        )
        if not isinstance(created, dict) or not isinstance(created.get("id"), str):
            raise ServiceError("the platform created a line item without an id", retryable=False)
        return created["id"]

    async def post_score(self, platform: dict[str, Any], lineitem_url: str, score: dict[str, Any]) -> None:
        token = await self._token(platform, [SCOPE_SCORE])
        base, _, query = lineitem_url.partition("?")
        url = base.rstrip("/") + "/scores" + (f"?{query}" if query else "")
        await self._call(
            "POST", url, accept="application/json", token=token, json_body=score, content_type=SCORE_MEDIA_TYPE
        )

    # Names and Role Provisioning Services 2.0

    async def members(self, platform: dict[str, Any], memberships_url: str) -> AsyncIterator[dict[str, Any]]:
        """Every member of the context, following the ``Link: <...>; rel="next"`` pages."""
        token = await self._token(platform, [SCOPE_NRPS])
        url: str | None = memberships_url
        for _ in range(MAX_ROSTER_PAGES):
            if url is None:
                return
            body, headers = await self._request("GET", url, accept=MEMBERSHIP_MEDIA_TYPE, token=token)
            for member in (body or {}).get("members", []) if isinstance(body, dict) else []:
                if isinstance(member, dict):
                    yield member
            url = _next_link(headers.get("link", ""))
        raise ServiceError("the roster has more pages than Cloudemy reads", retryable=False)


def _next_link(header: str) -> str | None:
    for part in header.split(","):
        url, _, rest = part.partition(";")
        if 'rel="next"' in rest.replace(" ", "") or "rel=next" in rest.replace(" ", ""):
            return url.strip().strip("<>")
    return None
