"""HTTP entry point of the dispatcher: the partner's delivery receipts (the sandbox's API's,
Twilio's status callbacks, 46elks's delivery reports)."""

from __future__ import annotations

from typing import get_args

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from palaute_dispatcher.service import DispatcherService
from palaute_runtime.elks import authenticated_form
from palaute_runtime.http import bearer_matches, bound
from palaute_runtime.twilio import report_of, signed_form
from palaute_schemas import DeliveryStatus

_STATUSES = get_args(DeliveryStatus)


async def delivery_receipt(service: DispatcherService, request: Request) -> Response:
    """
    ---
    summary: The partner's delivery receipt for one message it took
    description: >-
      Authenticated with `Authorization: Bearer <PALAUTE_PARTNER_RECEIPT_SECRET>`. The
      invitation's delivery status is set once; a late or replayed receipt changes
      nothing and is answered `unchanged`.
    security: [{bearer: []}]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [id, status]
            properties:
              id:
                type: string
                minLength: 1
                maxLength: 200
                description: the partner's id of the message
              status: {type: string, enum: [delivered, undelivered, expired]}
              reason:
                type: string
                description: the partner's reason (kept to its first 200 characters)
    responses:
      "200":
        description: >-
          whether the receipt changed the invitation's delivery status; `held` for a message
          id not stored yet (it came before the send's answer was read): applied then
        content:
          application/json:
            schema:
              type: object
              required: [status]
              properties:
                status: {type: string, enum: [recorded, unchanged, held]}
      "400": {description: not the expected JSON}
      "401": {description: missing or wrong receipt secret}
      "413": {description: body over the limit}
    """
    if not bearer_matches(
        request.headers.get("Authorization"), service.settings.partner_receipt_secret
    ):
        return JSONResponse({"error": "missing or wrong receipt secret"}, status_code=401)
    try:
        body = await request.json()
        message_id, status = body["id"], body["status"]
        reason = body.get("reason") or ""
        if not (
            isinstance(message_id, str)
            and 0 < len(message_id) <= 200
            and message_id.isprintable()
            and status in _STATUSES
            and isinstance(reason, str)
        ):
            raise TypeError
        message_id.encode("utf-8")
        reason.encode("utf-8")  # a lone surrogate cannot be stored
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return JSONResponse(
            {
                "error": 'expected a JSON object with "id" (a string), "status" '
                f'({", ".join(_STATUSES)}) and an optional string "reason"'
            },
            status_code=400,
        )
    outcome = await service.record_receipt(message_id, status, reason)
    return JSONResponse({"status": outcome})


async def twilio_status(service: DispatcherService, request: Request) -> Response:
    """
    ---
    summary: Twilio's status callback for one message it took (PALAUTE_SMS_PROVIDER=twilio)
    description: >-
      Signed by Twilio in `X-Twilio-Signature` (HMAC-SHA1 with the Auth Token over
      PALAUTE_TWILIO_STATUS_CALLBACK_URL and the sorted form parameters), compared in
      constant time. A final status (delivered; undelivered or failed, with its error code)
      sets the invitation's delivery once; other statuses (queued, sent, ...) and replays
      change nothing.
    requestBody:
      required: true
      content:
        application/x-www-form-urlencoded:
          schema:
            type: object
            required: [MessageSid, MessageStatus]
            properties:
              MessageSid: {type: string, maxLength: 200}
              MessageStatus: {type: string}
              ErrorCode: {type: string}
    responses:
      "200":
        description: >-
          whether the callback changed the invitation's delivery status; `held` for a message
          id not stored yet (it came before the send's answer was read): applied then
        content:
          application/json:
            schema:
              type: object
              required: [status]
              properties:
                status: {type: string, enum: [recorded, unchanged, held]}
      "400": {description: not a form with MessageSid and MessageStatus}
      "403": {description: missing or wrong signature, or Twilio is not an SMS provider here}
      "413": {description: body over the limit}
    """
    settings = service.settings
    if "twilio" not in settings.sms_providers:
        return JSONResponse({"error": "Twilio is not an SMS provider here"}, status_code=403)
    form = await signed_form(
        request, settings.twilio_status_callback_url, settings.twilio_auth_token
    )
    if isinstance(form, Response):
        return form
    sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
    if not (0 < len(sid) <= 200 and sid.isprintable() and status):
        return JSONResponse(
            {"error": "expected a form with MessageSid and MessageStatus"}, status_code=400
        )
    report = report_of(status, form.get("ErrorCode", ""))
    if report is None:
        return JSONResponse({"status": "unchanged"})
    outcome = await service.record_receipt(sid, *report)
    return JSONResponse({"status": outcome})


async def elks_delivery(service: DispatcherService, request: Request) -> Response:
    """
    ---
    summary: 46elks's delivery report for one SMS it took (PALAUTE_SMS_PROVIDER=46elks)
    description: >-
      Authenticated with HTTP Basic (user `elks`, PALAUTE_ELKS_WEBHOOK_SECRET), which the
      dispatcher puts in the `whendelivered` URL of each SMS; compared in constant time.
      `delivered` and `failed` set the invitation's delivery once; `sent` and replays change
      nothing.
    requestBody:
      required: true
      content:
        application/x-www-form-urlencoded:
          schema:
            type: object
            required: [id, status]
            properties:
              id: {type: string, maxLength: 200}
              status: {type: string, enum: [sent, delivered, failed]}
              delivered: {type: string}
    responses:
      "200":
        description: >-
          whether the report changed the invitation's delivery status; `held` for a message
          id not stored yet (it came before the send's answer was read): applied then
        content:
          application/json:
            schema:
              type: object
              required: [status]
              properties:
                status: {type: string, enum: [recorded, unchanged, held]}
      "400": {description: not a form with id and status}
      "401": {description: missing or wrong Basic auth}
      "403": {description: 46elks is not an SMS provider here}
      "413": {description: body over the limit}
    """
    settings = service.settings
    if "46elks" not in settings.sms_providers:
        return JSONResponse({"error": "46elks is not an SMS provider here"}, status_code=403)
    form = await authenticated_form(request, settings.elks_webhook_secret)
    if isinstance(form, Response):
        return form
    message_id, status = form.get("id", ""), form.get("status", "")
    if not (0 < len(message_id) <= 200 and message_id.isprintable() and status):
        return JSONResponse({"error": "expected a form with id and status"}, status_code=400)
    if status not in ("delivered", "failed"):
        return JSONResponse({"status": "unchanged"})
    final: DeliveryStatus = "delivered" if status == "delivered" else "undelivered"
    reason = "" if final == "delivered" else "46elks: failed"
    outcome = await service.record_receipt(message_id, final, reason)
    return JSONResponse({"status": outcome})


def routes(service: DispatcherService) -> list[Route]:
    """The dispatcher's public surface: the partner's delivery receipts."""
    return [
        Route("/partner/delivery-receipts", bound(delivery_receipt, service), methods=["POST"]),
        Route("/partner/twilio/status", bound(twilio_status, service), methods=["POST"]),
        Route("/partner/46elks/delivery", bound(elks_delivery, service), methods=["POST"]),
    ]
