"""Several SMS providers at once, by weight, with failover (PALAUTE_SMS_PROVIDER=
`twilio:70,46elks:30`), after GOV.UK Notify's way (alphagov/notifications-api:
`provider_to_use`, `dao_reduce_sms_provider_priority`,
`switch_current_sms_provider_on_slow_delivery`, `tend_providers_back_to_middle`).

- A `Lane` is one way out of a channel: a provider's API (or the SMTP relay) with its own
  contracted rate (`TokenBucket`) and its own circuit breaker. A provider that is down opens
  its own breaker and the others carry the traffic.
- `Weights`: each provider's share of the SMS, in points of 100, starting from the configured
  weights. A send that fails transiently (5xx, a timeout, unreachable) or a provider whose
  delivery reports come slowly lowers its share by STEP points, to FLOOR at least (it keeps a
  trickle, which tells when it is well again), at most once per cool-down; the points go to
  the others. After a quiet period without a lowering, a share drifts back STEP points
  towards its configured weight, and again after each further quiet period. Each change is
  logged and exported (palaute_sms_provider_weight, palaute_sms_provider_weight_changes).
- A message whose hand-over is in doubt (the provider may have taken it: its answer was
  lost or was a 5xx) is pinned to that provider (invitations.provider) and tried there only:
  its adapter looks the message up before sending, so the provider that may have it decides
  first. Never two SMS.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from palaute_dispatcher.flow import CircuitBreaker, TokenBucket
from palaute_dispatcher.partner import Partner
from palaute_runtime.metrics import SMS_PROVIDER_WEIGHT, SMS_PROVIDER_WEIGHT_CHANGES

log = structlog.get_logger("palaute.dispatcher.failover")

STEP = 10.0  # points of 100 a share moves at a time
FLOOR = 10.0  # the least share a provider keeps


@dataclass
class Lane:
    """One provider (or the relay) of a channel, with its contracted rate and breaker."""

    name: str
    partner: Partner
    bucket: TokenBucket
    breaker: CircuitBreaker


class Weights:
    """Each provider's share of the SMS now, moved by errors, slow reports and quiet."""

    def __init__(
        self,
        configured: Mapping[str, int],
        *,
        cool_down: float,
        quiet: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        total = sum(configured.values()) or 1
        self.configured = {name: 100.0 * weight / total for name, weight in configured.items()}
        self.shares = dict(self.configured)
        self.cool_down, self.quiet = cool_down, quiet
        self._clock = clock
        self._changed = dict.fromkeys(self.shares, -math.inf)  # when each was last moved
        self._lowered = -math.inf  # when any share was last lowered
        for name, share in self.shares.items():
            SMS_PROVIDER_WEIGHT.labels(provider=name).set(share)

    def lower(self, name: str, reason: str) -> bool:
        """A provider failed or reports slowly: its share falls STEP points (not below FLOOR,
        not twice within a cool-down); returns whether it fell."""
        now = self._clock()
        if len(self.shares) < 2 or now - self._changed[name] < self.cool_down:
            return False
        fall = min(STEP, self.shares[name] - FLOOR)
        if fall <= 0:
            return False
        others = {o: self.configured[o] for o in self.shares if o != name}
        for other, weight in others.items():
            self.shares[other] += fall * weight / sum(others.values())
        self.shares[name] -= fall
        self._changed[name] = self._lowered = now
        self._said("sms_provider_weight_lowered", name, reason)
        return True

    def tend(self) -> None:
        """After a quiet period, move the share of a provider below its weight back a step
        (taken from those above theirs); again after each further quiet period."""
        now = self._clock()
        if now - self._lowered < self.quiet:
            return
        for name, share in self.shares.items():
            gap = self.configured[name] - share
            if gap <= 0.01 or now - self._changed[name] < self.quiet:
                continue
            rise = min(STEP, gap)
            above = {
                o: s - self.configured[o] for o, s in self.shares.items() if s > self.configured[o]
            }
            for other, excess in above.items():
                self.shares[other] -= rise * excess / sum(above.values())
            self.shares[name] += rise
            self._changed[name] = now
            self._said("sms_provider_weight_restored", name, "quiet")

    def _said(self, event: str, name: str, reason: str) -> None:
        SMS_PROVIDER_WEIGHT_CHANGES.labels(provider=name, reason=reason).inc()
        for provider, share in self.shares.items():
            SMS_PROVIDER_WEIGHT.labels(provider=provider).set(share)
        log.warning(
            event,
            provider=name,
            reason=reason,
            shares={p: round(s, 1) for p, s in self.shares.items()},
        )

    def capacity(self, room: Mapping[str, int]) -> int:
        """The most messages that can be spread by share over these providers (each with
        room for so many now) without one getting more than its room."""
        total = sum(self.shares[name] for name in room)
        return min((int(r * total / self.shares[name]) for name, r in room.items()), default=0)

    def spread(self, count: int, room: Mapping[str, int]) -> dict[str, int]:
        """`count` messages over these providers by share, each within its room: the whole
        part of each one's share, the remainder drawn by share among those with room left."""
        total = sum(self.shares[name] for name in room) or 1.0
        given = {name: min(r, int(count * self.shares[name] / total)) for name, r in room.items()}
        left = count - sum(given.values())
        while left > 0:
            open_ = [name for name, r in room.items() if given[name] < r]
            if not open_:
                break
            chosen = random.choices(open_, weights=[self.shares[n] for n in open_])[0]
            given[chosen] += 1
            left -= 1
        return given
