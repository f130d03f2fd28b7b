"""Payload size: what one queued submission costs Redis, with the assignment copied into every payload (the
previous release) and with one shared, versioned assignment snapshot (this release).

For each assignment (the demo's sample assignment with its LLM rubric, and one with 100 KB of tests) and each
format, a fresh redis-server gets ``--submissions`` queued submissions of that assignment, written with the
same commands the backend's enqueue sends (payload hash with its TTL, queue message; the shared format also the
snapshot, SET NX). The figure is what each submission of the second half adds to ``used_memory`` (less the
clients' buffers, ``mem_clients_normal``): the first half also pays Redis's one-time allocations and, with
snapshots, the snapshot, whose MEMORY USAGE is reported on its own. Redis's own bookkeeping (keyspace entry,
expiry, hash encoding, allocator rounding) is in the figure; the floor measured next to it is the bytes a
queued submission cannot do without: its hash fields and values and its queue message, as strings.
``fit 192 MB`` is how many such submissions the bundled Redis (``--maxmemory 192mb``) holds.

Target: with snapshots, at most 1 KiB per queued submission whatever the size of the assignment (it no
longer grows with the tests), in every run; the ratio to the floor shows what Redis's bookkeeping adds.

Each measurement is repeated ``--runs`` times (>= 5), each on a fresh server: median with min and max.

    .venv/bin/python bench/payload_size.py [--submissions 2000] [--runs 5] [--quick] [--json out.json]

Imports ``fakes.*`` via bench/common.py, which puts the repo root and tests/ on sys.path.
"""

import argparse
from pathlib import Path
from typing import Any

from common import MIN_RUNS, finish_machine_info, git_revision, machine_info, summary, table, write_json

from cloudemy_common.keys import DEFAULT_PAYLOAD_TTL_SECONDS, DEFAULT_QUEUE, submission_key
from cloudemy_common.models import AssignmentSpec, QueueMessage, SubmissionPayload
from cloudemy_common.payload_store import stage_payload_write
from demo.platform import sample_assignment
from fakes.redis_server import RedisServer

BUNDLED_MAXMEMORY = 192 * 1024 * 1024
BATCH = 10
TARGET_BYTES = 1024
"""Bytes of Redis per queued submission with snapshots, for either assignment."""
CODE = "n = int(input())\nfor i in range(1, n + 1):\n    print(i)\n"


def sample_spec() -> AssignmentSpec:
    """The demo's sample assignment as the backend hands it to runners (max_score: the sum of its points)."""
    sample = sample_assignment(with_llm_rubric=True)
    spec = {key: sample[key] for key in ("title", "description", "rubric", "fail_tags", "tests", "limits")}
    points = [c["points"] for c in sample["rubric"]] + [t["points"] for t in sample["tests"]]
    return AssignmentSpec.model_validate(spec | {"max_score": sum(points)})


def big_tests_spec(test_bytes: int = 100_000) -> AssignmentSpec:
    count = 20
    half = test_bytes // (2 * count)
    tests = [
        {"id": f"t{i}", "name": f"case {i}", "stdin": "7\n" * (half // 2), "expected_stdout": "x" * half, "points": 1}
        for i in range(count)
    ]
    return AssignmentSpec(title="Big input", description="Read it all.", max_score=count, tests=tests)


def payload(n: int, spec: AssignmentSpec) -> SubmissionPayload:
    return SubmissionPayload(
        submission_id=f"{n:024x}",
        user_id="65a1b2c3d4e5f60718293a00",
        assignment_id="65a1b2c3d4e5f60718293aff",
        language="python",
        code=CODE,
        attempt=1,
        assignment=spec,
    )


def inline_hash(item: SubmissionPayload) -> dict[str, str]:
    """The payload hash as the previous release wrote it: the assignment's JSON in every hash."""
    fields = item.redis_records().fields
    del fields["assignment_version"]
    return fields | {"assignment": item.assignment.snapshot_json()}


def stage(pipe: Any, item: SubmissionPayload, shared: bool) -> None:
    if shared:
        stage_payload_write(pipe, item, DEFAULT_PAYLOAD_TTL_SECONDS)
    else:
        key = submission_key(item.submission_id)
        pipe.delete(key)
        pipe.hset(key, mapping=inline_hash(item))
        pipe.expire(key, DEFAULT_PAYLOAD_TTL_SECONDS)
    message = QueueMessage(submission_id=item.submission_id, language=item.language, attempt=item.attempt)
    pipe.rpush(DEFAULT_QUEUE, message.to_json())


def stored_bytes(client: Any) -> int:
    """``used_memory`` without the clients' buffers (a pipeline's query buffer is kept for a while after it)."""
    memory = client.info("memory")
    return int(memory["used_memory"]) - int(memory["mem_clients_normal"])


def write_range(client: Any, spec: AssignmentSpec, first: int, last: int, shared: bool) -> None:
    for start in range(first, last, BATCH):
        pipe = client.pipeline(transaction=False)
        for n in range(start, min(start + BATCH, last)):
            stage(pipe, payload(n, spec), shared)
        pipe.execute()


def measure(spec: AssignmentSpec, submissions: int, shared: bool) -> tuple[float, int]:
    """(bytes of ``used_memory`` each queued submission of the second half adds, the snapshot's MEMORY USAGE),
    on a fresh server. The first half is left out of the figure: it also pays Redis's one-time allocations
    (about 150 KB, whatever is written), buffers that settle, and with snapshots the snapshot."""
    half = submissions // 2
    with RedisServer() as server:
        client = server.client()
        write_range(client, spec, 0, half, shared)
        at_half = stored_bytes(client)
        write_range(client, spec, half, submissions, shared)
        growth = stored_bytes(client) - at_half
        if client.llen(DEFAULT_QUEUE) != submissions:
            raise RuntimeError("not every submission was queued")
        snapshot_key = payload(0, spec).redis_records().snapshot_key
        snapshot_usage = int(client.memory_usage(snapshot_key) or 0) if shared else 0
        client.close()
    return growth / (submissions - half), snapshot_usage


def floor_bytes(item: SubmissionPayload) -> int:
    """What one queued submission must store: its hash's field names and values and its queue message."""
    records = item.redis_records()
    message = QueueMessage(submission_id=item.submission_id, language=item.language, attempt=item.attempt)
    return sum(len(k) + len(v.encode()) for k, v in records.fields.items()) + len(message.to_json())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=MIN_RUNS)
    parser.add_argument("--quick", action="store_true", help="200 submissions, 1 run")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    submissions, runs = (200, 1) if args.quick else (args.submissions, max(args.runs, MIN_RUNS))
    machine = machine_info()

    cases = {"demo sample assignment": sample_spec(), "100 KB of tests": big_tests_spec()}
    results: dict[str, Any] = {}
    rows = []
    for name, spec in cases.items():
        inline = summary([measure(spec, submissions, shared=False)[0] for _ in range(runs)])
        shared_runs = [measure(spec, submissions, shared=True) for _ in range(runs)]
        shared = summary([per for per, _ in shared_runs])
        floor = floor_bytes(payload(0, spec))
        per_submission = shared["median"]
        results[name] = {
            "assignment_json_bytes": len(spec.snapshot_json()),
            "snapshot_memory_usage_bytes": shared_runs[0][1],
            "floor_bytes_per_submission": floor,
            "inline_bytes_per_submission": inline,
            "shared_bytes_per_submission": shared,
            "saving_ratio": inline["median"] / per_submission,
            "ratio_to_floor": per_submission / floor,
            "target_met": shared["max"] <= TARGET_BYTES,
            "backlog_fits_192mb": {
                "inline": int(BUNDLED_MAXMEMORY / inline["median"]),
                "shared": int((BUNDLED_MAXMEMORY - shared_runs[0][1]) / per_submission),
            },
        }
        rows.append(
            [
                name,
                len(spec.snapshot_json()),
                shared_runs[0][1],
                "{median:.0f} ({min:.0f}..{max:.0f})".format(**inline),
                "{median:.0f} ({min:.0f}..{max:.0f})".format(**shared),
                f"{floor:.0f}",
                f"{per_submission / floor:.2f}",
                f"<= {TARGET_BYTES}: {'yes' if results[name]['target_met'] else 'NO'}",
                "{inline:,} -> {shared:,}".format(**results[name]["backlog_fits_192mb"]),
            ]
        )
    print(
        f"payload size: {submissions} queued submissions of one assignment; bytes of Redis used_memory each one "
        f"adds (median of {runs}, min..max)"
    )
    headers = [
        "assignment", "JSON B", "snapshot B", "inline B", "shared B", "floor B", "shared/floor", "target", "fit 192 MB"
    ]  # fmt: skip
    print(table(headers, rows))
    write_json(
        args.json,
        {
            "benchmark": "payload_size",
            "git_revision": git_revision(),
            "machine": finish_machine_info(machine),
            "submissions": submissions,
            "runs": runs,
            "target_bytes_per_submission": TARGET_BYTES,
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
