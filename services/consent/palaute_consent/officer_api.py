"""The register API: `Authorization: Bearer <token>` (or the single sign-on proxy's header),
JSON bodies, identifiers only in bodies. Each handler is a top-level function of the context,
the request, the principal and the body that calls the workspace."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from palaute_consent.officer_web import OfficerWeb, Refused, reason_of, request_id_of
from palaute_consent.officers import Principal
from palaute_consent.register import EntryKind
from palaute_consent.roles import STAFF, Role

Body = dict[str, Any]
ApiHandler = Callable[[OfficerWeb, Request, Principal, Body], Awaitable[Response]]


APPS: frozenset[Role] = frozenset({"self_service"})


def authorised(
    handler: ApiHandler,
    web: OfficerWeb,
    *,
    writes: bool = False,
    roles: frozenset[Role] = STAFF,
) -> Callable[[Request], Awaitable[Response]]:
    """An API endpoint: 401 without valid credentials, 403 for a role the endpoint is not
    for or a write by the auditor role, 400 for a body that is not a JSON object; a refusal
    as `{"error": ...}`."""

    async def guarded(request: Request) -> Response:
        try:
            principal = await web.api_principal(request)
            if principal.role not in roles:
                raise Refused(403, f"the {principal.role} role may not use {request.url.path}")
            if writes and not principal.may_write:
                raise Refused(403, "the auditor role reads only")
            body: Body = {}
            if request.method == "POST":
                try:
                    parsed = json.loads(await request.body() or b"{}")
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise Refused(400, "the body is not JSON") from exc
                if not isinstance(parsed, dict):
                    raise Refused(400, "the body is a JSON object")
                body = parsed
            return await handler(web, request, principal, body)
        except Refused as refused:
            return JSONResponse({"error": refused.message}, status_code=refused.status)

    return functools.wraps(handler)(guarded)


def _fields(body: Body, *names: str) -> list[str]:
    values = []
    for name in names:
        value = body.get(name)
        if not isinstance(value, str):
            raise Refused(400, f"{name} is required (a string)")
        values.append(value)
    return values


def _identifier(web: OfficerWeb, body: Body) -> tuple[EntryKind, str]:
    return web.normalised(*_fields(body, "kind", "identifier"))


async def lookup(web: OfficerWeb, _: Request, principal: Principal, body: Body) -> Response:
    kind, identifier = _identifier(web, body)
    found = await web.workspace.look_up(kind, identifier, reader=principal)
    return JSONResponse(found.as_json())


async def add(web: OfficerWeb, _: Request, principal: Principal, body: Body) -> Response:
    kind_text, identifier_text, reason_text = _fields(body, "kind", "identifier", "reason")
    kind, identifier = web.normalised(kind_text, identifier_text)
    reason = reason_of(reason_text)
    withdrawn = await web.workspace.add(principal, kind, identifier, reason)
    found = await web.workspace.look_up(kind, identifier)
    return JSONResponse({**found.as_json(), "withdrawn": withdrawn}, status_code=201)


async def remove(web: OfficerWeb, _: Request, principal: Principal, body: Body) -> Response:
    kind_text, identifier_text, reason_text = _fields(body, "kind", "identifier", "reason")
    kind, identifier = web.normalised(kind_text, identifier_text)
    reason = reason_of(reason_text)
    if not await web.workspace.remove(principal, kind, identifier, reason):
        raise Refused(404, f"no opt-out is registered for that {kind}")
    return JSONResponse((await web.workspace.look_up(kind, identifier)).as_json())


async def file_request(web: OfficerWeb, _: Request, principal: Principal, body: Body) -> Response:
    request_id = await web.file(principal, body)
    return JSONResponse(await web.workspace.request(request_id), status_code=201)


async def request_status(web: OfficerWeb, request: Request, _: Principal, __: Body) -> Response:
    found = await web.workspace.request(request_id_of(request))
    if found is None:
        raise Refused(404, "no such request")
    return JSONResponse(found)


async def access(web: OfficerWeb, request: Request, principal: Principal, __: Body) -> Response:
    document = await web.workspace.access_document(principal, request_id_of(request))
    if document is None:
        raise Refused(404, "no such access request")
    return JSONResponse(document)


async def audit_log(web: OfficerWeb, _: Request, __: Principal, body: Body) -> Response:
    who: tuple[EntryKind | None, str | None] = (None, None)
    if body.get("identifier"):
        who = _identifier(web, body)
    rows, verdict = await web.workspace.audit_trail(*who)
    return JSONResponse(
        {
            "intact": verdict.broken_at is None,
            "rows": verdict.rows,
            "broken_at": verdict.broken_at,
            "why": verdict.why,
            "changes": rows,
        }
    )


# ---- the customer's own ban, for the organisation's app (the self_service role) ---------


def _customer(body: Body) -> str:
    (customer_id,) = _fields(body, "customer_id")
    customer_id = customer_id.strip()
    if not 0 < len(customer_id) <= 100:
        raise Refused(400, "customer_id is 1 to 100 characters")
    return customer_id


def _ban_json(found: dict[str, Any], **more: object) -> dict[str, Any]:
    entry = found.get("entry")
    return {
        "customer_id": found["identifier"],
        "banned": entry is not None,
        "source": entry["source"] if entry else None,
        "since": entry["since"] if entry else None,
        **more,
    }


async def read_ban(web: OfficerWeb, _: Request, app: Principal, body: Body) -> Response:
    found = await web.workspace.look_up(
        "customer_id", _customer(body), reader=app, channel="self_service"
    )
    return JSONResponse(_ban_json(found.as_json()))


async def set_ban(web: OfficerWeb, _: Request, app: Principal, body: Body) -> Response:
    customer_id = _customer(body)
    withdrawn = await web.workspace.set_ban(app, customer_id)
    found = await web.workspace.look_up("customer_id", customer_id)
    return JSONResponse(_ban_json(found.as_json(), withdrawn=withdrawn))


async def lift_ban(web: OfficerWeb, _: Request, app: Principal, body: Body) -> Response:
    customer_id = _customer(body)
    lifted = await web.workspace.lift_ban(app, customer_id)
    found = await web.workspace.look_up("customer_id", customer_id)
    return JSONResponse(_ban_json(found.as_json(), lifted=lifted))
