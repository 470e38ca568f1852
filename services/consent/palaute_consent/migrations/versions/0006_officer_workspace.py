"""officer workspace: accounts, API tokens and sessions; decisions remember their customer;
erasure and access requests

Revision ID: 58a9050a1006
Revises: 58a9050a1005
Create Date: 2026-11-28 07:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '58a9050a1006'
down_revision: Union[str, Sequence[str], None] = '58a9050a1005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "officer_accounts",
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "officer_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "officer_sessions",
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_hash"),
    )
    op.create_index("ix_officer_sessions_username", "officer_sessions", ["username"])
    op.create_index("ix_officer_sessions_expires_at", "officer_sessions", ["expires_at"])
    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("person", sa.String(400), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_privacy_requests_filed_at", "privacy_requests", ["filed_at"])
    op.create_table(
        "access_parts",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("service", sa.String(20), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "service"),
    )
    # Earlier decisions stay without their customer: the page shows decisions from now on.
    with op.batch_alter_table("decisions") as batch_op:
        batch_op.add_column(sa.Column("customer_id", sa.String(100), nullable=True))
        batch_op.create_index("ix_decisions_customer_id", ["customer_id"])


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("decisions") as batch_op:
        batch_op.drop_index("ix_decisions_customer_id")
        batch_op.drop_column("customer_id")
    op.drop_table("access_parts")
    op.drop_index("ix_privacy_requests_filed_at", "privacy_requests")
    op.drop_table("privacy_requests")
    op.drop_table("officer_sessions")
    op.drop_table("officer_tokens")
    op.drop_table("officer_accounts")
