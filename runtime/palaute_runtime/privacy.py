"""What every service needs to answer the privacy officer's erasure and access requests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

JsonValue = str | int | float | bool | None


def jsonable(row: Mapping[str, Any]) -> dict[str, JsonValue]:
    """One database row as JSON values: times and ids as text, structures as JSON text."""
    out: dict[str, JsonValue] = {}
    for name, value in row.items():
        if value is None or isinstance(value, str | int | float | bool):
            out[name] = value
        elif isinstance(value, datetime | date):
            out[name] = value.isoformat()
        elif isinstance(value, uuid.UUID):
            out[name] = str(value)
        else:
            out[name] = json.dumps(value, default=str, ensure_ascii=False)
    return out


def table_rows(rows: Iterable[Any], *, leave_out: Iterable[str] = ()) -> list[dict[str, JsonValue]]:
    """Rows of a result as JSON objects, without the named columns (hashes, tokens)."""
    dropped = set(leave_out)
    return [{k: v for k, v in jsonable(row._mapping).items() if k not in dropped} for row in rows]
