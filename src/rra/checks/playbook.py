"""Restore-drill playbooks (DESIGN §8): the pure model, validated by pydantic with unknown keys
rejected. Loading YAML with line numbers lives in ``rra.agent.drill.load``.

A verify step is a one-key mapping (``- files_min: 100``); the key selects the step type.
Paths in verify steps are the original absolute paths as they were backed up; the runner maps
them into the restore directory.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from rra.checks.units import Duration, Size

PLAYBOOK_SCHEMA_ID: Final = "https://rra.invalid/schema/rra.playbook/1"
NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9._-]{0,62}$"
RESTORED_PLACEHOLDER: Final = "{restored}"

# Five cron fields (minute hour day month weekday); croniter validates them fully when loaded.
_CRON = re.compile(r"^\s*(\S+\s+){4}\S+\s*$")
#: restic ``--read-data-subset``: ``N%`` or ``n/t`` (the restic adapter validates with it too).
READ_DATA_SUBSET = re.compile(r"^(\d+/\d+|\d{1,3}(\.\d+)?%)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _absolute(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"must be an absolute path, got {path!r}")
    if "\x00" in path:
        raise ValueError("must not contain NUL")
    parts = path.split("/")
    if ".." in parts:
        raise ValueError(f"must not contain '..', got {path!r}")
    return path


AbsolutePath = Annotated[str, Field(min_length=1, max_length=4096)]


class ResticSource(_Strict):
    repository: str = Field(min_length=1, description="restic repository location (-r)")
    password_file: str | None = Field(None, description="File holding the repository password")
    password_command: str | None = Field(
        None, description="Command printing the password (restic --password-command)"
    )
    snapshot: str = Field(
        "latest",
        pattern=r"^(latest|[0-9a-f]{8,64})$",
        description="'latest' (of this host and path) or a snapshot id",
    )
    host: str | None = Field(
        None,
        description="Hostname the snapshot was taken on; default: the host running the drill",
    )
    path: list[AbsolutePath] = Field(
        min_length=1, description="Backed-up path(s) the snapshot must contain"
    )
    binary: str = Field("restic", description="restic binary on the executing host")

    @field_validator("path", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _paths_absolute(cls, value: list[str]) -> list[str]:
        return [_absolute(p) for p in value]

    @model_validator(mode="after")
    def _one_password_source(self) -> ResticSource:
        if (self.password_file is None) == (self.password_command is None):
            raise ValueError("set exactly one of password_file or password_command")
        return self


class Source(_Strict):
    restic: ResticSource


class Targets(_Strict):
    hosts: list[str] = Field(
        default_factory=list, description="Hostnames or host ids that run this drill on schedule"
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Select hosts by attribute: org (prefix, segment-aware), criticality",
    )


class ResticCheck(_Strict):
    read_data_subset: str = Field(
        "5%", description="restic check --read-data-subset before restoring (N% or n/t)"
    )

    @field_validator("read_data_subset")
    @classmethod
    def _subset(cls, value: str) -> str:
        if not READ_DATA_SUBSET.match(value):
            raise ValueError(f"expected N% or n/t, got {value!r}")
        return value


class ManifestSpec(_Strict):
    file: AbsolutePath = Field(description="sha256sum-format manifest, as backed up")
    algorithm: Literal["sha256"] = "sha256"

    @field_validator("file")
    @classmethod
    def _file_absolute(cls, value: str) -> str:
        return _absolute(value)


class SqliteSpec(_Strict):
    path: AbsolutePath

    @field_validator("path")
    @classmethod
    def _path_absolute(cls, value: str) -> str:
        return _absolute(value)


class CommandSpec(_Strict):
    argv: list[str] = Field(min_length=1, description="Program and arguments; {restored} expands")
    expect_exit: int = 0
    timeout: Duration = timedelta(minutes=10)


class RestoreVerifyStep(_Strict):
    restic_verify: bool = True


class FilesMinStep(_Strict):
    files_min: int = Field(ge=0)


class BytesMinStep(_Strict):
    bytes_min: Size


class ManifestStep(_Strict):
    manifest: ManifestSpec


class SqliteIntegrityStep(_Strict):
    sqlite_integrity: SqliteSpec


class CommandStep(_Strict):
    command: CommandSpec


STEP_KINDS: Final = (
    "restic_verify",
    "files_min",
    "bytes_min",
    "manifest",
    "sqlite_integrity",
    "command",
)


def _step_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return next(iter(type(value).model_fields))
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        return key if key in STEP_KINDS else None
    return None


VerifyStep = Annotated[
    Annotated[RestoreVerifyStep, Tag("restic_verify")]
    | Annotated[FilesMinStep, Tag("files_min")]
    | Annotated[BytesMinStep, Tag("bytes_min")]
    | Annotated[ManifestStep, Tag("manifest")]
    | Annotated[SqliteIntegrityStep, Tag("sqlite_integrity")]
    | Annotated[CommandStep, Tag("command")],
    Discriminator(
        _step_kind,
        custom_error_type="verify_step",
        custom_error_message=(
            "a verify step is a mapping with exactly one key, one of: " + ", ".join(STEP_KINDS)
        ),
    ),
]


def step_kind(step: VerifyStep) -> str:
    return next(iter(type(step).model_fields))


def _default_verify() -> list[VerifyStep]:
    # A named function, not a lambda: mypy infers a lambda's list as list[RestoreVerifyStep].
    return [RestoreVerifyStep()]


class Playbook(_Strict):
    name: str = Field(pattern=NAME_PATTERN, description="Unique name (lowercase, digits, . _ -)")
    description: str | None = None
    schedule: str | None = Field(None, description="Cron expression (5 fields), optional")
    targets: Targets = Field(default_factory=Targets)
    rto: Duration = Field(description="Target time to recover (start → verified)")
    rpo: Duration = Field(
        timedelta(hours=24), description="Maximum acceptable snapshot age at drill time"
    )
    timeout: Duration = Field(
        timedelta(hours=6), description="Global limit for the whole drill; it is stopped after"
    )
    source: Source
    restic_check: ResticCheck | None = Field(
        None, description="Optional integrity check of the repository before restoring"
    )
    sandbox: AbsolutePath = Field(description="Restores go into a fresh subfolder of this")
    verify: list[VerifyStep] = Field(default_factory=_default_verify, description="All must pass")
    cleanup: Literal["always", "on_success", "never"] = "always"

    @field_validator("schedule")
    @classmethod
    def _cron_shape(cls, value: str | None) -> str | None:
        if value is not None and not _CRON.match(value):
            raise ValueError("expected a cron expression with 5 fields, e.g. '0 2 * * 6'")
        return value

    @field_validator("sandbox")
    @classmethod
    def _sandbox_absolute(cls, value: str) -> str:
        return _absolute(value)

    @field_validator("rto", "rpo", "timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("must be greater than zero")
        return value

    @property
    def restic_verify(self) -> bool:
        """``restore --verify`` unless a ``restic_verify: false`` step turns it off."""
        return all(s.restic_verify for s in self.verify if isinstance(s, RestoreVerifyStep))


def playbook_json_schema() -> dict[str, Any]:
    """The published JSON Schema of a playbook (``rra schema playbook``)."""
    schema = Playbook.model_json_schema(mode="validation")
    schema["$id"] = PLAYBOOK_SCHEMA_ID
    schema["title"] = "rra.playbook/1"
    return schema
