"""Twilio as the SMS partner (PALAUTE_SMS_PROVIDER=twilio), per its public API reference.

- Send: `POST /2010-04-01/Accounts/{sid}/Messages.json` (form: To, From or
  MessagingServiceSid, Body, StatusCallback), Basic auth with the Account SID and the Auth
  Token. Twilio has no idempotency key, so a message is never sent twice this way: before
  each send the adapter reads the messages to that number (`GET Messages.json?To=…`, every
  page) and, if one with the same body was created since this invitation was made, takes
  its sid instead of sending again (one extra call per SMS for most numbers). Not by
  `DateSent`: Twilio sets `date_sent` only once a message has gone out, and a message whose
  answer was lost is usually still `queued`. A retry across midnight, whose text counts one
  day fewer, is the one case it cannot recognise.
- Errors: 429 (code 20429) slows down and retries; 5xx, timeouts and a refused login
  (401/403: a configuration fault, nothing is lost) retry behind the breaker; the codes
  Twilio documents as "never to this recipient" (21211 invalid number, 21610 the person
  replied STOP, 21614 not a mobile, ...) fail the invitation for good; any other 4xx too.
- Deletion on instruction: every message to or from the address, through every page of the
  listing, is deleted through `DELETE Messages/{sid}.json`; one not final yet (error 20009)
  is left for the deletion job's next try, which says how many remained.
- Status callbacks come to the dispatcher's `/partner/twilio/status` (web.py), incoming SMS
  to the collector's `/partner/twilio/inbound`, both signed (palaute_runtime.twilio).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
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
            raise PartnerError(
                f"Twilio unreachable: {type(exc).__name__}", transient=True, in_doubt=True
            ) from exc
        if status in (200, 201) and isinstance(body, dict) and body.get("sid"):
            return str(body["sid"])
        raise _error(status, body if isinstance(body, dict) else {}, retry_after, sending=True)

    async def _sent_before(self, message: Outgoing) -> str | None:
        """The sid of a message with this body to this number created since the invitation
        was made, if Twilio has one (a hand-over whose answer was lost), whatever its status."""
        try:
            listed, _ = await self._listing({"To": message.address})
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise PartnerError(f"Twilio unreachable: {type(exc).__name__}", transient=True) from exc
        except _ListingRefused as refused:
            raise _error(refused.status, refused.body, None) from None
        since = None if message.made_at is None else message.made_at.replace(microsecond=0)
        for found in listed:
            created_since = since is None or _created(found) >= since - CLOCK_SKEW
            if found.get("body") == message.text and created_since:
                return str(found.get("sid"))
        return None

    async def _listing(self, query: dict[str, str]) -> tuple[list[dict[str, Any]], bool]:
        """The messages the listing finds, page after page (`next_page_uri`), up to
        LISTING_PAGES pages, and whether that was all of them; _ListingRefused when Twilio
        answers with an error."""
        url = self._api + messages_path(self._account)
        params: dict[str, str] | None = {**query, "PageSize": str(PAGE_SIZE)}
        found: list[dict[str, Any]] = []
        for _ in range(LISTING_PAGES):
            async with self._open().get(url, params=params) as response:
                status = response.status
                body: Any = await response.json(content_type=None)
            if status != 200 or not isinstance(body, dict):
                raise _ListingRefused(status, body if isinstance(body, dict) else {})
            found += [m for m in body.get("messages") or [] if isinstance(m, dict)]
            following = body.get("next_page_uri")
            if not following:
                return found, True
            url, params = self._api + str(following), None
        return found, False

    async def status_of(self, sid: str) -> tuple[str, str] | None:
        """A message's status and error code as Twilio has them now (`GET Messages/{sid}`);
        None when Twilio no longer has it. DependencyUnavailable when it cannot answer."""
        try:
            async with self._open().get(self._api + message_path(self._account, sid)) as response:
                status = response.status
                body: Any = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise DependencyUnavailable(f"Twilio status: {type(exc).__name__}") from exc
        if status == 404:
            return None
        if status != 200 or not isinstance(body, dict):
            raise DependencyUnavailable(f"Twilio status answered {status}")
        code = body.get("error_code")
        return str(body.get("status") or ""), "" if code is None else str(code)

    async def delete_data(self, addresses: list[str]) -> str:
        """Delete every message to or from these numbers at Twilio, through every page of
        the listing; returns a deletion id. DependencyUnavailable when Twilio cannot answer
        now, or some message is not final yet (20009): the deletion job tries again, and
        what is already deleted stays deleted."""
        deleted, not_final, complete = 0, 0, True
        try:
            for address in addresses:
                for direction in ("To", "From"):
                    listed, whole = await self._listing({direction: address})
                    complete &= whole
                    for sid in (str(m["sid"]) for m in listed if m.get("sid")):
                        gone = await self._delete(sid)
                        deleted += gone
                        not_final += not gone
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise DependencyUnavailable(f"Twilio deletion: {type(exc).__name__}") from exc
        except _ListingRefused as refused:
            raise DependencyUnavailable(f"Twilio listing answered {refused.status}") from None
        if not_final or not complete:
            left = f"{not_final} not final yet (error 20009)" if not_final else "more listed"
            raise DependencyUnavailable(
                f"Twilio deleted {deleted} messages; {left} are deleted at the next try"
            )
        return f"twilio-deletion-{uuid.uuid4().hex[:12]}-{deleted}"

    async def _delete(self, sid: str) -> bool:
        """Delete one message: True when it is gone, False when Twilio says it is not final
        yet (20009: "wait several minutes and try again")."""
        async with self._open().delete(self._api + message_path(self._account, sid)) as response:
            if response.status in (204, 404):
                return True
            body: Any = await response.json(content_type=None)
        code, _ = error_of(body if isinstance(body, dict) else {})
        if code == NOT_FINAL_YET:
            return False
        raise DependencyUnavailable(f"Twilio deletion answered {response.status}")


# A listing is read this many pages of PAGE_SIZE deep at the most (a customer's number has
# a handful of messages; a shared test number could have thousands).
PAGE_SIZE = 50
LISTING_PAGES = 20
NOT_FINAL_YET = 20009  # "Cannot delete this resource before it is complete"
# Twilio's clock against ours: a message it created is looked for from this long before the
# invitation was made (no other invitation to the number comes that close: the cap).
CLOCK_SKEW = timedelta(minutes=2)


class _ListingRefused(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def _created(message: dict[str, Any]) -> datetime:
    """A message resource's date_created (RFC 2822); the distant past if unreadable."""
    try:
        created = parsedate_to_datetime(str(message.get("date_created")))
    except (TypeError, ValueError):
        return datetime.min.replace(tzinfo=UTC)
    return created if created.tzinfo is not None else created.replace(tzinfo=UTC)


def _error(
    status: int, body: dict[str, Any], retry_after: float | None, *, sending: bool = False
) -> PartnerError:
    """Twilio's answer as our outcome: transient (retry) or permanent (fail), and why; a
    5xx to a send leaves it in doubt (Twilio may have created the message)."""
    code, text = error_of(body)
    named = f"Twilio answered {status}" + (f" (code {code}: {text})" if code else "")
    if status == 429 or code == THROTTLED:
        return PartnerError(named, transient=True, retry_after=retry_after, throttled=True)
    if status >= 500 or status in (401, 403):
        in_doubt = sending and status >= 500
        return PartnerError(named, transient=True, retry_after=retry_after, in_doubt=in_doubt)
    if code in PERMANENT_ERRORS:
        return PartnerError(f"{named}: {PERMANENT_ERRORS[code]}", transient=False)
    return PartnerError(named, transient=False)
