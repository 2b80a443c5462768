# rra section "groups": direct members of the remote-logon groups (comments are not sent).
$o = [ordered]@{}
try {
    $ErrorActionPreference = 'Stop'
    try { Remove-TypeData System.Array } catch {}
    $o.computer = $env:COMPUTERNAME
    $o.part_of_domain = $null
    try { $c = Get-CimInstance Win32_ComputerSystem; $o.part_of_domain = $c.PartOfDomain; $o.domain = $c.Domain } catch {}
    $groups = New-Object System.Collections.ArrayList
    $lgm = [bool](Get-Command Get-LocalGroupMember -ErrorAction SilentlyContinue)
    # By SID: group names are localized (Administratoren, ...).
    foreach ($sid in 'S-1-5-32-544', 'S-1-5-32-555', 'S-1-5-32-580') {
        $grp = [ordered]@{sid = $sid; name = $null; source = $null; members = $null}
        [void]$groups.Add($grp)
        try {
            # S-1-5-32-580 does not exist before Windows 8 / 2012.
            try { $n = ([Security.Principal.SecurityIdentifier]$sid).Translate([Security.Principal.NTAccount]).Value } catch { $grp.missing = $true; $grp.members = @(); continue }
            $grp.name = $n.Split('\')[-1]
            if ($lgm) {
                try {
                    $list = New-Object System.Collections.ArrayList
                    foreach ($mem in Get-LocalGroupMember -SID $sid) {
                        [void]$list.Add([ordered]@{name = $mem.Name; sid = $mem.SID.Value; class = $mem.ObjectClass; source = [string]$mem.PrincipalSource})
                    }
                    $grp.members = $list
                    $grp.source = 'Get-LocalGroupMember'
                } catch { $grp.fallback_reason = [string]$_.Exception.Message }
            }
            if ($null -eq $grp.members) {
                # Get-LocalGroupMember throws on orphaned SIDs; ADSI lists them.
                $list = New-Object System.Collections.ArrayList
                foreach ($x in @(([ADSI]"WinNT://./$($grp.name),group").Invoke('Members'))) {
                    # Empty groups can yield @($null).
                    if ($null -eq $x) { continue }
                    $t = $x.GetType()
                    $msid = $null
                    try { $msid = [Security.Principal.SecurityIdentifier]::new([byte[]]$t.InvokeMember('objectSid', 'GetProperty', $null, $x, $null), 0).Value } catch {}
                    [void]$list.Add([ordered]@{name = $null; sid = $msid; class = $t.InvokeMember('Class', 'GetProperty', $null, $x, $null); source = 'ADSI'; path = $t.InvokeMember('ADsPath', 'GetProperty', $null, $x, $null)})
                }
                $grp.members = $list
                $grp.source = 'ADSI'
            }
        } catch { $grp.error = [string]$_.Exception.Message; $grp.members = $null }
    }
    $o.groups = $groups
} catch { $o = [ordered]@{error = [string]$_.Exception.Message} }
$j = ConvertTo-Json -InputObject $o -Depth 5 -Compress
# ASCII-only output: code page 437 (WinRM) would mangle non-ASCII names.
[regex]::Replace($j, '[^\x00-\x7f]', {param($hit) '\u{0:x4}' -f [int][char]$hit.Value})
