"""Exposure pillar collection: admin services, their exposure, and direct-access sources (DESIGN §3).

Everything reads through :class:`rra.agent.host.Host`, so the agent, ``--root`` audits and
agentless collection share it.
"""
