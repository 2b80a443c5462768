# rra section "logons": successful remote logons since a start time (Security event 4624,
# logon type 10 = RDP, 3 = network), aggregated per (address, type, account, logon process,
# caller process) with a count and the newest time, so the output stays small on busy hosts.
# Full-line comments and indentation are stripped before sending (WinRM limit ~3,000 characters).
# __SINCE__ is replaced by the window's start (UTC, ISO 8601) before the script is sent.
$o = [ordered]@{}
try {
    $ErrorActionPreference = 'Stop'
    try { Remove-TypeData System.Array } catch {}
    $start = [datetime]::Parse('__SINCE__', [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]'AdjustToUniversal,AssumeUniversal')
    $rows = @{}
    $seen = 0
    try {
        # Streamed through the pipeline: a busy Security log never sits in memory at once.
        Get-WinEvent -FilterHashtable @{LogName='Security'; Id=4624; StartTime=$start} | ForEach-Object {
            $seen++
            # 4624 data by position (stable since Vista): 5 TargetUserName, 6 TargetDomainName,
            # 8 LogonType, 9 LogonProcessName, 10 AuthenticationPackageName, 11 WorkstationName,
            # 17 ProcessName, 18 IpAddress. Named-data filters need PowerShell 6+, hence here.
            $p = $_.Properties
            $t = [int]$p[8].Value
            $ip = [string]$p[18].Value
            $u = [string]$p[5].Value
            # ForEach-Object: "return" skips one event ("continue" would end the pipeline).
            if (($t -ne 10 -and $t -ne 3) -or $ip -in @('-', '', '::1', '127.0.0.1') -or $u -eq 'ANONYMOUS LOGON') { return }
            $lp = ([string]$p[9].Value).Trim()
            $k = "$ip|$t|$($p[6].Value)\$u|$lp|$($p[17].Value)"
            $when = $_.TimeCreated.ToUniversalTime()
            $r = $rows[$k]
            if ($null -eq $r) {
                $rows[$k] = [ordered]@{time = $when; type = $t; user = $u; domain = [string]$p[6].Value; ip = $ip; workstation = [string]$p[11].Value; package = [string]$p[10].Value; logon_process = $lp; process = [string]$p[17].Value; count = 1}
            } else {
                # Index syntax: on a dictionary, ".count" could name the Count property instead.
                $r['count'] = $r['count'] + 1
                if ($when -gt $r['time']) { $r['time'] = $when }
            }
        }
    } catch {
        # No event in the window is an error to Get-WinEvent; to rra it is an empty result.
        if ($_.FullyQualifiedErrorId -notlike 'NoMatchingEventsFound*') { throw }
    }
    $list = New-Object System.Collections.ArrayList
    foreach ($r in $rows.Values) { $r['time'] = $r['time'].ToString('o'); [void]$list.Add($r) }
    $o.since = $start.ToString('o')
    $o.events = $seen
    $o.logons = $list
} catch { $o = [ordered]@{error = [string]$_.Exception.Message} }
$j = ConvertTo-Json -InputObject $o -Depth 4 -Compress
# ASCII-only output: the shell's code page (437 over WinRM) would mangle non-ASCII names.
[regex]::Replace($j, '[^\x00-\x7f]', {param($hit) '\u{0:x4}' -f [int][char]$hit.Value})
