"""Every processor that may keep something of a person the dispatcher sent to, and what an
erasure does about each: the SMS providers with a deletion API and the bounce mailbox are
asked to delete (the deletion job, deletions.py); the others cannot be asked, and the
operator is told what to do instead. `ErasureCompleted.processors` carries the story, one
line per processor, with no identifier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from palaute_dispatcher.partner import DataProcessor

# What an erasure cannot ask of these, and what the operator does instead.
NOT_ASKED = {
    "46elks": "not asked: 46elks documents no deletion API; ask 46elks support to delete the "
    "person's messages (docs/providers.md)",
    "email relay": "not asked: SMTP has no deletion; the relay keeps its logs and queued mail "
    "as its contract says (docs/privacy.md)",
}


class Processors:
    """The processors asked to delete, in turn, and those that cannot be asked."""

    def __init__(self, asked: Mapping[str, DataProcessor], not_asked: Sequence[str] = ()) -> None:
        self.asked = dict(asked)
        self.not_asked = {name: NOT_ASKED[name] for name in not_asked}

    async def delete_data(self, addresses: list[str]) -> str:
        """Instruct every processor that can be asked (deleting is idempotent: a job cut
        short asks all of them again); their ids, joined."""
        return ", ".join([await p.delete_data(addresses) for p in self.asked.values()])

    def story(self, *, deleted: bool | None, reason: str | None = None) -> dict[str, str]:
        """What the erasure did at each processor: deleted, refused (why), or not asked."""
        done = (
            "deleted"
            if deleted
            else f"refused: {reason}"
            if deleted is False
            else "not asked: nothing was sent to the person"
        )
        return {**dict.fromkeys(self.asked, done), **self.not_asked}
