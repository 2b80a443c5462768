"""Agentless collection: an Ansible-like inventory of hosts reached over SSH or WinRM."""
