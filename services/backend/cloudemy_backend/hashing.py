"""The bounded password-hashing pool of one backend process.

An argon2 hash or verification holds its memory cost (``m``) for the whole computation. Run on Starlette's
default thread pool (40 threads), a login wave would run up to 40 at once per worker: 40 x 64 MiB with
pwdlib's defaults, far past any pod's memory limit. Here each computation first takes its memory cost out of
a fixed budget (``PASSWORD_HASHING_MEMORY_MIB`` per worker) and gives it back when done; callers beyond the
budget wait in line (on the event loop, costing nothing) and a caller that waited
``PASSWORD_HASHING_WAIT_SECONDS`` gets 503 with ``Retry-After`` instead of an answer minutes later.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import HTTPException, status
from starlette.concurrency import run_in_threadpool

from cloudemy_backend.core.security import hash_memory_kib, hash_password, verify_password
from cloudemy_backend.metrics import Metrics

T = TypeVar("T")

BUSY_RETRY_AFTER_SECONDS = 2


class HashingPool:
    """At most ``budget_kib`` of argon2 memory in use at once; first come, first served."""

    def __init__(self, budget_kib: int, wait_seconds: float, metrics: Metrics) -> None:
        self.budget_kib = budget_kib
        self.wait_seconds = wait_seconds
        self.metrics = metrics
        self.in_use_kib = 0
        self.peak_kib = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    async def hash(self, password: str) -> str:
        return await self._run(hash_memory_kib(None), hash_password, password)

    async def verify(
        self, password: str, stored_hash: str | None, *, first: Callable[[], Awaitable[None]] | None = None
    ) -> tuple[bool, str | None]:
        """Whether the password matches, and the rehash to store when the parameters changed. ``first`` runs
        once this verification's turn has come, just before it (the login throttle's check: it then sees
        every failure of the verifications that ran before, so parallel guesses overshoot a limit by at most
        the few verifications running at once); what it raises ends the call."""
        return await self._run(hash_memory_kib(stored_hash), verify_password, password, stored_hash, first=first)

    async def _run(
        self,
        cost_kib: int,
        function: Callable[..., T],
        *args: object,
        first: Callable[[], Awaitable[None]] | None = None,
    ) -> T:
        cost = min(cost_kib, self.budget_kib)  # a hash larger than the whole budget runs alone
        started = time.perf_counter()
        await self._acquire(cost)
        self.metrics.password_hash_wait.observe(time.perf_counter() - started)
        try:
            if first is not None:
                await first()
            return await run_in_threadpool(function, *args)
        finally:
            self._release(cost)

    async def _acquire(self, cost: int) -> None:
        if not self._waiters and self.in_use_kib + cost <= self.budget_kib:
            self._take(cost)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (cost, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(future), self.wait_seconds)
        except BaseException as exc:  # timed out, or the request was cancelled (client gone, shutdown)
            if future.done():  # granted meanwhile
                if isinstance(exc, TimeoutError):
                    return
                self._release(cost)
                raise
            self._waiters.remove(entry)
            self._wake()
            if isinstance(exc, TimeoutError):
                raise HTTPException(
                    status.HTTP_503_SERVICE_UNAVAILABLE,
                    detail="too many logins at once; try again in a moment",
                    headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
                ) from None
            raise

    def _take(self, cost: int) -> None:
        self.in_use_kib += cost
        self.peak_kib = max(self.peak_kib, self.in_use_kib)

    def _release(self, cost: int) -> None:
        self.in_use_kib -= cost
        self._wake()

    def _wake(self) -> None:
        """Grant waiters in arrival order while the head of the line fits (no overtaking, no starvation)."""
        while self._waiters and self.in_use_kib + self._waiters[0][0] <= self.budget_kib:
            cost, future = self._waiters.pop(0)
            if not future.done():
                self._take(cost)
                future.set_result(None)
