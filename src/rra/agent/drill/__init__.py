"""Restore drills (DESIGN §8): load playbooks, run them through a Host, and produce evidence."""
