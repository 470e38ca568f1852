"""The partner sandbox's state: what it received (the recorder), the faults a test injected,
the contracted rate it enforces, and the delivery receipts it posts back to the collector."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Coroutine
from typing import Any

import httpx
import structlog

from palaute_sandbox.recorder import Recorder
from palaute_sandbox.settings import SandboxSettings, receipt_mix

log = structlog.get_logger("palaute.sandbox")

_REASONS = {
    "delivered": "",
    "undelivered": "absent subscriber",
    "expired": "validity period expired",
}


class RateLimit:
    """The partner's contracted rate: a bucket of one second's sends; 0 means no limit."""

    def __init__(self, rate: float) -> None:
        if rate < 0 or rate != rate:  # negative or NaN
            raise ValueError("rate_per_second must be 0 or more")
        self.rate = rate
        self._tokens = rate
        self._stamp = time.monotonic()
        self.refused = 0

    def allows(self) -> bool:
        """Whether one more send fits in the rate now (it is counted if so)."""
        if not self.rate:
            return True
        now = time.monotonic()
        self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def refuse(self) -> None:
        """Count a send refused for going over the rate."""
        self.refused += 1


Api = str  # "sms" (the sandbox's own API), "twilio" or "46elks"
APIS: tuple[Api, ...] = ("sms", "twilio", "46elks")


class ProviderState:
    """One SMS API's injected faults, contracted rate and counts."""

    def __init__(self, rate: float) -> None:
        self.failures_left = 0
        self.failure_status = 503
        self.failing_until = 0.0
        self.fault_set_at = time.monotonic()
        # When each injected failure was answered, in seconds since the fault was set: how
        # a test sees a circuit breaker's probes, one at a time and a cool-down apart.
        self.rejected_at: list[float] = []
        # A provider whose sends hang: until then, each send is taken and answered only after
        # this long (the caller, timing out, cannot know it went; its lookups still answer).
        self.hanging_until = 0.0
        self.hang_seconds = 30.0
        self.report_delay: float | None = None  # None: the sandbox's setting
        self.rate_limit = RateLimit(rate)
        self.accepted = 0

    def counts(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "accepted": self.accepted,
            "rejected": len(self.rejected_at),
            "outage_seconds_left": max(0.0, self.failing_until - now, self.hanging_until - now),
            "rate_per_second": self.rate_limit.rate,
            "throttled": self.rate_limit.refused,
        }


class Sandbox:
    """Everything the sandbox's handlers share."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.recorder = Recorder()
        self.providers = {api: ProviderState(settings.sandbox_sms_rate_per_second) for api in APIS}
        self.client = httpx.AsyncClient(timeout=10)
        self._tasks: set[asyncio.Task[None]] = set()
        self.receipt_slots = asyncio.Semaphore(8)

    def set_fault(
        self,
        fail_next: int,
        status: int,
        fail_for_seconds: float,
        *,
        api: Api | None = None,
        hang_for_seconds: float = 0.0,
        hang_seconds: float = 30.0,
    ) -> None:
        """Fail the next `fail_next` sends, and every send for `fail_for_seconds`; hang every
        send for `hang_for_seconds`; of one API, or of every one."""
        for state in self._of(api):
            state.failures_left, state.failure_status = fail_next, status
            state.fault_set_at = time.monotonic()
            state.failing_until = state.fault_set_at + fail_for_seconds
            state.hanging_until = state.fault_set_at + hang_for_seconds
            state.hang_seconds = hang_seconds
            state.rejected_at = []

    def _of(self, api: Api | None) -> list[ProviderState]:
        return list(self.providers.values()) if api is None else [self.providers[api]]

    @property
    def failing_until(self) -> float:
        """When the last injected outage of any API ends."""
        return max(max(s.failing_until, s.hanging_until) for s in self.providers.values())

    @property
    def rejected_at(self) -> list[float]:
        """When each injected failure of any API was answered (seconds since its fault)."""
        return sorted(t for s in self.providers.values() for t in s.rejected_at)

    def failing(self, api: Api) -> bool:
        """Whether the next send to this API fails by an injected fault (counts it down)."""
        state = self.providers[api]
        now = time.monotonic()
        if state.failures_left > 0 or now < state.failing_until:
            state.failures_left = max(0, state.failures_left - 1)
            state.rejected_at.append(round(now - state.fault_set_at, 4))
            return True
        return False

    async def hang(self, api: Api) -> None:
        """Answer a send late while this API's sends are made to hang."""
        state = self.providers[api]
        if time.monotonic() < state.hanging_until:
            await asyncio.sleep(state.hang_seconds)

    def report_delay(self, api: Api) -> float:
        """How long this API takes to report a message's delivery."""
        delay = self.providers[api].report_delay
        return self.settings.sandbox_receipt_delay_seconds if delay is None else delay

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def outcome(self, key: str) -> str:
        """The receipt's outcome for a message: by the configured mix, the same every time."""
        mix = receipt_mix(self.settings.sandbox_receipt_mix)
        point = int(hashlib.sha256(key.encode()).hexdigest(), 16) % sum(w for _, w in mix)
        for outcome, weight in mix:
            if point < weight:
                return outcome
            point -= weight
        return mix[-1][0]

    async def receipt_for(self, message: dict[str, Any]) -> None:
        await asyncio.sleep(self.report_delay("sms"))
        outcome = self.outcome(str(message["idempotency_key"]))
        receipt = {"id": str(message["id"]), "status": outcome, "reason": _REASONS[outcome]}
        # A partner retries a receipt a while (our webhook may not know the message yet, or
        # be down), then drops it.
        for attempt in range(8):
            if await self.post_receipt(receipt) in (200, 400, 401):
                return
            await asyncio.sleep(0.5 * 2**attempt)
        log.warning("receipt_dropped", status=outcome)

    async def post_receipt(self, receipt: dict[str, str]) -> int | None:
        """Send one receipt; the webhook's HTTP status (None when it could not be reached)."""
        url = self.settings.sandbox_receipt_url
        assert url is not None
        try:
            async with self.receipt_slots:  # a few at a time, as a partner's webhook client
                answer = await self.client.post(
                    url,
                    json=receipt,
                    headers={"Authorization": f"Bearer {self.settings.partner_receipt_secret}"},
                )
        except httpx.HTTPError:
            return None
        if answer.status_code == 200 and answer.json().get("status") == "recorded":
            self.recorder.receipt_taken(receipt)
        return answer.status_code

    async def close(self) -> None:
        """Cancel receipts still on their way and close the client."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.aclose()
