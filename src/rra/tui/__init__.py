"""The Textual terminal UI (arrives with issue 8).

Empty for now; it exists so the layering contracts in pyproject.toml are enforced from day one.
"""
