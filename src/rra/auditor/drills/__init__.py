"""Restore drills on the auditor (DESIGN §7, §8): stored playbooks, scheduled runs that executors
claim through atomic row updates, signed results, and their merge into host evaluation.

``store`` (playbooks, manual runs), ``schedule`` (materialise due runs), ``claims``, ``results``,
``merge`` (drill facts for evaluation), ``signed`` (the host-signed endpoints' service),
``queries`` (readers), ``worker`` (agentless executor).
"""
