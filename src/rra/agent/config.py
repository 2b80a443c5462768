"""Agent configuration: TOML read with pydantic-settings, overridden by ``RRA_...`` environment variables.

    [agent]    org = "mic/ais"  criticality = "high"  state_dir = "/var/lib/rra"
    [[backup]] name = "finance"  repository = "/srv/backup/finance"
               password_file = "/etc/rra/finance.pass"  paths = ["/var/lib/finance"]  rpo = "24h"
    [exposure] bastions = ["10.0.5.10", "10.0.5.0/28"]  window = "30d"
    [delivery] spool_max_reports = 1000  batch_size = 50  interval = "1h"  jitter = 0.1
    [drills]   pull = true  max_per_run = 5  lock_wait = "10m"

Env overrides use ``__`` between levels: ``RRA_AGENT__ORG=mic/ais``.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from rra.checks.protocol import MAX_BATCH_REPORTS
from rra.checks.units import Duration

DEFAULT_CONFIG_PATH = "/etc/rra/agent.toml"
_READ_DATA = re.compile(r"^(none|all|\d{1,3}(\.\d+)?%|rotate:\d{1,4})$")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file, the key and what was expected."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentSection(_Section):
    org: str = Field("unassigned", description="Org path this host belongs to, e.g. mic/ais")
    criticality: Literal["high", "medium", "low"] = "medium"
    state_dir: Path | None = Field(
        None,
        description="Where the agent keeps its state; default /var/lib/rra as root, else user data",
    )
    labels: dict[str, str] = Field(default_factory=dict)
    restic_binary: str = "restic"

    @field_validator("org")
    @classmethod
    def _org_path(cls, org: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*", org):
            raise ValueError(
                "expected an org path of lower-case segments separated by '/', e.g. mic/ais"
            )
        return org


class BackupConfig(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    repository: str
    password_file: str | None = None
    password_command: str | None = None
    paths: list[str] = Field(min_length=1, description="Absolute paths this backup must cover")
    environment_file: str | None = Field(
        None,
        description="KEY=value file with storage-backend credentials (AWS_*, B2_*...) for restic",
    )
    host: str | None = Field(None, description="restic snapshot hostname; default this host's name")
    rpo: Duration = timedelta(hours=24)
    offsite: bool | None = None
    append_only: bool | None = None
    check_interval: Duration = Field(timedelta(days=7), description="Run restic check this often")
    check_read_data: str = Field(
        "rotate:12",
        description="Pack data the check reads: none, all, N%, or rotate:T (1/T per check, in turn)",
    )
    timeout: Duration = Field(timedelta(hours=2), description="Limit for any one restic command")

    @field_validator("paths")
    @classmethod
    def _absolute(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if not path.startswith("/"):
                raise ValueError(f"expected absolute paths, got {path!r}")
        return [path.rstrip("/") or "/" for path in paths]

    @field_validator("check_read_data")
    @classmethod
    def _read_data(cls, value: str) -> str:
        if not _READ_DATA.match(value):
            raise ValueError(
                "expected none, all, a percentage such as '5%', or rotate:T such as 'rotate:12'"
            )
        return value

    @model_validator(mode="after")
    def _one_password_source(self) -> BackupConfig:
        if (self.password_file is None) == (self.password_command is None):
            raise ValueError("set exactly one of password_file or password_command")
        return self


class ExposureSection(_Section):
    """``[exposure]``: admin services and direct-access sources."""

    enabled: bool = True
    bastions: list[IPv4Network | IPv6Network] = Field(default_factory=list)
    window: Duration = timedelta(days=30)
    #: Addresses of a management network: a service bound only to these is not exposed.
    management_addresses: list[IPv4Network | IPv6Network] = Field(default_factory=list)

    @field_validator("bastions", "management_addresses", mode="before")
    @classmethod
    def _networks(cls, values: Any) -> Any:
        if isinstance(values, list):
            return [ip_network(v, strict=False) if isinstance(v, str) else v for v in values]
        return values


class AuthSection(_Section):
    """``[auth]``: how the authentication pillar is collected."""

    enabled: bool = True
    #: Ask the installed sshd (``sshd -T -C``) for effective settings when it can (root).
    sshd_t: bool = True
    sshd_config: str = "/etc/ssh/sshd_config"
    pam_service: str = "sshd"


class DeliverySection(_Section):
    """``[delivery]``: the spool and how ``rra agent run`` sends it to the auditor."""

    spool_max_reports: int = Field(
        1000, ge=1, description="Spool cap; adding beyond it drops (and counts) the oldest report"
    )
    batch_size: int = Field(50, ge=1, le=MAX_BATCH_REPORTS, description="Reports per request")
    interval: Duration = Field(timedelta(hours=1), description="Loop mode: time between runs")
    jitter: float = Field(
        0.1, ge=0, le=1, description="Loop mode: random ± share of the interval, spreads load"
    )
    retry_attempts: int = Field(5, ge=1, le=100, description="Tries per request before giving up")
    retry_max_wait: Duration = Field(
        timedelta(seconds=60), description="Upper bound of one jittered backoff wait"
    )
    timeout: Duration = Field(timedelta(seconds=30), description="Limit for one HTTP request")

    @field_validator("interval", "timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("expected a duration greater than zero, e.g. '30s' or '1h'")
        return value


class DrillsSection(_Section):
    """``[drills]``: restore drills the auditor schedules for this host (DESIGN §8)."""

    pull: bool = Field(
        True, description="On each `rra agent run`, claim and run this host's due drills"
    )
    max_per_run: int = Field(5, ge=1, le=20, description="Due drills claimed per run")
    lock_wait: Duration = Field(
        timedelta(minutes=10), description="Wait this long for another drill on this host"
    )


class TomlThenEnvSettings(BaseSettings):
    """Settings read from ``toml_path`` (when set), overridden by the environment, overridden by
    explicit arguments. No .env files and no secrets directory: nothing is read implicitly."""

    toml_path: ClassVar[Path | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls.toml_path))
        return tuple(sources)


class AgentConfig(TomlThenEnvSettings):
    model_config = SettingsConfigDict(
        env_prefix="RRA_", env_nested_delimiter="__", extra="forbid", populate_by_name=True
    )

    agent: AgentSection = Field(default_factory=AgentSection)
    backup: list[BackupConfig] = Field(default_factory=list)
    exposure: ExposureSection = Field(default_factory=ExposureSection)
    auth: AuthSection = Field(default_factory=AuthSection)
    delivery: DeliverySection = Field(default_factory=DeliverySection)
    drills: DrillsSection = Field(default_factory=DrillsSection)

    @field_validator("backup")
    @classmethod
    def _unique_names(cls, backups: list[BackupConfig]) -> list[BackupConfig]:
        names = [b.name for b in backups]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"backup names must be unique; repeated: {', '.join(duplicates)}")
        return backups

    def resolved_state_dir(self) -> Path:
        return self.agent.state_dir or default_state_dir()


def default_state_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/rra")
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "rra"


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def format_validation_error(source: str, error: ValidationError) -> str:
    lines = [f"{source}: invalid configuration"]
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        got = item.get("input")
        shown = "" if item["type"] == "missing" or isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  {_location(tuple(item['loc']))}: {message}{shown}")
    return "\n".join(lines)


def load_config(path: str | os.PathLike[str] | None) -> AgentConfig:
    """Load the agent config. ``path=None`` reads the default file when it exists, else defaults."""
    if path is None:
        path = DEFAULT_CONFIG_PATH if Path(DEFAULT_CONFIG_PATH).exists() else None
    toml_path = Path(path) if path is not None else None
    if toml_path is not None:
        # Read it once ourselves: clear errors for a missing file and for TOML syntax (line, column).
        try:
            with toml_path.open("rb") as handle:
                tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"{toml_path}: configuration file not found") from None
        except PermissionError:
            raise ConfigError(f"{toml_path}: permission denied reading the configuration") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{toml_path}: invalid TOML: {exc}") from None
    settings_cls = type("AgentConfigFromFile", (AgentConfig,), {"toml_path": toml_path})
    try:
        config: AgentConfig = settings_cls()
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(str(toml_path) if toml_path else "environment", exc)
        ) from None
    return config
