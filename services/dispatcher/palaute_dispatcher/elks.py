"""46elks as the SMS partner (PALAUTE_SMS_PROVIDER=46elks), per its public documentation.

- Send: `POST /a1/sms` (form: from, to, message, whendelivered), Basic auth with the API user
  and password; `whendelivered` is the dispatcher's delivery-report webhook with the webhook
  secret as its Basic auth password. 46elks has no idempotency key, so before each send the
  adapter reads the number's history since the invitation was made (`GET /a1/sms?to=…`) and,
  when an SMS with the same text is there, takes its id instead of sending again (one extra
  call per SMS; a retry across midnight, whose text counts one day fewer, is the one case it
  cannot recognise).
- Errors: 429 slows down and retries; 5xx, timeouts, a refused login (401/403) and an account
  out of credit (402) are faults of the connection or the contract, kept and retried behind
  the breaker; any other 4xx (an invalid number, a refused sender) fails the invitation for
  good with 46elks's reason.
- Deletion on instruction: 46elks documents no API to delete an SMS, so the dispatcher does
  not claim one (its ErasureCompleted says the partner was not asked); the README says what
  the operator does instead.
"""

from __future__ import annotations

from datetime import timedelta

import aiohttp

from palaute_dispatcher.partner import BasicAuthApi, Outgoing, PartnerError, _seconds
from palaute_runtime.elks import SMS_PATH, refusal_of, with_credentials


class ElksSmsPartner(BasicAuthApi):
    """46elks's SMS API."""

    def __init__(
        self,
        api_url: str,
        username: str,
        password: str,
        sender: str,
        *,
        delivery_url: str = "",
        webhook_secret: str = "",
        timeout: float = 10.0,
    ) -> None:
        super().__init__(username, password, timeout)
        self._url = api_url.rstrip("/") + SMS_PATH
        self._sender = sender
        self._whendelivered = (
            with_credentials(delivery_url, webhook_secret)
            if delivery_url and webhook_secret
            else ""
        )

    async def send(self, message: Outgoing) -> str:
        """Hand one SMS to 46elks, unless it already has it."""
        already = await self._sent_before(message)
        if already is not None:
            return already
        form = {"from": message.sender or self._sender, "to": message.address}
        form["message"] = message.text
        if self._whendelivered:
            form["whendelivered"] = self._whendelivered
        try:
            async with self._open().post(self._url, data=form) as response:
                status = response.status
                retry_after = _seconds(response.headers.get("Retry-After"))
                text = await response.text()
                body = await response.json(content_type=None) if status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise PartnerError(
                f"46elks unreachable: {type(exc).__name__}", transient=True, in_doubt=True
            ) from exc
        if isinstance(body, dict) and body.get("id"):
            return str(body["id"])
        refusal = refusal_of(status, text)
        raise PartnerError(
            refusal.named,
            transient=refusal.transient,
            retry_after=retry_after,
            throttled=refusal.throttled,
            in_doubt=refusal.in_doubt,
        )

    async def _sent_before(self, message: Outgoing) -> str | None:
        """The id of an SMS with this text to this number since the invitation was made, if
        46elks has one (a hand-over whose answer was lost)."""
        query = {"to": message.address, "limit": "100"}
        if message.made_at is not None:  # "end": SMS after this moment (46elks's naming)
            since = message.made_at - timedelta(minutes=1)
            query["end"] = since.replace(tzinfo=None).isoformat(timespec="microseconds")
        try:
            async with self._open().get(self._url, params=query) as response:
                status = response.status
                body = await response.json(content_type=None) if status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise PartnerError(f"46elks unreachable: {type(exc).__name__}", transient=True) from exc
        if not isinstance(body, dict):
            raise PartnerError(f"46elks history answered {status}", transient=True)
        for found in body.get("data") or []:
            if (
                isinstance(found, dict)
                and found.get("direction") == "outgoing"
                and found.get("message") == message.text
            ):
                return str(found.get("id"))
        return None
