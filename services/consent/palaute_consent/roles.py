"""Who may do what in the officer's workspace (kept apart so the command line can name the
roles without loading the workspace)."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["officer", "auditor", "self_service"]
ROLES: tuple[Role, ...] = get_args(Role)
# People sign in as officers or auditors; `self_service` is for a token only: the backend of
# the organisation's own app, which may read, set and lift one named customer's survey ban
# and nothing else.
ACCOUNT_ROLES: tuple[Role, ...] = ("officer", "auditor")
