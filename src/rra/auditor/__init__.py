"""The central auditor: ingest, storage, API, drills scheduling, reports (arrives with issue 5).

Empty for now; it exists so the layering contracts in pyproject.toml are enforced from day one.
"""
