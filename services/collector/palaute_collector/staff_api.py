"""The staff's read of comments over HTTP: for the consent service's comment reader, which
signs the staff in, checks their role and audits each read (docs/results.md). Not a page:
JSON, behind a bearer token the two services share (PALAUTE_STAFF_API_TOKEN)."""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from palaute_collector.invitation_store import BANDS, CommentFilter
from palaute_collector.web_context import WebContext
from palaute_runtime.http import bearer_matches


class _BadQuery(ValueError):
    pass


def _date(request: Request, name: str) -> date | None:
    text = request.query_params.get(name, "")
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _BadQuery(f"{name} is a date, YYYY-MM-DD") from None


def _text(request: Request, name: str) -> str:
    text = request.query_params.get(name, "")
    if len(text) > 100:
        raise _BadQuery(f"{name} is at most 100 characters")
    return text


async def staff_comments(web: WebContext, request: Request) -> Response:
    """
    ---
    summary: Comments for the staff's comment reader (the consent service calls it)
    description: >-
      Authenticated with `Authorization: Bearer <PALAUTE_STAFF_API_TOKEN>`. Named answers'
      comments, newest first (200 at most), narrowed by unit, programme, NPS band and contact
      days; the customer id only with customer=true; anonymous comments, text only, only
      when nothing narrows the read.
    security: [{bearer: []}]
    parameters:
      - {name: unit, in: query, schema: {type: string, maxLength: 100}}
      - {name: programme, in: query, schema: {type: string, maxLength: 100}}
      - {name: band, in: query, schema: {type: string, enum: ["", detractor, passive, promoter]}}
      - {name: from, in: query, schema: {type: string, format: date}}
      - {name: to, in: query, schema: {type: string, format: date}}
      - {name: customer, in: query, schema: {type: string, enum: ["", "true", "false"]}}
    responses:
      "200":
        description: the comments
        content:
          application/json:
            schema:
              type: object
              properties:
                named: {type: array, items: {type: object}}
                anonymous: {type: array, items: {type: string}}
                anonymous_shown: {type: boolean}
      "400": {description: a parameter is not what it should be}
      "401": {description: no or a wrong token}
    """
    if not bearer_matches(
        request.headers.get("authorization"), web.service.settings.staff_api_token
    ):
        return JSONResponse({"error": "a staff API token is needed"}, status_code=401)
    try:
        band = request.query_params.get("band", "")
        if band and band not in BANDS:
            raise _BadQuery(f"band is one of {', '.join(BANDS)}")
        customer = request.query_params.get("customer", "")
        if customer not in ("", "true", "false"):
            raise _BadQuery("customer is true or false")
        wanted = CommentFilter(
            unit=_text(request, "unit"),
            programme=_text(request, "programme"),
            band=band,
            first=_date(request, "from"),
            last=_date(request, "to"),
        )
    except _BadQuery as bad:
        return JSONResponse({"error": str(bad)}, status_code=400)
    return JSONResponse(await web.service.read_comments(wanted, customer=customer == "true"))
