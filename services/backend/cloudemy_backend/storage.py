"""All MongoDB access: users, courses and their members, assignments, extensions and submissions (each
submission embeds its result).

``pymongo.AsyncMongoClient`` talks to a real server; ``MONGO_URI=memory://`` swaps in mongomock-motor's
in-process ``AsyncMongoMockClient`` (the optional extra ``cloudemy-backend[memory]``), which keeps data in
one process only: fine for demos and tests, lost on restart, and never shared between workers.

Every state change that can race (a result arriving twice, a regrade, the sweep running on several replicas)
is one conditional ``find_one_and_update``: the filter states what must still be true, so exactly one writer
wins and the others see ``None``.
"""

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument, uri_parser
from pymongo.errors import BulkWriteError, DuplicateKeyError

from cloudemy_backend.core.config import Settings
from cloudemy_common.ids import is_object_id
from cloudemy_common.lifecycle import (
    IN_FLIGHT_STATUSES,
    TERMINAL_STATUSES,
    SubmissionStatus,
    can_override,
    can_regrade,
    can_requeue,
    can_transition,
)
from cloudemy_common.models import StoredResult

log = logging.getLogger(__name__)

IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600

Document = dict[str, Any]

# The status each conditional update may start from, derived from the lifecycle's rules.
IN_FLIGHT = sorted(IN_FLIGHT_STATUSES)
REGRADABLE = [s.value for s in SubmissionStatus if can_regrade(s)]
REQUEUEABLE = [s.value for s in SubmissionStatus if can_requeue(s)]
TERMINAL = sorted(TERMINAL_STATUSES)


LIST_PROJECTION = {
    "code": False,
    "previous_results": False,
    "result.tests.stdout": False,
    "result.tests.stderr": False,
    "result.compile_output": False,
}
"""What a list of submissions leaves out: the code, the history and the tests' outputs (read one for them)."""


class DuplicateEmailError(Exception):
    """A user with this email already exists."""


class DuplicateMemberError(Exception):
    """The user is already a member of this course."""


class DuplicateRequestError(Exception):
    """An open regrade request already exists for this submission."""


class LastInstructorError(Exception):
    """The change would leave a course without an instructor."""


# Submissions that ended this way are the platform's fault, not the student's: they do not use up an attempt.
# Besides a lost submission and a broken sandbox: a cluster that never started the grading job, or started it too
# late to finish (docs/scheduler.md, "Deadlines, and Jobs that never start").
UNCOUNTED_FAIL_TAGS = (
    "lost",
    "sandbox-error",
    "started-late",
    "pod-unschedulable",
    "pod-not-created",
    "image-pull-failed",
)
# The course that data from before courses moves into; a fixed id so concurrent start-ups create it once.
DEFAULT_COURSE_ID = ObjectId("000000000000000000000001")
DEFAULT_COURSE_TITLE = "Default course"
COURSES_MIGRATION = "courses-v1"
JOIN_CODE_DRAWS = 5


# Join codes: 8 characters without look-alikes (0/O, 1/I/L), about 40 bits; compared upper-case.
JOIN_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
JOIN_CODE_LENGTH = 8


def new_join_code() -> str:
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


def parse_object_id(value: str) -> ObjectId | None:
    """The ObjectId spelled by ``value``, or None for anything else (callers answer 404)."""
    return ObjectId(value) if is_object_id(value) else None


def idempotency_id(user_id: str, key: str) -> str:
    """One user's key (user ids are 24 hex digits, so the first colon separates the two)."""
    return f"{user_id}:{key}"


def mongo_client_options(settings: Settings) -> Document:
    """Bounded waits: a slow or unreachable MongoDB fails a request within seconds (503, retry) instead of
    hanging it until the Ingress gives up. Writes wait for a majority and are retried once by the driver
    (a replica set's primary stepping down loses nothing). An option spelled in MONGO_URI wins."""
    options: Document = {
        "connectTimeoutMS": settings.mongo_connect_timeout_ms,
        "serverSelectionTimeoutMS": settings.mongo_server_selection_timeout_ms,
        "socketTimeoutMS": settings.mongo_socket_timeout_ms,
        "timeoutMS": settings.mongo_operation_timeout_ms,
        "retryWrites": True,
        "w": "majority",
    }
    query = settings.mongo_uri.partition("?")[2]  # the options only: no DNS lookup of a mongodb+srv host
    in_uri = {name.lower() for name in uri_parser.split_options(query, validate=False)} if query else set()
    return {"tz_aware": True} | {name: value for name, value in options.items() if name.lower() not in in_uri}


def utcnow() -> datetime:
    """Now, at BSON's millisecond precision, so values read back compare equal to values written."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def statuses_that_may_become(new_status: str) -> list[str]:
    """Every status from which a report may move a submission to ``new_status`` (lifecycle rule 1)."""
    return [s.value for s in SubmissionStatus if can_transition(s, new_status)]


def statuses_an_override_replaces(new_status: str) -> list[str]:
    """Every status whose result an instructor's grade in ``new_status`` may replace (lifecycle rule 2)."""
    return [s.value for s in SubmissionStatus if can_override(s, new_status)]


class HistoryReason(StrEnum):
    """Why a stored result stopped being the current one."""

    OVERRIDE = "override"
    REGRADE = "regrade"


def history_entry(current: Document, now: datetime, replaced_by: str | None, reason: HistoryReason) -> Document:
    """What the submission's history keeps of the result being replaced: nothing is ever deleted."""
    return {
        "attempt": current["attempt"],
        "result": current.get("result"),
        "replaced_at": now,
        "replaced_by": replaced_by,
        "reason": reason.value,
    }


def history_of(doc: Document) -> list[Document]:
    """Every result ever stored for the submission, oldest first, the current one last (``replaced_at`` None).

    Entries written before results were wrapped (a bare result) are read as such, with no replacement facts."""
    entries = []
    for entry in doc.get("previous_results") or []:
        if isinstance(entry, dict) and "replaced_at" in entry and "result" in entry:
            entries.append(entry)
        else:
            attempt = entry.get("attempt") if isinstance(entry, dict) else None
            entries.append(
                {"attempt": attempt, "result": entry, "replaced_at": None, "replaced_by": None, "reason": None}
            )
    if doc.get("result"):
        entries.append(
            {
                "attempt": doc["attempt"],
                "result": doc["result"],
                "replaced_at": None,
                "replaced_by": None,
                "reason": None,
            }
        )
    return entries


def _set_result(result: StoredResult, now: datetime) -> Document:
    """The fields every result writer sets; ``lti_sync`` marks the score for the LMS gradebook loop (which
    settles it as ``not-linked`` at once outside LTI courses)."""
    return {
        "status": result.status,
        "result": result.to_document(),
        "updated_at": now,
        "status_changed_at": now,
        "lti_sync": {"state": "pending", "next_at": now, "attempts": 0},
    }


class Storage:
    """One database: collections ``users``, ``courses``, ``memberships``, ``assignments``, ``extensions``,
    ``submissions`` and ``migrations`` (one document per one-time data migration that completed)."""

    def __init__(self, client: Any, db_name: str, *, ephemeral: bool) -> None:
        self.client = client
        self.db = client[db_name]
        self.ephemeral = ephemeral
        self.users = self.db["users"]
        self.assignments = self.db["assignments"]
        self.submissions = self.db["submissions"]
        self.idempotency_keys = self.db["idempotency_keys"]
        self.courses = self.db["courses"]
        self.memberships = self.db["memberships"]
        self.extensions = self.db["extensions"]
        self.migrations = self.db["migrations"]
        self.bulk_regrades = self.db["bulk_regrades"]
        self.regrade_requests = self.db["regrade_requests"]
        self.lti = LtiStore(self.db, self.submissions, self.users)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Storage":
        if settings.memory_store:
            from mongomock_motor import AsyncMongoMockClient  # the optional extra cloudemy-backend[memory]

            log.warning(
                "MONGO_URI=memory:// uses an ephemeral in-process store: data is lost on restart and is not "
                "shared between workers, so run a single worker (python -m cloudemy_backend does)",
                extra={"store": "memory"},
            )
            return cls(AsyncMongoMockClient(tz_aware=True), settings.db_name, ephemeral=True)
        return cls(AsyncMongoClient(settings.mongo_uri, **mongo_client_options(settings)), settings.db_name,
                   ephemeral=False)  # fmt: skip

    async def create_indexes(self) -> None:
        """Idempotent; run at start-up by every replica."""
        await self.create_review_indexes()
        await self.users.create_index([("email", ASCENDING)], unique=True, name="email_unique")
        await self.assignments.create_index([("published", ASCENDING), ("_id", DESCENDING)], name="published_id")
        # Lists are ordered by _id, which starts with the creation second: these serve the creation-time order.
        await self.submissions.create_index([("assignment_id", ASCENDING), ("_id", DESCENDING)], name="assignment_id")
        await self.submissions.create_index([("user_id", ASCENDING), ("_id", DESCENDING)], name="user_id")
        await self.submissions.create_index([("created_at", DESCENDING)], name="created_at")
        await self.submissions.create_index([("status", ASCENDING), ("status_changed_at", ASCENDING)], name="sweep")
        # MongoDB's TTL monitor drops keys a while after IDEMPOTENCY_WINDOW; claims check the age themselves.
        await self.idempotency_keys.create_index(
            [("created_at", ASCENDING)], expireAfterSeconds=IDEMPOTENCY_WINDOW_SECONDS, name="expire"
        )
        await self.submissions.create_index([("course_id", ASCENDING), ("_id", DESCENDING)], name="course_id")
        await self.courses.create_index([("join_code", ASCENDING)], unique=True, name="join_code_unique")
        await self.memberships.create_index(
            [("course_id", ASCENDING), ("user_id", ASCENDING)], unique=True, name="course_user_unique"
        )
        await self.memberships.create_index([("user_id", ASCENDING)], name="user_id")
        await self.assignments.create_index([("course_id", ASCENDING), ("_id", DESCENDING)], name="course_id")
        await self.extensions.create_index(
            [("assignment_id", ASCENDING), ("user_id", ASCENDING)], unique=True, name="assignment_user_unique"
        )
        await self.lti.create_indexes()

    async def create_review_indexes(self) -> None:
        await self.regrade_requests.create_index(
            [("open_slot", ASCENDING)], unique=True, sparse=True, name="one_open_request"
        )
        await self.regrade_requests.create_index([("course_id", ASCENDING), ("state", ASCENDING)], name="course_state")
        await self.regrade_requests.create_index([("submission_id", ASCENDING)], name="submission_id")
        await self.bulk_regrades.create_index([("assignment_id", ASCENDING), ("_id", DESCENDING)], name="assignment")

    async def ping(self) -> None:
        await self.client.admin.command("ping")

    async def close(self) -> None:
        result = self.client.close()
        if hasattr(result, "__await__"):
            await result

    # --- users -------------------------------------------------------------------------------------------

    async def insert_user(self, *, email: str, name: str, role: str, password_hash: str) -> Document:
        now = utcnow()
        doc = {"email": email.lower(), "name": name, "role": role, "password_hash": password_hash, "created_at": now}
        try:
            result = await self.users.insert_one(doc)
        except DuplicateKeyError:
            raise DuplicateEmailError(email) from None
        doc["_id"] = result.inserted_id
        return doc

    async def set_password_hash(self, user_id: ObjectId, password_hash: str) -> None:
        await self.users.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash}})

    async def user_by_email(self, email: str) -> Document | None:
        return await self.users.find_one({"email": email.lower()})

    async def user_by_id(self, user_id: str) -> Document | None:
        oid = parse_object_id(user_id)
        return await self.users.find_one({"_id": oid}) if oid else None

    # --- assignments -------------------------------------------------------------------------------------

    async def insert_assignment(self, fields: Document) -> Document:
        now = utcnow()
        doc = {**fields, "created_at": now, "updated_at": now}
        result = await self.assignments.insert_one(doc)
        doc["_id"] = result.inserted_id
        return doc

    async def assignment_by_id(self, assignment_id: str) -> Document | None:
        oid = parse_object_id(assignment_id)
        return await self.assignments.find_one({"_id": oid}) if oid else None

    async def update_assignment(self, assignment_id: str, changes: Document) -> Document | None:
        oid = parse_object_id(assignment_id)
        if oid is None:
            return None
        return await self.assignments.find_one_and_update(
            {"_id": oid}, {"$set": {**changes, "updated_at": utcnow()}}, return_document=ReturnDocument.AFTER
        )

    async def assignment_tests(self, assignment_ids: list[str]) -> dict[str, Document]:
        """The tests (id, name, hidden) of each of these assignments, by assignment id: what labels and filters the
        test outcomes of a page of submissions."""
        oids = [oid for oid in (parse_object_id(value) for value in set(assignment_ids)) if oid is not None]
        if not oids:
            return {}
        projection = {"tests.id": True, "tests.name": True, "tests.hidden": True, "release": True, "released_at": True}
        docs = await self.assignments.find({"_id": {"$in": oids}}, projection).to_list(len(oids))
        return {str(doc["_id"]): doc for doc in docs}

    async def list_assignments(
        self,
        *,
        staff_course_ids: list[str] | None,
        student_course_ids: list[str],
        limit: int,
        before_id: ObjectId | None,
    ) -> list[Document]:
        """Newest first: every assignment of ``staff_course_ids`` (None: of every course) and the published
        ones of ``student_course_ids``."""
        query: Document = {}
        if staff_course_ids is not None:
            query["$or"] = [
                {"course_id": {"$in": staff_course_ids}},
                {"course_id": {"$in": student_course_ids}, "published": True},
            ]
        if before_id is not None:
            query["_id"] = {"$lt": before_id}
        return await self.assignments.find(query).sort("_id", DESCENDING).limit(limit).to_list(limit)

    async def assignments_of_course(self, course_id: str) -> list[Document]:
        """Every assignment of one course, oldest first (the gradebook's column order)."""
        cursor = self.assignments.find({"course_id": course_id}, {"tests": False})
        return await cursor.sort("_id", ASCENDING).to_list(None)

    # --- submissions -------------------------------------------------------------------------------------

    async def insert_submission(
        self,
        *,
        assignment_id: str,
        user_id: str,
        language: str,
        code: str,
        test_run: bool = False,
        submission_id: ObjectId | None = None,
        course_id: str | None = None,
        lateness: Document | None = None,
    ) -> Document:
        """A new queued submission; ``test_run`` marks a staff run (a reference solution) that never counts;
        ``submission_id`` is the id reserved for it (by an Idempotency-Key), a new one otherwise. ``lateness``
        (``late``, ``late_days``, ``penalty_percent``) is decided once, when the student submits."""
        now = utcnow()
        doc: Document = {
            "_id": submission_id or ObjectId(),
            "course_id": course_id,
            **(lateness or {"late": False, "late_days": 0, "penalty_percent": 0.0}),
            "assignment_id": assignment_id,
            "user_id": user_id,
            "language": language,
            "code": code,
            "test_run": test_run,
            "status": SubmissionStatus.QUEUED.value,
            "attempt": 1,
            "job_name": None,
            "result": None,
            "previous_results": [],
            "enqueued_at": None,
            "requeues": 0,
            "created_at": now,
            "updated_at": now,
            "status_changed_at": now,
        }
        result = await self.submissions.insert_one(doc)
        doc["_id"] = result.inserted_id
        return doc

    # --- idempotency keys (Idempotency-Key of POST .../submissions) -------------------------------------

    async def claim_idempotency_key(
        self, *, user_id: str, key: str, fingerprint: str, submission_id: ObjectId
    ) -> Document | None:
        """Reserve ``key`` of this user for the submission about to be stored; None when reserved, else the
        reservation made by an earlier request within IDEMPOTENCY_WINDOW_SECONDS (one whose time has passed
        is taken over)."""
        now = utcnow()
        claim = {"submission_id": submission_id, "fingerprint": fingerprint, "created_at": now}
        doc_id = idempotency_id(user_id, key)
        try:
            await self.idempotency_keys.insert_one({"_id": doc_id, "user_id": user_id, "key": key, **claim})
            return None
        except DuplicateKeyError:
            pass
        cutoff = datetime.fromtimestamp(now.timestamp() - IDEMPOTENCY_WINDOW_SECONDS, UTC)
        expired = await self.idempotency_keys.find_one_and_update(
            {"_id": doc_id, "created_at": {"$lt": cutoff}}, {"$set": claim}
        )
        if expired is not None:
            return None
        return await self.idempotency_keys.find_one({"_id": doc_id})

    async def release_idempotency_key(self, *, user_id: str, key: str, submission_id: ObjectId) -> None:
        """Give back a reservation whose submission was never stored."""
        await self.idempotency_keys.delete_one({"_id": idempotency_id(user_id, key), "submission_id": submission_id})

    async def submission_by_id(self, submission_id: str) -> Document | None:
        oid = parse_object_id(submission_id)
        return await self.submissions.find_one({"_id": oid}) if oid else None

    async def submission_state(self, submission_id: str) -> Document | None:
        """Owner, course, status, attempt and last change of a submission: what a status poll (and its access
        check) needs, without the code, the result or the history."""
        oid = parse_object_id(submission_id)
        if oid is None:
            return None
        projection = {
            "user_id": True, "course_id": True, "assignment_id": True, "status": True, "attempt": True,
            "updated_at": True,
        }  # fmt: skip
        return await self.submissions.find_one({"_id": oid}, projection)

    async def list_submissions(
        self,
        *,
        assignment_id: str | None,
        user_id: str | None,
        limit: int,
        before_id: ObjectId | None,
        test_runs: bool = False,
        staff_course_ids: list[str] | None = None,
        own_user_id: str | None = None,
    ) -> list[Document]:
        """Newest first, without code; students' submissions, or (``test_runs``) only the staff's test runs. With
        ``staff_course_ids`` or ``own_user_id``, only the submissions of those courses or of that user (how a
        caller's visibility is expressed); neither: every submission."""
        query: Document = {"test_run": True} if test_runs else {"test_run": {"$ne": True}}
        if staff_course_ids is not None or own_user_id is not None:
            query["$or"] = [{"course_id": {"$in": staff_course_ids or []}}, {"user_id": own_user_id}]
        if assignment_id is not None:
            query["assignment_id"] = assignment_id
        if user_id is not None:
            query["user_id"] = user_id
        if before_id is not None:
            query["_id"] = {"$lt": before_id}
        cursor = self.submissions.find(query, LIST_PROJECTION)
        return await cursor.sort("_id", DESCENDING).limit(limit).to_list(limit)

    async def latest_per_student(self, assignment_id: str) -> list[Document]:
        """The newest submission (without code or history) of every student to the assignment, in one
        aggregation: walk the assignment's index newest first and keep each student's first."""
        pipeline: list[Document] = [
            {"$match": {"assignment_id": assignment_id, "test_run": {"$ne": True}}},
            {"$sort": {"_id": DESCENDING}},
            {"$project": {"code": False, "previous_results": False}},
            {"$group": {"_id": "$user_id", "latest": {"$first": "$$ROOT"}}},
            {"$replaceRoot": {"newRoot": "$latest"}},
        ]
        return await self.submissions.aggregate(pipeline, allowDiskUse=True).to_list(None)

    async def users_by_ids(self, user_ids: list[str]) -> dict[str, Document]:
        """Email and name of each of these users, in one query (unknown or malformed ids are left out)."""
        oids = [oid for oid in (parse_object_id(uid) for uid in user_ids) if oid is not None]
        if not oids:
            return {}
        found = await self.users.find({"_id": {"$in": oids}}, {"email": True, "name": True}).to_list(None)
        return {str(user["_id"]): user for user in found}

    async def mark_enqueued(self, submission_id: ObjectId, attempt: int, *, expected: datetime | None) -> bool:
        """Record that the queue holds this attempt; only if nobody else recorded it since ``expected``.

        The submit path and every sweeping replica claim an enqueue through this call, so of two replicas
        that both noticed a missing message only one pushes it.
        """
        result = await self.submissions.update_one(
            {
                "_id": submission_id,
                "status": SubmissionStatus.QUEUED.value,
                "attempt": attempt,
                "enqueued_at": expected,
            },
            {"$set": {"enqueued_at": utcnow()}},
        )
        return result.modified_count == 1

    async def apply_progress(
        self, submission_id: ObjectId, new_status: str, *, attempt: int, job_name: str | None
    ) -> Document | None:
        """Move forward to dispatched/running; None when the lifecycle (or a newer attempt) forbids it."""
        now = utcnow()
        changes: Document = {"status": new_status, "updated_at": now, "status_changed_at": now}
        if job_name is not None:
            changes["job_name"] = job_name
        return await self.submissions.find_one_and_update(
            {"_id": submission_id, "attempt": attempt, "status": {"$in": statuses_that_may_become(new_status)}},
            {"$set": changes},
            return_document=ReturnDocument.AFTER,
        )

    async def store_first_result(
        self, submission_id: ObjectId, *, attempt: int, result: StoredResult
    ) -> Document | None:
        """Store a terminal result unless one is already stored (or the attempt moved on); atomic."""
        return await self.submissions.find_one_and_update(
            {"_id": submission_id, "attempt": attempt, "status": {"$in": statuses_that_may_become(result.status)}},
            {"$set": _set_result(result, utcnow())},
            return_document=ReturnDocument.AFTER,
        )

    async def replace_terminal_result(
        self, submission_id: ObjectId, *, attempt: int, result: StoredResult, replaced_by: str | None = None
    ) -> Document | None:
        """An instructor's grade over a terminal result of this attempt (the lifecycle's override); the replaced
        one is kept in history. None when the override does not apply or the submission changed meanwhile."""
        return await self._replace_terminal(
            submission_id,
            attempt,
            statuses_an_override_replaces(result.status),
            _set_result(result, utcnow()),
            replaced_by=replaced_by,
            reason=HistoryReason.OVERRIDE,
        )

    async def start_next_attempt(
        self, submission_id: ObjectId, *, current_attempt: int, replaced_by: str | None = None
    ) -> Document | None:
        """Regrade: a terminal submission goes back to queued as attempt + 1, its result kept in history."""
        now = utcnow()
        changes = {
            "status": SubmissionStatus.QUEUED.value,
            "attempt": current_attempt + 1,
            "job_name": None,
            "result": None,
            "enqueued_at": None,
            "requeues": 0,
            "updated_at": now,
            "status_changed_at": now,
        }
        return await self._replace_terminal(
            submission_id, current_attempt, REGRADABLE, changes, replaced_by=replaced_by, reason=HistoryReason.REGRADE
        )

    async def _replace_terminal(
        self,
        submission_id: ObjectId,
        attempt: int,
        statuses: list[str],
        changes: Document,
        *,
        replaced_by: str | None,
        reason: "HistoryReason",
    ) -> Document | None:
        """Apply ``changes`` to this attempt if its status is one of ``statuses``, keeping its result in history;
        only if nothing changed since it was read (same status, same ``status_changed_at``), else None."""
        current = await self.submissions.find_one(
            {"_id": submission_id, "attempt": attempt, "status": {"$in": statuses}}
        )
        if current is None:
            return None
        return await self.submissions.find_one_and_update(
            {
                "_id": submission_id,
                "attempt": attempt,
                "status": current["status"],
                "status_changed_at": current["status_changed_at"],
            },
            {"$set": changes, "$push": {"previous_results": history_entry(current, utcnow(), replaced_by, reason)}},
            return_document=ReturnDocument.AFTER,
        )

    # --- review: release, bulk regrade, regrade requests, agreement ----------------------------------------

    async def release_assignment(self, assignment_id: str) -> tuple[Document | None, bool]:
        """Mark the assignment's grades released (once); (the assignment, whether this call released it)."""
        oid = parse_object_id(assignment_id)
        if oid is None:
            return None, False
        now = utcnow()
        released = await self.assignments.find_one_and_update(
            {"_id": oid, "released_at": None},
            {"$set": {"released_at": now, "updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if released is not None:
            return released, True
        return await self.assignments.find_one({"_id": oid}), False

    async def latest_submissions_per_student(self, assignment_id: str, statuses: list[str]) -> list[Document]:
        """The newest graded-for-real submission (no staff test run) of each student, in one of ``statuses``."""
        cursor = self.submissions.find(
            {"assignment_id": assignment_id, "test_run": {"$ne": True}},
            {"code": False, "previous_results": False},
        ).sort("_id", DESCENDING)
        latest: dict[str, Document] = {}
        async for doc in cursor:
            latest.setdefault(doc["user_id"], doc)
        return [doc for doc in latest.values() if doc["status"] in statuses]

    async def save_bulk_regrade(self, assignment_id: str, targets: list[tuple[ObjectId, int]], by: str) -> None:
        await self.bulk_regrades.insert_one(
            {
                "assignment_id": assignment_id,
                "targets": [{"submission_id": sid, "attempt": attempt} for sid, attempt in targets],
                "by": by,
                "started_at": utcnow(),
            }
        )

    async def bulk_regrade_progress(self, assignment_id: str) -> Document | None:
        """The latest bulk regrade of the assignment: how many of its submissions have a new terminal result."""
        found = await self.bulk_regrades.find({"assignment_id": assignment_id}).sort("_id", DESCENDING).to_list(1)
        if not found:
            return None
        run = found[0]
        done = 0
        for target in run["targets"]:
            done += await self.submissions.count_documents(
                {"_id": target["submission_id"], "attempt": {"$gte": target["attempt"]}, "status": {"$in": TERMINAL}}
            )
        return {"total": len(run["targets"]), "done": done, "started_at": run["started_at"], "by": run["by"]}

    async def open_regrade_request(self, submission: Document, message: str) -> Document:
        """A student's request; DuplicateRequestError while another one on the submission is open."""
        now = utcnow()
        doc: Document = {
            "submission_id": str(submission["_id"]),
            "course_id": submission.get("course_id"),
            "assignment_id": submission["assignment_id"],
            "user_id": submission["user_id"],
            "message": message,
            "state": "open",
            "open_slot": str(submission["_id"]),  # unique while open: one open request per submission
            "created_at": now,
            "response": None,
            "resolved_by": None,
            "resolved_at": None,
        }
        try:
            result = await self.regrade_requests.insert_one(doc)
        except DuplicateKeyError:
            raise DuplicateRequestError(str(submission["_id"])) from None
        doc["_id"] = result.inserted_id
        return doc

    async def regrade_request(self, request_id: str) -> Document | None:
        oid = parse_object_id(request_id)
        return await self.regrade_requests.find_one({"_id": oid}) if oid else None

    async def regrade_requests_of_course(self, course_id: str, state: str | None) -> list[Document]:
        query: Document = {"course_id": course_id}
        if state:
            query["state"] = state
        return await self.regrade_requests.find(query).sort("_id", ASCENDING).to_list(None)

    async def regrade_requests_of_submission(self, submission_id: str) -> list[Document]:
        return await self.regrade_requests.find({"submission_id": submission_id}).sort("_id", ASCENDING).to_list(None)

    async def resolve_regrade_request(self, request_id: ObjectId, response: str, by: str) -> Document | None:
        """Answer an open request (once): None when it is already resolved."""
        return await self.regrade_requests.find_one_and_update(
            {"_id": request_id, "state": "open"},
            {
                "$set": {"state": "resolved", "response": response, "resolved_by": by, "resolved_at": utcnow()},
                "$unset": {"open_slot": ""},
            },
            return_document=ReturnDocument.AFTER,
        )

    async def overridden_submissions(self, assignment_id: str) -> list[Document]:
        """Submissions of the assignment whose history holds a replaced result (the agreement's input)."""
        cursor = self.submissions.find(
            {"assignment_id": assignment_id, "previous_results.0": {"$exists": True}}, {"code": False}
        )
        return await cursor.to_list(None)

    # --- sweep -------------------------------------------------------------------------------------------

    async def queued_since(self, cutoff: datetime, limit: int) -> list[Document]:
        """Queued submissions whose status is older than ``cutoff`` (oldest first)."""
        cursor = self.submissions.find({"status": SubmissionStatus.QUEUED.value, "status_changed_at": {"$lt": cutoff}})
        return await cursor.sort("status_changed_at", ASCENDING).limit(limit).to_list(limit)

    async def in_flight_since(self, cutoff: datetime, limit: int) -> list[Document]:
        """Dispatched or running submissions whose status is older than ``cutoff``."""
        cursor = self.submissions.find(
            {"status": {"$in": IN_FLIGHT}, "status_changed_at": {"$lt": cutoff}}, {"code": False}
        )
        return await cursor.limit(limit).to_list(limit)

    async def requeue_attempt(self, submission_id: ObjectId, *, attempt: int, limit: int) -> Document | None:
        """Hand an in-flight attempt back to ``queued`` (the LLM was unavailable), counting it in ``requeues``;
        None when the attempt moved on, the submission ended, or it went back ``limit`` times already."""
        now = utcnow()
        return await self.submissions.find_one_and_update(
            {
                "_id": submission_id,
                "attempt": attempt,
                "status": {"$in": REQUEUEABLE},
                "$or": [{"requeues": {"$exists": False}}, {"requeues": {"$lt": limit}}],
            },
            {
                "$set": {"status": SubmissionStatus.QUEUED.value, "updated_at": now, "status_changed_at": now},
                "$inc": {"requeues": 1},
            },
            return_document=ReturnDocument.AFTER,
        )

    async def mark_lost(self, doc: Document, result: StoredResult) -> Document | None:
        """Terminal ``error`` for an in-flight submission, only if nothing changed since the sweep read it."""
        now = utcnow()
        return await self.submissions.find_one_and_update(
            {
                "_id": doc["_id"],
                "attempt": doc["attempt"],
                "status": doc["status"],
                "status_changed_at": doc["status_changed_at"],
            },
            {"$set": _set_result(result, now)},
            return_document=ReturnDocument.AFTER,
        )

    # --- courses and members -----------------------------------------------------------------------------

    async def insert_course(self, fields: Document, *, creator_id: str) -> Document:
        """A new course with a fresh join code (drawn again on the rare clash); its creator is its instructor."""
        now = utcnow()
        for _ in range(JOIN_CODE_DRAWS):
            doc = {**fields, "join_code": new_join_code(), "archived": False, "created_at": now, "updated_at": now}
            try:
                result = await self.courses.insert_one(doc)
            except DuplicateKeyError:
                continue
            doc["_id"] = result.inserted_id
            await self.add_member(str(doc["_id"]), creator_id, "instructor")
            return doc
        raise RuntimeError("no free join code after several draws")

    async def course_by_id(self, course_id: str) -> Document | None:
        oid = parse_object_id(course_id)
        return await self.courses.find_one({"_id": oid}) if oid else None

    async def course_by_join_code(self, join_code: str) -> Document | None:
        return await self.courses.find_one({"join_code": join_code})

    async def list_courses(self, course_ids: list[str] | None) -> list[Document]:
        """The courses named (None: every course), newest first."""
        query: Document = {}
        if course_ids is not None:
            query["_id"] = {"$in": [oid for oid in map(parse_object_id, course_ids) if oid is not None]}
        return await self.courses.find(query).sort("_id", DESCENDING).to_list(None)

    async def update_course(self, course_id: str, changes: Document) -> Document | None:
        oid = parse_object_id(course_id)
        if oid is None:
            return None
        return await self.courses.find_one_and_update(
            {"_id": oid}, {"$set": {**changes, "updated_at": utcnow()}}, return_document=ReturnDocument.AFTER
        )

    async def rotate_join_code(self, course_id: str) -> Document | None:
        """A new join code; the old one stops working at once."""
        for _ in range(JOIN_CODE_DRAWS):
            try:
                return await self.update_course(course_id, {"join_code": new_join_code()})
            except DuplicateKeyError:
                continue
        raise RuntimeError("no free join code after several draws")

    async def membership(self, course_id: str, user_id: str) -> Document | None:
        return await self.memberships.find_one({"course_id": course_id, "user_id": user_id})

    async def memberships_of_user(self, user_id: str) -> list[Document]:
        return await self.memberships.find({"user_id": user_id}).to_list(None)

    async def add_member(self, course_id: str, user_id: str, role: str) -> Document:
        doc: Document = {"course_id": course_id, "user_id": user_id, "role": role, "created_at": utcnow()}
        try:
            result = await self.memberships.insert_one(doc)
        except DuplicateKeyError:
            raise DuplicateMemberError(user_id) from None
        doc["_id"] = result.inserted_id
        return doc

    async def add_members(self, course_id: str, members: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
        """Add (user id, role) pairs in one write; returns (added, already present) user ids."""
        wanted = dict(members)
        present = {
            doc["user_id"]
            for doc in await self.memberships.find({"course_id": course_id, "user_id": {"$in": list(wanted)}}).to_list(
                None
            )
        }
        now = utcnow()
        new_docs = [
            {"course_id": course_id, "user_id": uid, "role": role, "created_at": now}
            for uid, role in wanted.items()
            if uid not in present
        ]
        added = [doc["user_id"] for doc in new_docs]
        if new_docs:
            try:
                await self.memberships.insert_many(new_docs, ordered=False)
            except BulkWriteError as exc:  # someone added one of them meanwhile: already present after all
                clashed = {new_docs[e["index"]]["user_id"] for e in exc.details.get("writeErrors", [])}
                added = [uid for uid in added if uid not in clashed]
                present |= clashed
        return added, [uid for uid in wanted if uid in present]

    async def list_members(self, course_id: str) -> list[Document]:
        """The course's memberships, each with the member's ``email`` and ``name``, ordered by email."""
        memberships = await self.memberships.find({"course_id": course_id}).to_list(None)
        oids = [oid for oid in (parse_object_id(m["user_id"]) for m in memberships) if oid is not None]
        users = {str(u["_id"]): u for u in await self.users.find({"_id": {"$in": oids}}).to_list(None)}
        rows = []
        for m in memberships:
            user = users.get(m["user_id"])
            if user is not None:
                rows.append({**m, "email": user["email"], "name": user["name"]})
        return sorted(rows, key=lambda row: row["email"])

    async def set_member_role(self, course_id: str, user_id: str, role: str) -> bool:
        """Change a member's role; LastInstructorError when that would leave the course without an instructor."""
        member = await self.membership(course_id, user_id)
        if member is None:
            return False
        if member["role"] == "instructor" and role != "instructor":
            instructors = await self.memberships.count_documents({"course_id": course_id, "role": "instructor"})
            if instructors <= 1:
                raise LastInstructorError(course_id)
        result = await self.memberships.update_one({"_id": member["_id"]}, {"$set": {"role": role}})
        return result.modified_count == 1

    async def scored_submissions_of_student(self, assignment_id: str, user_id: str) -> list[Document]:
        """One student's scored submissions of one assignment (without code): what the counted choice reads."""
        cursor = self.submissions.find(
            {"assignment_id": assignment_id, "user_id": user_id, "result.score": {"$ne": None}}, {"code": False}
        )
        return await cursor.to_list(None)

    async def student_ids(self, course_id: str) -> list[str]:
        cursor = self.memberships.find({"course_id": course_id, "role": "student"}, {"user_id": True})
        return [doc["user_id"] for doc in await cursor.to_list(None)]

    async def remove_member(self, course_id: str, user_id: str) -> bool:
        """False when not a member; LastInstructorError when this is the course's only instructor."""
        member = await self.membership(course_id, user_id)
        if member is None:
            return False
        if member["role"] == "instructor":
            instructors = await self.memberships.count_documents({"course_id": course_id, "role": "instructor"})
            if instructors <= 1:
                raise LastInstructorError(course_id)
        result = await self.memberships.delete_one({"_id": member["_id"], "role": member["role"]})
        return result.deleted_count == 1

    # --- extensions and submission counts ----------------------------------------------------------------

    async def put_extension(self, assignment_id: str, user_id: str, fields: Document) -> Document:
        """Create or replace one student's extension for one assignment."""
        doc = await self.extensions.find_one_and_update(
            {"assignment_id": assignment_id, "user_id": user_id},
            {"$set": {**fields, "updated_at": utcnow()}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return doc

    async def extension(self, assignment_id: str, user_id: str) -> Document | None:
        return await self.extensions.find_one({"assignment_id": assignment_id, "user_id": user_id})

    async def list_extensions(self, assignment_id: str) -> list[Document]:
        return await self.extensions.find({"assignment_id": assignment_id}).sort("user_id", ASCENDING).to_list(None)

    async def delete_extension(self, assignment_id: str, user_id: str) -> bool:
        result = await self.extensions.delete_one({"assignment_id": assignment_id, "user_id": user_id})
        return result.deleted_count == 1

    async def counted_submissions(self, assignment_id: str, user_id: str) -> int:
        """How many of the user's submissions use up an attempt (platform failures do not)."""
        return await self.submissions.count_documents(
            {
                "assignment_id": assignment_id,
                "user_id": user_id,
                "$nor": [{"status": "error", "result.fail_tags": {"$in": list(UNCOUNTED_FAIL_TAGS)}}],
            }
        )

    async def scored_submissions_of_course(self, course_id: str) -> list[Document]:
        """Every submission of the course that has a score, without code or history (the gradebook's input)."""
        cursor = self.submissions.find(
            {"course_id": course_id, "result.score": {"$ne": None}},
            {"assignment_id": True, "user_id": True, "result": True, "created_at": True},
        )
        return await cursor.to_list(None)

    # --- the move into courses -----------------------------------------------------------------------------

    async def migrate_into_default_course(self) -> Document:
        """Move data from before courses into "Default course"; the same outcome however often it runs.

        Assignments and submissions without a ``course_id`` get the default course's; users who were there
        before courses (the first completed run records that) become members: global instructors as
        instructors, everyone else but admins as students. Returns counts of what changed in this run.
        """
        done = await self.migrations.find_one({"_id": COURSES_MIGRATION})
        orphans = await self.assignments.count_documents({"course_id": {"$exists": False}})
        report: Document = {"assignments": 0, "submissions": 0, "members": 0, "course_created": False}
        if done is not None and orphans == 0:
            return report
        needs_course = orphans > 0 or await self.users.count_documents({"role": {"$ne": "admin"}}) > 0
        if needs_course:
            report["course_created"] = await self._ensure_default_course()
            course_id = str(DEFAULT_COURSE_ID)
            moved = await self.assignments.update_many(
                {"course_id": {"$exists": False}}, {"$set": {"course_id": course_id}}
            )
            report["assignments"] = moved.modified_count
            async for assignment in self.assignments.find({"course_id": course_id}, {"_id": True}):
                updated = await self.submissions.update_many(
                    {"assignment_id": str(assignment["_id"]), "course_id": {"$exists": False}},
                    {"$set": {"course_id": course_id, "late": False, "late_days": 0, "penalty_percent": 0.0}},
                )
                report["submissions"] += updated.modified_count
            if done is None:
                report["members"] = await self._enrol_existing_users(course_id)
        if done is None:
            await self.migrations.update_one(
                {"_id": COURSES_MIGRATION}, {"$setOnInsert": {"completed_at": utcnow()}}, upsert=True
            )
        return report

    async def _ensure_default_course(self) -> bool:
        now = utcnow()
        fields = {"code": "DEFAULT", "title": DEFAULT_COURSE_TITLE, "term": "", "archived": False, "created_at": now}
        for _ in range(JOIN_CODE_DRAWS):
            try:
                result = await self.courses.update_one(
                    {"_id": DEFAULT_COURSE_ID},
                    {"$setOnInsert": {**fields, "join_code": new_join_code(), "updated_at": now}},
                    upsert=True,
                )
            except DuplicateKeyError:
                continue
            return result.upserted_id is not None
        raise RuntimeError("no free join code after several draws")

    async def _enrol_existing_users(self, course_id: str) -> int:
        owners = set(await self.assignments.distinct("owner_id", {"course_id": course_id}))
        members: list[tuple[str, str]] = []
        async for user in self.users.find({}, {"role": True}):
            uid = str(user["_id"])
            if user["role"] == "instructor" or uid in owners:
                members.append((uid, "instructor"))
            elif user["role"] != "admin":
                members.append((uid, "student"))
        added, _ = await self.add_members(course_id, members) if members else ([], [])
        return len(added)


class LtiStore:
    """LTI 1.3 records: platform registrations, one-time login states, nonces and sign-in codes, the users behind
    each platform's ``sub``, contexts (courses), resource links (assignments, line items), deep-linking requests,
    and the per-submission score sync status (``submissions.lti_sync``)."""

    def __init__(self, db: Any, submissions: Any, users: Any) -> None:
        self.platforms = db["lti_platforms"]
        self.states = db["lti_states"]
        self.nonces = db["lti_nonces"]
        self.codes = db["lti_codes"]
        self.identities = db["lti_identities"]
        self.contexts = db["lti_contexts"]
        self.links = db["lti_links"]
        self.deep_links = db["lti_deep_links"]
        self.leases = db["lti_leases"]
        self.submissions = submissions
        self.users = users

    async def create_indexes(self) -> None:
        await self.platforms.create_index([("issuer", ASCENDING), ("client_id", ASCENDING)], unique=True)
        for expiring in (self.states, self.nonces, self.codes, self.deep_links):
            await expiring.create_index("expires_at", expireAfterSeconds=0)
        await self.identities.create_index([("platform_id", ASCENDING), ("sub", ASCENDING)], unique=True)
        await self.identities.create_index("user_id")
        await self.contexts.create_index([("platform_id", ASCENDING), ("context_id", ASCENDING)], unique=True)
        await self.contexts.create_index("course_id")
        await self.links.create_index([("platform_id", ASCENDING), ("resource_link_id", ASCENDING)], unique=True)
        await self.links.create_index("assignment_id")
        await self.submissions.create_index([("lti_sync.state", ASCENDING), ("lti_sync.next_at", ASCENDING)])

    # platforms

    async def insert_platform(self, fields: Document) -> Document:
        now = utcnow()
        doc = {**fields, "created_at": now, "updated_at": now}
        try:
            result = await self.platforms.insert_one(doc)
        except DuplicateKeyError:
            raise DuplicatePlatformError(fields["issuer"]) from None
        doc["_id"] = result.inserted_id
        return doc

    async def list_platforms(self) -> list[Document]:
        return await self.platforms.find({}).sort("_id", ASCENDING).to_list(None)

    async def platform_by_id(self, platform_id: str) -> Document | None:
        oid = parse_object_id(platform_id)
        return await self.platforms.find_one({"_id": oid}) if oid else None

    async def platform_for(self, issuer: str, client_id: str | None) -> Document | None:
        """The registration for an issuer (and client id); None when unknown or when the issuer is ambiguous."""
        query: Document = {"issuer": issuer}
        if client_id:
            query["client_id"] = client_id
        found = await self.platforms.find(query).limit(2).to_list(None)
        return found[0] if len(found) == 1 else None

    async def update_platform(self, platform_id: str, changes: Document) -> Document | None:
        oid = parse_object_id(platform_id)
        if oid is None:
            return None
        try:
            return await self.platforms.find_one_and_update(
                {"_id": oid}, {"$set": {**changes, "updated_at": utcnow()}}, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            raise DuplicatePlatformError(changes.get("issuer", "")) from None

    async def delete_platform(self, platform_id: str) -> bool:
        oid = parse_object_id(platform_id)
        return bool(oid) and (await self.platforms.delete_one({"_id": oid})).deleted_count == 1

    # one-time values

    async def save_state(self, state: str, *, nonce: str, platform_id: str) -> None:
        now = utcnow()
        await self.states.insert_one(
            {
                "_id": state,
                "nonce": nonce,
                "platform_id": platform_id,
                "created_at": now,
                "expires_at": now + timedelta(seconds=600),
            }
        )

    async def take_state(self, state: str, *, max_age: int) -> Document | None:
        """The login state, removed as it is read: a state works once, and only within ``max_age`` seconds."""
        if not isinstance(state, str) or len(state) > 200:
            return None
        return await self.states.find_one_and_delete(
            {"_id": state, "created_at": {"$gte": utcnow() - timedelta(seconds=max_age)}}
        )

    async def use_nonce(self, platform_id: str, nonce: str, *, expires_at: datetime) -> bool:
        """True the first time a platform's nonce is seen; False for a replay."""
        try:
            await self.nonces.insert_one({"_id": f"{platform_id}:{nonce}", "expires_at": expires_at})
        except DuplicateKeyError:
            return False
        return True

    async def save_code(self, digest: str, *, user_id: str, ttl_seconds: int) -> None:
        await self.codes.insert_one(
            {"_id": digest, "user_id": user_id, "expires_at": utcnow() + timedelta(seconds=ttl_seconds)}
        )

    async def take_code(self, digest: str) -> str | None:
        doc = await self.codes.find_one_and_delete({"_id": digest, "expires_at": {"$gt": utcnow()}})
        return doc["user_id"] if doc else None

    async def save_deep_link(self, fields: Document, *, ttl_seconds: int) -> str:
        doc = {**fields, "expires_at": utcnow() + timedelta(seconds=ttl_seconds)}
        result = await self.deep_links.insert_one(doc)
        return str(result.inserted_id)

    async def deep_link(self, deep_link_id: str) -> Document | None:
        oid = parse_object_id(deep_link_id)
        if oid is None:
            return None
        return await self.deep_links.find_one({"_id": oid, "expires_at": {"$gt": utcnow()}})

    async def delete_deep_link(self, deep_link_id: str) -> None:
        oid = parse_object_id(deep_link_id)
        if oid is not None:
            await self.deep_links.delete_one({"_id": oid})

    async def take_lease(self, name: str, *, seconds: int) -> bool:
        """True for the one caller (across replicas) that holds the lease ``name`` for the next ``seconds``."""
        now = utcnow()
        try:
            doc = await self.leases.find_one_and_update(
                {"_id": name, "until": {"$lt": now}},
                {"$set": {"until": now + timedelta(seconds=seconds)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:  # another replica holds it
            return False
        return doc is not None

    # users and identities

    async def user_id_for(self, platform_id: str, sub: str) -> str | None:
        doc = await self.identities.find_one({"platform_id": platform_id, "sub": sub})
        return doc["user_id"] if doc else None

    async def identity_of_user(self, user_id: str, platform_id: str) -> Document | None:
        return await self.identities.find_one({"user_id": user_id, "platform_id": platform_id})

    async def user_ids_of_platform(self, platform_id: str) -> list[str]:
        docs = await self.identities.find({"platform_id": platform_id}, {"user_id": True}).to_list(None)
        return [d["user_id"] for d in docs]

    async def create_lti_user(self, platform_id: str, sub: str, *, name: str, email: str) -> Document:
        """A user known by (platform, sub): no password, so it signs in only through a launch. The email is a
        display attribute; when it is missing or already taken, a unique placeholder address stands in."""
        digest = hashlib.sha256(f"{platform_id}:{sub}".encode()).hexdigest()[:20]
        now = utcnow()
        doc: Document = {
            "email": (email or f"lti-{digest}@lti.invalid").lower(),
            "name": name[:100] or "LTI user",
            "role": "student",
            "password_hash": None,
            "lti": True,
            "created_at": now,
        }
        try:
            result = await self.users.insert_one(doc)
        except DuplicateKeyError:
            doc["email"] = f"lti-{digest}@lti.invalid"
            doc.pop("_id", None)
            result = await self.users.insert_one(doc)
        doc["_id"] = result.inserted_id
        try:
            await self.identities.insert_one({"platform_id": platform_id, "sub": sub, "user_id": str(doc["_id"])})
        except DuplicateKeyError:  # a concurrent launch of the same person won: use that user, drop this one
            await self.users.delete_one({"_id": doc["_id"]})
            existing = await self.user_id_for(platform_id, sub)
            found = await self.users.find_one({"_id": ObjectId(existing)}) if existing else None
            if found is None:
                raise
            return found
        return doc

    # contexts and resource links

    async def context(self, platform_id: str, context_id: str) -> Document | None:
        return await self.contexts.find_one({"platform_id": platform_id, "context_id": context_id})

    async def context_of_course(self, course_id: str) -> Document | None:
        return await self.contexts.find_one({"course_id": course_id})

    async def contexts_with_roster(self) -> list[Document]:
        return await self.contexts.find({"nrps_url": {"$type": "string"}}).to_list(None)

    async def link_context(self, platform_id: str, context_id: str, *, course_id: str, deployment_id: str) -> None:
        await self.contexts.update_one(
            {"platform_id": platform_id, "context_id": context_id},
            {"$set": {"course_id": course_id, "deployment_id": deployment_id, "updated_at": utcnow()}},
            upsert=True,
        )

    async def update_context(self, platform_id: str, context_id: str, changes: Document) -> None:
        await self.contexts.update_one({"platform_id": platform_id, "context_id": context_id}, {"$set": changes})

    async def resource_link(self, platform_id: str, resource_link_id: str) -> Document | None:
        return await self.links.find_one({"platform_id": platform_id, "resource_link_id": resource_link_id})

    async def save_resource_link(self, platform_id: str, resource_link_id: str, fields: Document) -> None:
        changes = {k: v for k, v in fields.items() if v is not None}
        await self.links.update_one(
            {"platform_id": platform_id, "resource_link_id": resource_link_id},
            {"$set": {**changes, "updated_at": utcnow()}},
            upsert=True,
        )

    async def link_of_assignment(self, assignment_id: str) -> Document | None:
        """The newest resource link that opens this assignment (the one whose line item receives scores)."""
        found = await self.links.find({"assignment_id": assignment_id}).sort("updated_at", DESCENDING).to_list(1)
        return found[0] if found else None

    # score sync (a status on each submission)

    async def mark_score_pending(self, submission_id: ObjectId) -> None:
        await self.submissions.update_one(
            {"_id": submission_id},
            {"$set": {"lti_sync.state": "pending", "lti_sync.next_at": utcnow(), "lti_sync.attempts": 0}},
        )

    async def mark_assignment_pending(self, assignment_id: str) -> int:
        result = await self.submissions.update_many(
            {"assignment_id": assignment_id, "lti_sync.state": {"$in": ["unreleased", "synced", "failed"]}},
            {"$set": {"lti_sync.state": "pending", "lti_sync.next_at": utcnow(), "lti_sync.attempts": 0}},
        )
        return result.modified_count

    async def claim_score_sync(self, *, lease_seconds: int) -> Document | None:
        """One pending (or abandoned) submission, claimed for ``lease_seconds`` so one worker posts it."""
        now = utcnow()
        return await self.submissions.find_one_and_update(
            {
                "$or": [
                    {"lti_sync.state": {"$in": ["pending", "retrying"]}, "lti_sync.next_at": {"$lte": now}},
                    {"lti_sync.state": "posting", "lti_sync.claimed_until": {"$lt": now}},
                ]
            },
            {"$set": {"lti_sync.state": "posting", "lti_sync.claimed_until": now + timedelta(seconds=lease_seconds)}},
            return_document=ReturnDocument.AFTER,
        )

    async def retry_score_sync(self, submission_id: ObjectId, *, attempts: int, error: str, delay: float) -> None:
        await self.submissions.update_one(
            {"_id": submission_id, "lti_sync.state": "posting"},
            {
                "$set": {
                    "lti_sync.state": "retrying",
                    "lti_sync.attempts": attempts,
                    "lti_sync.last_error": error[:500],
                    "lti_sync.next_at": utcnow() + timedelta(seconds=delay),
                }
            },
        )

    async def finish_score_sync(
        self,
        submission_id: ObjectId,
        state: str,
        *,
        error: str | None = None,
        attempts: int | None = None,
        score: float | None = None,
    ) -> None:
        changes: Document = {"lti_sync.state": state, "lti_sync.updated_at": utcnow()}
        if error is not None:
            changes["lti_sync.last_error"] = error[:500]
        if attempts is not None:
            changes["lti_sync.attempts"] = attempts
        if state == "synced":
            changes["lti_sync.synced_at"] = utcnow()
            changes["lti_sync.score"] = score
        await self.submissions.update_one({"_id": submission_id, "lti_sync.state": "posting"}, {"$set": changes})


class DuplicatePlatformError(Exception):
    """A platform with this issuer and client id is already registered."""
