"""Several SMS providers: the shares by weight, their fall on errors and slow reports, the
drift back after a quiet period, the spread of a round within each provider's room, the
settings that name them, and a replica's share of the contracted rate."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from prometheus_client import REGISTRY

from palaute_dispatcher.failover import FLOOR, Weights
from palaute_dispatcher.flow import TokenBucket
from palaute_dispatcher.settings import DispatcherSettings
from palaute_runtime.settings import sms_providers


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def weights(clock: Clock, **configured: int) -> Weights:
    names = {"twilio": configured.get("twilio", 1), "46elks": configured.get("elks", 1)}
    return Weights(names, cool_down=10, quiet=60, clock=clock)


def test_a_failing_provider_loses_a_step_per_cool_down_down_to_the_floor() -> None:
    clock = Clock()
    shares = weights(clock, twilio=70, elks=30)
    assert shares.shares == {"twilio": 70.0, "46elks": 30.0}
    assert shares.lower("twilio", "errors")
    assert shares.shares == {"twilio": 60.0, "46elks": 40.0}
    assert shares.lower("twilio", "errors") is False, "once per cool-down"
    for _ in range(10):
        clock.now += 10
        shares.lower("twilio", "errors")
    assert shares.shares == {"twilio": FLOOR, "46elks": 100 - FLOOR}, "a trickle is kept"
    gauge = REGISTRY.get_sample_value("palaute_sms_provider_weight", {"provider": "twilio"})
    assert gauge == FLOOR


def test_after_a_quiet_period_each_share_drifts_back_a_step_at_a_time() -> None:
    clock = Clock()
    shares = weights(clock)
    for _ in range(4):
        shares.lower("46elks", "slow_reports")
        clock.now += 10
    assert shares.shares["46elks"] == FLOOR
    shares.tend()
    assert shares.shares["46elks"] == FLOOR, "not before a quiet period"
    seen = []
    for _ in range(6):
        clock.now += 60
        shares.tend()
        seen.append(round(shares.shares["46elks"]))
    assert seen == [20, 30, 40, 50, 50, 50]
    assert shares.shares == {"twilio": 50.0, "46elks": 50.0}
    clock.now += 10
    shares.lower("twilio", "errors")
    clock.now += 30
    shares.tend()
    assert shares.shares["twilio"] == 40, "a fresh fall restarts the quiet period"


def test_one_provider_keeps_all_of_it() -> None:
    shares = Weights({"twilio": 1}, cool_down=0, quiet=1, clock=Clock())
    assert not shares.lower("twilio", "errors")
    assert shares.shares == {"twilio": 100.0}


def test_a_round_is_spread_by_share_and_no_provider_gets_more_than_its_room() -> None:
    random.seed(7)
    clock = Clock()
    shares = weights(clock)
    shares.lower("twilio", "errors")  # 40 / 60
    room = {"twilio": 20, "46elks": 20}
    most = shares.capacity(room)
    assert most == 33, "46elks's room binds: 20 is 60 % of 33"
    given = shares.spread(most, room)
    assert sum(given.values()) == 33
    assert given["twilio"] in (13, 14), given
    assert shares.spread(1000, room) == room, "never beyond the room"
    counts: Counter[str] = Counter()
    for _ in range(2000):  # one message at a time goes by share
        counts.update(name for name, n in shares.spread(1, room).items() if n)
    assert 0.35 < counts["twilio"] / 2000 < 0.45


def test_a_provider_without_room_is_left_out_of_the_spread() -> None:
    shares = weights(Clock())
    assert shares.capacity({"46elks": 10}) == 10
    assert shares.spread(10, {"46elks": 10}) == {"46elks": 10}


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("twilio", {"twilio": 1}),
        ("twilio:70,46elks:30", {"twilio": 70, "46elks": 30}),
        (" 46elks , twilio:2", {"46elks": 1, "twilio": 2}),
        ("sandbox", {"sandbox": 1}),
    ],
)
def test_the_providers_setting_names_providers_and_weights(
    text: str, parsed: dict[str, int]
) -> None:
    assert sms_providers(text) == parsed


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("vonage", "is not sandbox, twilio or 46elks"),
        ("twilio:0,46elks", "weight of 1-100"),
        ("twilio:x", "weight of 1-100"),
        ("twilio,twilio", "names twilio twice"),
        ("sandbox,twilio", "for development alone"),
    ],
)
def test_a_wrong_providers_setting_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        sms_providers(text)


def test_each_provider_has_its_own_contracted_rate_or_the_sms_one() -> None:
    settings = DispatcherSettings(partner_sms_rate_per_second=40, elks_rate_per_second=5)
    assert settings.rate_of("sms", "46elks") == 5
    assert settings.rate_of("sms", "twilio") == 40
    assert settings.rate_of("email", "smtp") == settings.partner_email_rate_per_second


def test_a_replica_sends_its_share_of_the_contract_slowed_or_not() -> None:
    clock = Clock()
    bucket = TokenBucket(600, clock=clock)
    bucket.set_share(1 / 3)
    assert bucket.rate == 200
    bucket.slow_down(None)  # a 429: half of its share
    assert bucket.rate == 100
    bucket.set_share(1 / 2)  # a replica left: its share comes back
    assert bucket.rate == 150
    assert bucket.contracted == 300
    clock.now += 10
    assert bucket.take(1000) == 15, "a tenth of a second of its own rate at once"


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_gauge_and_the_counter_follow_every_change() -> None:
    clock = Clock()
    shares = Weights({"p-one": 1, "p-two": 3}, cool_down=0, quiet=5, clock=clock)
    assert sample("palaute_sms_provider_weight", {"provider": "p-one"}) == 25.0
    lowered = {"provider": "p-two", "reason": "errors"}
    before = sample("palaute_sms_provider_weight_changes_total", lowered)
    assert shares.lower("p-two", "errors") is True
    assert sample("palaute_sms_provider_weight_changes_total", lowered) == before + 1
    assert sample("palaute_sms_provider_weight", {"provider": "p-two"}) == 65.0
    clock.now += 5
    shares.tend()
    assert sample("palaute_sms_provider_weight", {"provider": "p-two"}) == 75.0
    restored = {"provider": "p-two", "reason": "quiet"}
    assert sample("palaute_sms_provider_weight_changes_total", restored) == 1
    for _ in range(3):  # back at their weights: nothing more to restore, nothing said
        clock.now += 5
        shares.tend()
    assert sample("palaute_sms_provider_weight_changes_total", restored) == 1
    quiet_one = {"provider": "p-one", "reason": "quiet"}
    assert sample("palaute_sms_provider_weight_changes_total", quiet_one) == 0


def test_at_the_floor_a_fall_is_refused_and_said_so() -> None:
    clock = Clock()
    shares = Weights({"twilio": 1, "46elks": 1}, cool_down=0, quiet=60, clock=clock)
    for _ in range(4):
        assert shares.lower("46elks", "errors") is True
    assert shares.lower("46elks", "errors") is False, "already at the floor"
    assert shares.shares == {"twilio": 90.0, "46elks": 10.0}
    assert shares.lower("twilio", "errors") is True, "the other may still fall"


def test_a_fresh_set_of_shares_has_nothing_to_tend_and_one_tend_moves_one_step() -> None:
    clock = Clock()
    shares = Weights({"twilio": 1, "46elks": 1}, cool_down=0, quiet=60, clock=clock)
    shares.tend()
    assert shares.shares == {"twilio": 50.0, "46elks": 50.0}
    shares.lower("twilio", "errors")
    shares.lower("twilio", "errors")  # 30 / 70
    clock.now += 60  # exactly a quiet period: it drifts
    shares.tend()
    shares.tend()  # at the same moment: not a second step
    assert shares.shares["twilio"] == 40.0


def test_any_fall_restarts_the_quiet_period_of_every_provider() -> None:
    clock = Clock()
    shares = Weights({"a": 1, "b": 1, "c": 1}, cool_down=0, quiet=60, clock=clock)
    shares.lower("a", "errors")  # a falls at 100
    clock.now += 50
    shares.lower("b", "slow_reports")  # b falls at 150
    clock.now += 20  # 70 s after a's fall, 20 s after b's
    before = dict(shares.shares)
    shares.tend()
    assert shares.shares == before, "b fell 20 s ago: nobody drifts back yet"


def test_a_share_below_its_weight_by_less_than_a_step_still_comes_back() -> None:
    clock = Clock()
    shares = Weights({"small": 21, "large": 179}, cool_down=0, quiet=60, clock=clock)
    assert shares.shares["small"] == 10.5
    shares.lower("small", "errors")  # half a point: to the floor of 10
    assert shares.shares["small"] == 10.0
    clock.now += 60
    shares.tend()
    assert shares.shares == {"small": 10.5, "large": 89.5}


def test_the_points_coming_back_are_taken_from_those_above_their_weight_by_their_excess() -> None:
    clock = Clock()
    shares = Weights({"a": 1, "b": 1, "c": 2}, cool_down=0, quiet=60, clock=clock)
    assert shares.shares == {"a": 25.0, "b": 25.0, "c": 50.0}
    shares.lower("a", "errors")  # 10 points to b and c by their weights: b 3.33, c 6.67
    assert shares.shares["b"] == pytest.approx(25 + 10 / 3)
    assert shares.shares["c"] == pytest.approx(50 + 20 / 3)
    clock.now += 60
    shares.tend()
    assert shares.shares == pytest.approx({"a": 25.0, "b": 25.0, "c": 50.0})


def test_nothing_to_spread_over_no_provider_and_every_message_is_placed() -> None:
    shares = Weights({"a": 1, "b": 1, "c": 1}, cool_down=0, quiet=60, clock=Clock())
    assert shares.capacity({}) == 0
    given = shares.spread(5, {"a": 5, "b": 5, "c": 5})
    assert sum(given.values()) == 5
    assert all(n in (1, 2, 3) for n in given.values())
