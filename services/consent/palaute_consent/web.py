"""The privacy officer's workspace: the register on pages (no JavaScript needed) and an API.

Pages: `/officer/...`, signed in with an account (session cookie: signed, HttpOnly,
SameSite=Strict; every form carries the session's CSRF token). API: `/api/v1/...`, with
`Authorization: Bearer <token>`. Either way, an installation may instead trust its single
sign-on proxy's identity header (only from the configured proxy addresses). Identifiers
travel in request bodies only, never in a URL, so no access log or browser history keeps
them. Anonymous callers get 401 (the sign-in page, or JSON); an auditor who tries to
change anything gets 403; a form without its CSRF token gets 403.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from palaute_consent import audit, officers, privacy
from palaute_consent.officer_texts import LANGUAGES, TEXTS
from palaute_consent.officers import Principal, Session
from palaute_consent.register import EntryKind, OptOutRegister
from palaute_consent.service import ConsentService
from palaute_consent.tables import decisions
from palaute_runtime.database import as_utc
from palaute_runtime.throttle import Throttle
from palaute_schemas import parse_email, parse_phone

log = structlog.get_logger("palaute.consent.officer")

SESSION_COOKIE = "palaute_officer"
SIGN_IN_COOKIE = "palaute_sign_in"  # the sign-in form's CSRF token, before any session
LANGUAGE_COOKIE = "palaute_lang"
KINDS: tuple[EntryKind, ...] = ("customer_id", "phone", "email")
MAX_FIELD = 500
AUDIT_PAGE_ROWS = 500
_pages = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


class Refused(Exception):
    """A request refused with a status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Found:
    """What the register and the decisions say of one identifier."""

    kind: EntryKind
    identifier: str  # as normalised
    entry: dict[str, str] | None
    decisions: list[dict[str, str]]

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "identifier": self.identifier,
            "listed": self.entry is not None,
            "entry": self.entry,
            "decisions": self.decisions,
        }


def routes(service: ConsentService) -> list[Route]:
    """The officer's pages and the register API."""
    settings = service.settings
    engine = service.engine
    key = settings.officer_session_key
    lifetime = timedelta(hours=settings.officer_session_hours)
    # Failed sign-ins within 15 minutes: per account, and (more, since colleagues share an
    # office address) per client address.
    sign_ins = Throttle(settings.officer_sign_in_attempts, window_seconds=15 * 60)
    sign_ins_from = Throttle(4 * settings.officer_sign_in_attempts, window_seconds=15 * 60)
    proxies = {p.strip() for p in settings.officer_sso_proxies.split(",") if p.strip()}

    def language(request: Request) -> str:
        asked = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE, "")
        return asked if asked in LANGUAGES else "fi"

    def page(request: Request, template: str, status: int = 200, **values: object) -> HTMLResponse:
        lang = language(request)
        html = _pages.get_template(template).render(
            lang=lang, t=TEXTS[lang], languages=LANGUAGES, path=request.url.path, **values
        )
        response = HTMLResponse(html, status_code=status)
        if request.query_params.get("lang") in LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="strict"
            )
        return response

    def sso_csrf(principal: Principal) -> str:
        return hmac.new(key.encode(), principal.actor.encode(), hashlib.sha256).hexdigest()

    async def sso_principal(request: Request) -> Principal | None:
        header = settings.officer_sso_header
        if not header or not request.client or request.client.host not in proxies:
            return None
        name = request.headers.get(header, "").strip()
        if not name:
            return None
        async with engine.connect() as connection:
            return await officers.account(connection, name)

    async def signed_in(request: Request) -> Session | None:
        principal = await sso_principal(request)
        if principal is not None:
            return Session(principal, sso_csrf(principal))
        session_id = officers.unsign_cookie(key, request.cookies.get(SESSION_COOKIE, ""))
        if session_id is None:
            return None
        async with engine.connect() as connection:
            return await officers.session(connection, session_id, now=service.clock.now())

    async def api_principal(request: Request) -> Principal:
        principal = await sso_principal(request)
        if principal is not None:
            return principal
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            async with engine.connect() as connection:
                principal = await officers.token_principal(connection, token.strip())
            if principal is not None:
                return principal
        raise Refused(401, "sign in: Authorization: Bearer <API token> is missing or not valid")

    def normalised(kind: str, identifier: str) -> tuple[EntryKind, str]:
        identifier = identifier.strip()
        if not identifier:
            raise Refused(400, "an empty identifier is refused")
        if len(identifier) > MAX_FIELD:
            raise Refused(400, f"an identifier is at most {MAX_FIELD} characters")
        try:
            if kind == "phone":
                return "phone", parse_phone(identifier, settings.default_region)
            if kind == "email":
                return "email", parse_email(identifier)
        except ValueError as exc:
            raise Refused(400, str(exc)) from exc
        if kind != "customer_id":
            raise Refused(400, "kind is one of customer_id, phone, email")
        return "customer_id", identifier

    def reason_of(text: str) -> str:
        reason = text.strip()
        if not reason:
            raise Refused(400, "a reason is required, and kept in the audit log")
        if len(reason) > MAX_FIELD:
            raise Refused(400, f"a reason is at most {MAX_FIELD} characters")
        return reason

    async def look_up(kind: EntryKind, identifier: str) -> Found:
        async with engine.connect() as connection:
            listed = await OptOutRegister(
                connection, settings.register_audit_key, service.clock
            ).find(kind, identifier)
            made: list[dict[str, str]] = []
            if kind == "customer_id":
                rows = await connection.execute(
                    sa.select(decisions)
                    .where(decisions.c.customer_id == identifier)
                    .order_by(decisions.c.decided_at.desc())
                    .limit(100)
                )
                made = [
                    {
                        "contact_id": r.contact_id,
                        "outcome": r.outcome,
                        "decided_at": as_utc(r.decided_at).isoformat(timespec="seconds"),
                    }
                    for r in rows
                ]
        entry = None
        if listed is not None:
            entry = {
                "source": listed.source,
                "reason": listed.reason,
                "since": listed.created_at.isoformat(timespec="seconds"),
            }
        return Found(kind, identifier, entry, made)

    async def add(principal: Principal, kind: EntryKind, identifier: str, reason: str) -> int:
        withdrawn = await service.add_opt_out(
            kind, identifier, source="privacy_officer", reason=reason, actor=principal.actor
        )
        log.info("register_changed", action="add", kind=kind, actor=principal.actor)
        return withdrawn

    async def remove(principal: Principal, kind: EntryKind, identifier: str, reason: str) -> bool:
        removed = await service.remove_opt_out(
            kind, identifier, reason=reason, actor=principal.actor
        )
        log.info("register_changed", action="remove", kind=kind, actor=principal.actor)
        return removed

    def person_of(values: dict[str, Any]) -> privacy.Person:
        given = {}
        for kind in KINDS:
            value = values.get(kind)
            if value is not None and not isinstance(value, str):
                raise Refused(400, f"{kind} is a string")
            if value and value.strip():
                given[kind] = normalised(kind, value)[1]
        if not given:
            raise Refused(400, "a customer id, a phone number or an email names the person")
        return privacy.Person(**given)

    def request_kind(text: object) -> privacy.RequestKind:
        if text == "erasure":
            return "erasure"
        if text == "access":
            return "access"
        raise Refused(400, "kind is erasure or access")

    async def file(principal: Principal, values: dict[str, Any]) -> uuid.UUID:
        kind = request_kind(values.get("kind"))
        person = person_of(values)
        reason = reason_of(str(values.get("reason") or ""))
        return await service.file_privacy_request(
            kind, person, reason=reason, actor=principal.actor
        )

    def request_id_of(request: Request) -> uuid.UUID:
        try:
            return uuid.UUID(request.path_params["request_id"])
        except ValueError as exc:
            raise Refused(404, "no such request") from exc

    async def audit_rows(kind: EntryKind | None = None, identifier: str | None = None) -> Any:
        async with engine.connect() as connection:
            register = service.register(connection)
            rows = await register.audit_trail(kind, identifier)
            verdict = await audit.verify(connection)
        return rows, verdict

    # ---- pages -------------------------------------------------------------------------

    def sign_in_page(request: Request, status: int, message: str = "") -> Response:
        token = secrets.token_urlsafe(32)
        response = page(request, "officer_sign_in.html", status, csrf=token, message=message)
        response.set_cookie(SIGN_IN_COOKIE, token, httponly=True, samesite="strict", path="/")
        return response

    def with_session(
        handler: Callable[[Request, Session, FormData | None], Awaitable[Response]],
        *,
        writes: bool = False,  # posting changes something: the officer role only
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            current = await signed_in(request)
            if current is None:
                return sign_in_page(request, 401)
            form = None
            if request.method == "POST":
                form = await request.form(max_files=0, max_fields=10)
                given = str(form.get("csrf", ""))
                if not hmac.compare_digest(given.encode(), current.csrf.encode()):
                    return page(request, "officer_error.html", 403, message="csrf", session=current)
                if writes and not current.principal.may_write:
                    return page(
                        request, "officer_error.html", 403, message="read_only", session=current
                    )
            try:
                return await handler(request, current, form)
            except Refused as refused:
                return page(
                    request,
                    "officer_error.html",
                    refused.status,
                    message="invalid",
                    detail=refused.message,
                    session=current,
                )

        return guarded

    async def sign_in_form(request: Request) -> Response:
        """
        ---
        summary: The sign-in page
        responses:
          "200": {description: the sign-in form (HTML)}
        """
        if await signed_in(request) is not None:
            return RedirectResponse("/officer", status_code=303)
        return sign_in_page(request, 200)

    async def sign_in(request: Request) -> Response:
        """
        ---
        summary: Sign in
        description: Form fields username, password and csrf (from the sign-in page).
        requestBody:
          content:
            application/x-www-form-urlencoded:
              schema:
                type: object
                properties:
                  username: {type: string}
                  password: {type: string}
                  csrf: {type: string}
        responses:
          "303": {description: signed in; on to the register}
          "401": {description: wrong username or password}
          "403": {description: the form's CSRF token is missing or wrong}
          "429": {description: too many failed attempts; Retry-After says when to try again}
        """
        form = await request.form(max_files=0, max_fields=10)
        expected = request.cookies.get(SIGN_IN_COOKIE, "")
        given = str(form.get("csrf", ""))
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return sign_in_page(request, 403, "csrf")
        username = str(form.get("username", "")).strip()[:100]
        address = request.client.host if request.client else "unknown"
        wait = max(sign_ins_from.retry_after(address) or 0, sign_ins.retry_after(username) or 0)
        if wait:
            response = sign_in_page(request, 429, "throttled")
            response.headers["Retry-After"] = str(wait)
            return response
        async with engine.begin() as connection:
            principal = await officers.sign_in(connection, username, str(form.get("password", "")))
            if principal is None:
                sign_ins_from.missed(address)
                sign_ins.missed(username)
                log.info("officer_sign_in_failed")
                return sign_in_page(request, 401, "wrong")
            session_id, _ = await officers.open_session(
                connection, principal, lifetime, now=service.clock.now()
            )
        log.info("officer_signed_in", actor=principal.actor)
        response = RedirectResponse("/officer", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            officers.sign_cookie(key, session_id),
            max_age=int(lifetime.total_seconds()),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        response.delete_cookie(SIGN_IN_COOKIE, path="/")
        return response

    async def _sign_out(request: Request, current: Session, _: FormData | None) -> Response:
        session_id = officers.unsign_cookie(key, request.cookies.get(SESSION_COOKIE, ""))
        if session_id is not None:
            async with engine.begin() as connection:
                await officers.close_session(connection, session_id)
        log.info("officer_signed_out", actor=current.principal.actor)
        response = RedirectResponse("/officer/sign-in", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def form_identifier(form: FormData | None) -> tuple[EntryKind, str]:
        assert form is not None  # a POST route
        return normalised(str(form.get("kind", "")), str(form.get("identifier", "")))

    async def register_page(
        request: Request,
        current: Session,
        kind: EntryKind | None = None,
        identifier: str = "",
        *,
        done: str = "",
        withdrawn: int = 0,
    ) -> Response:
        found = await look_up(kind, identifier) if kind is not None else None
        return page(
            request,
            "officer_register.html",
            session=current,
            kinds=KINDS,
            found=found,
            done=done,
            withdrawn=withdrawn,
        )

    async def _register_page(request: Request, current: Session, _: FormData | None) -> Response:
        return await register_page(request, current)

    async def _search(request: Request, current: Session, form: FormData | None) -> Response:
        return await register_page(request, current, *form_identifier(form))

    async def _add(request: Request, current: Session, form: FormData | None) -> Response:
        kind, identifier = form_identifier(form)
        assert form is not None
        reason = reason_of(str(form.get("reason", "")))
        withdrawn = await add(current.principal, kind, identifier, reason)
        return await register_page(
            request, current, kind, identifier, done="added", withdrawn=withdrawn
        )

    async def _remove(request: Request, current: Session, form: FormData | None) -> Response:
        kind, identifier = form_identifier(form)
        assert form is not None
        removed = await remove(
            current.principal, kind, identifier, reason_of(str(form.get("reason", "")))
        )
        done = "removed" if removed else "not_listed"
        return await register_page(request, current, kind, identifier, done=done)

    async def _audit_page(request: Request, current: Session, form: FormData | None) -> Response:
        who: tuple[EntryKind | None, str | None] = (None, None)
        if form is not None and str(form.get("identifier", "")).strip():
            who = form_identifier(form)
        rows, verdict = await audit_rows(*who)
        # The newest first, a page's worth; the CSV export has them all.
        return page(
            request,
            "officer_audit.html",
            session=current,
            kinds=KINDS,
            rows=rows[::-1][:AUDIT_PAGE_ROWS],
            total=len(rows),
            verdict=verdict,
        )

    async def _requests_page(request: Request, current: Session, form: FormData | None) -> Response:
        filed = None
        if form is not None:
            filed = await file(current.principal, {k: str(v) for k, v in form.items()})
        async with engine.connect() as connection:
            listed = await privacy.requests(connection)
        return page(request, "officer_requests.html", session=current, requests=listed, filed=filed)

    async def _access_json(request: Request, current: Session, _: FormData | None) -> Response:
        if not current.principal.may_write:
            raise Refused(403, "the auditor role does not download personal data")
        request_id = request_id_of(request)
        async with engine.connect() as connection:
            document = await privacy.access_document(connection, request_id)
        if document is None:
            raise Refused(404, "no such access request")
        log.info("access_document_downloaded", actor=current.principal.actor)
        return Response(
            json.dumps(document, ensure_ascii=False, indent=2),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="access-{request_id}.json"'},
        )

    async def _audit_csv(request: Request, current: Session, _: FormData | None) -> Response:
        rows, _verdict = await audit_rows()
        out = io.StringIO()
        writer = csv.DictWriter(
            out, ["id", "at", "actor", "action", "kind", "value", "source", "reason"]
        )
        writer.writeheader()
        writer.writerows(rows)
        log.info("audit_exported", actor=current.principal.actor, rows=len(rows))
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="register-audit.csv"'},
        )

    def documented(handler: Callable[[Request], Awaitable[Response]], doc: str) -> Any:
        handler.__doc__ = doc
        return handler

    page_doc = """
        ---
        summary: "{summary}"
        description: "Signed in only (401 with the sign-in page otherwise).{more}"
        responses:
          "200": {{description: the page (HTML)}}
          "401": {{description: not signed in; the sign-in page}}
        """
    form_doc = """
        ---
        summary: "{summary}"
        description: >-
          Signed in only; form fields as named, with the session's csrf token (403
          without it){more}.
        requestBody:
          content:
            application/x-www-form-urlencoded:
              schema:
                type: object
                properties:
                  csrf: {{type: string}}
                  kind: {{type: string, enum: [customer_id, phone, email]}}
                  identifier: {{type: string}}
                  reason: {{type: string}}
        responses:
          "200": {{description: the page with the result (HTML)}}
          "303": {{description: done; on to the next page}}
          "400": {{description: a field is missing or malformed}}
          "401": {{description: not signed in}}
          "403": {{description: no valid CSRF token, or the auditor role may not change anything}}
        """

    # ---- API ---------------------------------------------------------------------------

    def api(
        handler: Callable[[Request, Principal, dict[str, Any]], Awaitable[Response]],
        *,
        writes: bool = False,
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            try:
                principal = await api_principal(request)
                if writes and not principal.may_write:
                    raise Refused(403, "the auditor role reads only")
                body: dict[str, Any] = {}
                if request.method == "POST":
                    try:
                        parsed = json.loads(await request.body() or b"{}")
                    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                        raise Refused(400, "the body is not JSON") from exc
                    if not isinstance(parsed, dict):
                        raise Refused(400, "the body is a JSON object")
                    body = parsed
                return await handler(request, principal, body)
            except Refused as refused:
                return JSONResponse({"error": refused.message}, status_code=refused.status)

        return guarded

    def fields(body: dict[str, Any], *names: str) -> list[str]:
        values = []
        for name in names:
            value = body.get(name)
            if not isinstance(value, str):
                raise Refused(400, f"{name} is required (a string)")
            values.append(value)
        return values

    async def _api_lookup(_: Request, __: Principal, body: dict[str, Any]) -> Response:
        kind, identifier = normalised(*fields(body, "kind", "identifier"))
        return JSONResponse((await look_up(kind, identifier)).as_json())

    async def _api_add(_: Request, principal: Principal, body: dict[str, Any]) -> Response:
        kind_text, identifier_text, reason_text = fields(body, "kind", "identifier", "reason")
        kind, identifier = normalised(kind_text, identifier_text)
        withdrawn = await add(principal, kind, identifier, reason_of(reason_text))
        found = await look_up(kind, identifier)
        return JSONResponse({**found.as_json(), "withdrawn": withdrawn}, status_code=201)

    async def _api_remove(_: Request, principal: Principal, body: dict[str, Any]) -> Response:
        kind_text, identifier_text, reason_text = fields(body, "kind", "identifier", "reason")
        kind, identifier = normalised(kind_text, identifier_text)
        if not await remove(principal, kind, identifier, reason_of(reason_text)):
            raise Refused(404, f"no opt-out is registered for that {kind}")
        return JSONResponse((await look_up(kind, identifier)).as_json())

    async def _api_file(_: Request, principal: Principal, body: dict[str, Any]) -> Response:
        request_id = await file(principal, body)
        async with engine.connect() as connection:
            return JSONResponse(await privacy.request(connection, request_id), status_code=201)

    async def _api_request(request: Request, _: Principal, __: dict[str, Any]) -> Response:
        async with engine.connect() as connection:
            found = await privacy.request(connection, request_id_of(request))
        if found is None:
            raise Refused(404, "no such request")
        return JSONResponse(found)

    async def _api_access(request: Request, principal: Principal, __: dict[str, Any]) -> Response:
        async with engine.connect() as connection:
            document = await privacy.access_document(connection, request_id_of(request))
        if document is None:
            raise Refused(404, "no such access request")
        log.info("access_document_downloaded", actor=principal.actor)
        return JSONResponse(document)

    async def _api_audit(_: Request, __: Principal, body: dict[str, Any]) -> Response:
        who: tuple[EntryKind | None, str | None] = (None, None)
        if body.get("identifier"):
            who = normalised(*fields(body, "kind", "identifier"))
        rows, verdict = await audit_rows(*who)
        return JSONResponse(
            {
                "intact": verdict.broken_at is None,
                "rows": verdict.rows,
                "broken_at": verdict.broken_at,
                "why": verdict.why,
                "changes": rows,
            }
        )

    api_doc = """
        ---
        summary: "{summary}"
        description: >-
          Authorization: Bearer <API token> (or the single sign-on proxy's header); 401
          without, 403 for a write by the auditor role.{more}
        security: [{{bearer: []}}]
        requestBody:
          content:
            application/json:
              schema:
                type: object
                properties:
                  kind: {{type: string, enum: [customer_id, phone, email]}}
                  identifier: {{type: string}}
                  reason: {{type: string}}
        responses:
          "200": {{description: the result (JSON)}}
          "201": {{description: added (JSON)}}
          "400": {{description: a field is missing or malformed}}
          "401": {{description: no valid credentials}}
          "403": {{description: the auditor role may not change anything}}
          "404": {{description: nothing to remove}}
        """

    # path, methods, handler, its OpenAPI text, summary, more description
    documented_routes: list[
        tuple[str, list[str], Callable[[Request], Awaitable[Response]], str, str, str]
    ] = [
        ("/officer/sign-out", ["POST"], with_session(_sign_out), form_doc, "Sign out", ""),
        (
            "/officer",
            ["GET"],
            with_session(_register_page),
            page_doc,
            "The register: search, add, remove",
            "",
        ),
        (
            "/officer/search",
            ["POST"],
            with_session(_search),
            form_doc,
            "Look up an identifier in the register, with its decisions",
            "",
        ),
        (
            "/officer/opt-outs/add",
            ["POST"],
            with_session(_add, writes=True),
            form_doc,
            "Add an opt-out",
            "; officer role",
        ),
        (
            "/officer/opt-outs/remove",
            ["POST"],
            with_session(_remove, writes=True),
            form_doc,
            "Remove an opt-out",
            "; officer role",
        ),
        (
            "/officer/audit",
            ["GET", "POST"],
            with_session(_audit_page),
            page_doc,
            "The audit log and its chain check",
            " POST with kind and identifier filters it.",
        ),
        (
            "/officer/audit.csv",
            ["GET"],
            with_session(_audit_csv),
            page_doc,
            "The audit log as CSV",
            "",
        ),
        (
            "/officer/requests",
            ["GET", "POST"],
            with_session(_requests_page, writes=True),
            page_doc,
            "Erasure and access requests: file one, follow each service's answer",
            " POST (officer role, csrf) files one: kind erasure or access, customer_id,"
            " phone, email, reason.",
        ),
        (
            "/officer/requests/{request_id}/access.json",
            ["GET"],
            with_session(_access_json),
            page_doc,
            "An access request's document (officer role)",
            "",
        ),
        (
            "/api/v1/requests",
            ["POST"],
            api(_api_file, writes=True),
            api_doc,
            "File an erasure or access request",
            " Officer role. JSON kind (erasure or access), customer_id, phone, email, reason.",
        ),
        (
            "/api/v1/requests/{request_id}",
            ["GET"],
            api(_api_request),
            api_doc,
            "A request and each service's answer",
            "",
        ),
        (
            "/api/v1/requests/{request_id}/access",
            ["GET"],
            api(_api_access, writes=True),
            api_doc,
            "An access request's document",
            " Officer role.",
        ),
        (
            "/api/v1/register/lookup",
            ["POST"],
            api(_api_lookup),
            api_doc,
            "Look up an identifier",
            "",
        ),
        (
            "/api/v1/register/add",
            ["POST"],
            api(_api_add, writes=True),
            api_doc,
            "Add an opt-out",
            " Officer role.",
        ),
        (
            "/api/v1/register/remove",
            ["POST"],
            api(_api_remove, writes=True),
            api_doc,
            "Remove an opt-out",
            " Officer role.",
        ),
        (
            "/api/v1/audit",
            ["POST"],
            api(_api_audit),
            api_doc,
            "The audit log (identifiers masked) and its chain check",
            " With kind and identifier, only that identifier's changes.",
        ),
    ]
    return [
        Route("/officer/sign-in", sign_in_form, methods=["GET"]),
        Route("/officer/sign-in", sign_in, methods=["POST"]),
        *(
            Route(
                path, documented(handler, doc.format(summary=summary, more=more)), methods=methods
            )
            for path, methods, handler, doc, summary, more in documented_routes
        ),
    ]
