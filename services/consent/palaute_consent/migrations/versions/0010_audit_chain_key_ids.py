"""the audit chain is keyed: every row an HMAC under the chain key, named by its id

Revision ID: 4b8d2e6f9a13
Revises: 7c3e9a51d2f4
Create Date: 2026-12-03 08:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4b8d2e6f9a13"
down_revision: str | Sequence[str] | None = "7c3e9a51d2f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add register_audit.key_id and chain the rows so far again, keyed with this
    installation's chain key (PALAUTE_AUDIT_CHAIN_KEY), after checking the plain chain they
    had: a chain that does not hold is not laundered into a keyed one."""
    from palaute_consent.audit import GENESIS, _hashed_fields, row_hash
    from palaute_consent.settings import ConsentSettings

    with op.batch_alter_table("register_audit") as batch:
        batch.add_column(sa.Column("key_id", sa.String(16), nullable=True))
    chain = ConsentSettings().chain_keys
    audit = sa.table(
        "register_audit",
        sa.column("at", sa.DateTime(timezone=True)),
        *(
            sa.column(name)
            for name in (
                "id", "actor", "action", "kind", "value_hash", "value_masked", "source",
                "reason", "prev_hash", "row_hash", "key_id",
            )
        ),
    )
    connection = op.get_bind()
    plain, keyed = GENESIS, GENESIS
    for row in connection.execute(sa.select(audit).order_by(audit.c.id)).all():
        fields = _hashed_fields(row)
        if row.prev_hash != plain or row.row_hash != row_hash(plain, fields, None):
            raise RuntimeError(
                f"the register's audit chain does not hold at row {row.id}; it is not keyed "
                "over a break: restore the audit log from a backup, then start again"
            )
        plain = row.row_hash
        current = row_hash(keyed, fields, chain.current)
        connection.execute(
            audit.update()
            .where(audit.c.id == row.id)
            .values(prev_hash=keyed, row_hash=current, key_id=chain.current_id)
        )
        keyed = current


def downgrade() -> None:
    """Drop register_audit.key_id (the chain stays keyed: a downgraded verify fails)."""
    with op.batch_alter_table("register_audit") as batch:
        batch.drop_column("key_id")
