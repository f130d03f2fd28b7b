"""What an LTI launch, a deep link, a score and a roster mean in Cloudemy's terms.

- ``LtiService.begin_login``: the OIDC login initiation (state and nonce stored once, the state cookie set).
- ``LtiService.launch``: the launch after the id_token is verified: the platform's ``sub`` becomes one user,
  the context one course, the LTI roles a course role, the resource link one assignment; the browser is sent to
  the UI with a one-time sign-in code.
- ``LtiService.deep_link``: the ``LtiDeepLinkingResponse`` for the assignment an instructor picked.
- ``ScoreSync``: a background loop that posts every released, final score to the platform's line item, with
  retries and a per-submission sync status that staff see.
- ``LtiService.sync_roster``: Names and Role Provisioning: members added, removed and re-roled.

All storage goes through ``Storage.lti`` (``storage.LtiStore``) and the course methods of ``Storage``.
"""

import asyncio
import contextlib
import hashlib
import logging
import random
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from cloudemy_backend.core.config import Settings
from cloudemy_backend.deadlines import counted_submissions
from cloudemy_backend.lti.claims import (
    DEEP_LINKING_REQUEST,
    SCOPE_LINEITEM,
    SCOPE_SCORE,
    LaunchError,
    LaunchMessage,
    course_role_of,
)
from cloudemy_backend.lti.keys import ToolKeys
from cloudemy_backend.lti.protocol import (
    HTTP_TIMEOUT,
    PlatformKeys,
    ServiceClient,
    ServiceError,
    authorization_redirect,
    deep_linking_response,
    verify_id_token,
)
from cloudemy_backend.storage import Document, LastInstructorError, Storage, utcnow
from cloudemy_backend.visibility import grades_released

log = logging.getLogger(__name__)

STATE_TTL_SECONDS = 600
CODE_TTL_SECONDS = 60
DEEP_LINK_TTL_SECONDS = 3600
STATE_COOKIE_PREFIX = "lti_state_"
SCORE_SYNC_MAX_ATTEMPTS = 8
SCORE_SYNC_BATCH = 20
FEEDBACK_COMMENT_CHARS = 1000
TERMINAL_FOR_LMS = {"graded", "needs_review", "error", "timeout"}


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass
class LoginStart:
    redirect_url: str
    state: str


@dataclass
class LaunchOutcome:
    """Where the browser goes after a launch, and with which one-time sign-in code."""

    code: str
    fragment: str
    user_id: str
    course_id: str
    assignment_id: str | None = None
    deep_link_id: str | None = None


@dataclass
class RosterReport:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    role_changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "role_changed": len(self.role_changed),
            "unchanged": self.unchanged,
            "skipped": self.skipped,
        }


class LtiService:
    """One per app: the tool's keys, the platforms' key sets, and the HTTP client for platform services."""

    def __init__(self, settings: Settings, storage: Storage, *, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.storage = storage
        self.keys = ToolKeys.load(settings.lti_keys_dir)
        self.http = http or httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)
        self.platform_keys = PlatformKeys(self.http)
        self.services = ServiceClient(self.http, self.keys)
        self.frame_ancestors: list[str] = []

    async def close(self) -> None:
        await self.http.aclose()

    async def refresh_frame_ancestors(self) -> list[str]:
        """The origins allowed to frame the UI: every registered platform's, plus ``LTI_FRAME_ANCESTORS``."""
        origins = {o for o in self.settings.lti_frame_ancestors.split() if o}
        for platform in await self.storage.lti.list_platforms():
            for url in (platform["issuer"], platform["auth_login_url"]):
                origin = httpx.URL(url)
                if origin.scheme in {"https", "http"} and origin.host:
                    port = f":{origin.port}" if origin.port else ""
                    origins.add(f"{origin.scheme}://{origin.host}{port}")
        self.frame_ancestors = sorted(origins)
        return self.frame_ancestors

    # --- OIDC login initiation and launch --------------------------------------------------------------------

    async def begin_login(self, params: dict[str, str], *, redirect_uri: str) -> LoginStart:
        issuer = params.get("iss", "")
        login_hint = params.get("login_hint", "")
        if not issuer or not login_hint:
            raise LaunchError("the login request must name the issuer (iss) and the user (login_hint)")
        platform = await self.storage.lti.platform_for(issuer, params.get("client_id") or None)
        if platform is None:
            raise LaunchError("this LMS is not registered in Cloudemy; ask an administrator to register it", 404)
        deployment = params.get("lti_deployment_id")
        if deployment and deployment not in platform.get("deployment_ids", []):
            raise LaunchError("this deployment of the tool is not registered in Cloudemy; ask an administrator", 403)
        target = params.get("target_link_uri", "")
        if target and not target.startswith(redirect_uri.removesuffix("/lti/launch")):
            raise LaunchError("the target link is not this tool")
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        await self.storage.lti.save_state(state, nonce=nonce, platform_id=str(platform["_id"]))
        url = authorization_redirect(
            platform,
            params={
                "login_hint": login_hint,
                "lti_message_hint": params.get("lti_message_hint", ""),
                "state": state,
                "nonce": nonce,
            },
            redirect_uri=redirect_uri,
        )
        return LoginStart(redirect_url=url, state=state)

    async def verify_launch(self, *, id_token: str, state: str, cookie_state: str | None) -> LaunchMessage:
        """Every check of a launch that needs stored state: the state (once), the browser's cookie, the nonce."""
        if not state or not id_token:
            raise LaunchError("the launch must carry id_token and state")
        saved = await self.storage.lti.take_state(state, max_age=STATE_TTL_SECONDS)
        if saved is None:
            raise LaunchError("this launch was already used or has expired; open it again from the course")
        if self.settings.lti_state_cookie_required and not (
            cookie_state and secrets.compare_digest(cookie_state, state)
        ):
            raise LaunchError(
                "the browser did not return Cloudemy's login cookie; allow cookies for this site, or open the "
                "link in a new tab"
            )
        platform = await self.storage.lti.platform_by_id(saved["platform_id"])
        if platform is None:
            raise LaunchError("this LMS is no longer registered in Cloudemy", 404)
        claims = await verify_id_token(id_token, platform, self.platform_keys)
        if not secrets.compare_digest(str(claims.get("nonce", "")), saved["nonce"]):
            raise LaunchError("the launch's nonce does not match its login")
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC) + timedelta(seconds=120)
        if not await self.storage.lti.use_nonce(str(platform["_id"]), saved["nonce"], expires_at=expires):
            raise LaunchError("this launch was already used (replayed nonce)")
        message = LaunchMessage.from_claims(claims, client_id=platform["client_id"])
        return message

    async def launch(self, message: LaunchMessage) -> LaunchOutcome:
        platform = await self.storage.lti.platform_for(message.issuer, message.client_id)
        if platform is None:
            raise LaunchError("this LMS is no longer registered in Cloudemy", 404)
        platform_id = str(platform["_id"])
        role = message.course_role
        if role is None:
            raise LaunchError("your role in this course is not one Cloudemy knows (Instructor, TA or Learner)", 403)
        user = await self.user_for(platform_id, message.sub, name=message.name, email=message.email)
        user_id = str(user["_id"])
        course = await self.course_for(platform_id, message, user_id=user_id, role=role)
        course_id = str(course["_id"])
        await self.ensure_member(course_id, user_id, role)
        if message.nrps_url:
            await self.storage.lti.update_context(platform_id, message.context_id, {"nrps_url": message.nrps_url})

        if message.message_type == DEEP_LINKING_REQUEST:
            if role not in {"instructor"}:
                raise LaunchError("only the course's instructors can add Cloudemy assignments to the course", 403)
            settings = message.deep_linking
            deep_link_id = await self.storage.lti.save_deep_link(
                {
                    "platform_id": platform_id,
                    "deployment_id": message.deployment_id,
                    "return_url": settings["deep_link_return_url"],
                    "data": settings.get("data") if isinstance(settings.get("data"), str) else None,
                    "course_id": course_id,
                    "user_id": user_id,
                },
                ttl_seconds=DEEP_LINK_TTL_SECONDS,
            )
            code = await self.issue_code(user_id)
            return LaunchOutcome(
                code, f"/courses/{course_id}/lti-deep-link/{deep_link_id}", user_id, course_id, None, deep_link_id
            )

        assignment_id = await self.assignment_for(platform_id, message, course_id=course_id)
        code = await self.issue_code(user_id)
        fragment = f"/assignments/{assignment_id}" if assignment_id else f"/courses/{course_id}"
        return LaunchOutcome(code, fragment, user_id, course_id, assignment_id)

    async def user_for(self, platform_id: str, sub: str, *, name: str, email: str) -> Document:
        """The user behind the platform's ``sub``, created on first sight (no password: LTI sign-in only)."""
        user_id = await self.storage.lti.user_id_for(platform_id, sub)
        if user_id is not None:
            user = await self.storage.user_by_id(user_id)
            if user is not None:
                return user
        return await self.storage.lti.create_lti_user(platform_id, sub, name=name, email=email)

    async def course_for(self, platform_id: str, message: LaunchMessage, *, user_id: str, role: str) -> Document:
        context = await self.storage.lti.context(platform_id, message.context_id)
        if context is not None:
            course = await self.storage.course_by_id(context["course_id"])
            if course is not None:
                return course
        if role != "instructor":
            raise LaunchError(
                "Cloudemy is not set up for this course yet: an instructor has to open it from the course first", 404
            )
        course = await self.storage.insert_course(
            {
                "code": message.context_id[:40],
                "title": message.context_title,
                "term": "",
                "lti_context_id": message.context_id,
                "lti_platform_id": platform_id,
            },
            creator_id=user_id,
        )
        await self.storage.lti.link_context(
            platform_id, message.context_id, course_id=str(course["_id"]), deployment_id=message.deployment_id
        )
        log.info("LTI context linked to a new course", extra={"course_id": str(course["_id"])})
        return course

    async def ensure_member(self, course_id: str, user_id: str, role: str) -> None:
        membership = await self.storage.membership(course_id, user_id)
        if membership is None:
            await self.storage.add_members(course_id, [(user_id, role)])
        elif membership["role"] != role:
            await self.storage.set_member_role(course_id, user_id, role)

    async def assignment_for(self, platform_id: str, message: LaunchMessage, *, course_id: str) -> str | None:
        """The assignment a resource link opens: the stored link, else the custom parameter ``assignment_id``."""
        assert message.resource_link_id is not None
        link = await self.storage.lti.resource_link(platform_id, message.resource_link_id)
        assignment_id = message.custom.get("assignment_id") or (link or {}).get("assignment_id")
        if not assignment_id:
            return None
        assignment = await self.storage.assignment_by_id(assignment_id)
        if assignment is None or assignment.get("course_id") != course_id:
            raise LaunchError("this link points at an assignment that is not part of this course", 404)
        ags = message.ags
        await self.storage.lti.save_resource_link(
            platform_id,
            message.resource_link_id,
            {
                "deployment_id": message.deployment_id,
                "context_id": message.context_id,
                "course_id": course_id,
                "assignment_id": assignment_id,
                "lineitem": ags.get("lineitem")
                if isinstance(ags.get("lineitem"), str)
                else (link or {}).get("lineitem"),
                "lineitems": ags.get("lineitems") if isinstance(ags.get("lineitems"), str) else None,
                "scopes": [s for s in ags.get("scope", []) if isinstance(s, str)],
            },
        )
        return assignment_id

    async def issue_code(self, user_id: str) -> str:
        code = secrets.token_urlsafe(32)
        await self.storage.lti.save_code(code_hash(code), user_id=user_id, ttl_seconds=CODE_TTL_SECONDS)
        return code

    async def redeem_code(self, code: str) -> str | None:
        """The user id for a one-time code, once, within ``CODE_TTL_SECONDS``; None otherwise."""
        return await self.storage.lti.take_code(code_hash(code))

    # --- deep linking ----------------------------------------------------------------------------------------

    async def deep_link(self, deep_link_id: str, *, user_id: str, assignment: Document, launch_url: str) -> Document:
        link = await self.storage.lti.deep_link(deep_link_id)
        if link is None or link["user_id"] != user_id:
            raise LaunchError("this deep linking request has expired; start again from the LMS", 404)
        if assignment.get("course_id") != link["course_id"]:
            raise LaunchError("pick an assignment of the course the LMS opened", 422)
        platform = await self.storage.lti.platform_by_id(link["platform_id"])
        if platform is None:
            raise LaunchError("this LMS is no longer registered in Cloudemy", 404)
        item = {
            "type": "ltiResourceLink",
            "title": assignment["title"],
            "url": launch_url,
            "custom": {"assignment_id": str(assignment["_id"])},
            "lineItem": {
                "scoreMaximum": float(assignment.get("max_score") or 0),
                "label": assignment["title"],
                "resourceId": str(assignment["_id"]),
            },
        }
        token = deep_linking_response(
            self.keys, platform, deployment_id=link["deployment_id"], data=link.get("data"), items=[item]
        )
        await self.storage.lti.delete_deep_link(deep_link_id)
        return {"return_url": link["return_url"], "jwt": token}

    # --- Names and Role Provisioning -------------------------------------------------------------------------

    async def sync_roster(self, course_id: str) -> RosterReport:
        context = await self.storage.lti.context_of_course(course_id)
        if context is None or not context.get("nrps_url"):
            raise LaunchError("this course is not linked to an LMS roster; launch it from the LMS first", 409)
        platform = await self.storage.lti.platform_by_id(context["platform_id"])
        if platform is None:
            raise LaunchError("the course's LMS is no longer registered", 409)
        platform_id = str(platform["_id"])
        report = RosterReport()
        seen: set[str] = set()
        try:
            async for member in self.services.members(platform, context["nrps_url"]):
                sub = member.get("user_id")
                roles = member.get("roles") if isinstance(member.get("roles"), list) else []
                role = course_role_of(roles)
                if not isinstance(sub, str) or not sub or role is None:
                    continue
                active = member.get("status", "Active") == "Active"
                user_id = await self.storage.lti.user_id_for(platform_id, sub)
                if not active:
                    continue
                if user_id is None:
                    name = member.get("name") if isinstance(member.get("name"), str) else ""
                    email = member.get("email") if isinstance(member.get("email"), str) else ""
                    user = await self.storage.lti.create_lti_user(
                        platform_id, sub, name=name or "LTI user", email=email
                    )
                    user_id = str(user["_id"])
                seen.add(user_id)
                membership = await self.storage.membership(course_id, user_id)
                if membership is None:
                    await self.storage.add_members(course_id, [(user_id, role)])
                    report.added.append(user_id)
                elif membership["role"] != role:
                    await self.storage.set_member_role(course_id, user_id, role)
                    report.role_changed.append(user_id)
                else:
                    report.unchanged += 1
        except ServiceError as exc:
            raise LaunchError(f"the LMS roster could not be read: {exc}", 502) from None
        provisioned = set(await self.storage.lti.user_ids_of_platform(platform_id))
        for member in await self.storage.list_members(course_id):
            if member["user_id"] in provisioned and member["user_id"] not in seen:
                try:
                    if await self.storage.remove_member(course_id, member["user_id"]):
                        report.removed.append(member["user_id"])
                except LastInstructorError:
                    report.skipped.append(member["user_id"])
        await self.storage.lti.update_context(
            platform_id, context["context_id"], {"last_roster_sync": {"at": utcnow(), **report.as_dict()}}
        )
        log.info("LTI roster synced", extra={"course_id": course_id, **report.as_dict()})
        return report


class ScoreSync:
    """Posts final scores to the LMS: one loop, one claimed submission at a time, each failure path named.

    A submission is *pending* once a result is stored for it (``lti_sync.state``); the loop claims it, works out
    whether it belongs in an LMS at all (``not-linked``), whether it may be shown yet (``unreleased``), finds or
    creates the line item, and posts the Score. A failure the platform may recover from is retried with
    jittered exponential back-off up to ``SCORE_SYNC_MAX_ATTEMPTS`` times (``retrying``), then ``failed``; staff
    see the state and the last error on the submission.
    """

    def __init__(self, service: LtiService, interval_seconds: float) -> None:
        self.service = service
        self.storage = service.storage
        self.interval = interval_seconds

    async def run_forever(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.run_once()
            except Exception:  # the loop outlives any single failure; it is logged and tried next round
                log.exception("LTI score sync pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.interval)

    async def run_once(self) -> int:
        handled = 0
        for _ in range(SCORE_SYNC_BATCH):
            claimed = await self.storage.lti.claim_score_sync(lease_seconds=120)
            if claimed is None:
                break
            await self.sync_one(claimed)
            handled += 1
        return handled

    async def sync_one(self, submission: Document) -> str:
        sync = submission.get("lti_sync") or {}
        submission_id = submission["_id"]
        try:
            target = await self.target_for(submission)
            if isinstance(target, str):
                await self.storage.lti.finish_score_sync(submission_id, target)
                return target
            platform, link, identity_sub, assignment = target
            lineitem = link.get("lineitem")
            if not lineitem:
                if not link.get("lineitems") or SCOPE_LINEITEM not in link.get("scopes", []):
                    await self.storage.lti.finish_score_sync(submission_id, "no-line-item")
                    return "no-line-item"
                lineitem = await self.service.services.find_or_create_line_item(
                    platform,
                    link["lineitems"],
                    resource_id=str(assignment["_id"]),
                    label=assignment["title"],
                    score_maximum=float(assignment.get("max_score") or 0),
                    resource_link_id=link.get("resource_link_id"),
                    scopes=[SCOPE_LINEITEM, SCOPE_SCORE],
                )
                await self.storage.lti.save_resource_link(
                    str(platform["_id"]), link["resource_link_id"], {"lineitem": lineitem}
                )
            score = await self.score_body(submission, identity_sub, assignment)
            await self.service.services.post_score(platform, lineitem, score)
        except ServiceError as exc:
            attempts = int(sync.get("attempts", 0)) + 1
            if exc.retryable and attempts < SCORE_SYNC_MAX_ATTEMPTS:
                delay = random.uniform(0, min(3600, 10 * 2**attempts))  # noqa: S311 - jitter, not a secret
                await self.storage.lti.retry_score_sync(submission_id, attempts=attempts, error=str(exc), delay=delay)
                return "retrying"
            await self.storage.lti.finish_score_sync(submission_id, "failed", error=str(exc), attempts=attempts)
            log.warning("LTI score not posted", extra={"submission_id": str(submission_id), "reason": str(exc)})
            return "failed"
        await self.storage.lti.finish_score_sync(submission_id, "synced", score=score.get("scoreGiven"))
        return "synced"

    async def target_for(self, submission: Document) -> str | tuple[Document, Document, str, Document]:
        assignment = await self.storage.assignment_by_id(submission["assignment_id"])
        if assignment is None:
            return "not-linked"
        link = await self.storage.lti.link_of_assignment(str(assignment["_id"]))
        if link is None:
            return "not-linked"
        identity = await self.storage.lti.identity_of_user(submission["user_id"], link["platform_id"])
        if identity is None:
            return "not-linked"
        platform = await self.storage.lti.platform_by_id(link["platform_id"])
        if platform is None:
            return "not-linked"
        if not grades_released(assignment):
            return "unreleased"
        return platform, link, identity["sub"], assignment

    async def score_body(self, submission: Document, sub: str, assignment: Document) -> dict[str, Any]:
        """The AGS Score for the student's counted submission of this assignment."""
        scored = await self.storage.scored_submissions_of_student(str(assignment["_id"]), submission["user_id"])
        counted = counted_submissions(scored, assignment.get("counted", "last")).get(submission["user_id"], submission)
        result = counted.get("result") or {}
        status = counted.get("status")
        body: dict[str, Any] = {
            "userId": sub,
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "activityProgress": "Completed" if status in TERMINAL_FOR_LMS else "Submitted",
            "gradingProgress": "Pending",
        }
        score, maximum = result.get("score"), result.get("max_score") or assignment.get("max_score")
        if status == "graded" and isinstance(score, int | float) and maximum:
            body.update(gradingProgress="FullyGraded", scoreGiven=float(score), scoreMaximum=float(maximum))
        elif status == "needs_review":
            body["gradingProgress"] = "PendingManual"
        elif status in {"error", "timeout"}:
            body["gradingProgress"] = "Failed"
        feedback = result.get("feedback")
        if isinstance(feedback, str) and feedback:
            body["comment"] = feedback[:FEEDBACK_COMMENT_CHARS]
        return body


async def roster_schedule(service: LtiService, minutes: float, stopping: asyncio.Event) -> None:
    """Sync every LTI-linked course's roster every ``minutes`` (one replica at a time, by a stored lease)."""
    while not stopping.is_set():
        try:
            await asyncio.wait_for(stopping.wait(), timeout=minutes * 60)
            return
        except TimeoutError:
            pass
        if not await service.storage.lti.take_lease("roster-sync", seconds=int(minutes * 60 * 0.9)):
            continue
        for context in await service.storage.lti.contexts_with_roster():
            try:
                await service.sync_roster(context["course_id"])
            except LaunchError as exc:
                log.warning(
                    "scheduled LTI roster sync failed", extra={"course_id": context["course_id"], "reason": exc.message}
                )
