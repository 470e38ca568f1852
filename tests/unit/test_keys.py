"""Key settings with ids: one bare secret, or ID:SECRET pairs with the current key first."""

from __future__ import annotations

import pytest

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
