"""Who may do what in the officer's workspace (kept apart so the command line can name the
roles without loading the workspace)."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["officer", "auditor"]
ROLES: tuple[Role, ...] = get_args(Role)
