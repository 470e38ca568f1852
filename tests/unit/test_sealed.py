"""Sealed values: only the key's holder reads them, and any change is refused."""

from __future__ import annotations

from palaute_runtime.sealed import seal, unseal


def test_a_sealed_value_opens_with_its_key_only() -> None:
    sealed = seal("key-1", {"email": "asiakas@example.fi", "language": "fi"})
    assert "asiakas" not in sealed
    assert sealed.replace("-", "").replace("_", "").replace(".", "").isalnum(), "URL-safe"
    assert unseal("key-1", sealed) == {"email": "asiakas@example.fi", "language": "fi"}
    assert unseal("key-2", sealed) is None
    assert seal("key-1", {"a": 1}) != seal("key-1", {"a": 1}), "a fresh nonce each time"


def test_a_changed_or_garbage_value_is_refused() -> None:
    sealed = seal("key", {"email": "a@example.fi"})
    flipped = sealed[:20] + ("A" if sealed[20] != "A" else "B") + sealed[21:]
    for bad in (flipped, sealed[:-1], "", "!!!", "x" * 5000, "AAAA"):
        assert unseal("key", bad) is None, bad[:30]


def test_a_rotated_key_still_opens_what_the_old_one_sealed_while_it_is_listed() -> None:
    old = seal("1:old-key", {"email": "a@example.fi"})
    assert old.startswith("1.")
    rotated = "2:new-key,1:old-key"
    assert unseal(rotated, old) == {"email": "a@example.fi"}
    assert seal(rotated, {"a": 1}).startswith("2.")
    assert unseal("2:new-key", old) is None, "dropped: what it sealed no longer opens"


def test_a_value_sealed_before_key_ids_opens_with_any_listed_key() -> None:
    legacy = seal("old-key", {"a": 1}).split(".", 1)[1]  # the format before key ids
    assert unseal("2:new-key,1:old-key", legacy) == {"a": 1}
