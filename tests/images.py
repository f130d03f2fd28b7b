"""The images the repository's one Dockerfile builds, read as stages: what each target starts from, the
instructions of its final stage, and the command it runs. Tests run those commands against this checkout."""

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
TARGETS = ("backend", "scheduler", "runner")


@dataclass
class Stage:
    name: str
    parent: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, keyword: str) -> list[str]:
        return [value for key, value in self.instructions if key == keyword]


def stages(path: Path = DOCKERFILE) -> dict[str, Stage]:
    """Every stage by name (``AS`` name, or its index), instructions with continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(found))
            current = found[name] = Stage(name, parts[0])
        elif current is not None:
            current.instructions.append((keyword, " ".join(rest.split())))
    return found


def lineage(name: str, found: dict[str, Stage]) -> list[Stage]:
    """The stage and every stage it is built on, nearest first."""
    chain = [found[name]]
    while chain[-1].parent in found:
        chain.append(found[chain[-1].parent])
    return chain


def base_image(name: str, found: dict[str, Stage]) -> str:
    return lineage(name, found)[-1].parent


def command(name: str, found: dict[str, Stage] | None = None) -> list[str]:
    """The target's CMD as an argv (exec form), or ``sh -c`` around the shell form."""
    found = found or stages()
    (cmd,) = [value for stage in lineage(name, found) for value in stage.values("CMD")][:1]
    return json.loads(cmd) if cmd.startswith("[") else ["sh", "-c", cmd]


def copied_from(name: str, found: dict[str, Stage]) -> list[str]:
    """The sources every ``COPY`` (without ``--from``) of the target's build chain takes from the context."""
    sources = []
    stage_names = {v.split()[0].removeprefix("--from=") for v in found[name].values("COPY") if "--from=" in v}
    for build in stage_names:
        for stage in reversed(lineage(build, found)):
            sources += [shlex.split(v)[0] for v in stage.values("COPY") if not v.startswith("--from=")]
    return sources
