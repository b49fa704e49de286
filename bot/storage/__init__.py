"""Application data: SQLAlchemy models, repository functions and Alembic migrations.

- `bot.storage.db`: engine and transactions (`session_scope`).
- `bot.storage.models`: the tables.
- `bot.storage.repository`: everything the conversation and the portal read and write.
- `bot.storage.migrate`: `bot db upgrade` and programmatic migrations.
"""
