"""The privacy officer's workspace on HTTP, routes listed in one place: pages
(officer_pages.py) and the register API (officer_api.py).

Pages: `/officer/...`, signed in with an account (session cookie: signed, HttpOnly,
SameSite=Strict; every form carries the session's CSRF token). API: `/api/v1/...`, with
`Authorization: Bearer <token>`. Either way, an installation may instead trust its single
sign-on proxy's identity header (only from the configured proxy addresses). Identifiers
travel in request bodies only, never in a URL, so no access log or browser history keeps
them. Anonymous callers get 401 (the sign-in page, or JSON); an auditor who tries to
change anything gets 403; a form without its CSRF token gets 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from palaute_consent import comments_pages, results_pages
from palaute_consent import officer_api as api
from palaute_consent import officer_pages as pages
from palaute_consent.officer_web import OfficerWeb
from palaute_consent.roles import COMMENT_READERS, RESULTS_READERS
from palaute_consent.service import ConsentService
from palaute_runtime.http import bound

Endpoint = Callable[[Request], Awaitable[Response]]

_PAGE = """
    ---
    summary: "{summary}"
    description: "Signed in only (401 with the sign-in page otherwise).{more}"
    responses:
      "200": {{description: the page (HTML)}}
      "401": {{description: not signed in; the sign-in page}}
    """
_FORM = """
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
_API = """
    ---
    summary: "{summary}"
    description: >-
      Authorization: Bearer <API token> (or the single sign-on proxy's header); 401
      without, 403 for a write by the auditor role or for a self_service token.{more}
    security: [{{bearer: []}}]
{body}    responses:
      "200": {{description: the result (JSON)}}
      "201": {{description: added or filed (JSON)}}
      "400": {{description: a field is missing or malformed}}
      "401": {{description: no valid credentials}}
      "403": {{description: "the auditor role may not change anything; not for self_service"}}
      "404": {{description: nothing to remove, or no such request}}
    """
# The JSON bodies, exactly: what the handlers refuse, the documents refuse too.
_TEXT = "{type: string, minLength: 1, maxLength: 500}"
_KIND = "{type: string, enum: [customer_id, phone, email]}"


def _json_body(required: list[str], **properties: str) -> str:
    listed = "".join(f"\n              {name}: {schema}" for name, schema in properties.items())
    needed = f"            required: [{', '.join(required)}]\n" if required else ""
    return (
        "    requestBody:\n      required: true\n      content:\n        application/json:\n"
        "          schema:\n            type: object\n"
        f"{needed}            properties:{listed}\n"
    )


_IDENTIFIER = _json_body(["kind", "identifier"], kind=_KIND, identifier=_TEXT)
_CHANGE = _json_body(["kind", "identifier", "reason"], kind=_KIND, identifier=_TEXT, reason=_TEXT)
_FILED = _json_body(
    ["kind", "reason"],
    kind="{type: string, enum: [erasure, access]}",
    customer_id=_TEXT,
    phone=_TEXT,
    email=_TEXT,
    reason=_TEXT,
)
_FILTER = _json_body([], kind=_KIND, identifier=_TEXT).replace("required: true", "required: false")
_CUSTOMER = _json_body(["customer_id"], customer_id="{type: string, minLength: 1, maxLength: 100}")
_SELF_SERVICE = """
    ---
    summary: "{summary}"
    description: >-
      For the organisation's own app (its backend): Authorization: Bearer <token of the
      self_service role>; every other role gets 403, and this role gets 403 everywhere
      else. Names one customer by id in the body; audited with the actor app:<token name>
      and the source self_service.{more}
    security: [{{bearer: []}}]
{body}    responses:
      "200":
        description: the customer's ban as it stands now
        content:
          application/json:
            schema:
              type: object
              required: [customer_id, banned]
              properties:
                customer_id: {{type: string}}
                banned: {{type: boolean}}
                source: {{type: string, nullable: true, description: who set the ban}}
                since: {{type: string, nullable: true, format: date-time}}
                withdrawn: {{type: integer, description: surveys withdrawn by this ban}}
                lifted: {{type: boolean, description: false when there was no ban}}
      "400": {{description: customer_id is missing or malformed}}
      "401": {{description: no valid credentials}}
      "403": {{description: not a self_service token}}
    """
_REQUEST_ID = (
    "    parameters:\n"
    "      - {name: request_id, in: path, required: true, schema: {type: string, format: uuid}}\n"
)


def _route(
    path: str,
    methods: list[str],
    endpoint: Endpoint,
    doc: str,
    summary: str,
    more: str = "",
    body: str = "",
) -> Route:
    """A route whose OpenAPI text is `doc` filled in (read from the endpoint's docstring;
    each endpoint is a guard made for its route, so setting it touches no handler)."""
    endpoint.__doc__ = doc.format(summary=summary, more=more, body=body)
    return Route(path, endpoint, methods=methods)


def routes(service: ConsentService) -> list[Route]:
    """The officer's pages and the register API."""
    web = OfficerWeb(service.workspace, service.settings, service.results)

    def page(handler: pages.PageHandler, *, writes: bool = False) -> Endpoint:
        return pages.signed_in_only(handler, web, writes=writes)

    def call(handler: api.ApiHandler, *, writes: bool = False) -> Endpoint:
        return api.authorised(handler, web, writes=writes)

    def app(handler: api.ApiHandler) -> Endpoint:
        return api.authorised(handler, web, roles=api.APPS)

    officer_only = "; officer role"
    return [
        Route("/officer/sign-in", bound(pages.sign_in_form, web), methods=["GET"]),
        Route("/officer/sign-in", bound(pages.sign_in, web), methods=["POST"]),
        _route("/officer/sign-out", ["POST"], page(pages.sign_out), _FORM, "Sign out"),
        _route(
            "/officer", ["GET"], page(pages.register), _PAGE, "The register: search, add, remove"
        ),
        _route(
            "/officer/search",
            ["POST"],
            page(pages.search),
            _FORM,
            "Look up an identifier in the register, with its decisions",
        ),
        _route(
            "/officer/opt-outs/add",
            ["POST"],
            page(pages.add, writes=True),
            _FORM,
            "Add an opt-out",
            officer_only,
        ),
        _route(
            "/officer/opt-outs/remove",
            ["POST"],
            page(pages.remove, writes=True),
            _FORM,
            "Remove an opt-out",
            officer_only,
        ),
        _route(
            "/officer/audit",
            ["GET", "POST"],
            page(pages.audit_log),
            _PAGE,
            "The audit log and its chain check",
            " POST with kind and identifier filters it.",
        ),
        _route("/officer/audit.csv", ["GET"], page(pages.audit_csv), _PAGE, "The audit log as CSV"),
        _route(
            "/results",
            ["GET"],
            pages.signed_in_only(results_pages.results, web, roles=RESULTS_READERS),
            _PAGE,
            "NPS, CSAT and the response rate over time, as published for BI",
            " ?grain=day|week|month, ?dimension=total|unit|programme|contact_channel|"
            "survey_channel|language, ?metric=nps|csat|response_rate. Analysts and staff.",
        ),
        _route(
            "/comments",
            ["GET"],
            pages.signed_in_only(comments_pages.comments, web, roles=COMMENT_READERS),
            _PAGE,
            "The comments of named answers (each read audited)",
            " ?unit=, ?programme=, ?band=detractor|passive|promoter, ?from=, ?to= (dates)."
            " Analysts and managers; the customer link for managers only.",
        ),
        _route(
            "/results.csv",
            ["GET"],
            pages.signed_in_only(results_pages.results_csv, web, roles=RESULTS_READERS),
            _PAGE,
            "The results page's table as CSV",
            " The same query as /results.",
        ),
        _route(
            "/officer/programmes",
            ["GET"],
            page(pages.programmes),
            _PAGE,
            "The survey programmes and their rules, read-only",
            " ?unit= names the programme a unit falls in.",
        ),
        _route(
            "/officer/requests",
            ["GET", "POST"],
            page(pages.requests, writes=True),
            _PAGE,
            "Erasure and access requests: file one, follow each service's answer",
            " POST (officer role, csrf) files one: kind erasure or access, customer_id,"
            " phone, email, reason.",
        ),
        _route(
            "/officer/requests/{request_id}/access.json",
            ["GET"],
            page(pages.access_json),
            _PAGE,
            "An access request's document (officer role)",
        ),
        _route(
            "/api/v1/requests",
            ["POST"],
            call(api.file_request, writes=True),
            _API,
            "File an erasure or access request",
            " Officer role. JSON kind (erasure or access), customer_id, phone, email, reason.",
            _FILED,
        ),
        _route(
            "/api/v1/requests/{request_id}",
            ["GET"],
            call(api.request_status),
            _API,
            "A request and each service's answer",
            body=_REQUEST_ID,
        ),
        _route(
            "/api/v1/requests/{request_id}/access",
            ["GET"],
            call(api.access, writes=True),
            _API,
            "An access request's document",
            " Officer role.",
            _REQUEST_ID,
        ),
        _route(
            "/api/v1/register/lookup",
            ["POST"],
            call(api.lookup),
            _API,
            "Look up an identifier (a read of personal data: audited)",
            body=_IDENTIFIER,
        ),
        _route(
            "/api/v1/register/add",
            ["POST"],
            call(api.add, writes=True),
            _API,
            "Add an opt-out",
            " Officer role.",
            _CHANGE,
        ),
        _route(
            "/api/v1/register/remove",
            ["POST"],
            call(api.remove, writes=True),
            _API,
            "Remove an opt-out",
            " Officer role.",
            _CHANGE,
        ),
        _route(
            "/api/v1/self-service/ban",
            ["POST"],
            app(api.read_ban),
            _SELF_SERVICE,
            "Whether one customer has banned surveys (a read: audited)",
            body=_CUSTOMER,
        ),
        _route(
            "/api/v1/self-service/ban/set",
            ["POST"],
            app(api.set_ban),
            _SELF_SERVICE,
            "The customer bans surveys",
            " Withdraws the surveys released to them that are not sent yet.",
            _CUSTOMER,
        ),
        _route(
            "/api/v1/self-service/ban/lift",
            ["POST"],
            app(api.lift_ban),
            _SELF_SERVICE,
            "The customer lifts their ban",
            " Their own choice: recorded as such. Later contacts are surveyed again.",
            _CUSTOMER,
        ),
        _route(
            "/api/v1/audit",
            ["POST"],
            call(api.audit_log),
            _API,
            "The audit log (identifiers masked) and its chain check",
            " With kind and identifier, only that identifier's changes and reads.",
            _FILTER,
        ),
    ]
