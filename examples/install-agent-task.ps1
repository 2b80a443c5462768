<#
.SYNOPSIS
    Installs (or removes) the scheduled task that runs `rra agent run --once` every hour.

.DESCRIPTION
    The Windows counterpart of rra-agent.service + rra-agent.timer: no idle process, one
    collection and delivery cycle per hour, started with a random delay so that a fleet's reports
    spread over the hour instead of all arriving at the same minute.

    It runs as SYSTEM because the checks read what only an administrator can: local accounts and
    group membership, the Security event log (logons), Windows Hello / Duo configuration and the
    restic password files. Enroll once before the first run, from an elevated prompt:
        rra agent enroll --auditor https://auditor.example:8443 --token-file TOKEN --ca-cert ca.pem

.PARAMETER RraPath
    Full path of rra.exe (default: the one found on PATH).

.PARAMETER Uninstall
    Remove the task instead.

.EXAMPLE
    powershell -ExecutionPolicy Bypass -File install-agent-task.ps1 -RraPath 'C:\Program Files\rra\rra.exe'
#>
[CmdletBinding()]
param(
    [string]$RraPath = '',
    [switch]$Uninstall
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$TaskName = 'rra agent'
$TaskPath = '\rra\'

$principal = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    Write-Error 'Run this script from an elevated (Administrator) PowerShell.'
    exit 2
}

if ($Uninstall) {
    Unregister-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -Confirm:$false -ErrorAction SilentlyContinue
    Write-Output "Removed scheduled task $TaskPath$TaskName."
    exit 0
}

if (-not $RraPath) {
    $found = Get-Command rra.exe -ErrorAction SilentlyContinue
    if (-not $found) {
        Write-Error 'rra.exe is not on PATH: pass -RraPath C:\path\to\rra.exe'
        exit 2
    }
    $RraPath = $found.Source
}
if (-not (Test-Path -LiteralPath $RraPath -PathType Leaf)) {
    Write-Error "No such file: $RraPath"
    exit 2
}

$action = New-ScheduledTaskAction -Execute $RraPath -Argument '--log-format json agent run --once'

# Start a few minutes from now, then every hour, each time after a random delay of up to 45 min.
$trigger = New-ScheduledTaskTrigger -Once -At (Get-Date).AddMinutes(5) `
    -RepetitionInterval (New-TimeSpan -Hours 1) `
    -RandomDelay (New-TimeSpan -Minutes 45)
# Also after boot, like Persistent=true on Linux: a machine that was off still reports promptly.
$bootTrigger = New-ScheduledTaskTrigger -AtStartup
$bootTrigger.Delay = 'PT10M'

$taskPrincipal = New-ScheduledTaskPrincipal -UserId 'S-1-5-18' -LogonType ServiceAccount -RunLevel Highest

$settings = New-ScheduledTaskSettingsSet `
    -StartWhenAvailable `
    -AllowStartIfOnBatteries `
    -DontStopIfGoingOnBatteries `
    -MultipleInstances IgnoreNew `
    -ExecutionTimeLimit (New-TimeSpan -Hours 2) `
    -Priority 7

$task = New-ScheduledTask -Action $action -Trigger @($trigger, $bootTrigger) `
    -Principal $taskPrincipal -Settings $settings `
    -Description 'rra: collect recovery-readiness facts and report them to the auditor (hourly).'

Register-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -InputObject $task -Force | Out-Null
Write-Output "Installed scheduled task $TaskPath$TaskName running '$RraPath agent run --once' hourly as SYSTEM."
