"""Key settings with ids: one bare secret, or ID:SECRET pairs with the current key first."""

from __future__ import annotations

import pytest

from palaute_consent.officers import sign_cookie, unsign_cookie
from palaute_runtime.http import bearer_matches
from palaute_runtime.keys import Keyring


def test_a_bare_secret_is_key_zero() -> None:
    ring = Keyring.parse("just-one-secret")
    assert (ring.current_id, ring.current, ring.secrets) == (
        "0",
        "just-one-secret",
        ["just-one-secret"],
    )


def test_pairs_name_their_ids_and_the_first_writes() -> None:
    ring = Keyring.parse("2:new-secret, 1:old:with:colons")
    assert ring.current_id == "2"
    assert ring.get("1") == "old:with:colons"
    assert ring.get("3") is None
    assert ring.secrets == ["new-secret", "old:with:colons"]
    assert ring.matches("old:with:colons")
    assert not ring.matches("other")
    assert len(ring.hmacs("x")) == 2


@pytest.mark.parametrize(
    ("text", "error"), [("", "empty"), ("1:a,1:b", "listed twice"), ("2:new,old", "pairs")]
)
def test_an_empty_key_or_an_id_given_twice_is_refused(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Keyring.parse(text)


def test_a_cookie_or_a_bearer_secret_made_under_the_old_key_holds_while_it_is_listed() -> None:
    cookie = sign_cookie("1:old-session-key", "session-1")
    assert unsign_cookie("2:new-session-key,1:old-session-key", cookie) == "session-1"
    assert unsign_cookie("2:new-session-key", cookie) is None, "dropped: signed out"
    assert sign_cookie("2:new,1:old", "s") == sign_cookie("2:new", "s"), "the first signs"
    assert bearer_matches("Bearer old-secret", "2:new-secret,1:old-secret")
    assert bearer_matches("Bearer new-secret", "2:new-secret,1:old-secret")
    assert not bearer_matches("Bearer old-secret", "2:new-secret")
