"""What Cloudemy needs from a Redis server's memory settings, checked at start-up by the backend and scheduler.

Payloads, queue messages and the LLM budget live in Redis without a copy elsewhere until they are used, so a
server that evicts keys under memory pressure silently loses work (runners then fail with ``payload-missing``).
Cloudemy needs ``maxmemory-policy noeviction``: a full Redis refuses writes, the backend answers with the
submission stored in MongoDB, and the sweep enqueues it once there is room. A ``maxmemory`` of 0 (no bound)
lets Redis grow until the kernel or the container limit kills it.
"""

from collections.abc import Mapping

REQUIRED_POLICY = "noeviction"


def memory_policy_problems(config: Mapping[str, str]) -> list[str]:
    """Readable problems with ``CONFIG GET maxmemory*`` output; empty when the server is set up as required."""
    problems: list[str] = []
    policy = config.get("maxmemory-policy")
    if policy is not None and policy != REQUIRED_POLICY:
        problems.append(
            f"maxmemory-policy is {policy}: under memory pressure Redis evicts keys, and an evicted submission "
            f"payload fails its grading; set maxmemory-policy {REQUIRED_POLICY}"
        )
    if config.get("maxmemory") == "0":
        problems.append(
            "maxmemory is 0 (no bound): Redis grows until it is killed; set maxmemory below its memory limit"
        )
    return problems


def decoded_config(raw: Mapping[str, str] | Mapping[bytes, bytes]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else str(v))
        for k, v in raw.items()
    }


RUNNER_ACL_RULES = (
    "resetkeys",
    "%R~submission:*",
    "%R~assignment:*",
    "~llm:*",
    "resetchannels",
    "-@all",
    "+hgetall",
    "+hget",
    "+get",
    "+set",
    "+del",
    "+hset",
    "+expire",
    "+time",
    "+eval",
    "+evalsha",
    "+ping",
    "+hello",
    "+auth",
    "+client|setname",
)
"""The least a runner pod needs (Redis 7 ACL rules, after ``on >password``): read its payload, which is the hash
``submission:{id}`` (HGETALL) and the assignment snapshot ``assignment:{id}:{version}`` it refers to (GET), both
read-only (``%R~``: no SET, HSET, DEL or EXPIRE on them); and run the LLM budget and breaker scripts on the
``llm:`` keys (scripts run with the caller's rights, so their GET/SET/DEL/HSET/HGET/EXPIRE/TIME are listed). No
queue, no other key, no pub/sub, no admin command."""
