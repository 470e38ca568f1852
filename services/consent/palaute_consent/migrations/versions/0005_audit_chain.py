"""audit chain: the register's audit log keeps a keyed hash and a masked form instead of
the plaintext identifier, each row chained to the one before it

Revision ID: 58a9050a1005
Revises: 58a9050a1004
Create Date: 2026-11-28 04:20:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '58a9050a1005'
down_revision: Union[str, Sequence[str], None] = '58a9050a1004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    from palaute_consent.audit import GENESIS, _hashed_fields, keyed_hash, masked, row_hash
    from palaute_consent.settings import ConsentSettings

    with op.batch_alter_table("register_audit") as batch_op:
        for name, length in (
            ("value_hash", 64),
            ("value_masked", 100),
            ("prev_hash", 64),
            ("row_hash", 64),
        ):
            batch_op.add_column(sa.Column(name, sa.String(length), nullable=True))
    # The rows so far: hashed with this installation's key, masked, chained; then the
    # plaintext goes.
    from palaute_runtime.keys import Keyring

    key = Keyring.parse(ConsentSettings().register_audit_key).current
    audit = sa.table(
        "register_audit",
        sa.column("at", sa.DateTime(timezone=True)),
        *(
            sa.column(name)
            for name in (
                "id", "actor", "action", "kind", "value", "source", "reason",
                "value_hash", "value_masked", "prev_hash", "row_hash",
            )
        ),
    )
    connection = op.get_bind()
    previous = GENESIS
    for row in connection.execute(sa.select(audit).order_by(audit.c.id)).all():
        fields = {
            "at": row.at,
            "actor": row.actor,
            "action": row.action,
            "kind": row.kind,
            "value_hash": keyed_hash(key, row.kind, row.value),
            "value_masked": masked(row.kind, row.value),
            "source": row.source,
            "reason": row.reason,
        }
        current = row_hash(previous, _hashed_fields(fields), None)
        connection.execute(
            audit.update()
            .where(audit.c.id == row.id)
            .values(
                value_hash=fields["value_hash"],
                value_masked=fields["value_masked"],
                prev_hash=previous,
                row_hash=current,
            )
        )
        previous = current
    with op.batch_alter_table("register_audit") as batch_op:
        batch_op.drop_column("value")
        for name, length in (
            ("value_hash", 64),
            ("value_masked", 100),
            ("prev_hash", 64),
            ("row_hash", 64),
        ):
            batch_op.alter_column(name, existing_type=sa.String(length), nullable=False)
        batch_op.create_index("ix_register_audit_value_hash", ["value_hash"], unique=False)


def downgrade() -> None:
    """Downgrade schema (the plaintext identifiers cannot come back: the masked form does)."""
    with op.batch_alter_table("register_audit") as batch_op:
        batch_op.drop_index("ix_register_audit_value_hash")
        batch_op.add_column(sa.Column("value", sa.String(320), nullable=False, server_default=""))
    op.execute(sa.text("UPDATE register_audit SET value = value_masked"))
    with op.batch_alter_table("register_audit") as batch_op:
        for name in ("row_hash", "prev_hash", "value_masked", "value_hash"):
            batch_op.drop_column(name)
