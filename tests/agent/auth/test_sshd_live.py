"""The live source's shortcut (one sshd -T per class and per scenario, values reused by the
block that decides them) gives exactly what a direct ``sshd -T -C`` call gives for every cell."""

from __future__ import annotations

import os
from pathlib import Path

from rra.agent.auth.sshd_config import VERDICT_KEYWORDS, as_text, load_sshd_config
from rra.agent.auth.sshd_effective import LiveSettings, build_scenarios
from rra.agent.local import LocalHost
from tests.agent.auth.test_sshd_differential import USERS, _groups_of, _sshd_t
from tests.conftest import require

CONFIG = """UsePAM yes
KbdInteractiveAuthentication yes
AuthenticationMethods publickey,keyboard-interactive
AllowUsers root daemon nobody postgres www-data
Match User root
  PermitRootLogin no
  X11Forwarding no
Match Group daemon,ssl-cert
  AuthenticationMethods publickey
Match Address 10.0.0.0/8,!10.9.0.0/16
  PasswordAuthentication no
  AllowUsers daemon
Match User nobody Address 192.168.0.0/16
  AuthenticationMethods password
Match LocalPort 2222
  PubkeyAuthentication no
Match Address 172.16.0.0/12
  AuthenticationMethods keyboard-interactive
Match all
  PermitEmptyPasswords no
"""


def test_assembled_settings_equal_direct_calls(tmp_path: Path) -> None:
    require(
        "sshd (as root)",
        Path("/usr/sbin/sshd").exists() and os.geteuid() == 0,
        "apt-get install openssh-server",
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    path = tmp_path / "sshd_config"
    path.write_text(CONFIG)
    config = load_sshd_config(LocalHost("/"), str(path))
    live = LiveSettings(config, LocalHost("/"), sshd="/usr/sbin/sshd")
    scenarios, _ = build_scenarios(live.view)
    assert len(scenarios) == 5  # any source + 4 address-bearing blocks
    cells = [(u, _groups_of(u), s) for u in USERS for s in scenarios]
    live.prefetch(cells)
    assert live.calls < len(cells)  # the shortcut saved calls...
    for user, groups, scenario in cells:
        ours = live.settings(user, groups, scenario)
        real = _sshd_t(path, scenario.connection(user))
        assert real is not None
        for keyword in VERDICT_KEYWORDS:  # ...and changed nothing
            assert as_text(ours[keyword]) == as_text(real[keyword]), (keyword, user, scenario.label)
