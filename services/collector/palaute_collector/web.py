"""HTTP entry points of the collector: the survey page and the partner's SMS webhook."""

from __future__ import annotations

import hmac
import json
from pathlib import Path

import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from palaute_collector.service import CollectorService
from palaute_collector.texts import TEXTS
from palaute_schemas import Language, parse_phone, token_hash

log = structlog.get_logger("palaute.collector.web")

MAX_COMMENT = 2000
_pages = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
_STATUS = {"answered": 409, "expired": 410, "unknown": 404}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _page(language: Language, status: int = 200, **values: object) -> HTMLResponse:
    html = _pages.get_template("survey.html").render(language=language, t=TEXTS[language], **values)
    return HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)


def create_app(service: CollectorService) -> Starlette:
    """The collector's ASGI app."""

    async def survey_page(request: Request) -> Response:
        token = request.path_params["token"]
        survey = await service.survey_for_token(token_hash(token))
        if survey is None:
            return _page(
                "fi", 404, message=" / ".join(TEXTS[lang]["unknown"] for lang in ("fi", "sv", "en"))
            )
        t = TEXTS[survey.language]
        if survey.state != "open":
            return _page(survey.language, _STATUS[survey.state], message=t[survey.state])
        action = f"/s/{token}"
        if request.method == "GET":
            selected = _score(request.query_params.get("score"))
            return _page(survey.language, action=action, selected=selected, comment="")
        form = await request.form()
        score = _score(form.get("score"))
        comment = str(form.get("comment") or "").strip()
        if score is None or len(comment) > MAX_COMMENT:
            error = t["choose"] if score is None else t["too_long"]
            return _page(
                survey.language,
                400,
                action=action,
                selected=score,
                comment=comment[:MAX_COMMENT],
                error=error,
            )
        if not await service.answer(survey.invitation_id, score, comment):
            return _page(survey.language, 409, message=t["answered"])
        return _page(survey.language, message=t["thanks"])

    async def inbound_sms(request: Request) -> Response:
        expected = f"Bearer {service.settings.partner_webhook_secret}"
        if not hmac.compare_digest(request.headers.get("Authorization", ""), expected):
            return JSONResponse({"error": "missing or wrong webhook secret"}, status_code=401)
        try:
            body = await request.json()
            sender, text = body["from"], body["text"]
            if not isinstance(sender, str) or not isinstance(text, str):
                raise TypeError
        except (json.JSONDecodeError, KeyError, TypeError):
            return JSONResponse(
                {"error": 'expected a JSON object with string fields "from" and "text"'},
                status_code=400,
            )
        try:
            phone = parse_phone(sender, service.settings.default_region)
        except ValueError:
            return JSONResponse({"error": '"from" is not a valid phone number'}, status_code=422)
        outcome = await service.answer_sms(phone, text)
        return JSONResponse({"status": outcome})

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/s/{token}", survey_page, methods=["GET", "POST"]),
            Route("/partner/sms-inbound", inbound_sms, methods=["POST"]),
            Route("/health", health),
        ]
    )


def _score(raw: object) -> int | None:
    if not isinstance(raw, str) or not raw.isdigit():
        return None
    value = int(raw)
    return value if 0 <= value <= 10 else None
