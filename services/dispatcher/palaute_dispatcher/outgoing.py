"""The message the partner gets for one invitation or reminder: rendered in its language,
its survey link and sealed unsubscribe link made (email), and checked by the content
policy before anything is sent."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from palaute_dispatcher.bounces import Verp
from palaute_dispatcher.content_policy import ContentPolicyViolation, enforce
from palaute_dispatcher.partner import Outgoing
from palaute_dispatcher.settings import DispatcherSettings
from palaute_dispatcher.templates import notice_url, render, survey_url, unsubscribe_url
from palaute_runtime.database import as_utc
from palaute_runtime.keys import Keyring
from palaute_runtime.sealed import seal


def outgoing_for(
    invitation: Mapping[str, Any], token: str | None, settings: DispatcherSettings, now: datetime
) -> Outgoing | str:
    """The message for the partner, in the name, sender and questions of the invitation's
    programme, or why the content policy refuses it."""
    origin = settings.survey_origin
    programme = settings.programmes.of(invitation["programme"], invitation["unit"])
    language = invitation["language"]
    leave = (
        unsubscribe_url(
            origin,
            seal(
                settings.unsubscribe_key,
                {"email": invitation["address"], "language": invitation["language"]},
            ),
        )
        if token
        else None
    )
    message = render(
        invitation["channel"],
        invitation["language"],
        organization=programme.organization_name,
        survey_url=survey_url(origin, token) if token else None,
        valid_days=days_left(invitation, now),
        unsubscribe_url=leave,
        reminder=invitation["reminder_of"] is not None,
        questions=programme.questions,
        csat_question=programme.csat_question.get(language),
        anonymous=invitation["anonymous"],
        notice_url=notice_url(origin, programme.name, language) if token else "",
        keep_diacritics=programme.sms_diacritics == "keep",
    )
    try:
        enforce(message, allow_links_to=origin if token else None)
    except ContentPolicyViolation as exc:
        return f"content policy: {exc}"
    return Outgoing(
        address=invitation["address"],
        subject=message.subject,
        text=message.text,
        idempotency_key=str(invitation["id"]),
        html=message.html,
        language=invitation["language"],
        unsubscribe_url=leave or "",
        sender=programme.sms_sender if invitation["channel"] == "sms" else programme.email_from,
        reply_to=programme.reply_to or "",
        made_at=as_utc(invitation["created_at"]),
        return_path=(
            bounce_return_path(settings, invitation["id"])
            if invitation["channel"] == "email"
            else ""
        ),
    )


def bounce_return_path(settings: DispatcherSettings, invitation_id: uuid.UUID) -> str:
    """The envelope sender that ties a bounce to its invitation (VERP), when bounces are
    read; else empty (the relay uses the From address)."""
    if not settings.bounce_address:
        return ""
    return Verp(settings.bounce_address, Keyring.parse(settings.bounce_secret)).return_path(
        invitation_id
    )


def days_left(invitation: Mapping[str, Any], now: datetime) -> int:
    """Whole days its survey stays open from now (the text says so)."""
    left = as_utc(invitation["expires_at"]) - now
    return max(1, math.ceil(left / timedelta(days=1)))
