"""Virtual models and loaded-model state (adopts a virtual_models table from before migrations)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "virtual_models" not in existing:  # files written by 0.x already have it, with these columns
        op.create_table(
            "virtual_models",
            sa.Column("key", sa.String(), primary_key=True),
            sa.Column("name", sa.String(), nullable=False),
            sa.Column("data", sa.Text(), nullable=False),
            sa.Column("updated_at", sa.Float(), nullable=False),
        )
    op.create_table(
        "loaded_models",
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("loaded_models")
    op.drop_table("virtual_models")
