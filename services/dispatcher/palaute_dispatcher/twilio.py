"""Twilio as the SMS partner (PALAUTE_SMS_PROVIDER=twilio), per its public API reference.

- Send: `POST /2010-04-01/Accounts/{sid}/Messages.json` (form: To, From or
  MessagingServiceSid, Body, StatusCallback), Basic auth with the Account SID and the Auth
  Token. Twilio has no idempotency key, so a message is never sent twice this way: before
  each send the adapter lists the messages to that number since the invitation was made
  (`GET Messages.json?To=…&DateSent>=…`) and, if one has the same body, takes its sid
  instead of sending again (one extra call per SMS; a retry across midnight, whose text
  counts one day fewer, is the one case it cannot recognise).
- Errors: 429 (code 20429) slows down and retries; 5xx, timeouts and a refused login
  (401/403: a configuration fault, nothing is lost) retry behind the breaker; the codes
  Twilio documents as "never to this recipient" (21211 invalid number, 21610 the person
  replied STOP, 21614 not a mobile, ...) fail the invitation for good; any other 4xx too.
- Deletion on instruction: every message to or from the address is deleted through
  `DELETE Messages/{sid}.json`.
- Status callbacks come to the dispatcher's `/partner/twilio/status` (web.py), incoming SMS
  to the collector's `/partner/twilio/inbound`, both signed (palaute_runtime.twilio).
"""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

from palaute_dispatcher.partner import BasicAuthApi, Outgoing, PartnerError, _seconds
from palaute_runtime.faults import DependencyUnavailable
from palaute_runtime.keys import Keyring
from palaute_runtime.twilio import (
    PERMANENT_ERRORS,
    THROTTLED,
    error_of,
    message_path,
    messages_path,
)


class TwilioSmsPartner(BasicAuthApi):
    """Twilio's Messages API."""

    def __init__(
        self,
        api_url: str,
        account_sid: str,
        auth_token: str,
        sender: str,
        *,
        messaging_service_sid: str = "",
        status_callback_url: str = "",
        timeout: float = 10.0,
    ) -> None:
        super().__init__(account_sid, Keyring.parse(auth_token).current, timeout)
        self._api = api_url.rstrip("/")
        self._account = account_sid
        self._sender = sender
        self._service = messaging_service_sid
        self._callback = status_callback_url

    async def send(self, message: Outgoing) -> str:
        """Hand one SMS to Twilio, unless it already has it."""
        already = await self._sent_before(message)
        if already is not None:
            return already
        form = {"To": message.address, "Body": message.text}
        if self._service:
            form["MessagingServiceSid"] = self._service
        else:
            form["From"] = message.sender or self._sender
        if self._callback:
            form["StatusCallback"] = self._callback
        try:
            async with self._open().post(
                self._api + messages_path(self._account), data=form
            ) as response:
                status = response.status
                retry_after = _seconds(response.headers.get("Retry-After"))
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise PartnerError(f"Twilio unreachable: {type(exc).__name__}", transient=True) from exc
        if status in (200, 201) and isinstance(body, dict) and body.get("sid"):
            return str(body["sid"])
        raise _error(status, body if isinstance(body, dict) else {}, retry_after)

    async def _sent_before(self, message: Outgoing) -> str | None:
        """The sid of a message with this body to this number since the invitation was
        made, if Twilio has one (a hand-over whose answer was lost)."""
        query = {"To": message.address, "PageSize": "50"}
        if message.made_at is not None:
            query["DateSent>"] = message.made_at.date().isoformat()
        try:
            async with self._open().get(
                self._api + messages_path(self._account), params=query
            ) as response:
                status = response.status
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise PartnerError(f"Twilio unreachable: {type(exc).__name__}", transient=True) from exc
        if status != 200 or not isinstance(body, dict):
            raise _error(status, body if isinstance(body, dict) else {}, None)
        for found in body.get("messages") or []:
            if isinstance(found, dict) and found.get("body") == message.text:
                return str(found.get("sid"))
        return None

    async def delete_data(self, addresses: list[str]) -> str:
        """Delete every message to or from these numbers at Twilio; returns a deletion id.
        DependencyUnavailable when Twilio cannot answer now (retried)."""
        deleted = 0
        try:
            for address in addresses:
                for direction in ("To", "From"):
                    for sid in await self._sids(direction, address):
                        async with self._open().delete(
                            self._api + message_path(self._account, sid)
                        ) as response:
                            if response.status not in (204, 404):
                                raise DependencyUnavailable(
                                    f"Twilio deletion answered {response.status}"
                                )
                        deleted += 1
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise DependencyUnavailable(f"Twilio deletion: {type(exc).__name__}") from exc
        return f"twilio-deletion-{uuid.uuid4().hex[:12]}-{deleted}"

    async def _sids(self, direction: str, address: str) -> list[str]:
        async with self._open().get(
            self._api + messages_path(self._account), params={direction: address}
        ) as response:
            body: Any = await response.json(content_type=None)
            if response.status != 200 or not isinstance(body, dict):
                raise DependencyUnavailable(f"Twilio listing answered {response.status}")
        return [str(m["sid"]) for m in body.get("messages") or [] if isinstance(m, dict)]


def _error(status: int, body: dict[str, Any], retry_after: float | None) -> PartnerError:
    """Twilio's answer as our outcome: transient (retry) or permanent (fail), and why."""
    code, text = error_of(body)
    named = f"Twilio answered {status}" + (f" (code {code}: {text})" if code else "")
    if status == 429 or code == THROTTLED:
        return PartnerError(named, transient=True, retry_after=retry_after, throttled=True)
    if status >= 500 or status in (401, 403):
        return PartnerError(named, transient=True, retry_after=retry_after)
    if code in PERMANENT_ERRORS:
        return PartnerError(f"{named}: {PERMANENT_ERRORS[code]}", transient=False)
    return PartnerError(named, transient=False)
