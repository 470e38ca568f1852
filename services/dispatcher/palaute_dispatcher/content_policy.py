"""The content policy: an invitation must never look like phishing.

No login links, no requests for credentials, card details or identity numbers, no link in an
SMS, and email links only to the survey origin's survey pages.
"""

from __future__ import annotations

import re

from palaute_dispatcher.templates import Invitation

_LINK = re.compile(
    r"(?i)\b(?:https?://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:fi|se|com|net|org|io|ly|me|co|eu|info|link|app)\b(?:/\S*)?"
)

# Words that ask for, or lead to, a login or a secret, in Finnish, Swedish and English.
_FORBIDDEN = re.compile(
    r"(?i)\b(?:log\s*in|login|sign\s*in|kirjaudu\w*|kirjautu\w*|logga\s+in|inloggning\w*|"
    r"password\w*|salasan\w*|lösenord\w*|pankkitunnu\w*|verkkopankki\w*|nätbank\w*|"
    r"bankkod\w*|henkilötunnu\w*|personnummer\w*|social\s+security|card\s+number|"
    r"kortin\s+numero\w*|kortnummer\w*|pin(?:-?koodi|-?kod|\s+code)?|cvv|cvc)\b"
)


class ContentPolicyViolation(ValueError):
    """An invitation that must not be sent, with every reason found."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def violations(invitation: Invitation, *, allow_links_to: str | None) -> list[str]:
    """Every way an invitation breaks the policy (empty when it may be sent).

    `allow_links_to` is the survey origin for email, None for SMS (no link at all).
    """
    found: list[str] = []
    text = f"{invitation.subject}\n{invitation.text}"
    for link in _LINK.findall(text):
        if allow_links_to is None:
            found.append("an SMS invitation must carry no link")
        elif not link.startswith(f"{allow_links_to.rstrip('/')}/s/"):
            found.append("a link goes somewhere other than the survey page")
    for word in _FORBIDDEN.findall(text):
        found.append(f"asks for or mentions a login or secret ({word.lower()!r})")
    return found


def enforce(invitation: Invitation, *, allow_links_to: str | None) -> None:
    """Raise ContentPolicyViolation when the invitation breaks the policy."""
    found = violations(invitation, allow_links_to=allow_links_to)
    if found:
        raise ContentPolicyViolation(found)
