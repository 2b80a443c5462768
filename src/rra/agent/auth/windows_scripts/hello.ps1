# rra section "hello": Windows Hello for Business policy and the smart-card-required policy.
# Full-line comments and indentation are stripped before sending (WinRM limit ~3,000 characters).
$o = [ordered]@{}
try {
    $ErrorActionPreference = 'Stop'
    function V($key, $n) { if (Test-Path -LiteralPath $key) { $i = Get-ItemProperty -LiteralPath $key; if ($i.PSObject.Properties[$n]) { $i.$n } } }
    $h = 'HKLM:\SOFTWARE\Policies\Microsoft\PassportForWork'
    $o.whfb = [ordered]@{enabled = (V $h Enabled); require_security_device = (V $h RequireSecurityDevice)}
    # "Interactive logon: Require smart card" (scforceoption=1).
    $o.scforceoption = (V 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System' scforceoption)
} catch { $o = [ordered]@{error = [string]$_.Exception.Message} }
$j = ConvertTo-Json -InputObject $o -Depth 5 -Compress
# ASCII-only output: the shell's code page (437 over WinRM) would mangle non-ASCII names.
[regex]::Replace($j, '[^\x00-\x7f]', {param($hit) '\u{0:x4}' -f [int][char]$hit.Value})
