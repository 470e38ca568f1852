"""Invitation texts per language and channel, from the message catalogues. SMS carries no
link and is written in GSM-7 unless its programme keeps diacritics; email links its survey
page and its programme's privacy notice (both on the survey origin)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from palaute_dispatcher.gsm7 import transliterate
from palaute_runtime import i18n
from palaute_runtime.programmes import Question
from palaute_schemas import Channel, Language
from palaute_schemas.notices import notice_path


@dataclass(frozen=True)
class Invitation:
    """A rendered invitation; an email has an HTML part beside its text."""

    subject: str
    text: str
    html: str = ""


# An SMS is one GSM-7 segment (160 characters) with an organisation name of up to 20
# characters, a reminder and a named survey's longer notice included; a longer name is said
# at start-up with the cost (palaute_dispatcher.sms). It says who asks, the question with its
# scale, whether the answer is anonymous or linked to the customer record, and how to stop.
# The words are the catalogue's (palaute_runtime.i18n): `sms.*`, `email.*`, `anonymity.*`.

# The answers an email's scale links to: the page opens with the one chosen.
_POINTS: dict[Question, tuple[str, range]] = {
    "nps": ("score", range(11)),
    "csat": ("csat", range(1, 6)),
}


def _html(
    texts: i18n.Catalogue,
    subject: str,
    text: str,
    links: tuple[str, str | None],
    question: Question,
    notice_url: str = "",
) -> str:
    """The HTML part: the text's paragraphs, with the survey link as the question's scale
    (0-10, or 1-5 for CSAT), each number a link that opens the page with that answer chosen
    (only the page's form records: a mail scanner that follows the links records nothing)."""
    survey_url, unsubscribe_url = links
    name, points = _POINTS[question]
    scale = "".join(
        f'<td><a href="{escape(survey_url)}?{name}={n}" style="display:inline-block;'
        f"padding:6px 9px;border:1px solid #444;border-radius:4px;color:#000;"
        f'text-decoration:none">{n}</a></td>'
        for n in points
    )
    paragraphs = []
    for paragraph in text.strip().split("\n\n"):
        if paragraph.strip() == survey_url:
            paragraphs.append(
                f'<table role="presentation"><tr>{scale}</tr></table>'
                f"<p><small>{escape(texts.text(f'email.scale_{question}'))}</small></p>"
            )
        else:
            html = escape(paragraph).replace("\n", "<br>")
            if notice_url and notice_url in paragraph:  # the privacy notice, as a link
                html = html.replace(
                    escape(notice_url), f'<a href="{escape(notice_url)}">{escape(notice_url)}</a>'
                )
            paragraphs.append(f"<p>{html}</p>")
    if unsubscribe_url:
        paragraphs.append(
            f'<p><small><a href="{escape(unsubscribe_url)}">'
            f"{escape(texts.text('email.unsubscribe'))}</a></small></p>"
        )
    return (
        f'<!doctype html><html lang="{texts.language}"><head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head>"
        f'<body style="font-family:sans-serif">{"".join(paragraphs)}</body></html>'
    )


def render(
    channel: Channel,
    language: Language,
    *,
    organization: str,
    survey_url: str | None,
    valid_days: int,
    unsubscribe_url: str | None = None,
    reminder: bool = False,
    questions: tuple[Question, ...] = ("nps", "csat"),
    csat_question: str | None = None,
    anonymous: bool = False,
    notice_url: str = "",
    keep_diacritics: bool = False,
) -> Invitation:
    """Render one invitation, or its one reminder; an email needs its survey URL (and may
    carry its unsubscribe link in the HTML part), an SMS must have neither. The message asks
    the programme's first question: NPS, or CSAT for a programme that asks CSAT only (in its
    own wording by email); it says whether the answer is anonymous or linked to the customer
    record, and an email names the controller and links its privacy notice. An SMS is written
    in GSM-7 (palaute_dispatcher.gsm7) unless `keep_diacritics`. A language whose catalogue
    is not available here (every service checks its programmes' at start) is sent in the
    first available rather than not at all."""
    texts = i18n.for_reader(language)
    question: Question = "nps" if "nps" in questions else "csat"
    if channel == "sms":
        if survey_url is not None:
            raise ValueError("an SMS invitation carries no link")
        opening = "sms.reminder_opening" if reminder else "sms.opening"
        text = " ".join(
            (
                texts.text(opening, organization=organization),
                texts.text(f"sms.question_{question}"),
                texts.text("sms.anonymous" if anonymous else "sms.named"),
                texts.text("sms.stop"),
            )
        )
        return Invitation(subject="", text=text if keep_diacritics else transliterate(text))
    if survey_url is None:
        raise ValueError("an email invitation needs its survey URL")
    subject = texts.text("email.subject")
    asked = texts.text(f"email.question_{question}")
    if question == "csat" and csat_question:
        asked = csat_question
    notice = texts.text("anonymity.anonymous" if anonymous else "anonymity.named")
    if notice_url:
        notice += " " + texts.text(
            "email.controller", organization=organization, notice_url=notice_url
        )
    text = texts.text(
        "email.body",
        organization=organization,
        question=asked,
        survey_url=survey_url,
        link_valid=texts.plural("email.link_valid", valid_days),
        notice=notice,
    )
    if reminder:
        subject = texts.text("email.reminder_subject", subject=subject)
        greeting, rest = text.split("\n\n", 1)
        intro = texts.text("email.reminder_intro")
        text = f"{greeting}\n\n{intro}\n\n{rest[:1].upper()}{rest[1:]}"
    html = _html(texts, subject, text, (survey_url, unsubscribe_url), question, notice_url)
    if unsubscribe_url:  # both parts offer it: a reader of the plain text can leave too
        text = f"{text.rstrip()}\n\n{texts.text('email.unsubscribe')}: {unsubscribe_url}\n"
    return Invitation(subject, text, html)


def survey_url(origin: str, token: str) -> str:
    """The survey link of an email invitation."""
    return f"{origin.rstrip('/')}/s/{token}"


def notice_url(origin: str, programme: str, language: Language) -> str:
    """The privacy notice of a programme, in a language (served by the collector)."""
    return origin.rstrip("/") + notice_path(programme, language)


def unsubscribe_url(origin: str, sealed: str) -> str:
    """The unsubscribe link of an email invitation (the address sealed inside)."""
    return f"{origin.rstrip('/')}/u/{sealed}"


CHANNELS: tuple[Channel, ...] = ("sms", "email")
