"""Authentication pillar collector (Linux): accounts, their SSH second-factor verdicts, sudo.

Reads only through ``Host``. Settings come from ``sshd -T -C`` on a live host where it works
(root, readable host keys), else from rra's own sshd_config parser; the source used is recorded
in ``facts.ssh.source`` with the reason in ``facts.ssh.notes``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rra.agent.auth.keys import KeysRead, read_authorized_keys
from rra.agent.auth.pam import PamAccount, PamStack, evaluate_pam, load_pam_stack
from rra.agent.auth.passwd import Account, AccountsError, read_accounts
from rra.agent.auth.sshd_config import (
    INVALID,
    RELEVANT,
    SshdConfig,
    SshdConfigError,
    as_text,
    load_sshd_config,
)
from rra.agent.auth.sshd_effective import (
    LiveSettings,
    Scenario,
    SettingsSource,
    SshdTestError,
    build_scenarios,
)
from rra.agent.auth.sudoers import SudoersPolicy, load_sudoers
from rra.agent.auth.verdict import (
    AccountInputs,
    Verdict,
    access_verdict,
    combine,
    profile,
    refusal,
    scenario_verdict,
    source_note,
)
from rra.agent.host import Host, HostError
from rra.checks.facts import AccountFact, SshFact

SSHD_BINARIES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd")
_DEFAULT_KEY_FILES = [".ssh/authorized_keys", ".ssh/authorized_keys2"]


@dataclass
class AuthFacts:
    accounts: list[AccountFact] | None = None
    ssh: SshFact | None = None
    unknown: dict[str, str] = field(default_factory=dict)


def _sshd_binary(host: Host) -> str | None:
    return next((path for path in SSHD_BINARIES if host.exists(path)), None)


def _settings_source(
    host: Host, config: SshdConfig, notes: list[str], use_live: bool
) -> tuple[SettingsSource, dict[str, str | list[str]]]:
    """The live sshd when ``sshd -T`` works here, else the parser; with the global settings."""
    binary = _sshd_binary(host)
    if not host.live:
        notes.append("parsed: not a live host (--root audit), sshd -T cannot describe it")
    elif not use_live:
        notes.append("parsed: sshd -T disabled by configuration")
    elif binary is None:
        notes.append("parsed: no sshd binary found")
    else:
        live = LiveSettings(config, host, sshd=binary)
        try:
            return live, live.probe()
        except (SshdTestError, HostError) as exc:
            notes.append(f"parsed: {exc}")
    return SettingsSource(config), config.global_settings()


def _pam_account(account: Account) -> PamAccount:
    return PamAccount(
        name=account.name,
        uid=account.uid,
        gid=account.gid,
        home=account.home,
        groups=account.groups,
        password_state=account.password_state,
    )


def _keys(host: Host, account: Account, source: SettingsSource, base: Scenario) -> KeysRead:
    settings = source.settings(account.name, account.groups, base)
    patterns = as_text(settings.get("authorizedkeysfile")).split()
    return read_authorized_keys(host, patterns, account.name, account.home)


def _interactive(account: Account, keys: KeysRead) -> tuple[bool, str | None]:
    """(interactive, why not). Unknown credential state counts as interactive: never rounded up."""
    if not account.login_shell:
        return False, f"not interactive: shell {account.shell}"
    if account.password_state in ("usable", "empty") or keys.keys:
        # An empty hash is the weakest credential of all, not a lock.
        return True, None
    if account.password_state is None or keys.problems:
        return True, None
    return False, "not interactive: no usable password and no authorized key"


def _sudo(
    policy: SudoersPolicy | None, problem: str | None, account: Account, hostname: str
) -> list[str] | None:
    if problem is not None:
        return None
    if policy is None:
        return []
    rules = policy.nopasswd_rules(
        account.name, account.groups, hostname, uid=account.uid, gids=account.gids
    )
    # One sudoers line can yield several rules (tags change mid-list): list each line once.
    return list(dict.fromkeys(f"{r.source}: {r.text}" for r in rules))


def collect_auth(
    host: Host,
    use_sshd_t: bool = True,
    sshd_config: str = "/etc/ssh/sshd_config",
    pam_service: str = "sshd",
    progress: Callable[[str], None] | None = None,
) -> AuthFacts:
    facts = AuthFacts()
    try:
        read = read_accounts(host)
    except AccountsError as exc:
        facts.unknown["accounts"] = str(exc)
        return facts
    if read.shadow_problem:
        facts.unknown["shadow"] = read.shadow_problem
    notes: list[str] = []
    try:
        config: SshdConfig | None = load_sshd_config(host, sshd_config)
    except SshdConfigError as exc:
        config = None
        notes.append(f"no OpenSSH server configuration: {exc}")
    hostname = host.hostname()
    try:
        sudoers: SudoersPolicy | None = load_sudoers(host)
        sudo_problem: str | None = None
        if sudoers is not None and sudoers.errors:
            facts.unknown["sudoers"] = "; ".join(sudoers.errors[:3])
    except PermissionError:
        sudo_problem = f"/etc/sudoers: permission denied ({host.permission_hint()})"
        sudoers = None
        facts.unknown["sudoers"] = sudo_problem
    if config is None:
        facts.accounts = []
        for account in read.accounts:
            keys = read_authorized_keys(host, _DEFAULT_KEY_FILES, account.name, account.home)
            interactive, why_not = _interactive(account, keys)
            verdict = Verdict("no_ssh", why_not or "no OpenSSH server on this host")
            sudo = _sudo(sudoers, sudo_problem, account, hostname)
            facts.accounts.append(_fact(account, keys, verdict, None, sudo, interactive))
        return facts
    source, global_settings = _settings_source(host, config, notes, use_sshd_t)
    scenarios, scenario_notes = build_scenarios(source.view)
    notes.extend(scenario_notes)
    base = scenarios[0]
    pam_stack: PamStack | None = None
    pam_problem: str | None = None
    if as_text(global_settings.get("usepam")) == "yes":
        pam_stack = load_pam_stack(host, pam_service)
        # errors also hold settled facts (a missing include target always fails; a missing
        # service file falls back to "other"): only an incomplete read makes verdicts unknown.
        notes.extend(f"PAM: {e}" for e in pam_stack.errors[:5])
        if pam_stack.unknown:
            pam_problem = f"PAM stack for {pam_service} could not be read: {pam_stack.unknown}"
        elif pam_stack.source is None or not pam_stack.source.endswith(f"/{pam_service}"):
            # libpam would fall back to "other", but a host whose sshd has no PAM file of its own
            # is not in a state to vouch for (a partial image, a broken package): unknown.
            pam_problem = (
                f"no PAM file for {pam_service} (PAM falls back to "
                f"{pam_stack.source or 'nothing'}); reinstall openssh-server's PAM config"
            )
        if pam_stack.failure:
            notes.append(f"PAM: {pam_stack.failure} (keyboard-interactive lets nobody in)")
    if config.errors:
        problem = "sshd_config is invalid (sshd would refuse it): " + "; ".join(config.errors[:2])
        facts.unknown["sshd_config"] = problem
    source.prefetch((a.name, a.groups, base) for a in read.accounts)
    judged: list[tuple[Account, KeysRead, bool, str | None]] = []
    for account in read.accounts:
        keys = _keys(host, account, source, base)
        judged.append((account, keys, *_interactive(account, keys)))
    source.prefetch(
        (a.name, a.groups, s) for a, _, interactive, _ in judged if interactive for s in scenarios
    )
    cache: dict[tuple[object, ...], Verdict] = {}
    accounts: list[AccountFact] = []
    for index, (account, keys, interactive, why_not) in enumerate(judged):
        if progress is not None and index % 500 == 0:
            progress(f"accounts {index}/{len(judged)}")
        sudo = _sudo(sudoers, sudo_problem, account, hostname)
        if not interactive:
            verdict = Verdict("no_ssh", why_not or "not interactive")
            accounts.append(_fact(account, keys, verdict, None, sudo, interactive=False))
            continue
        if config.errors:
            accounts.append(_fact(account, keys, Verdict("unknown", problem), None, sudo))
            continue
        pam = None
        if pam_stack is not None and not pam_problem:
            pam = evaluate_pam(pam_stack, _pam_account(account), host)
        account_pam_problem = pam.unknown_reason if pam is not None else pam_problem
        inputs = AccountInputs(account, keys, pam, account_pam_problem)
        verdicts = []
        for scenario in scenarios:
            settings = source.settings(account.name, account.groups, scenario)
            refused = refusal(settings, account, scenario) if INVALID not in settings else None
            if INVALID in settings or refused:
                # Name-dependent (refusals) or trivial: judged per account.
                verdicts.append(scenario_verdict(settings, inputs, scenario))
                continue
            # The rest depends on the settings and the account's profile, not its name.
            key = (id(settings), scenario, profile(inputs))
            if key not in cache:
                cache[key] = access_verdict(settings, inputs, source_note(scenario))
            verdicts.append(cache[key])
        accounts.append(_fact(account, keys, combine(verdicts), inputs, sudo))
    facts.accounts = accounts
    facts.ssh = SshFact(
        source="sshd -T" if source.name == "sshd -T" else "parsed",
        settings={k: v for k, v in sorted(global_settings.items()) if k in RELEVANT},
        scenarios=len(scenarios),
        pam_service=pam_service if pam_stack is not None else None,
        pam_stack=pam_stack.describe() if pam_stack is not None else [],
        notes=notes,
    )
    return facts


def _fact(
    account: Account,
    keys: KeysRead | None,
    verdict: Verdict,
    inputs: AccountInputs | None,
    sudo: list[str] | None,
    interactive: bool = True,
) -> AccountFact:
    pam = inputs.pam if inputs is not None else None
    modules = list(pam.modules) if pam is not None else []
    return AccountFact(
        name=account.name,
        uid=account.uid,
        shell=account.shell,
        interactive=interactive,
        privileged=account.privileged,
        ssh=verdict.status,
        reason=verdict.reason,
        second_factor_modules=modules,
        enrolled=pam.enrolled if pam is not None else None,
        groups=sorted(account.groups),
        password_usable=None
        if account.password_state is None
        else account.password_state == "usable",
        authorized_keys=None if keys is None or keys.problems else len(keys.keys),
        second_factor_skippable=list(pam.skippable) if pam is not None else [],
        sudo_nopasswd=sudo,
    )
