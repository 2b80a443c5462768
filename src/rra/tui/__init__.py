"""The Textual terminal UI: ``rra tui`` (DESIGN §1: the only package that imports textual).

Data comes through a :class:`~rra.tui.source.DataSource` — the auditor's HTTP API or one local
report file — so every screen works the same online and offline.
"""
