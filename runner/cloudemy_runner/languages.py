"""The language table (``languages.toml``, or the file RUNNER_LANGUAGES_FILE names): configuration, not code."""

import os
import shutil
import tomllib
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

DEFAULT_TABLE = Path(__file__).with_name("languages.toml")
LANGUAGES_FILE_ENV = "RUNNER_LANGUAGES_FILE"

Command = Annotated[list[Annotated[str, StringConstraints(min_length=1)]], Field(min_length=1)]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SandboxConfig(_Config):
    """Settings every language shares (a language may override ``processes`` and ``open_files``)."""

    read_paths: list[str]
    device_paths: list[str] = ["/dev/null"]
    path: str = "/usr/local/bin:/usr/bin:/bin"
    lang: str = "C.UTF-8"
    disk_mb: Annotated[int, Field(ge=1, le=4096)] = 64
    open_files: Annotated[int, Field(ge=16, le=4096)] = 64
    processes: Annotated[int, Field(ge=1, le=4096)] = 64
    compile_memory_mb: Annotated[int, Field(ge=64, le=8192)] = 1024
    compile_processes: Annotated[int, Field(ge=1, le=4096)] = 64


class LanguageConfig(_Config):
    image: str = "default"
    main_file: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    compile: Command | None = None
    run: Command
    memory_rlimit: Literal["as", "data"] = "as"
    memory_overhead_mb: Annotated[int, Field(ge=0, le=4096)] = 0
    compile_memory_overhead_mb: Annotated[int, Field(ge=0, le=4096)] = 0
    cpu_extra_seconds: Annotated[float, Field(ge=0, le=30)] = 0.0
    processes: Annotated[int, Field(ge=1, le=4096)] | None = None
    open_files: Annotated[int, Field(ge=16, le=4096)] | None = None
    memory_error_markers: list[str] = []

    def missing_toolchain(self, path: str) -> list[str]:
        """The programs this language needs (compiler, runtime) that ``path`` lacks: empty when it can run here."""
        programs = [cmd[0] for cmd in (self.compile, self.run) if cmd and not cmd[0].startswith("{")]
        return [p for p in programs if shutil.which(p, path=path) is None]


class LanguageTable(_Config):
    sandbox: SandboxConfig
    languages: dict[str, LanguageConfig]


@cache
def load_table(path: str | None = None) -> LanguageTable:
    """The table at ``path``, RUNNER_LANGUAGES_FILE, or the packaged default; raises on a malformed file."""
    source = Path(path or os.environ.get(LANGUAGES_FILE_ENV) or DEFAULT_TABLE)
    with source.open("rb") as handle:
        return LanguageTable.model_validate(tomllib.load(handle))
