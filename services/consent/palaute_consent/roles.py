"""Who may do what in the officer's workspace (kept apart so the command line can name the
roles without loading the workspace)."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["officer", "auditor", "analyst", "manager", "self_service"]
ROLES: tuple[Role, ...] = get_args(Role)
# People sign in as officers, auditors, analysts or managers; `self_service` is for a token
# only: the backend of the organisation's own app, which may read, set and lift one named
# customer's survey ban and nothing else.
ACCOUNT_ROLES: tuple[Role, ...] = ("officer", "auditor", "analyst", "manager")
# API tokens: a machine works with the register (the results are on their topics for BI).
TOKEN_ROLES: tuple[Role, ...] = ("officer", "auditor", "self_service")
# The register, its audit log and privacy requests: the privacy officer and the auditor.
STAFF: frozenset[Role] = frozenset({"officer", "auditor"})
# The results (published figures only, nothing of any person): analysts, managers, staff.
RESULTS_READERS: frozenset[Role] = frozenset({"officer", "auditor", "analyst", "manager"})
# The comments of named answers (each read audited): analysts and customer-service
# managers; the customer each comment came from (to follow it up): managers only. The
# privacy officer and the auditor keep the register, not the feedback.
COMMENT_READERS: frozenset[Role] = frozenset({"analyst", "manager"})
CUSTOMER_LINK_READERS: frozenset[Role] = frozenset({"manager"})


def home_of(role: Role) -> str:
    """The page a person lands on when signed in."""
    return "/officer" if role in STAFF else "/results"
