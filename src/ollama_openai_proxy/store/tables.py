"""The store's tables: virtual models created through the API, and the models /api/ps lists as loaded."""

from __future__ import annotations

from sqlalchemy import Column, Float, MetaData, String, Table, Text

metadata = MetaData()

virtual_models = Table(
    "virtual_models",
    metadata,
    Column("key", String, primary_key=True),  # the canonical name: lower case, ":latest" spelled out
    Column("name", String, nullable=False),
    Column("data", Text, nullable=False),  # the VirtualModel as JSON
    Column("updated_at", Float, nullable=False),
)

loaded_models = Table(
    "loaded_models",
    metadata,
    Column("name", String, primary_key=True),  # the name the model was requested under
    Column("expires_at", Float, nullable=False),  # epoch seconds; FOREVER for a negative keep_alive
    Column("updated_at", Float, nullable=False),
)
