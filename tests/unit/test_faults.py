"""Which failures pause a consumer (infrastructure) and which belong to the message."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
from aiokafka.errors import KafkaConnectionError

from palaute_runtime.database import create_engine
from palaute_runtime.faults import is_infrastructure_fault


def _sqlalchemy_error(path: Path, *statements: str) -> sa_exc.DBAPIError:
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(sa.text(statement))
    except sa_exc.DBAPIError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("the statements did not fail")


def test_a_locked_sqlite_database_is_an_infrastructure_fault(tmp_path: Path) -> None:
    database = tmp_path / "locked.db"
    holder = sqlite3.connect(database)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.commit()
    holder.execute("BEGIN EXCLUSIVE")
    try:
        error = _sqlalchemy_error(database, "INSERT INTO t VALUES (1)")
    finally:
        holder.rollback()
        holder.close()
    assert "locked" in str(error)
    assert is_infrastructure_fault(error)


def test_a_constraint_violation_belongs_to_the_message(tmp_path: Path) -> None:
    error = _sqlalchemy_error(
        tmp_path / "data.db",
        "CREATE TABLE t (x INTEGER PRIMARY KEY)",
        "INSERT INTO t VALUES (1)",
        "INSERT INTO t VALUES (1)",
    )
    assert isinstance(error, sa_exc.IntegrityError)
    assert not is_infrastructure_fault(error)


@pytest.mark.parametrize(
    "error",
    [ConnectionRefusedError(), TimeoutError(), KafkaConnectionError()],
    ids=["connection refused", "timeout", "broker unreachable"],
)
def test_network_failures_are_infrastructure_faults(error: Exception) -> None:
    assert is_infrastructure_fault(error)


def test_a_fault_behind_another_error_is_still_found() -> None:
    outer = RuntimeError("while storing")
    outer.__cause__ = ConnectionResetError("peer went away")
    assert is_infrastructure_fault(outer)


@pytest.mark.parametrize("error", [ValueError("bad"), KeyError("x"), RuntimeError("bug")])
def test_other_errors_belong_to_the_message(error: Exception) -> None:
    assert not is_infrastructure_fault(error)


async def test_database_errors_carry_no_parameter_values(tmp_path: Path) -> None:
    # Such errors reach logs and dead-letter headers: a phone number must not ride along.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/hidden.db")
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text("CREATE TABLE t (phone TEXT PRIMARY KEY)"))
            insert = sa.text("INSERT INTO t VALUES (:phone)")
            await connection.execute(insert, {"phone": "+358401234567"})
            with pytest.raises(sa_exc.IntegrityError) as caught:
                await connection.execute(insert, {"phone": "+358401234567"})
    finally:
        await engine.dispose()
    assert "+358401234567" not in str(caught.value)
