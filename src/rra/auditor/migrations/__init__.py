"""Alembic migrations for the auditor database; run them through ``rra.auditor.migrate``."""
