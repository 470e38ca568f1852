"""The dispatcher's pace rules with a hand-moved clock: the token bucket and the breaker."""

from __future__ import annotations

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
