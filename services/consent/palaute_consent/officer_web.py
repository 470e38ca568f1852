"""What the officer's pages and API share: the workspace, the sign-in throttles, who is
asking (session cookie, API token or the single sign-on proxy's header), the pages'
templates and the checks of what a form or a JSON body gives."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from palaute_consent import officers, privacy
from palaute_consent.officers import Principal, Session
from palaute_consent.register import EntryKind
from palaute_consent.results import PublishedResults
from palaute_consent.settings import ConsentSettings
from palaute_consent.workspace import Workspace
from palaute_runtime import i18n
from palaute_runtime.keys import Keyring
from palaute_schemas import parse_email, parse_phone

SESSION_COOKIE = "palaute_officer"
SIGN_IN_COOKIE = "palaute_sign_in"  # the sign-in form's CSRF token, before any session
LANGUAGE_COOKIE = "palaute_lang"
KINDS: tuple[EntryKind, ...] = ("customer_id", "phone", "email")
MAX_FIELD = 500
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


@dataclass
class OfficerWeb:
    """The staff's HTTP surface's state: the workspace, the published results, settings and
    sign-in throttles."""

    workspace: Workspace
    settings: ConsentSettings
    results: PublishedResults
    lifetime: timedelta = field(init=False)
    proxies: set[str] = field(init=False)

    def __post_init__(self) -> None:
        settings = self.settings
        self.lifetime = timedelta(hours=settings.officer_session_hours)
        self.proxies = {p.strip() for p in settings.officer_sso_proxies.split(",") if p.strip()}

    @property
    def key(self) -> str:
        return self.settings.officer_session_key

    def account_ref(self, username: str) -> str:
        """How a log names an account someone tried: a keyed hash, never the name typed
        (people type their password into the name field)."""
        return Keyring.parse(self.key).hmacs(username)[0][:16]

    # ---- who is asking -------------------------------------------------------------------

    def sso_csrf(self, principal: Principal) -> str:
        return Keyring.parse(self.key).hmacs(principal.actor)[0]

    async def sso_principal(self, request: Request) -> Principal | None:
        header = self.settings.officer_sso_header
        if not header or not request.client or request.client.host not in self.proxies:
            return None
        name = request.headers.get(header, "").strip()
        return await self.workspace.account(name) if name else None

    async def signed_in(self, request: Request) -> Session | None:
        principal = await self.sso_principal(request)
        if principal is not None:
            return Session(principal, self.sso_csrf(principal))
        session_id = self.session_id(request)
        return None if session_id is None else await self.workspace.session(session_id)

    def session_id(self, request: Request) -> str | None:
        return officers.unsign_cookie(self.key, request.cookies.get(SESSION_COOKIE, ""))

    async def api_principal(self, request: Request) -> Principal:
        principal = await self.sso_principal(request)
        if principal is not None:
            return principal
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            principal = await self.workspace.token_principal(token.strip())
            if principal is not None:
                return principal
        raise Refused(401, "sign in: Authorization: Bearer <API token> is missing or not valid")

    # ---- what a form or a body gives -----------------------------------------------------

    def normalised(self, kind: str, identifier: str) -> tuple[EntryKind, str]:
        """An identifier as the register keeps it, or a 400."""
        identifier = identifier.strip()
        if not identifier:
            raise Refused(400, "an empty identifier is refused")
        if len(identifier) > MAX_FIELD:
            raise Refused(400, f"an identifier is at most {MAX_FIELD} characters")
        try:
            if kind == "phone":
                return "phone", parse_phone(identifier, self.settings.default_region)
            if kind == "email":
                return "email", parse_email(identifier)
        except ValueError as exc:
            raise Refused(400, str(exc)) from exc
        if kind != "customer_id":
            raise Refused(400, "kind is one of customer_id, phone, email")
        return "customer_id", identifier

    def person_of(self, values: dict[str, Any]) -> privacy.Person:
        """The person a request names, by any of their identifiers."""
        given = {}
        for kind in KINDS:
            value = values.get(kind)
            if value is not None and not isinstance(value, str):
                raise Refused(400, f"{kind} is a string")
            if value and value.strip():
                given[kind] = self.normalised(kind, value)[1]
        if not given:
            raise Refused(400, "a customer id, a phone number or an email names the person")
        return privacy.Person(**given)

    async def file(self, principal: Principal, values: dict[str, Any]) -> uuid.UUID:
        """File the erasure or access request a form or a body describes."""
        kind = request_kind(values.get("kind"))
        person = self.person_of(values)
        reason = reason_of(str(values.get("reason") or ""))
        return await self.workspace.file(principal, kind, person, reason)


def reason_of(text: str) -> str:
    reason = text.strip()
    if not reason:
        raise Refused(400, "a reason is required, and kept in the audit log")
    if len(reason) > MAX_FIELD:
        raise Refused(400, f"a reason is at most {MAX_FIELD} characters")
    return reason


def request_kind(text: object) -> privacy.RequestKind:
    if text == "erasure":
        return "erasure"
    if text == "access":
        return "access"
    raise Refused(400, "kind is erasure or access")


def request_id_of(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["request_id"])
    except ValueError as exc:
        raise Refused(404, "no such request") from exc


def _asked(request: Request) -> str | None:
    """The available language the query asks for (?lang=pl, or a longer tag), if any."""
    asked = request.query_params.get("lang")
    return i18n.languages().best(asked) if asked else None


def language(request: Request) -> str:
    """The reader's language: asked for, else kept in the cookie, else the first available
    (Finnish)."""
    known = i18n.languages()
    kept = request.cookies.get(LANGUAGE_COOKIE, "")
    return _asked(request) or (known.best(kept) if kept else None) or known.tags()[0]


def page(request: Request, template: str, status: int = 200, **values: object) -> HTMLResponse:
    """A page of the workspace in the reader's language (kept in a cookie when asked for):
    `t` the catalogue's `officer.*`, `label(code)` a code's label (`code.*`)."""
    lang = language(request)
    texts = i18n.catalogue(lang)
    html = _pages.get_template(template).render(
        lang=lang,
        t=texts.section("officer"),
        label=texts.label,
        languages=i18n.languages().tags(),
        path=request.url.path,
        **values,
    )
    response = HTMLResponse(html, status_code=status)
    if _asked(request) is not None:
        response.set_cookie(
            LANGUAGE_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="strict"
        )
    return response
