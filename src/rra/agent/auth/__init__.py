"""Authentication pillar collection: accounts, sshd, PAM, sudoers and Windows logon (DESIGN §3).

Every reader goes through :class:`rra.agent.host.Host`, so the same code serves the agent, a
``--root`` audit of a mounted image and agentless collection.
"""
