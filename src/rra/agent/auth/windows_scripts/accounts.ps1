# rra section "accounts": local user accounts, one compressed JSON document on stdout.
# Full-line comments and indentation are stripped before sending (WinRM limit ~3,000 characters).
$o = [ordered]@{}
try {
    $ErrorActionPreference = 'Stop'
    # PS 5.1 type data can print arrays as {"value":[...],"Count":n}; drop it for this process.
    try { Remove-TypeData System.Array } catch {}
    function D($d) { if ($d) { ([datetime]$d).ToString('o') } }
    $users = New-Object System.Collections.ArrayList
    $o.computer = $env:COMPUTERNAME
    $why = $null
    if (Get-Command Get-LocalUser -ErrorAction SilentlyContinue) {
        try {
            foreach ($u in Get-LocalUser) {
                [void]$users.Add([ordered]@{name = $u.Name; sid = $u.SID.Value; enabled = $u.Enabled; password_required = $u.PasswordRequired; password_last_set = (D $u.PasswordLastSet); last_logon = (D $u.LastLogon)})
            }
            $o.source = 'Get-LocalUser'
        } catch { $why = [string]$_.Exception.Message; $users.Clear() }
    } else { $why = 'Get-LocalUser is not available' }
    if (-not $o.source) {
        # Server 2012 R2 and 32-bit PowerShell lack the LocalAccounts module: read the SAM over ADSI.
        $o.source = 'ADSI'
        $o.fallback_reason = $why
        foreach ($u in ([ADSI]"WinNT://$env:COMPUTERNAME").Children) {
            if ($u.SchemaClassName -ne 'user') { continue }
            $f = [int]$u.UserFlags.Value
            $pa = $u.PasswordAge.Value
            $ps = $null
            if ($null -ne $pa) { $ps = D (Get-Date).AddSeconds(-[double]$pa) }
            # LastLogin throws when the account never logged on.
            $ll = $null
            try { $ll = D $u.LastLogin.Value } catch {}
            # UserFlags: 0x2 ACCOUNTDISABLE, 0x20 PASSWD_NOTREQD.
            # The DirectoryEntry adapter returns a PropertyValueCollection; plain .NET a string.
            $nm = $u.Name
            if ($nm -isnot [string]) { $nm = [string]$nm.Value }
            [void]$users.Add([ordered]@{name = $nm; sid = [Security.Principal.SecurityIdentifier]::new([byte[]]$u.objectSid.Value, 0).Value; enabled = -not ($f -band 2); password_required = -not ($f -band 32); password_last_set = $ps; last_logon = $ll})
        }
    }
    $o.users = $users
} catch { $o = [ordered]@{error = [string]$_.Exception.Message} }
$j = ConvertTo-Json -InputObject $o -Depth 5 -Compress
# ASCII-only output: the shell's code page (437 over WinRM) would mangle non-ASCII names.
[regex]::Replace($j, '[^\x00-\x7f]', {param($hit) '\u{0:x4}' -f [int][char]$hit.Value})
