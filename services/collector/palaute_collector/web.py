"""HTTP entry points of the collector: the survey page and the partner's SMS webhook."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from palaute_collector.service import CollectorService
from palaute_collector.texts import TEXTS
from palaute_runtime.http import bearer_matches
from palaute_runtime.sealed import unseal
from palaute_runtime.throttle import Throttle
from palaute_schemas import Language, parse_phone, token_hash

log = structlog.get_logger("palaute.collector.web")

MAX_COMMENT = 2000
MAX_SMS_TEXT = 1600  # ten concatenated SMS segments; a reply is a digit or STOP
MAX_MESSAGE_ID = 200
_pages = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
_STATUS = {"answered": 409, "expired": 410, "unknown": 404}


def _page(
    language: Language, status: int = 200, template: str = "survey.html", **values: object
) -> HTMLResponse:
    html = _pages.get_template(template).render(language=language, t=TEXTS[language], **values)
    return HTMLResponse(html, status_code=status)  # security headers: palaute_runtime.http


def routes(service: CollectorService) -> list[Route]:
    """The collector's public surface: the survey page and the partner's SMS webhook."""
    # Unknown survey links one client address asks for within a minute, then a 429: 128-bit
    # tokens cannot be guessed, but nobody gets to try at speed.
    throttle = Throttle(service.settings.token_guesses_per_minute, window_seconds=60.0)
    unknown = " / ".join(TEXTS[lang]["unknown"] for lang in ("fi", "sv", "en"))

    async def survey_page(request: Request) -> Response:
        token = request.path_params["token"]
        address = request.client.host if request.client else "unknown"
        if (refused := slowed(request)) is not None:
            return refused
        survey = await service.survey_for_token(token_hash(token))
        if survey is None:
            throttle.missed(address)
            return _page("fi", 404, message=unknown)
        t = TEXTS[survey.language]
        if survey.state != "open":
            return _page(survey.language, _STATUS[survey.state], message=t[survey.state])
        action = f"/s/{token}"
        about = t["about"].format(
            organization=service.settings.organization_name,
            channel=t.get(survey.contact_channel, survey.contact_channel),
            day=f"{survey.contact_day.day}.{survey.contact_day.month}.{survey.contact_day.year}",
        )
        # A named survey may ask for a follow-up; an anonymous one never offers it.
        offer = (
            None
            if survey.anonymous
            else t["follow_up"].format(days=service.settings.follow_up_working_days)
        )
        if request.method != "POST":  # GET and HEAD only show the page; only POST records
            if request.method == "GET":
                await service.mark_opened(survey.invitation_id)
            selected = _score(request.query_params.get("score"))
            return _page(
                survey.language,
                action=action,
                about=about,
                offer_follow_up=offer,
                selected=selected,
                selected_csat=None,
                comment="",
            )
        form = await request.form()
        score = _score(form.get("score"))
        csat = _score(form.get("csat"), highest=5, lowest=1)
        follow_up = offer is not None and form.get("follow_up") == "yes"
        comment = str(form.get("comment") or "").strip()
        if not _is_text(comment):
            comment = comment.encode("utf-8", errors="replace").decode("utf-8")
        if (score is None and csat is None) or len(comment) > MAX_COMMENT:
            error = t["choose"] if score is None and csat is None else t["too_long"]
            return _page(
                survey.language,
                400,
                action=action,
                about=about,
                offer_follow_up=offer,
                follow_up=follow_up,
                selected=score,
                selected_csat=csat,
                comment=comment[:MAX_COMMENT],
                error=error,
            )
        if not await service.answer(
            survey.invitation_id, score, comment, csat, follow_up=follow_up
        ):
            return _page(survey.language, 409, message=t["answered"])
        return _page(survey.language, message=t["thanks"])

    async def show_page(request: Request) -> Response:
        """
        ---
        summary: The survey page behind an invitation's link
        description: >-
          Shows the questions; `score` preselects a score (the email's 0-10 links). Never
          records anything: only the form's POST does.
        parameters:
          - {name: token, in: path, required: true, schema: {type: string}}
          - {name: score, in: query, required: false, schema: {type: string}}
        responses:
          "200": {description: the page, content: {text/html: {}}}
          "404": {description: no such survey link}
          "409": {description: already answered}
          "410": {description: the survey has closed}
          "429": {description: too many unknown links from this address; see Retry-After}
        """
        return await survey_page(request)

    async def submit_answer(request: Request) -> Response:
        """
        ---
        summary: Record an answer
        parameters:
          - {name: token, in: path, required: true, schema: {type: string}}
        requestBody:
          required: true
          content:
            application/x-www-form-urlencoded:
              schema:
                type: object
                properties:
                  score: {type: string, description: "NPS, 0-10"}
                  csat: {type: string, description: "CSAT, 1-5"}
                  follow_up: {type: string, description: "yes: contact me (named surveys)"}
                  comment: {type: string, maxLength: 2000}
        responses:
          "200": {description: thanks, content: {text/html: {}}}
          "400": {description: "neither a valid NPS nor CSAT score, or a comment too long"}
          "404": {description: no such survey link}
          "409": {description: already answered}
          "410": {description: the survey has closed}
          "413": {description: body over the limit}
          "429": {description: too many unknown links from this address; see Retry-After}
        """
        return await survey_page(request)

    async def inbound_sms(request: Request) -> Response:
        """
        ---
        summary: The partner's inbound-SMS webhook (a reply to a survey SMS)
        description: >-
          Authenticated with `Authorization: Bearer <PALAUTE_PARTNER_WEBHOOK_SECRET>`. A
          digit answers the sender's open survey; STOP opts the sender out.
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [from, text]
                properties:
                  from: {type: string, description: the sender's phone number}
                  text: {type: string, maxLength: 1600}
                  id:
                    type: string
                    maxLength: 200
                    description: the partner's message id (a delivery repeated counts once)
                  received_at:
                    type: string
                    format: date-time
                    description: when the partner received it (ISO 8601 with offset)
        responses:
          "200": {description: "status: recorded, opted_out, unreadable, held or duplicate"}
          "400": {description: not a JSON object with string fields from and text}
          "401": {description: missing or wrong webhook secret}
          "413": {description: body over the limit}
          "422": {description: "not a valid phone number, text too long, or a bad id or time"}
        """
        secret = service.settings.partner_webhook_secret
        if not bearer_matches(request.headers.get("Authorization"), secret):
            return JSONResponse({"error": "missing or wrong webhook secret"}, status_code=401)
        try:
            body = await request.json()
            sender, text = body["from"], body["text"]
            if not isinstance(sender, str) or not isinstance(text, str):
                raise TypeError
        # ValueError: not JSON, not UTF-8; RecursionError: nested beyond reason.
        except (ValueError, KeyError, TypeError, IndexError, RecursionError):
            return JSONResponse(
                {"error": 'expected a JSON object with string fields "from" and "text"'},
                status_code=400,
            )
        if len(text) > MAX_SMS_TEXT or not _is_text(text) or not _is_text(sender):
            return JSONResponse(
                {"error": f'"text" must be valid text of at most {MAX_SMS_TEXT} characters'},
                status_code=422,
            )
        try:
            phone = parse_phone(sender, service.settings.default_region)
        except ValueError:
            return JSONResponse({"error": '"from" is not a valid phone number'}, status_code=422)
        message_id, received_at = body.get("id"), body.get("received_at")
        if message_id is not None and (
            not isinstance(message_id, str)
            or not 0 < len(message_id) <= MAX_MESSAGE_ID
            or not _is_text(message_id)
        ):
            return JSONResponse(
                {"error": f'"id" must be text of 1 to {MAX_MESSAGE_ID} characters'},
                status_code=422,
            )
        received = _moment(received_at) if received_at is not None else None
        if received_at is not None and received is None:
            return JSONResponse(
                {"error": '"received_at" must be an ISO 8601 time with its offset'},
                status_code=422,
            )
        outcome = await service.answer_sms(phone, text, message_id=message_id, received_at=received)
        return JSONResponse({"status": outcome})

    def slowed(request: Request) -> Response | None:
        """A 429 page for an address that asked for too many unknown links, else None."""
        wait = throttle.retry_after(request.client.host if request.client else "unknown")
        if wait is None:
            return None
        slow_down = " / ".join(TEXTS[lang]["slow_down"] for lang in ("fi", "sv", "en"))
        response = _page("fi", 429, message=slow_down)
        response.headers["Retry-After"] = str(wait)
        return response

    async def unsubscribe(request: Request) -> Response:
        """
        ---
        summary: The unsubscribe link of an email invitation (List-Unsubscribe)
        description: >-
          GET shows a confirmation page with a button; POST (the button, or a mail
          provider's one-click `List-Unsubscribe=One-Click`, RFC 8058) opts the address out
          of surveys for good. Only POST changes anything.
        parameters:
          - {name: token, in: path, required: true, schema: {type: string}}
        responses:
          "200": {description: the confirmation page, or done, content: {text/html: {}}}
          "404": {description: not an unsubscribe link of ours}
          "413": {description: body over the limit}
          "429": {description: too many unknown links from this address; see Retry-After}
        """
        if (refused := slowed(request)) is not None:
            return refused
        token = request.path_params["token"]
        opened = unseal(service.settings.unsubscribe_key, token)
        address, language = (opened or {}).get("email"), (opened or {}).get("language")
        if not isinstance(address, str) or language not in TEXTS:
            throttle.missed(request.client.host if request.client else "unknown")
            return _page("fi", 404, template="unsubscribe.html", message=unknown)
        if request.method != "POST":
            return _page(language, template="unsubscribe.html", action=f"/u/{token}")
        await service.unsubscribe(address)
        return _page(language, template="unsubscribe.html", message=TEXTS[language]["unsubscribed"])

    return [
        Route("/u/{token}", unsubscribe, methods=["GET", "POST"]),
        Route("/s/{token}", show_page, methods=["GET"]),  # HEAD too, recording nothing
        Route("/s/{token}", submit_answer, methods=["POST"]),
        Route("/partner/sms-inbound", inbound_sms, methods=["POST"]),
    ]


def _score(raw: object, *, highest: int = 10, lowest: int = 0) -> int | None:
    """A score in [lowest, highest] written in ASCII digits; anything else (², a 5,000-digit
    number) is no score."""
    if not isinstance(raw, str) or not (0 < len(raw) <= 2 and raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if lowest <= value <= highest else None


def _moment(value: object) -> datetime | None:
    """An ISO 8601 instant with its offset, or None."""
    if not isinstance(value, str) or len(value) > 40 or not _is_text(value):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _is_text(value: str) -> bool:
    """Whether a string can be stored as UTF-8 (a lone surrogate cannot)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
