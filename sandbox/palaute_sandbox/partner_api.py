"""The partner's own API as the dispatcher calls it: send one SMS (idempotent by key) and
delete what it keeps for some addresses. Each handler is a top-level function of the
sandbox's state and the request."""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from palaute_runtime.http import bearer_matches
from palaute_sandbox.state import Sandbox


async def send_sms(sandbox: Sandbox, request: Request) -> Response:
    """
    ---
    summary: Send one SMS (the partner's API)
    description: >-
      `Authorization: Bearer <partner API key>` and an `Idempotency-Key` header: a
      repeated key is the same message, answered again.
    parameters:
      - {name: Idempotency-Key, in: header, required: true, schema: {type: string}}
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [from, to, text]
            properties:
              from: {type: string}
              to: {type: string}
              text: {type: string}
    responses:
      "202": {description: accepted}
      "400": {description: missing Idempotency-Key or fields}
      "401": {description: missing or wrong API key}
    """
    if not bearer_matches(request.headers.get("Authorization"), sandbox.settings.partner_api_key):
        return JSONResponse({"error": "missing or wrong API key"}, status_code=401)
    key = request.headers.get("Idempotency-Key")
    if not key:
        return JSONResponse({"error": "the Idempotency-Key header is required"}, status_code=400)
    try:
        body = await request.json()
        fields = {name: body[name] for name in ("from", "to", "text")}
        if not all(isinstance(value, str) and value for value in fields.values()):
            raise TypeError
    except (json.JSONDecodeError, KeyError, TypeError):
        return JSONResponse(
            {"error": 'expected JSON with non-empty strings "from", "to", "text"'},
            status_code=400,
        )
    if sandbox.settings.sandbox_response_ms:  # a real partner's answer takes its time
        await asyncio.sleep(sandbox.settings.sandbox_response_ms / 1000)
    if sandbox.failing("sms"):
        sandbox.recorder.reject("sms")
        return JSONResponse(
            {"error": "injected failure"},
            status_code=sandbox.providers["sms"].failure_status,
            headers={"Retry-After": "1"},
        )
    state = sandbox.providers["sms"]
    if not state.rate_limit.allows():
        state.rate_limit.refuse()
        sandbox.recorder.throttle("sms")
        return JSONResponse(
            {"error": f"over the contracted rate of {state.rate_limit.rate:g}/s"},
            status_code=429,
            headers={"Retry-After": "1"},
        )
    extra = {name: value for name, value in body.items() if name not in fields}
    message, replayed = sandbox.recorder.record("sms", key, {**fields, "extra": extra})
    state.accepted += not replayed
    if not replayed and sandbox.settings.sandbox_receipt_url:
        sandbox.background(sandbox.receipt_for(message))
    return JSONResponse(
        {"id": message["id"], "status": "accepted"},
        status_code=202,
        headers={"Idempotent-Replayed": str(replayed).lower()},
    )


async def data_deletion(sandbox: Sandbox, request: Request) -> Response:
    """
    ---
    summary: Delete what the partner keeps for some addresses (the processor contract)
    description: >-
      `Authorization: Bearer <partner API key>`. Deletes every SMS and email to the
      addresses and records the deletion (time and count, no address).
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [addresses]
            properties:
              addresses: {type: array, items: {type: string}, maxItems: 10}
    responses:
      "200": {description: deleted; the deletion's id and count}
      "400": {description: no list of addresses}
      "401": {description: missing or wrong API key}
    """
    if not bearer_matches(request.headers.get("Authorization"), sandbox.settings.partner_api_key):
        return JSONResponse({"error": "missing or wrong API key"}, status_code=401)
    try:
        body = await request.json()
        addresses = body["addresses"]
        if not (
            isinstance(addresses, list)
            and 0 < len(addresses) <= 10
            and all(isinstance(a, str) and a for a in addresses)
        ):
            raise TypeError
    except (ValueError, KeyError, TypeError):  # ValueError: not JSON, or not UTF-8
        return JSONResponse(
            {"error": 'expected JSON with "addresses": 1-10 non-empty strings'},
            status_code=400,
        )
    return JSONResponse(sandbox.recorder.erase(set(addresses)))
