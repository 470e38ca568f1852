"""The comments the staff read, for the consent service's comment reader (never a page of the
collector's own): named answers' comments as the reader narrows them, with the customer id
only when asked for (consent asks only for a role that may see it), and the follow-up's due
date; anonymous comments only as released (text only: no unit, time or score) and only
when nothing narrows the read, so they can never be picked out one by one or by unit."""

from __future__ import annotations

from typing import Any

import structlog

from palaute_collector.core import Core
from palaute_collector.figure_store import FigureStore
from palaute_collector.invitation_store import CommentFilter, InvitationStore

log = structlog.get_logger("palaute.collector.comments")

READ_LIMIT = 200  # comments a read returns at most, of each kind


class Comments:
    """Reads of comments for the staff."""

    def __init__(self, core: Core) -> None:
        self.core = core

    async def read(self, wanted: CommentFilter, *, customer: bool) -> dict[str, Any]:
        """The named comments `wanted`, newest first, and the released anonymous ones when
        nothing narrows the read."""
        async with self.core.engine.connect() as connection:
            named = await InvitationStore(connection).named_comments(wanted, READ_LIMIT)
            anonymous = (
                []
                if wanted.narrowed
                else await FigureStore(connection).released_comments(READ_LIMIT)
            )
        log.info("staff_comments_read", named=len(named), anonymous=len(anonymous))
        return {
            "named": [
                {
                    "day": row.day.isoformat(),
                    "unit": row.unit,
                    "programme": row.programme,
                    "score": row.score,
                    "csat": row.csat,
                    "comment": row.comment,
                    "customer_id": row.customer_id if customer else None,
                    "follow_up_due": row.follow_up_due.isoformat() if row.follow_up_due else None,
                }
                for row in named
            ],
            "anonymous": anonymous,
            "anonymous_shown": not wanted.narrowed,
        }
