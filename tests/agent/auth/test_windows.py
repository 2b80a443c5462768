"""Windows remote-logon collection and the second-factor rule (docs/windows-auth.md).

No Windows machine exists here, so the host side is replayed: ``ReplayHost`` answers each
PowerShell section with a recorded stdout from ``data/windows/<scenario>.<section>.json|txt``,
written in exactly the shape the scripts print (including the awkward ones: BOM, CRLF, warnings
before the document, a prompt after it, truncated output, PowerShell-unwrapped arrays).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rra.agent.auth import windows_parse as wp
from rra.agent.auth.windows import (
    MAX_SCRIPT_CHARS,
    NO_RIGHT_REASON,
    RDP_ONE_FACTOR,
    RDP_ONE_FACTOR_NO_NLA,
    WINDOWS_SECTIONS,
    WINRM_ONE_FACTOR,
    WINRM_ONE_FACTOR_SMARTCARD,
    ChannelState,
    WindowsAuthResult,
    account_verdict,
    collect_windows_auth,
    parse_windows_auth,
    powershell_argv,
)
from rra.agent.host import (
    CommandNotFound,
    CommandTimeout,
    HostError,
    RunResult,
)
from rra.checks.facts import AccountFact
from tests.windows_replay import WindowsReplayHost

DATA = Path(__file__).parent / "data" / "windows"
SECTIONS = list(WINDOWS_SECTIONS)
ADMINS, RDU, RMU = wp.ADMINISTRATORS, wp.REMOTE_DESKTOP_USERS, wp.REMOTE_MANAGEMENT_USERS


# --- the replay host --------------------------------------------------------------------------


class ReplayHost(WindowsReplayHost):
    """A ``Host`` that answers each section's script with a recorded result (or raises)."""

    def __init__(self, answers: Mapping[str, RunResult | HostError]) -> None:
        self.answers = dict(answers)
        self.calls: list[tuple[list[str], float]] = []

    def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> RunResult:
        self.calls.append((list(argv), timeout))
        assert list(argv[:-1]) == powershell_argv("")[:-1], argv[:-1]
        names = [name for name, script in WINDOWS_SECTIONS.items() if script == argv[-1]]
        assert len(names) == 1, "the script is not one of the sections"
        answer = self.answers.get(names[0], HostError(f"no recording for {names[0]}"))
        if isinstance(answer, HostError):
            raise answer
        return answer


def recording(scenario: str) -> dict[str, RunResult | HostError]:
    answers: dict[str, RunResult | HostError] = {}
    for section in SECTIONS:
        for suffix in ("json", "txt"):
            path = DATA / f"{scenario}.{section}.{suffix}"
            if path.exists():
                answers[section] = RunResult(0, path.read_bytes(), b"")
    assert answers, f"no recording named {scenario}"
    return answers


def replay(scenario: str, **overrides: RunResult | HostError) -> WindowsAuthResult:
    return collect_windows_auth(ReplayHost({**recording(scenario), **overrides}))


def outputs(scenario: str) -> dict[str, str | None]:
    return {
        name: wp.decode_output(answer.stdout)
        for name, answer in recording(scenario).items()
        if isinstance(answer, RunResult)
    }


def by_name(result: WindowsAuthResult) -> dict[str, AccountFact]:
    return {account.name: account for account in result.accounts}


def ok(document: object) -> RunResult:
    return RunResult(0, (json.dumps(document) + "\r\n").encode(), b"")


# --- the scripts ------------------------------------------------------------------------------


def powershell_balance(script: str) -> list[str]:
    """Unbalanced brackets and unterminated strings, by a small PowerShell tokenizer.

    Knows comments, '...' (with ''), "..." (with `, "" and $( ) subexpressions); enough for the
    constructs the sections use (no here-strings).
    """
    closing = {")": "(", "}": "{", "]": "["}
    stack: list[str] = []  # brackets, and '"' under the "(" of a $( ) inside a string
    mode = "code"
    errors: list[str] = []
    i = 0
    while i < len(script):
        char = script[i]
        after = script[i + 1] if i + 1 < len(script) else ""
        if mode == "code":
            if char == "#":
                newline = script.find("\n", i)
                i = len(script) if newline == -1 else newline
                continue
            if char == "'":
                mode = "single"
            elif char == '"':
                mode = "double"
            elif char == "`":
                i += 1
            elif char in "({[":
                stack.append(char)
            elif char in ")}]":
                if not stack or stack[-1] != closing[char]:
                    errors.append(f"unexpected {char!r} at {i}")
                    return errors
                stack.pop()
                if char == ")" and stack and stack[-1] == '"':
                    stack.pop()
                    mode = "double"
        elif mode == "single":
            if char == "'":
                if after == "'":
                    i += 1
                else:
                    mode = "code"
        elif mode == "double":
            if char == "`":
                i += 1
            elif char == '"':
                if after == '"':
                    i += 1
                else:
                    mode = "code"
            elif char == "$" and after == "(":
                stack.extend(['"', "("])
                i += 1
                mode = "code"
        i += 1
    if mode != "code":
        errors.append(f"unterminated {mode}-quoted string")
    if stack:
        errors.append(f"unclosed {''.join(stack)!r}")
    return errors


def test_the_five_sections_exist() -> None:
    assert SECTIONS == ["accounts", "groups", "remote", "duo", "hello"]


@pytest.mark.parametrize("name", SECTIONS)
def test_every_section_fits_winrm_run_ps(name: str) -> None:
    # run_ps fails above ~3,060 characters (UTF-16 + base64 on a command line).
    assert len(WINDOWS_SECTIONS[name]) < MAX_SCRIPT_CHARS == 3000


@pytest.mark.parametrize("name", SECTIONS)
def test_every_section_is_well_formed_powershell(name: str) -> None:
    script = WINDOWS_SECTIONS[name]
    assert powershell_balance(script) == []
    assert script.isascii()
    # One document, arrays kept: -InputObject (the pipeline form unwraps 1-element arrays).
    assert script.count("ConvertTo-Json -InputObject $o -Depth 5 -Compress") == 1
    assert not re.search(r"\|\s*ConvertTo-Json", script)
    # Errors stop inside the try and come out as {"error": ...}.
    assert script.index("try {") < script.index("$ErrorActionPreference = 'Stop'")
    assert "catch { $o = [ordered]@{error = [string]$_.Exception.Message} }" in script
    # Comments were stripped from what is sent, and only comments.
    assert not any(line.lstrip().startswith("#") for line in script.splitlines())


@pytest.mark.parametrize("name", SECTIONS)
def test_no_variables_that_powershell_would_merge(name: str) -> None:
    # Variable names are case-insensitive: $G and $g are one variable, and assigning to an
    # automatic variable ($input, $host, $matches, ...) silently misbehaves.
    names = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", WINDOWS_SECTIONS[name]))
    spellings: dict[str, set[str]] = {}
    for variable in names:
        spellings.setdefault(variable.lower(), set()).add(variable)
    assert {k: v for k, v in spellings.items() if len(v) > 1} == {}
    automatic = {"args", "error", "event", "home", "host", "input", "matches", "pid", "profile"}
    assert not {n.lower() for n in names} & (automatic | {"psitem", "sender", "this"})


def test_the_tokenizer_catches_broken_scripts() -> None:
    assert powershell_balance("if ($a) { 'x' ") == ["unclosed '{'"]
    assert powershell_balance("$a = 'it''s") == ["unterminated single-quoted string"]
    assert powershell_balance('"a $(Get-Date) b" }') == ["unexpected '}' at 18"]
    assert powershell_balance('"$( (1) )" # ) {') == []


def test_dates_are_round_trip_strings() -> None:
    assert ".ToString('o')" in WINDOWS_SECTIONS["accounts"]
    for script in WINDOWS_SECTIONS.values():
        assert "Get-Date -Format" not in script


def test_the_duo_secret_is_never_read() -> None:
    script = WINDOWS_SECTIONS["duo"]
    assert "SKey" not in script
    assert "'FailOpen', 'RdpOnly'" in script  # an allow-list, not the whole key


def test_groups_are_found_by_sid_with_an_adsi_fallback() -> None:
    script = WINDOWS_SECTIONS["groups"]
    for sid in (ADMINS, RDU, RMU):
        assert f"'{sid}'" in script
    assert "Get-LocalGroupMember -SID $sid" in script
    assert ".Invoke('Members')" in script
    assert '[ADSI]"WinNT://$env:COMPUTERNAME"' in WINDOWS_SECTIONS["accounts"]


def test_powershell_argv() -> None:
    assert powershell_argv("X") == [
        "powershell.exe",
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
        "-Command",
        "X",
    ]


# --- recorded hosts ---------------------------------------------------------------------------


def test_collect_runs_every_section_once_through_host_run() -> None:
    host = ReplayHost(recording("member_server"))
    collect_windows_auth(host, timeout=12.5)
    assert [argv[-1] for argv, _t in host.calls] == list(WINDOWS_SECTIONS.values())
    assert {timeout for _a, timeout in host.calls} == {12.5}


def test_member_server_without_second_factor() -> None:
    result = replay("member_server")
    accounts = by_name(result)
    verdicts = {n: (a.interactive, a.privileged, a.ssh, a.channels) for n, a in accounts.items()}
    both = {"rdp": "missing", "winrm": "missing"}
    assert verdicts == {
        "Administrator": (True, True, "missing", both),
        "DefaultAccount": (False, False, "no_ssh", {}),
        "Guest": (False, False, "no_ssh", {}),
        "WDAGUtilityAccount": (False, False, "no_ssh", {}),
        "opsadmin": (True, True, "missing", both),
        "alice": (True, False, "missing", {"rdp": "missing"}),
        "bob": (True, False, "missing", {"winrm": "missing"}),
        "old.admin": (False, True, "no_ssh", {}),
        "svc_backup": (False, False, "no_ssh", {}),
        "CORP\\j.doe": (True, True, "missing", both),
    }
    assert accounts["alice"].reason == RDP_ONE_FACTOR
    assert accounts["bob"].reason == WINRM_ONE_FACTOR
    assert accounts["opsadmin"].reason == f"{RDP_ONE_FACTOR}. {WINRM_ONE_FACTOR}"
    assert accounts["svc_backup"].reason == NO_RIGHT_REASON
    assert accounts["old.admin"].reason == "account disabled"
    assert accounts["Administrator"].uid == 500
    assert accounts["CORP\\j.doe"].uid is None
    assert accounts["alice"].groups == ["Remote Desktop Users"]
    assert all(a.second_factor_modules == [] and a.enrolled is None for a in result.accounts)
    settings = result.settings
    assert (settings.rdp_enabled, settings.nla_required, settings.winrm_enabled) == (
        True,
        True,
        True,
    )
    assert (settings.duo_installed, settings.smartcard_forced) == (False, False)
    # The domain group cannot be expanded; the orphaned SID is no account but is reported.
    assert set(result.unknown) == {"domain_members"}
    assert "CORP\\Domain Admins (Administrators)" in result.unknown["domain_members"]
    notes = "\n".join(settings.notes)
    assert "orphaned SID S-1-5-21-1004336348-1177238915-682003330-1107" in notes
    assert "Failed to compare two elements in the array." in notes  # why ADSI was used
    assert "WinRM listeners: HTTP *:5985" in notes
    assert not any("1107" in a.name for a in result.accounts)


def test_duo_fail_closed_by_group_policy_is_unknown_not_enforced() -> None:
    # DESIGN §3: Duo's server decides (a user may be set to bypass), so never "enforced".
    result = replay("duo_failclosed")
    accounts = by_name(result)
    for name in ("Administrator", "it.admin"):
        assert accounts[name].ssh == "unknown"
        assert accounts[name].channels == {"rdp": "unknown"}  # WinRM is stopped
        assert accounts[name].second_factor_modules == ["duo"]
    assert "FailOpen=0" in accounts["it.admin"].reason
    # The installer wrote FailOpen=1; the policy value (0) wins.
    assert result.settings.duo_fail_open is False
    assert result.settings.winrm_enabled is False
    assert result.unknown == {}
    # A stopped service has no WSMan: drive: that is not reported as a read failure.
    assert not any("unreadable" in note for note in result.settings.notes)


def test_localized_host_with_bom_crlf_adsi_and_duo_failing_open() -> None:
    result = replay("localized_de")
    accounts = by_name(result)
    assert set(accounts) == {"Administrator", "Gast", "jürgen", "praktikant"}
    jurgen = accounts["jürgen"]
    assert jurgen.channels == {"rdp": "unknown", "winrm": "missing"}
    assert (jurgen.ssh, jurgen.privileged) == ("missing", True)
    assert jurgen.groups == ["Administratoren", "Remotedesktopbenutzer"]
    assert jurgen.reason == WINRM_ONE_FACTOR
    # Authenticated Users in Remotedesktopbenutzer: every account may use RDP.
    praktikant = accounts["praktikant"]
    assert (praktikant.interactive, praktikant.ssh) == (True, "unknown")
    assert praktikant.channels == {"rdp": "unknown"}
    assert "FailOpen=1" in praktikant.reason
    # WHfB with RequireSecurityDevice changes no verdict; it is detected and noted.
    assert result.settings.hello_for_business is True
    assert result.settings.hello_requires_security_device is True
    assert praktikant.second_factor_modules == ["duo", "whfb"]
    assert accounts["Administrator"].ssh == "no_ssh"  # disabled, though in Administratoren
    # Listeners came from `winrm enumerate` after the WSMan: drive failed.
    assert result.settings.winrm_enabled is True
    assert result.settings.nla_required is False
    notes = "\n".join(result.settings.notes)
    assert "port 3390" in notes
    assert "Authentifizierte Benutzer" in notes
    assert "PASSWD_NOTREQD): praktikant" in notes
    assert "domain_members" not in result.unknown  # a workgroup host
    assert result.unknown == {}


def test_broken_sections_become_unknown_never_a_crash() -> None:
    result = replay("broken")
    assert set(result.unknown) == {"groups", "rdp", "winrm", "duo", "hello", "smartcard"}
    assert "The network path was not found." in result.unknown["groups"]
    assert "no JSON document" in result.unknown["rdp"]
    assert result.unknown["duo"].endswith("Requested registry access is not allowed.")
    assert "printed nothing" in result.unknown["hello"]
    accounts = by_name(result)
    # Accounts were still read (a prompt after the document is ignored).
    assert len(accounts) == 9
    admin = accounts["Administrator"]
    assert (admin.ssh, admin.channels) == ("unknown", {"rdp": "unknown", "winrm": "unknown"})
    # The cause is named once, not once per channel.
    assert admin.reason.count("no JSON document") == 1
    # Remote Desktop Users unreadable: svc_backup may be in it, so it is not dropped.
    assert (accounts["svc_backup"].interactive, accounts["svc_backup"].ssh) == (True, "unknown")
    assert accounts["Guest"].ssh == "no_ssh"
    assert "orphaned SID" in "\n".join(result.settings.notes)


def test_legacy_shapes_unwrapped_arrays_and_string_dwords() -> None:
    result = replay("legacy_shapes")
    (admin,) = result.accounts
    assert (admin.name, admin.uid, admin.privileged) == ("Administrator", 500, True)
    # scforceoption "1" (a string): RDP enforced; WinRM still takes a password.
    assert admin.channels == {"rdp": "enforced", "winrm": "missing"}
    assert (admin.ssh, admin.reason) == ("missing", WINRM_ONE_FACTOR_SMARTCARD)
    assert result.settings.smartcard_forced is True
    assert admin.second_factor_modules == ["smartcard"]
    assert "WinRM listeners: HTTPS *:5986" in result.settings.notes
    # Remote Management Users does not exist here (pre-2012): an empty group, not unknown.
    assert any("does not exist" in note for note in result.settings.notes)
    assert result.unknown == {}


def test_parse_windows_auth_matches_collection() -> None:
    for scenario in ("member_server", "localized_de", "broken"):
        assert parse_windows_auth(outputs(scenario)) == replay(scenario)


def test_facts_serialize() -> None:
    result = replay("member_server")
    for account in result.accounts:
        assert AccountFact.model_validate_json(account.model_dump_json()) == account
    assert json.loads(result.settings.model_dump_json())["rdp_enabled"] is True


# --- transport failures -----------------------------------------------------------------------


def test_transport_errors_make_their_areas_unknown() -> None:
    result = replay(
        "member_server",
        groups=CommandTimeout("powershell.exe ran longer than 60 s"),
        duo=HostError("WinRM: connection reset"),
    )
    assert result.unknown["groups"] == (
        "could not run the groups section: CommandTimeout: powershell.exe ran longer than 60 s"
    )
    assert result.unknown["duo"].startswith("could not run the duo section: HostError")
    accounts = by_name(result)
    # Groups unknown: every enabled account may have a right; RDP's Duo state is unknown too.
    assert accounts["svc_backup"].ssh == "unknown"
    assert accounts["svc_backup"].channels == {"rdp": "unknown", "winrm": "unknown"}
    # The built-in Administrator is an Administrators member whatever the groups section says.
    assert accounts["Administrator"].privileged is True
    assert accounts["opsadmin"].privileged is False  # not knowable: never rounded up
    assert accounts["Guest"].ssh == "no_ssh"
    assert not any(a.name.startswith("CORP\\") for a in result.accounts)


def test_powershell_missing_everywhere() -> None:
    host = ReplayHost(dict.fromkeys(SECTIONS, CommandNotFound("powershell.exe")))
    result = collect_windows_auth(host)
    assert result.accounts == []
    assert set(result.unknown) == {
        "accounts",
        "groups",
        "rdp",
        "winrm",
        "duo",
        "hello",
        "smartcard",
    }
    assert all("CommandNotFound" in reason for reason in result.unknown.values())
    assert result.settings.rdp_enabled is None


def test_a_failing_exit_code_without_a_document_keeps_stderr() -> None:
    clixml = (
        b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        b"<S S=\"Error\">Cannot bind parameter 'SID'._x000D__x000A_</S></Objs>"
    )
    result = replay("member_server", hello=RunResult(1, b"", clixml))
    assert result.unknown["hello"] == "the hello section exited 1: Cannot bind parameter 'SID'."


def test_a_failing_exit_code_with_a_document_still_uses_it() -> None:
    recorded = recording("member_server")["duo"]
    assert isinstance(recorded, RunResult)
    result = replay("member_server", duo=RunResult(1, recorded.stdout, b"warning"))
    assert "duo" not in result.unknown
    assert result.settings.duo_installed is False


def test_sections_not_given_to_the_parser_are_unknown() -> None:
    result = parse_windows_auth({"accounts": outputs("member_server")["accounts"], "duo": None})
    assert result.unknown["groups"] == "the groups section was not collected"
    assert result.unknown["duo"] == "the duo section failed to run"
    assert {a.ssh for a in result.accounts if a.interactive} == {"unknown"}


def test_accounts_unreadable_but_groups_known() -> None:
    result = replay("member_server", accounts=ok({"error": "Access is denied."}))
    assert result.unknown["accounts"] == "accounts section: failed on the host: Access is denied."
    accounts = by_name(result)
    # Members still become accounts; their enabled state is unknown, so they count as enabled.
    assert set(accounts) == {
        "Administrator",
        "opsadmin",
        "old.admin",
        "alice",
        "bob",
        "CORP\\j.doe",
    }
    assert accounts["old.admin"].ssh == "missing"
    assert "enabled state unreadable" in accounts["old.admin"].reason
    assert accounts["opsadmin"].uid == 1001


# --- the verdict table ------------------------------------------------------------------------

ADMIN = {ADMINS: True, RDU: False, RMU: False}
RDP_USER = {ADMINS: False, RDU: True, RMU: False}
WINRM_USER = {ADMINS: False, RDU: False, RMU: True}
NOBODY = {ADMINS: False, RDU: False, RMU: False}


def state(**changes: object) -> ChannelState:
    base: dict[str, object] = {
        "rdp_enabled": True,
        "nla_required": True,
        "winrm_enabled": False,
        "smartcard_forced": False,
        "duo_installed": False,
        "duo_fail_open": None,
    }
    base.update(changes)
    return ChannelState(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("membership", "host", "channels", "verdict", "reason"),
    [
        # RDP
        (RDP_USER, state(), {"rdp": "missing"}, "missing", RDP_ONE_FACTOR),
        (RDP_USER, state(nla_required=False), {"rdp": "missing"}, "missing", RDP_ONE_FACTOR_NO_NLA),
        (
            RDP_USER,
            state(smartcard_forced=True),
            {"rdp": "enforced"},
            "enforced",
            "scforceoption=1",
        ),
        (
            RDP_USER,
            state(duo_installed=True, duo_fail_open=False),
            {"rdp": "unknown"},
            "unknown",
            "FailOpen=0",
        ),
        (
            RDP_USER,
            state(duo_installed=True, duo_fail_open=True),
            {"rdp": "unknown"},
            "unknown",
            "fails open (FailOpen=1)",
        ),
        (
            RDP_USER,
            state(duo_installed=True, duo_fail_open=None),
            {"rdp": "unknown"},
            "unknown",
            "FailOpen is not set",
        ),
        (
            RDP_USER,
            state(duo_installed=None, duo_unknown_reason="duo section: boom"),
            {"rdp": "unknown"},
            "unknown",
            "could not read the Duo settings (duo section: boom)",
        ),
        (RDP_USER, state(smartcard_forced=None), {"rdp": "unknown"}, "unknown", "scforceoption"),
        (
            RDP_USER,
            state(duo_installed=None, smartcard_forced=True),
            {"rdp": "enforced"},
            "enforced",
            "smart card",
        ),
        (RDP_USER, state(rdp_enabled=None), {"rdp": "unknown"}, "unknown", "whether RDP is on"),
        (
            RDP_USER,
            state(rdp_enabled=None, smartcard_forced=True),
            {"rdp": "enforced"},
            "enforced",
            "smart card",
        ),
        (RDP_USER, state(rdp_enabled=False), {}, "no_ssh", "RDP: off"),
        # WinRM: Duo and smart cards do not cover network logons
        (WINRM_USER, state(winrm_enabled=True), {"winrm": "missing"}, "missing", WINRM_ONE_FACTOR),
        (
            WINRM_USER,
            state(winrm_enabled=True, duo_installed=True, duo_fail_open=False),
            {"winrm": "missing"},
            "missing",
            "Duo for Windows Logon does not cover PowerShell remoting",
        ),
        (
            WINRM_USER,
            state(winrm_enabled=True, smartcard_forced=True),
            {"winrm": "missing"},
            "missing",
            WINRM_ONE_FACTOR_SMARTCARD,
        ),
        (WINRM_USER, state(winrm_enabled=None), {"winrm": "unknown"}, "unknown", "WinRM is on"),
        (WINRM_USER, state(winrm_enabled=False), {}, "no_ssh", "WinRM: off"),
        # Administrators: both channels; the aggregate is the worst
        (
            ADMIN,
            state(winrm_enabled=True, smartcard_forced=True),
            {"rdp": "enforced", "winrm": "missing"},
            "missing",
            WINRM_ONE_FACTOR_SMARTCARD,
        ),
        (
            ADMIN,
            state(winrm_enabled=None, duo_installed=True, duo_fail_open=False),
            {"rdp": "unknown", "winrm": "unknown"},
            "unknown",
            "whether WinRM is on",
        ),
        (
            ADMIN,
            state(rdp_enabled=False, winrm_enabled=False),
            {},
            "no_ssh",
            "no remote logon channel open (RDP: off; WinRM: off)",
        ),
        # Rights
        (NOBODY, state(winrm_enabled=True), {}, "no_ssh", NO_RIGHT_REASON),
        (
            {ADMINS: False, RDU: None, RMU: False},
            state(),
            {"rdp": "unknown"},
            "unknown",
            "could not read membership of Administrators/Remote Desktop Users (RDP)",
        ),
        (
            {ADMINS: None, RDU: None, RMU: None},
            state(smartcard_forced=True),
            {"rdp": "enforced"},
            "enforced",
            "smart card",
        ),
    ],
)
def test_verdict_table(
    membership: dict[str, bool | None],
    host: ChannelState,
    channels: dict[str, str],
    verdict: str,
    reason: str,
) -> None:
    interactive, got_channels, got_verdict, got_reason = account_verdict(True, membership, host)
    assert (got_channels, got_verdict) == (channels, verdict)
    assert reason in got_reason
    assert interactive is (membership != NOBODY)


def test_disabled_accounts_have_no_channel() -> None:
    assert account_verdict(False, ADMIN, state(winrm_enabled=True)) == (
        False,
        {},
        "no_ssh",
        "account disabled",
    )


def test_enabled_unknown_counts_as_enabled() -> None:
    interactive, channels, verdict, _ = account_verdict(None, RDP_USER, state())
    assert (interactive, channels, verdict) == (True, {"rdp": "missing"}, "missing")


def test_windows_hello_for_business_does_not_enforce_rdp() -> None:
    recorded = outputs("member_server")
    recorded["hello"] = json.dumps(
        {"whfb": {"enabled": 1, "require_security_device": 1}, "scforceoption": 0}
    )
    result = parse_windows_auth(recorded)
    alice = by_name(result)["alice"]
    assert (alice.ssh, alice.reason) == ("missing", RDP_ONE_FACTOR)
    assert alice.second_factor_modules == ["whfb"]


def test_group_policy_can_turn_rdp_off() -> None:
    recorded = outputs("member_server")
    document = json.loads(recorded["remote"] or "")
    document["rdp"]["policy_deny"] = 1
    recorded["remote"] = json.dumps(document)
    result = parse_windows_auth(recorded)
    assert result.settings.rdp_enabled is False
    assert by_name(result)["alice"].ssh == "no_ssh"
    assert by_name(result)["opsadmin"].channels == {"winrm": "missing"}


_VERDICTS = st.sampled_from([True, False, None])


@settings(max_examples=300, deadline=None)
@given(
    enabled=_VERDICTS,
    admins=_VERDICTS,
    rdu=_VERDICTS,
    rmu=_VERDICTS,
    rdp=_VERDICTS,
    winrm=_VERDICTS,
    smartcard=_VERDICTS,
    duo=_VERDICTS,
    fail_open=_VERDICTS,
    nla=_VERDICTS,
)
def test_aggregate_is_the_worst_channel(
    enabled: bool | None,
    admins: bool | None,
    rdu: bool | None,
    rmu: bool | None,
    rdp: bool | None,
    winrm: bool | None,
    smartcard: bool | None,
    duo: bool | None,
    fail_open: bool | None,
    nla: bool | None,
) -> None:
    host = ChannelState(rdp, nla, winrm, smartcard, duo, fail_open)
    interactive, channels, verdict, reason = account_verdict(
        enabled, {ADMINS: admins, RDU: rdu, RMU: rmu}, host
    )
    assert reason and "\n" not in reason
    if not channels:
        assert verdict == "no_ssh"
    else:
        assert interactive
        order = ["enforced", "unknown", "missing"]
        assert verdict == max(channels.values(), key=order.index)
    # WinRM is never enforced; RDP is enforced only by a forced smart card (Duo's server decides).
    assert channels.get("winrm") in (None, "missing", "unknown")
    if channels.get("rdp") == "enforced":
        assert smartcard is True


# --- parsing details --------------------------------------------------------------------------


def test_extract_document_copes_with_bom_crlf_and_garbage() -> None:
    text = '\ufeffWARNING: {not json}\r\n{"a":[1]}\r\nPS C:\\> '
    assert wp.extract_document(text) == {"a": [1]}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "did not run"),
        ("", "printed nothing"),
        ("\r\n\ufeff ", "printed nothing"),
        ('{"rdp":{"deny":0', "no JSON document"),
        ("[1, 2]", "no JSON document"),
        ('{"error":"Access is denied."}', "failed on the host: Access is denied."),
    ],
)
def test_extract_document_failures(text: str | None, reason: str) -> None:
    with pytest.raises(wp.SectionError, match=re.escape(reason)):
        wp.extract_document(text)


def test_decode_output_handles_utf16_and_bom() -> None:
    assert wp.decode_output('{"a":"ü"}'.encode("utf-16")) == '{"a":"ü"}'
    assert wp.decode_output(b'\xef\xbb\xbf{"a":1}') == '{"a":1}'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ([], []),
        ({"name": "x"}, [{"name": "x"}]),
        ({"value": [1, 2], "Count": 2}, [1, 2]),
        ({"value": {"name": "x"}, "Count": 1}, [{"name": "x"}]),
        ("x", ["x"]),
    ],
)
def test_as_list_undoes_powershell_unwrapping(value: object, expected: list[object]) -> None:
    assert wp.as_list(value) == expected


@pytest.mark.parametrize(
    ("raw", "kind", "name"),
    [
        ({"name": "WS01\\alice", "sid": "S-1-5-21-1-2-3-1002", "class": "User", "source": "Local"}, "local_user", "WS01\\alice"),
        ({"path": "WinNT://CORP/WS01/alice", "sid": "S-1-5-21-9-9-9-1002", "class": "User"}, "local_user", "WS01\\alice"),
        ({"path": "WinNT://WORKGROUP/ws01/bob", "sid": None, "class": "User"}, "local_user", "ws01\\bob"),
        ({"name": "CORP\\j.doe", "sid": "S-1-5-21-7-7-7-2231", "class": "User", "source": "ActiveDirectory"}, "domain_user", "CORP\\j.doe"),
        ({"name": "CORP\\Domain Admins", "sid": "S-1-5-21-7-7-7-512", "class": "Group", "source": "ActiveDirectory"}, "domain_group", "CORP\\Domain Admins"),
        ({"name": "AzureAD\\jane", "sid": "S-1-12-1-1-2-3-4", "class": "User", "source": "AzureAD"}, "domain_user", "AzureAD\\jane"),
        ({"name": "CORP\\who", "sid": "S-1-5-21-7-7-7-3000", "class": None, "source": "Unknown"}, "domain_group", "CORP\\who"),
        ({"path": "WinNT://S-1-5-21-7-7-7-1107", "sid": "S-1-5-21-7-7-7-1107", "class": "User"}, "orphaned", None),
        ({"name": "S-1-5-21-7-7-7-1107", "sid": "S-1-5-21-7-7-7-1107", "class": "User", "source": "Unknown"}, "orphaned", None),
        ({"name": None, "sid": None}, "orphaned", None),
        ({"name": "NT AUTHORITY\\Authenticated Users", "sid": "S-1-5-11", "class": "Group", "source": "Unknown"}, "broad", "NT AUTHORITY\\Authenticated Users"),
        ({"name": "BUILTIN\\Users", "sid": "S-1-5-32-545", "class": "Group"}, "broad", "BUILTIN\\Users"),
        ({"name": "BUILTIN\\Backup Operators", "sid": "S-1-5-32-551", "class": "Group"}, "local_group", "BUILTIN\\Backup Operators"),
        ({"name": "WS01\\HelpDesk", "sid": "S-1-5-21-1-2-3-1010", "class": "Group", "source": "Local"}, "local_group", "WS01\\HelpDesk"),
        ({"name": "NT AUTHORITY\\SYSTEM", "sid": "S-1-5-18", "class": "User"}, "well_known", "NT AUTHORITY\\SYSTEM"),
    ],
)  # fmt: skip
def test_member_kinds(raw: dict[str, object], kind: str, name: str | None) -> None:
    member = wp.classify_member(raw, "WS01", {"S-1-5-21-9-9-9"})
    assert (member.kind, member.name) == (kind, name)


def test_winrm_enumerate_text() -> None:
    text = (
        "Listener\r\n    Address = *\r\n    Transport = HTTP\r\n    Port = 5985\r\n"
        '    Enabled = true\r\n\r\nListener [Source="GPO"]\r\n    Address = 10.0.0.5\r\n'
        "    Transport = HTTPS\r\n    Port = 5986\r\n    Enabled = false\r\n"
    )
    listeners = wp.parse_winrm_enumerate(text)
    assert listeners is not None
    assert [str(x) for x in listeners] == ["HTTP *:5985", "HTTPS 10.0.0.5:5986 (disabled)"]
    assert wp.parse_winrm_enumerate("") == []
    # An error message is not an empty configuration.
    assert wp.parse_winrm_enumerate("WSManFault\r\n    Message = The client cannot connect") is None


def test_winrm_running_with_unreadable_listeners_is_unknown() -> None:
    winrm = wp.parse_winrm({"service": "Running", "listeners": None, "listener_error": "x"})
    assert winrm.enabled is None
    assert winrm.errors == ["listeners unreadable: x"]
    assert wp.parse_winrm({"service": "Running", "listeners": []}).enabled is False


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(SECTIONS),
        st.one_of(
            st.none(),
            st.text(max_size=200),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                lambda children: st.lists(children, max_size=4)
                | st.dictionaries(
                    st.sampled_from(
                        ["users", "groups", "members", "sid", "name", "rdp", "winrm", "installed",
                         "settings", "policy", "whfb", "scforceoption", "enabled", "listeners",
                         "service", "error", "value", "Count", "path", "class"]
                    ),
                    children,
                    max_size=5,
                ),
                max_leaves=20,
            ).map(json.dumps),
        ),
    )
)  # fmt: skip
def test_the_parser_never_raises(recorded: dict[str, str | None]) -> None:
    result = parse_windows_auth(recorded)
    for account in result.accounts:
        assert account.ssh in {"enforced", "missing", "unknown", "no_ssh"}
