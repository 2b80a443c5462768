# rra section "duo": Duo for Windows Logon (DuoCredProv) settings and their policy overrides.
# Full-line comments and indentation are stripped before sending (WinRM limit ~3,000 characters).
$o = [ordered]@{}
try {
    $ErrorActionPreference = 'Stop'
    $k = 'HKLM:\SOFTWARE\Duo Security\DuoCredProv'
    $pk = 'HKLM:\SOFTWARE\Policies\Duo Security\DuoCredProv'
    # An allow-list: the key also holds SKey, a secret that must never leave the host.
    $names = 'FailOpen', 'RdpOnly', 'EnableSmartCards', 'WrapSmartCards', 'AutoPush', 'OfflineAvailable', 'UsernameFormat', 'Host'
    function R($key) {
        if (-not (Test-Path -LiteralPath $key)) { return $null }
        $i = Get-ItemProperty -LiteralPath $key
        $r = [ordered]@{}
        foreach ($n in $names) { if ($i.PSObject.Properties[$n]) { $r[$n] = $i.$n } }
        $r
    }
    $o.installed = Test-Path -LiteralPath $k
    $o.settings = R $k
    $o.policy = R $pk
} catch { $o = [ordered]@{error = [string]$_.Exception.Message} }
$j = ConvertTo-Json -InputObject $o -Depth 5 -Compress
# ASCII-only output: the shell's code page (437 over WinRM) would mangle non-ASCII names.
[regex]::Replace($j, '[^\x00-\x7f]', {param($hit) '\u{0:x4}' -f [int][char]$hit.Value})
