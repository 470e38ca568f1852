"""The officer's pages: sign-in, the register (search, add, remove), the audit log and its
CSV, erasure and access requests. Plain forms, no JavaScript; every form carries the
session's CSRF token; an auditor may read but not change. Each handler is a top-level
function of the context, the request, the session and the form that calls the workspace."""

from __future__ import annotations

import asyncio
import csv
import functools
import hmac
import io
import json
import secrets
from collections.abc import Awaitable, Callable

import structlog
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from palaute_consent.officer_web import (
    KINDS,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    OfficerWeb,
    Refused,
    page,
    reason_of,
    request_id_of,
)
from palaute_consent.officers import Session, sign_cookie, unsign_cookie
from palaute_consent.register import EntryKind
from palaute_consent.roles import STAFF, Role, home_of
from palaute_consent.workspace import Found
from palaute_runtime.http import client_of

log = structlog.get_logger("palaute.consent.officer")

AUDIT_PAGE_ROWS = 500
_SIGN_IN = "sign-in:"  # what the sign-in form's token signs, apart from any session id
PageHandler = Callable[[OfficerWeb, Request, Session, FormData | None], Awaitable[Response]]


def signed_in_only(
    handler: PageHandler,
    web: OfficerWeb,
    *,
    writes: bool = False,
    roles: frozenset[Role] = STAFF,
) -> Callable[[Request], Awaitable[Response]]:
    """A page's endpoint: the sign-in page (401) for anyone not signed in, 403 for a role
    not among `roles`; a POST needs the session's CSRF token, and the officer role when it
    changes something (`writes`)."""

    async def guarded(request: Request) -> Response:
        current = await web.signed_in(request)
        if current is None:
            return sign_in_page(web, request, 401)
        if current.principal.role not in roles:
            log.warning(
                "officer_page_refused",
                actor=current.principal.actor,
                role=current.principal.role,
                path=request.url.path,
            )
            return page(request, "officer_error.html", 403, message="not_for_role", session=current)
        form = None
        if request.method == "POST":
            form = await request.form(max_files=0, max_fields=10)
            given = str(form.get("csrf", ""))
            if not hmac.compare_digest(given.encode(), current.csrf.encode()):
                log.warning(
                    "officer_csrf_refused",
                    actor=current.principal.actor,
                    client=client_of(request),
                    path=request.url.path,
                )
                return page(request, "officer_error.html", 403, message="csrf", session=current)
            if writes and not current.principal.may_write:
                return page(
                    request, "officer_error.html", 403, message="read_only", session=current
                )
        try:
            return await handler(web, request, current, form)
        except Refused as refused:
            return page(
                request,
                "officer_error.html",
                refused.status,
                message="invalid",
                detail=refused.message,
                session=current,
            )

    return functools.wraps(handler)(guarded)


def sign_in_page(web: OfficerWeb, request: Request, status: int, message: str = "") -> Response:
    """The sign-in form, with a CSRF token the server issued and signed (kept in a cookie
    too: the form's field must equal the cookie, and the signature must hold, so a cookie
    planted by someone else is worth nothing)."""
    token = sign_cookie(web.key, _SIGN_IN + secrets.token_urlsafe(32))
    response = page(request, "officer_sign_in.html", status, csrf=token, message=message)
    response.set_cookie(SIGN_IN_COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


async def sign_in_form(web: OfficerWeb, request: Request) -> Response:
    """
    ---
    summary: The sign-in page
    responses:
      "200": {description: the sign-in form (HTML)}
    """
    current = await web.signed_in(request)
    if current is not None:
        return RedirectResponse(home_of(current.principal.role), status_code=303)
    return sign_in_page(web, request, 200)


async def sign_in(web: OfficerWeb, request: Request) -> Response:
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
      "303": {description: signed in; on to the register (the results for an analyst)}
      "401": {description: wrong username or password}
      "403": {description: the form's CSRF token is missing or wrong}
      "429": {description: too many failed attempts; Retry-After says when to try again}
    """
    form = await request.form(max_files=0, max_fields=10)
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    given = str(form.get("csrf", ""))
    issued = unsign_cookie(web.key, expected)
    if (
        issued is None
        or not issued.startswith(_SIGN_IN)
        or not hmac.compare_digest(given.encode(), expected.encode())
    ):
        log.warning("officer_csrf_refused", form="sign-in", client=client_of(request))
        return sign_in_page(web, request, 403, "csrf")
    username = str(form.get("username", "")).strip()[:100]
    address = client_of(request)
    throttles = web.workspace
    wait = await throttles.sign_ins_from.retry_after(address)
    if wait:  # an address that failed too often waits, whatever account it names
        log.warning(
            "officer_sign_in_throttled",
            account=web.account_ref(username),
            client=address,
            retry_after=wait,
        )
        response = sign_in_page(web, request, 429, "throttled")
        response.headers["Retry-After"] = str(wait)
        return response
    if await throttles.sign_ins.retry_after(username):
        # Someone has been guessing this account's password: every attempt at it is slowed
        # down, and the right one still signs in. Anyone can name any account, so a lock
        # here would lock its owner out at will.
        log.warning("officer_sign_in_slowed", account=web.account_ref(username), client=address)
        await asyncio.sleep(web.settings.officer_sign_in_slowdown_seconds)
    signed = await web.workspace.sign_in(username, str(form.get("password", "")), web.lifetime)
    if signed is None:
        await throttles.sign_ins_from.missed(address)
        await throttles.sign_ins.missed(username)
        log.warning("officer_sign_in_failed", account=web.account_ref(username), client=address)
        return sign_in_page(web, request, 401, "wrong")
    principal, session_id = signed
    log.info("officer_signed_in", actor=principal.actor)
    response = RedirectResponse(home_of(principal.role), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sign_cookie(web.key, session_id),
        max_age=int(web.lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(SIGN_IN_COOKIE, path="/")
    return response


async def sign_out(
    web: OfficerWeb, request: Request, current: Session, _: FormData | None
) -> Response:
    session_id = web.session_id(request)
    if session_id is not None:
        await web.workspace.sign_out(session_id)
    log.info("officer_signed_out", actor=current.principal.actor)
    response = RedirectResponse("/officer/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _form_identifier(web: OfficerWeb, form: FormData | None) -> tuple[EntryKind, str]:
    assert form is not None  # a POST route
    return web.normalised(str(form.get("kind", "")), str(form.get("identifier", "")))


async def _register_page(
    web: OfficerWeb,
    request: Request,
    current: Session,
    kind: EntryKind | None = None,
    identifier: str = "",
    *,
    done: str = "",
    withdrawn: int = 0,
    found: Found | None = None,
) -> Response:
    if found is None and kind is not None:
        found = await web.workspace.look_up(kind, identifier)
    return page(
        request,
        "officer_register.html",
        session=current,
        kinds=KINDS,
        found=found,
        done=done,
        withdrawn=withdrawn,
        # The landing page: what needs attention, above the search.
        overview=await web.workspace.overview() if found is None and not done else None,
    )


async def register(
    web: OfficerWeb, request: Request, current: Session, _: FormData | None
) -> Response:
    return await _register_page(web, request, current)


async def search(
    web: OfficerWeb, request: Request, current: Session, form: FormData | None
) -> Response:
    kind, identifier = _form_identifier(web, form)
    found = await web.workspace.look_up(kind, identifier, reader=current.principal)
    return await _register_page(web, request, current, kind, identifier, found=found)


async def add(
    web: OfficerWeb, request: Request, current: Session, form: FormData | None
) -> Response:
    kind, identifier = _form_identifier(web, form)
    assert form is not None
    reason = reason_of(str(form.get("reason", "")))
    withdrawn = await web.workspace.add(current.principal, kind, identifier, reason)
    return await _register_page(
        web, request, current, kind, identifier, done="added", withdrawn=withdrawn
    )


async def remove(
    web: OfficerWeb, request: Request, current: Session, form: FormData | None
) -> Response:
    kind, identifier = _form_identifier(web, form)
    assert form is not None
    reason = reason_of(str(form.get("reason", "")))
    removed = await web.workspace.remove(current.principal, kind, identifier, reason)
    done = "removed" if removed else "not_listed"
    return await _register_page(web, request, current, kind, identifier, done=done)


async def audit_log(
    web: OfficerWeb, request: Request, current: Session, form: FormData | None
) -> Response:
    who: tuple[EntryKind | None, str | None] = (None, None)
    if form is not None and str(form.get("identifier", "")).strip():
        who = _form_identifier(web, form)
    rows, verdict = await web.workspace.audit_trail(*who)
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


async def audit_csv(
    web: OfficerWeb, request: Request, current: Session, _: FormData | None
) -> Response:
    rows, _verdict = await web.workspace.audit_trail()
    out = io.StringIO()
    writer = csv.DictWriter(
        out, ["id", "at", "actor", "action", "kind", "value", "source", "reason"]
    )
    writer.writeheader()
    writer.writerows({name: spreadsheet_safe(value) for name, value in row.items()} for row in rows)
    log.info("audit_exported", actor=current.principal.actor, rows=len(rows))
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="register-audit.csv"'},
    )


def spreadsheet_safe(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one that begins with =, +, -, @, a tab or a
    carriage return would be read as a formula (OWASP "CSV injection"), so it gets a leading
    apostrophe. A masked phone number (+358 40 ...) is such a cell too."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def requests(
    web: OfficerWeb, request: Request, current: Session, form: FormData | None
) -> Response:
    filed = None
    if form is not None:
        filed = await web.file(current.principal, {k: str(v) for k, v in form.items()})
    listed = await web.workspace.requests()
    return page(request, "officer_requests.html", session=current, requests=listed, filed=filed)


async def access_json(
    web: OfficerWeb, request: Request, current: Session, _: FormData | None
) -> Response:
    if not current.principal.may_write:
        raise Refused(403, "the auditor role does not download personal data")
    request_id = request_id_of(request)
    document = await web.workspace.access_document(current.principal, request_id)
    if document is None:
        raise Refused(404, "no such access request")
    return Response(
        json.dumps(document, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="access-{request_id}.json"'},
    )


async def programmes(
    web: OfficerWeb, request: Request, current: Session, _: FormData | None
) -> Response:
    """Every survey programme and its rules, read-only (the programme file decides them);
    `?unit=` says which programme a unit falls in."""
    unit = request.query_params.get("unit", "").strip()[:100]
    all_programmes = web.settings.programmes
    return page(
        request,
        "officer_programmes.html",
        session=current,
        programmes=all_programmes.all,
        unit=unit,
        falls_in=all_programmes.for_unit(unit).name if unit else None,
        source=str(web.settings.programmes_file or ""),
    )
