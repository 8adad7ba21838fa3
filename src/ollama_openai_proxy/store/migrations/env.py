"""Alembic's entry point: migrates over the connection the proxy hands it (never opens its own)."""

from __future__ import annotations

from alembic import context

from ollama_openai_proxy.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through ollama_openai_proxy.store.database.Database.migrate")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
