# rra section "remote": whether RDP and WinRM accept logons, and how.
# Full-line comments and indentation are stripped before sending (WinRM limit ~3,000 characters).
$o = [ordered]@{}
try {
    $ErrorActionPreference = 'Stop'
    try { Remove-TypeData System.Array } catch {}
    # A registry value, or $null when the key or the value is absent.
    function V($key, $n) { if (Test-Path -LiteralPath $key) { $i = Get-ItemProperty -LiteralPath $key; if ($i.PSObject.Properties[$n]) { $i.$n } } }
    $ts = 'HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server'
    $tcp = "$ts\WinStations\RDP-Tcp"
    # Group Policy values override the local ones.
    $gp = 'HKLM:\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services'
    $o.rdp = [ordered]@{deny = (V $ts fDenyTSConnections); nla = (V $tcp UserAuthentication); port = (V $tcp PortNumber); security_layer = (V $tcp SecurityLayer); policy_deny = (V $gp fDenyTSConnections); policy_nla = (V $gp UserAuthentication)}
    $w = [ordered]@{service = $null; start_type = $null; listeners = $null}
    try { $s = Get-Service WinRM; $w.service = [string]$s.Status; $w.start_type = [string]$s.StartType } catch { $w.service_error = [string]$_.Exception.Message }
    try {
        $list = New-Object System.Collections.ArrayList
        foreach ($lsn in Get-ChildItem WSMan:\localhost\Listener) {
            $props = @{}
            foreach ($item in Get-ChildItem $lsn.PSPath) { $props[$item.Name] = [string]$item.Value }
            [void]$list.Add([ordered]@{transport = $props.Transport; address = $props.Address; port = $props.Port; enabled = $props.Enabled})
        }
        $w.listeners = $list
    } catch {
        $w.listener_error = [string]$_.Exception.Message
        # The WSMan: drive needs its provider; winrm.cmd reads the same configuration as text.
        try { $w.enumerate = [string](winrm enumerate winrm/config/listener | Out-String) } catch {}
    }
    # Local admins other than RID 500 get a filtered (non-admin) token over WinRM unless this is 1.
    $w.token_filter = (V 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System' LocalAccountTokenFilterPolicy)
    $o.winrm = $w
} catch { $o = [ordered]@{error = [string]$_.Exception.Message} }
$j = ConvertTo-Json -InputObject $o -Depth 5 -Compress
# ASCII-only output: the shell's code page (437 over WinRM) would mangle non-ASCII names.
[regex]::Replace($j, '[^\x00-\x7f]', {param($hit) '\u{0:x4}' -f [int][char]$hit.Value})
