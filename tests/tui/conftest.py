"""TUI tests run against a real auditor (``rra auditor serve``, TLS, SQLite) started once per
session and seeded through its API with signed reports and drill results."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.auditor.conftest import start_server, stop_server
from tests.tui.seed import SeededFleet, seed_fleet


@pytest.fixture(scope="session")
def seeded_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededFleet]:
    data_dir = tmp_path_factory.mktemp("tui-auditor")
    server = start_server(data_dir, f"sqlite:///{data_dir / 'auditor.db'}", "sqlite")
    try:
        yield seed_fleet(server, data_dir)
    finally:
        stop_server(server)
