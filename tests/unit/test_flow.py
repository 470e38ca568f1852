"""The dispatcher's pace rules with a hand-moved clock: the token bucket and the breaker."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from palaute_dispatcher.flow import CircuitBreaker, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_hands_out_a_tenth_of_a_second_at_once_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(200, clock=clock)
    assert bucket.take(1000) == 20
    assert bucket.take(1) == 0
    assert bucket.seconds_until_turn() == 1 / 200
    clock.now += 5
    assert bucket.take(1000) == 20, "an idle bucket holds no more than its burst"
    bucket.give_back(5)
    assert bucket.take(1000) == 5


def test_a_slow_partners_long_rounds_widen_the_burst_to_a_round_at_most_a_second() -> None:
    """A round waits for its slowest call: with a partner answering in 400 ms, a tenth of a
    second of turns per round would send a quarter of the contracted rate."""
    clock = Clock()
    bucket = TokenBucket(100, clock=clock)
    assert bucket.take(1000) == 10
    bucket.round_took(0.4)  # the burst covers the round and half as long again
    clock.now += 0.4
    assert bucket.take(1000) == 40, "a round's worth: the contracted rate is kept"
    bucket.round_took(5.0)
    clock.now += 5
    assert bucket.take(1000) == 100, "never more than a second of sends at once"
    bucket.round_took(0.01)  # a partner failing fast: back to a tenth of a second
    clock.now += 5
    assert bucket.take(1000) == 10


def test_an_empty_bucket_waits_for_a_worthwhile_round_not_one_turn() -> None:
    clock = Clock()
    bucket = TokenBucket(100, clock=clock)
    bucket.take(1000)
    assert bucket.worthwhile(64) == 10
    assert bucket.worthwhile(3) == 3, "no more than is wanted"
    assert bucket.seconds_until_turn(bucket.worthwhile(64)) == 0.1


def test_a_429_halves_the_rate_and_pauses_then_success_creeps_back() -> None:
    clock = Clock()
    bucket = TokenBucket(200, clock=clock)
    bucket.take(1000)
    bucket.slow_down(retry_after=2.0)
    assert bucket.rate == 100
    clock.now += 1.9
    assert bucket.take(1000) == 0, "paused for as long as the partner asked"
    assert 0.05 < bucket.seconds_until_turn() <= 0.1
    clock.now += 0.2
    assert 0 < bucket.take(1000) <= 10
    for _ in range(200):
        bucket.succeeded()
    assert bucket.rate == 200, "never above the contracted rate"


def test_the_breaker_opens_after_consecutive_failures_and_probes_once() -> None:
    clock = Clock()
    breaker = CircuitBreaker("sms", failures_to_open=3, first_cool_down=2, clock=clock)
    for _ in range(2):
        breaker.failure()
    assert breaker.state == "closed"
    breaker.success()
    for _ in range(3):
        breaker.failure()
    assert breaker.state == "open"
    assert breaker.capacity(64) == 0
    assert not breaker.allows()
    clock.now += 2
    assert breaker.capacity(64) == 1, "half-open: one probe"
    assert breaker.allows()
    assert not breaker.allows(), "only one probe in flight"
    breaker.failure()
    assert breaker.state == "open"
    assert breaker.seconds_until_probe() == 4, "a failed probe doubles the cool-down"
    clock.now += 4
    assert breaker.allows()
    breaker.success()
    assert breaker.state == "closed"
    assert breaker.capacity(64) == 64
    assert breaker.probes == 2


def test_the_cool_down_stops_growing_at_its_ceiling() -> None:
    clock = Clock()
    breaker = CircuitBreaker(
        "email", failures_to_open=1, first_cool_down=2, longest_cool_down=5, clock=clock
    )
    breaker.failure()
    for _ in range(5):
        clock.now += breaker.seconds_until_probe()
        assert breaker.allows()
        breaker.failure()
    assert breaker.seconds_until_probe() == 5


def circuit_gauge(lane: str) -> float | None:
    return REGISTRY.get_sample_value("palaute_partner_circuit_open", {"lane": lane})


def test_the_breakers_defaults_and_its_gauge_for_the_alert() -> None:
    """Production's breaker: five failures in a row, a first cool-down of 2 s doubling to at
    most 30 s; palaute_partner_circuit_open says 1 while open or probing, 0 once closed."""
    clock = Clock()
    breaker = CircuitBreaker("sms:test-defaults", clock=clock)
    assert circuit_gauge("sms:test-defaults") == 0
    assert breaker.seconds_until_probe() == 0.0, "closed: sends may go now"
    for _ in range(4):
        breaker.failure()
    assert breaker.state == "closed", "four in a row are not yet an outage"
    assert breaker.allows()
    breaker.failure()
    assert breaker.state == "open"
    assert circuit_gauge("sms:test-defaults") == 1
    assert breaker.seconds_until_probe() == 2.0
    clock.now += 1.5
    assert breaker.seconds_until_probe() == 0.5
    cool_downs = []
    for _ in range(6):
        clock.now += breaker.seconds_until_probe()
        assert breaker.state == "half_open"
        assert breaker.allows()
        breaker.failure()
        cool_downs.append(breaker.seconds_until_probe())
    assert cool_downs == [4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    clock.now += 30
    assert breaker.allows()
    breaker.success()
    assert circuit_gauge("sms:test-defaults") == 0
    assert (breaker.state, breaker.capacity(7)) == ("closed", 7)
    # Closing forgets the failures and the grown cool-down.
    for _ in range(4):
        breaker.failure()
    assert breaker.state == "closed"
    breaker.failure()
    assert breaker.seconds_until_probe() == 2.0


def test_a_success_in_between_starts_the_count_again() -> None:
    breaker = CircuitBreaker("email:count", failures_to_open=2, clock=Clock())
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert breaker.state == "closed"
    breaker.failure()
    assert breaker.state == "open"


def test_the_bucket_is_never_below_one_send_and_pauses_only_when_asked() -> None:
    clock = Clock()
    slow = TokenBucket(5, clock=clock)  # a tenth of a second of 5/s is half a send
    assert slow.burst == 1.0
    assert slow.take(10) == 1
    assert slow.worthwhile(64) == 1, "at least one turn is worth a round"
    assert not slow.paused
    slow.slow_down(None)  # a 429 without Retry-After: slower, never paused
    assert not slow.paused
    assert slow.rate == 2.5
    clock.now += 10
    slow.slow_down(3.0)
    assert slow.paused
    clock.now += 2.9
    assert slow.paused
    assert slow.seconds_until_turn() == pytest.approx(0.1)
    clock.now += 0.1
    assert not slow.paused, "the pause ends when it said"


def test_the_rate_falls_to_a_64th_at_most_and_climbs_back_a_hundredth_a_success() -> None:
    clock = Clock()
    bucket = TokenBucket(640, clock=clock)
    for _ in range(20):
        bucket.slow_down(None)
    assert bucket.rate == 10, "never below a 64th of the contract"
    bucket.succeeded()
    assert bucket.rate == 16.4, "a hundredth of the contract back per success"
    bucket.take(1000)
    assert bucket.seconds_until_turn(1) == pytest.approx(1 / 16.4)
    clock.now += 0.05
    assert bucket.seconds_until_turn(1) == pytest.approx(1 / 16.4 - 0.05)
    assert bucket.seconds_until_turn(0) == 0.0


def test_a_429_keeps_no_more_tokens_than_the_slower_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(1000, clock=clock)
    bucket.round_took(1.0)  # a one-second burst: 1,000 turns
    clock.now += 5
    bucket.slow_down(None)  # 500/s: a burst of 500
    assert bucket.take(10_000) == 500
    bucket.round_took(0.2)
    assert bucket.burst == pytest.approx(1.5 * 0.2 * 500), "a round and half again"


def test_a_smaller_share_keeps_no_more_tokens_than_its_burst_and_a_pause_ends_on_time() -> None:
    clock = Clock()
    bucket = TokenBucket(1000, clock=clock)  # a full burst of 100
    bucket.set_share(0.1)  # 100/s: a burst of 10
    assert bucket.take(1000) == 10
    bucket.slow_down(2.0)
    clock.now += 2.0  # exactly when the partner said
    assert bucket.take(1) == 1


def test_no_second_probe_while_one_is_out() -> None:
    clock = Clock()
    breaker = CircuitBreaker("sms:probe", failures_to_open=1, clock=clock)
    breaker.failure()
    assert breaker.allows() is False, "open"
    clock.now += breaker.seconds_until_probe()
    assert breaker.allows() is True
    assert breaker.allows() is False, "the probe is out"
