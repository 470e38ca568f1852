"""The partner's inbound-SMS webhook: a reply to a survey SMS (a score, or STOP), in the
sandbox API's JSON, as Twilio's signed incoming-message webhook, or as 46elks's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from palaute_collector.web_context import WebContext, is_text
from palaute_runtime.elks import authenticated_form
from palaute_runtime.http import bearer_matches
from palaute_runtime.twilio import signed_form, twiml
from palaute_schemas import parse_phone

log = structlog.get_logger("palaute.collector")

MAX_SMS_TEXT = 1600  # ten concatenated SMS segments; a reply is a digit or STOP
MAX_MESSAGE_ID = 200
MAX_SENDER = 64  # a phone number in any common format, with room for spaces and dashes


async def inbound_sms(web: WebContext, request: Request) -> Response:
    """
    ---
    summary: The partner's inbound-SMS webhook (a reply to a survey SMS)
    description: >-
      Authenticated with `Authorization: Bearer <PALAUTE_PARTNER_WEBHOOK_SECRET>`. A
      digit answers the sender's open survey; STOP opts the sender out.
    security: [{bearer: []}]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [from, text]
            properties:
              from:
                type: string
                maxLength: 64
                description: the sender's phone number (E.164, or national in the default region)
              text: {type: string, maxLength: 1600}
              id:
                type: string
                minLength: 1
                maxLength: 200
                description: the partner's message id (a delivery repeated counts once)
              received_at:
                type: string
                format: date-time
                maxLength: 40
                description: when the partner received it (ISO 8601 with offset)
    responses:
      "200":
        description: what became of the reply
        content:
          application/json:
            schema:
              type: object
              required: [status]
              properties:
                status: {type: string, enum: [recorded, opted_out, unreadable, held, duplicate]}
      "400": {description: not a JSON object with string fields from and text}
      "401": {description: missing or wrong webhook secret}
      "413": {description: body over the limit}
      "422": {description: "not a valid phone number, text too long, or a bad id or time"}
    """
    settings = web.service.settings
    if not bearer_matches(request.headers.get("Authorization"), settings.partner_webhook_secret):
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
    refused, message_id, received = _id_and_time(body)
    if refused is not None:
        return refused
    answered = await _answer(web, sender, text, message_id, received)
    return answered if isinstance(answered, Response) else JSONResponse({"status": answered})


async def _answer(
    web: WebContext,
    sender: str,
    text: str,
    message_id: str | None,
    received: datetime | None,
    *,
    provider: bool = False,
) -> str | Response:
    """The reply recorded (its outcome), or the 422 that says why it cannot be. From a
    provider (its webhook authenticated), an SMS whose sender is no phone number (a short
    code, an alphanumeric id) is taken and ignored: a 4xx would only make 46elks post it
    again for hours, and no survey went to such a sender."""
    if len(text) > MAX_SMS_TEXT or not is_text(text) or not is_text(sender):
        return _unprocessable(f'"text" must be valid text of at most {MAX_SMS_TEXT} characters')
    try:
        if len(sender) > MAX_SENDER:
            raise ValueError
        phone = parse_phone(sender, web.service.settings.default_region)
    except ValueError:
        if provider:
            log.info("sms_from_no_phone_number_ignored")
            return "ignored"
        return _unprocessable('"from" is not a valid phone number')
    return await web.service.answer_sms(phone, text, message_id=message_id, received_at=received)


async def twilio_inbound(web: WebContext, request: Request) -> Response:
    """
    ---
    summary: Twilio's incoming-message webhook (PALAUTE_SMS_PROVIDER=twilio)
    description: >-
      Signed by Twilio in `X-Twilio-Signature` (HMAC-SHA1 with the Auth Token over
      PALAUTE_TWILIO_INBOUND_URL and the sorted form parameters), compared in constant time.
      A digit answers the sender's open survey; STOP opts the sender out. Answered with an
      empty TwiML document (nothing is sent back).
    requestBody:
      required: true
      content:
        application/x-www-form-urlencoded:
          schema:
            type: object
            required: [From, Body]
            properties:
              From: {type: string, maxLength: 64}
              Body: {type: string, maxLength: 1600}
              MessageSid: {type: string, maxLength: 200}
    responses:
      "200": {description: the reply taken (an empty TwiML Response)}
      "400": {description: not a form with From and Body}
      "403": {description: missing or wrong signature, or Twilio is not an SMS provider here}
      "413": {description: body over the limit}
      "422": {description: "text too long or a bad MessageSid (no phone sender: ignored)"}
    """
    settings = web.service.settings
    if "twilio" not in settings.sms_providers:
        return JSONResponse({"error": "Twilio is not an SMS provider here"}, status_code=403)
    form = await signed_form(request, settings.twilio_inbound_url, settings.twilio_auth_token)
    if isinstance(form, Response):
        return form
    if "From" not in form or "Body" not in form:
        return JSONResponse({"error": "expected a form with From and Body"}, status_code=400)
    refused, message_id, _ = _id_and_time({"id": form.get("MessageSid") or None})
    if refused is not None:
        return refused
    answered = await _answer(web, form["From"], form["Body"], message_id, None, provider=True)
    return answered if isinstance(answered, Response) else twiml()


def _id_and_time(body: Any) -> tuple[Response | None, str | None, datetime | None]:
    """The partner's message id and receiving time, when given, or the 422 that says why
    they cannot be used."""
    message_id, received_at = body.get("id"), body.get("received_at")
    if message_id is not None and (
        not isinstance(message_id, str)
        or not 0 < len(message_id) <= MAX_MESSAGE_ID
        or not is_text(message_id)
    ):
        return _unprocessable(f'"id" must be text of 1 to {MAX_MESSAGE_ID} characters'), None, None
    received = _moment(received_at) if received_at is not None else None
    if received_at is not None and received is None:
        return _unprocessable('"received_at" must be an ISO 8601 time with its offset'), None, None
    return None, message_id, received


def _unprocessable(error: str) -> Response:
    return JSONResponse({"error": error}, status_code=422)


def _moment(value: object) -> datetime | None:
    """An ISO 8601 instant with its offset, or None."""
    if not isinstance(value, str) or len(value) > 40 or not is_text(value):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


async def elks_inbound(web: WebContext, request: Request) -> Response:
    """
    ---
    summary: 46elks's incoming-SMS webhook (PALAUTE_SMS_PROVIDER=46elks)
    description: >-
      Authenticated with HTTP Basic (user `elks`, PALAUTE_ELKS_WEBHOOK_SECRET), which the
      number's sms_url at 46elks carries; compared in constant time. A digit answers the
      sender's open survey; STOP opts the sender out. Answered 204 with no body: 46elks
      would send a body back to the customer as a reply.
    requestBody:
      required: true
      content:
        application/x-www-form-urlencoded:
          schema:
            type: object
            required: [from, message]
            properties:
              from: {type: string, maxLength: 64}
              message: {type: string, maxLength: 1600}
              id: {type: string, maxLength: 200}
              created: {type: string}
    responses:
      "204": {description: the reply taken (nothing is sent back)}
      "400": {description: not a form with from and message}
      "401": {description: missing or wrong Basic auth}
      "403": {description: 46elks is not an SMS provider here}
      "413": {description: body over the limit}
      "422": {description: "text too long or a bad id (a sender that is no phone is ignored)"}
    """
    settings = web.service.settings
    if "46elks" not in settings.sms_providers:
        return JSONResponse({"error": "46elks is not an SMS provider here"}, status_code=403)
    form = await authenticated_form(request, settings.elks_webhook_secret)
    if isinstance(form, Response):
        return form
    if "from" not in form or "message" not in form:
        return JSONResponse({"error": "expected a form with from and message"}, status_code=400)
    refused, message_id, _ = _id_and_time({"id": form.get("id") or None})
    if refused is not None:
        return refused
    answered = await _answer(web, form["from"], form["message"], message_id, None, provider=True)
    return answered if isinstance(answered, Response) else Response(status_code=204)
