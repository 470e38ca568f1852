"""What the dispatcher tells the collector and BI about an invitation: never its address,
never a token."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from palaute_runtime.database import as_utc
from palaute_schemas import (
    DeliveryStatus,
    DeliveryStatusChanged,
    FailureReason,
    InvitationFailed,
    InvitationSent,
    recipient_ref,
)


def counted_by(invitation: Mapping[str, Any]) -> dict[str, Any]:
    """What BI counts an invitation by (no address, no customer)."""
    return {
        "invitation_id": invitation["id"],
        "channel": invitation["channel"],
        "language": invitation["language"],
        "contact_channel": invitation["contact_channel"],
        "unit": invitation["unit"],
        "contact_day": invitation["contact_day"],
        "programme": invitation["programme"],
    }


def delivery_of(
    invitation: Mapping[str, Any], status: DeliveryStatus, reason: str, at: datetime
) -> DeliveryStatusChanged:
    """The DeliveryStatusChanged event of an invitation."""
    return DeliveryStatusChanged(
        **counted_by(invitation), status=status, reason=reason[:200], reported_at=at
    )


def failure_of(
    invitation: Mapping[str, Any], reason: FailureReason, error: str, *, attempted: bool = False
) -> InvitationFailed:
    """The InvitationFailed event of an invitation given up."""
    return InvitationFailed(
        **counted_by(invitation),
        contact_id=invitation["contact_id"],
        reason=reason,
        attempts=invitation["attempts"] + (1 if attempted else 0),
        error=error[:500],
    )


def sent_message(
    invitation: Mapping[str, Any], token_hashes: list[str], pepper: str, sent_at: datetime
) -> InvitationSent:
    """The InvitationSent event (occurred when it was handed to the partner): the SMS number
    only as a keyed pseudonym, no customer or contact id for an anonymous survey."""
    channel = invitation["channel"]
    return InvitationSent(
        occurred_at=sent_at,
        invitation_id=invitation["id"],
        channel=channel,
        language=invitation["language"],
        contact_channel=invitation["contact_channel"],
        unit=invitation["unit"],
        contact_day=invitation["contact_day"],
        anonymous=invitation["anonymous"],
        customer_id=None if invitation["anonymous"] else invitation["customer_id"],
        token_hashes=token_hashes,
        recipient_ref=recipient_ref(pepper, invitation["address"]) if channel == "sms" else None,
        expires_at=as_utc(invitation["expires_at"]),
        contact_id=None if invitation["anonymous"] else invitation["contact_id"],
        programme=invitation["programme"],
    )
