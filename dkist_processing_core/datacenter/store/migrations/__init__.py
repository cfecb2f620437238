"""Alembic migrations of the metadata store (a package so that env.py ships with it)."""
