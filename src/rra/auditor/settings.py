"""Auditor configuration: ``<data_dir>/auditor.toml`` (written by ``rra auditor init``) with
``RRA_AUDITOR_...`` environment overrides. See examples/auditor.toml for every key."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict

from rra.agent.config import TomlThenEnvSettings
from rra.checks.policy import Policy
from rra.checks.units import Duration

DEFAULT_DATA_DIR = Path("/var/lib/rra-auditor")
CONFIG_NAME = "auditor.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSection(_Section):
    host: str = "0.0.0.0"  # noqa: S104 - an auditor serves the fleet; TLS is on by default
    port: int = Field(8443, ge=1, le=65535)
    tls_cert: Path | None = Field(None, description="Default <data_dir>/tls/server.pem")
    tls_key: Path | None = Field(None, description="Default <data_dir>/tls/server-key.pem")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Single report body limit")
    max_batch_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Batch body limit")
    clock_skew: Duration = Field(timedelta(minutes=5), description="Future collected_at allowed")


class LifecycleSection(_Section):
    late_after: Duration = Field(timedelta(hours=2), description="No report for this long: late")
    # "stale" is [policy] stale_after: one threshold for both the host status and the org score.


class AuditorSettings(TomlThenEnvSettings):
    model_config = SettingsConfigDict(
        env_prefix="RRA_AUDITOR_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = Field(
        None, description="sqlite:///PATH (default <data_dir>/auditor.db) or postgresql+psycopg://"
    )
    server: ServerSection = Field(default_factory=ServerSection)
    lifecycle: LifecycleSection = Field(default_factory=LifecycleSection)
    policy: Policy = Field(default_factory=Policy)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'auditor.db'}"

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def cert_path(self) -> Path:
        return self.server.tls_cert or self.tls_dir / "server.pem"

    @property
    def key_path(self) -> Path:
        return self.server.tls_key or self.tls_dir / "server-key.pem"

    @property
    def ca_path(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def policy_id(self) -> str:
        """Stable hash of the policy: host states scored under another id need a rescore."""
        document: dict[str, Any] = self.policy.model_dump(mode="json")
        encoded = json.dumps(document, sort_keys=True).encode()
        return hashlib.sha256(encoded).hexdigest()[:16]


def data_dir_from_env(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    return Path(os.environ.get("RRA_AUDITOR_DATA_DIR", str(DEFAULT_DATA_DIR)))


def load_settings(data_dir: Path | None = None, config: Path | None = None) -> AuditorSettings:
    """Settings from ``config`` (default ``<data_dir>/auditor.toml`` when it exists) and the env."""
    directory = data_dir_from_env(data_dir)
    toml = config or directory / CONFIG_NAME

    class _Loaded(AuditorSettings):
        toml_path = toml if toml.exists() else None

    loaded = _Loaded(data_dir=directory)
    return AuditorSettings.model_validate(loaded.model_dump())
