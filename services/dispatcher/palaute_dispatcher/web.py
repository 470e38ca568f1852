"""HTTP entry point of the dispatcher: the partner's delivery receipts."""

from __future__ import annotations

from typing import get_args

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from palaute_dispatcher.service import DispatcherService
from palaute_runtime.http import bearer_matches, bound
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
        description: whether the receipt changed the invitation's delivery status
        content:
          application/json:
            schema:
              type: object
              required: [status]
              properties:
                status: {type: string, enum: [recorded, unchanged]}
      "400": {description: not the expected JSON}
      "401": {description: missing or wrong receipt secret}
      "404": {description: no message of ours has that id}
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
    if outcome == "unknown":
        return JSONResponse({"error": "no message of ours has that id"}, status_code=404)
    return JSONResponse({"status": outcome})


def routes(service: DispatcherService) -> list[Route]:
    """The dispatcher's public surface: the partner's delivery receipts."""
    return [
        Route("/partner/delivery-receipts", bound(delivery_receipt, service), methods=["POST"]),
    ]
