"""Remote ``Host`` transports for agentless collection: SSH (paramiko) and WinRM (pywinrm)."""
