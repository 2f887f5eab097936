"""Metadata adapters: users, tokens, images and access logs in SQL (SQLite/PostgreSQL) or memory.

This is the only package that imports SQLAlchemy or Alembic; everything else sees the ports.
"""
