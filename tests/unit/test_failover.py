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
    assert not shares.lower("twilio", "errors"), "once per cool-down"
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
