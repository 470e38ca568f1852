"""How fast, and whether at all, the dispatcher calls the partner right now.

- `TokenBucket`: the partner's contracted rate per channel, shared by every concurrent send
  of this process. A 429 (or any Retry-After) halves the rate and pauses the bucket for the
  time asked; the rate then climbs back to the contracted one as sends succeed.
- `CircuitBreaker`: after consecutive transient failures the partner is taken to be down and
  nothing is attempted (nothing burns an attempt) for a cool-down; then one probe goes; its
  success closes the breaker, its failure doubles the cool-down, up to a ceiling.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import structlog

from palaute_runtime.metrics import PARTNER_CIRCUIT_OPEN

log = structlog.get_logger("palaute.dispatcher.flow")

Clock = Callable[[], float]
# The burst, in seconds of the rate: a tenth at least (the partner's own bucket, a second of
# sends, absorbs it), as long as a delivery round at most a second.
MIN_WINDOW, MAX_WINDOW = 0.1, 1.0


class TokenBucket:
    """Sends per second at most `rate`; slowed by 429s.

    Turns are taken before invitations are claimed, never waited for while holding a claim:
    an invitation goes to the partner the moment it is claimed, so an opt-out that reaches it
    before then still stops it. The partner's own bucket (a second of sends) absorbs any
    jitter on the way. The burst is a tenth of a second of sends (what reaches a partner that
    has just gone down before the breaker opens), widened to the length of a delivery round
    when rounds take longer, up to a second: a round waits for its slowest call, and a partner
    that answers in 400 ms would otherwise get a tenth of a second of sends every 400 ms.
    """

    def __init__(self, rate: float, clock: Clock = time.monotonic) -> None:
        self.whole = rate  # the contract, for every replica together
        self.contracted = rate  # this process's share of it
        self.rate = rate
        self._clock = clock
        self._window = MIN_WINDOW
        self._tokens = self.burst
        self._stamp = clock()
        self._paused_until = 0.0

    @property
    def burst(self) -> float:
        """The most sends that may go at once."""
        return max(1.0, self.rate * self._window)

    def set_share(self, fraction: float) -> None:
        """This process may send this share of the contract (replicas split it): the rate,
        slowed or not, scales with it."""
        share = self.whole * fraction
        self.rate = self.rate * share / self.contracted
        self.contracted = share
        self._tokens = min(self._tokens, self.burst)

    @property
    def paused(self) -> bool:
        """Whether the partner asked us to wait (Retry-After) and the wait is not over."""
        return self._clock() < self._paused_until

    def round_took(self, seconds: float) -> None:
        """A delivery round (claim, calls, record) took this long: the burst covers it and
        half as long again (rounds vary; a burst a little short loses the difference)."""
        self._window = min(MAX_WINDOW, max(MIN_WINDOW, 1.5 * seconds))

    def seconds_until_turn(self, turns: int = 1) -> float:
        """How long until `turns` turns are free (0 when they are now; never more than the
        burst)."""
        now = self._clock()
        wanted = min(float(turns), self.burst)
        tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        wait = 0.0 if tokens >= wanted else (wanted - tokens) / self.rate
        return max(wait, self._paused_until - now)

    def worthwhile(self, wanted: int) -> int:
        """How many turns a round should wait for: a tenth of a second of sends (or what is
        wanted, if fewer). A round lasts as long as its slowest call, so one begun with a
        single turn would hold the next ones back for a whole response time."""
        return max(1, min(wanted, int(self.rate * MIN_WINDOW)))

    def take(self, wanted: int) -> int:
        """Take up to `wanted` turns available now (none while paused); returns how many."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if now < self._paused_until:
            return 0
        taken = min(wanted, int(self._tokens))
        self._tokens -= taken
        return taken

    def give_back(self, unused: int) -> None:
        """Return turns taken but not used (fewer invitations were due)."""
        self._tokens = min(self.burst, self._tokens + unused)

    def slow_down(self, retry_after: float | None) -> None:
        """The partner said too many: halve the rate, and wait as long as it asked."""
        self.rate = max(self.contracted / 64, self.rate / 2)
        self._tokens = min(self._tokens, self.burst)
        if retry_after:
            self._paused_until = max(self._paused_until, self._clock() + retry_after)
        log.warning("partner_rate_lowered", rate=round(self.rate, 2), pause=retry_after)

    def succeeded(self) -> None:
        """A send went through: creep back towards the contracted rate."""
        if self.rate < self.contracted:
            self.rate = min(self.contracted, self.rate + self.contracted / 100)


State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Closed: send. Open: send nothing until the cool-down ends. Half-open: one probe."""

    def __init__(
        self,
        channel: str,
        *,
        failures_to_open: int = 5,
        first_cool_down: float = 2.0,
        longest_cool_down: float = 30.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.channel = channel
        self.failures_to_open = failures_to_open
        self.first_cool_down = first_cool_down
        self.longest_cool_down = longest_cool_down
        self._clock = clock
        self._state: State = "closed"
        self._failures = 0
        self._cool_down = first_cool_down
        self._reopen_at = 0.0
        self._probing = False
        self.probes = 0  # how many probe calls were let through, for operators and tests
        PARTNER_CIRCUIT_OPEN.labels(lane=channel).set(0)

    @property
    def state(self) -> State:
        """The state now (an open breaker past its cool-down is half-open)."""
        if self._state == "open" and self._clock() >= self._reopen_at:
            self._state = "half_open"
        return self._state

    def capacity(self, wanted: int) -> int:
        """How many sends may be claimed now: all, one probe, or none."""
        state = self.state
        if state == "closed":
            return wanted
        if state == "half_open" and not self._probing:
            return min(1, wanted)
        return 0

    def allows(self) -> bool:
        """Whether one send may go now; in half-open, the first asker is the probe."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probing:
            self._probing = True
            self.probes += 1
            return True
        return False

    def seconds_until_probe(self) -> float:
        """How long until the next probe may go (0 when sends may go now)."""
        if self.state == "open":
            return max(0.0, self._reopen_at - self._clock())
        return 0.0

    def success(self) -> None:
        """A send went through: close."""
        if self._state != "closed":
            log.info("partner_circuit_closed", channel=self.channel)
            PARTNER_CIRCUIT_OPEN.labels(lane=self.channel).set(0)
        self._state = "closed"
        self._failures = 0
        self._cool_down = self.first_cool_down
        self._probing = False

    def failure(self) -> None:
        """A send failed transiently: count it; open after enough in a row or a failed probe."""
        self._failures += 1
        if self._state == "half_open" or (
            self._state == "closed" and self._failures >= self.failures_to_open
        ):
            if self._state == "half_open":
                self._cool_down = min(self.longest_cool_down, self._cool_down * 2)
            self._state = "open"
            self._reopen_at = self._clock() + self._cool_down
            self._probing = False
            PARTNER_CIRCUIT_OPEN.labels(lane=self.channel).set(1)
            log.warning(
                "partner_circuit_open",
                channel=self.channel,
                failures=self._failures,
                cool_down=self._cool_down,
            )
