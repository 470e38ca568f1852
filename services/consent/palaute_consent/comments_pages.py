"""The comment reader: the comments of named answers for the staff whose role allows it,
narrowed by unit, programme, NPS band and period; the customer each came from only for a
role that may see it; anonymous comments only as released (text only) and only when
nothing narrows the read. The collector holds the comments and gives them over its staff
API; consent signs the reader in, checks the role and accounts for every read in the audit
chain, as it does for the officer's reads of personal data."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import structlog
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from palaute_consent.officer_web import OfficerWeb, Refused, page
from palaute_consent.officers import Session
from palaute_consent.roles import CUSTOMER_LINK_READERS

log = structlog.get_logger("palaute.consent.comments")

BANDS = ("", "detractor", "passive", "promoter")
_FILTERS = ("unit", "programme", "band", "from", "to")


def _filters(request: Request) -> dict[str, str]:
    """The reader's filters, checked: a clear 400 for a wrong one."""
    wanted = {name: request.query_params.get(name, "").strip()[:100] for name in _FILTERS}
    if wanted["band"] not in BANDS:
        raise Refused(400, "band is detractor, passive or promoter")
    for name in ("from", "to"):
        if wanted[name]:
            try:
                date.fromisoformat(wanted[name])
            except ValueError:
                raise Refused(400, f"{name} is a date, YYYY-MM-DD") from None
    return wanted


async def comments(
    web: OfficerWeb, request: Request, current: Session, _: FormData | None
) -> Response:
    wanted = _filters(request)
    customer = current.principal.role in CUSTOMER_LINK_READERS
    settings = web.settings
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.get(
                settings.collector_url.rstrip("/") + "/staff/comments",
                params={
                    **{k: v for k, v in wanted.items() if v},
                    "customer": str(customer).lower(),
                },
                headers={"Authorization": f"Bearer {settings.staff_api_token}"},
            )
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
    except (httpx.HTTPError, ValueError) as error:
        log.error("comments_unavailable", error=type(error).__name__)
        raise Refused(503, "the collector did not answer; try again in a moment") from None
    named = found.get("named", [])
    anonymous = found.get("anonymous", [])
    described = ";".join(f"{k}={v}" for k, v in wanted.items() if v) or "all"
    await web.workspace.account_for_comments(
        current.principal, described, named=len(named), anonymous=len(anonymous), customer=customer
    )
    return page(
        request,
        "comments.html",
        session=current,
        wanted=wanted,
        bands=BANDS,
        named=named,
        anonymous=anonymous,
        anonymous_shown=bool(found.get("anonymous_shown")),
        customer=customer,
    )
