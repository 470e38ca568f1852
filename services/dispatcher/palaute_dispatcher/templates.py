"""Invitation texts per language and channel. SMS carries no link; email links one survey page."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from palaute_runtime.programmes import Question
from palaute_schemas import Channel, Language


@dataclass(frozen=True)
class Invitation:
    """A rendered invitation; an email has an HTML part beside its text."""

    subject: str
    text: str
    html: str = ""


# One GSM-7 segment (160 characters) with an organisation name of up to 20 characters; a
# longer name is said at start-up with the cost (palaute_dispatcher.sms).
_SMS: dict[Language, str] = {
    "fi": (
        "Kiitos yhteydenotostasi, {organization}! Suosittelisitko meitä? Vastaa 0-10 "
        "(0 = en lainkaan, 10 = erittäin todennäköisesti). Ei kyselyjä: vastaa STOP"
    ),
    "sv": (
        "Tack för att du kontaktade {organization}! Skulle du rekommendera oss? Svara 0-10 "
        "(0 = inte alls, 10 = mycket troligt). Inga enkäter: svara STOPP"
    ),
    "en": (
        "Thank you for contacting {organization}! Would you recommend us? Reply 0-10 "
        "(0 = not at all, 10 = extremely likely). No more surveys: reply STOP"
    ),
}

# A programme that asks CSAT only: the 1-5 question.
_SMS_CSAT: dict[Language, str] = {
    "fi": (
        "Kiitos yhteydenotostasi, {organization}! Kuinka tyytyväinen olit palveluun? Vastaa "
        "1-5 (1 = hyvin tyytymätön, 5 = hyvin tyytyväinen). Ei kyselyjä: STOP"
    ),
    "sv": (
        "Tack för att du kontaktade {organization}! Hur nöjd var du med servicen? Svara 1-5 "
        "(1 = mycket missnöjd, 5 = mycket nöjd). Inga enkäter: svara STOPP"
    ),
    "en": (
        "Thank you for contacting {organization}! How satisfied were you with us? Reply 1-5 "
        "(1 = very dissatisfied, 5 = very satisfied). No more surveys: STOP"
    ),
}

_SMS_CSAT_REMINDER: dict[Language, str] = {
    "fi": (
        "Muistutus: {organization} kiittää yhteydenotostasi! Kuinka tyytyväinen olit? Vastaa "
        "1-5 (1 = hyvin tyytymätön, 5 = hyvin tyytyväinen). Ei kyselyjä: STOP"
    ),
    "sv": (
        "Påminnelse: tack för att du kontaktade {organization}! Hur nöjd var du? Svara 1-5 "
        "(1 = mycket missnöjd, 5 = mycket nöjd). Inga enkäter: STOPP"
    ),
    "en": (
        "Reminder: thank you for contacting {organization}! How satisfied were you? Reply "
        "1-5 (1 = very dissatisfied, 5 = very satisfied). No more surveys: STOP"
    ),
}

# The one reminder: the same question, said to be a reminder and the last one.
_SMS_REMINDER: dict[Language, str] = {
    "fi": (
        "Muistutus: {organization} kiittää yhteydenotostasi! Suosittelisitko meitä? Vastaa "
        "0-10 (0 = en lainkaan, 10 = erittäin todennäköisesti). Ei kyselyjä: STOP"
    ),
    "sv": (
        "Påminnelse: tack för att du kontaktade {organization}! Rekommenderar du oss? Svara "
        "0-10 (0 = inte alls, 10 = mycket troligt). Inga enkäter: STOPP"
    ),
    "en": (
        "Reminder: thank you for contacting {organization}! Would you recommend us? Reply "
        "0-10 (0 = not at all, 10 = extremely likely). No more surveys: STOP"
    ),
}

_REMINDER_SUBJECT: dict[Language, str] = {
    "fi": "Muistutus: ",
    "sv": "Påminnelse: ",
    "en": "Reminder: ",
}

_REMINDER_INTRO: dict[Language, str] = {
    "fi": (
        "Lähetimme sinulle muutama päivä sitten lyhyen kyselyn. Jos et vielä ehtinyt vastata, "
        "voit tehdä sen nyt. Tämä on ainoa muistutus."
    ),
    "sv": (
        "För några dagar sedan skickade vi dig en kort enkät. Om du inte hann svara kan du "
        "göra det nu. Det här är den enda påminnelsen."
    ),
    "en": (
        "A few days ago we sent you a short survey. If you have not had the time to answer, "
        "you can do it now. This is the only reminder."
    ),
}

_EMAIL_SUBJECT: dict[Language, str] = {
    "fi": "Miten onnistuimme? Lyhyt kysely asioinnistasi",
    "sv": "Hur lyckades vi? En kort enkät om ditt ärende",
    "en": "How did we do? A short survey about your contact",
}

_EMAIL_BODY: dict[Language, str] = {
    "fi": (
        "Hei,\n\nkiitos yhteydenotostasi! {organization} kysyy: {question} Vastaaminen vie "
        "alle minuutin eikä vaadi tunnistautumista:\n\n{survey_url}\n\nVastaaminen on "
        "vapaaehtoista, ja linkki on voimassa {valid_days} päivää.\n\nYstävällisin "
        "terveisin,\n{organization}\n"
    ),
    "sv": (
        "Hej,\n\ntack för att du kontaktade {organization}. {question} Det tar under en minut "
        "och kräver ingen identifiering:\n\n{survey_url}\n\nDet är frivilligt att svara, och "
        "länken gäller i {valid_days} dagar.\n\nMed vänliga hälsningar,\n{organization}\n"
    ),
    "en": (
        "Hello,\n\nthank you for contacting {organization}. {question} It takes less than a "
        "minute and needs no identification:\n\n{survey_url}\n\nAnswering is voluntary, and "
        "the link is valid for {valid_days} days.\n\nKind regards,\n{organization}\n"
    ),
}

# The question an email asks (the first of its programme's; the page asks them all).
_EMAIL_QUESTION: dict[Question, dict[Language, str]] = {
    "nps": {
        "fi": "kuinka todennäköisesti suosittelisit meitä ystävällesi tai kollegallesi?",
        "sv": "Hur troligt är det att du skulle rekommendera oss till en vän eller kollega?",
        "en": "How likely are you to recommend us to a friend or colleague?",
    },
    "csat": {
        "fi": "kuinka tyytyväinen olit saamaasi palveluun?",
        "sv": "Hur nöjd var du med servicen?",
        "en": "How satisfied were you with the service?",
    },
}


_UNSUBSCRIBE: dict[Language, str] = {
    "fi": "En halua enää kyselyjä",
    "sv": "Jag vill inte ha fler enkäter",
    "en": "No more surveys, please",
}

_SCALE: dict[Question, dict[Language, str]] = {
    "nps": {
        "fi": "0 = en lainkaan todennäköisesti, 10 = erittäin todennäköisesti",
        "sv": "0 = inte alls troligt, 10 = mycket troligt",
        "en": "0 = not at all likely, 10 = extremely likely",
    },
    "csat": {
        "fi": "1 = erittäin tyytymätön, 5 = erittäin tyytyväinen",
        "sv": "1 = mycket missnöjd, 5 = mycket nöjd",
        "en": "1 = very dissatisfied, 5 = very satisfied",
    },
}
# The answers an email's scale links to: the page opens with the one chosen.
_POINTS: dict[Question, tuple[str, range]] = {
    "nps": ("score", range(11)),
    "csat": ("csat", range(1, 6)),
}


def _html(
    language: Language,
    subject: str,
    text: str,
    links: tuple[str, str | None],
    question: Question,
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
                f"<p><small>{escape(_SCALE[question][language])}</small></p>"
            )
        else:
            paragraphs.append("<p>" + escape(paragraph).replace("\n", "<br>") + "</p>")
    if unsubscribe_url:
        paragraphs.append(
            f'<p><small><a href="{escape(unsubscribe_url)}">'
            f"{escape(_UNSUBSCRIBE[language])}</a></small></p>"
        )
    return (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
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
) -> Invitation:
    """Render one invitation, or its one reminder; an email needs its survey URL (and may
    carry its unsubscribe link in the HTML part), an SMS must have neither. The message asks
    the programme's first question: NPS, or CSAT for a programme that asks CSAT only (in its
    own wording in email, when the programme has one)."""
    question: Question = "nps" if "nps" in questions else "csat"
    if channel == "sms":
        if survey_url is not None:
            raise ValueError("an SMS invitation carries no link")
        texts = {
            ("nps", False): _SMS,
            ("nps", True): _SMS_REMINDER,
            ("csat", False): _SMS_CSAT,
            ("csat", True): _SMS_CSAT_REMINDER,
        }[question, reminder]
        return Invitation(subject="", text=texts[language].format(organization=organization))
    if survey_url is None:
        raise ValueError("an email invitation needs its survey URL")
    subject = _EMAIL_SUBJECT[language]
    asked = _EMAIL_QUESTION[question][language]
    if question == "csat" and csat_question:
        asked = csat_question
    text = _EMAIL_BODY[language].format(
        organization=organization, question=asked, survey_url=survey_url, valid_days=valid_days
    )
    if reminder:
        subject = _REMINDER_SUBJECT[language] + subject
        greeting, rest = text.split("\n\n", 1)
        text = f"{greeting}\n\n{_REMINDER_INTRO[language]}\n\n{rest[:1].upper()}{rest[1:]}"
    html = _html(language, subject, text, (survey_url, unsubscribe_url), question)
    return Invitation(subject, text, html)


def survey_url(origin: str, token: str) -> str:
    """The survey link of an email invitation."""
    return f"{origin.rstrip('/')}/s/{token}"


def unsubscribe_url(origin: str, sealed: str) -> str:
    """The unsubscribe link of an email invitation (the address sealed inside)."""
    return f"{origin.rstrip('/')}/u/{sealed}"


LANGUAGES: tuple[Language, ...] = ("fi", "sv", "en")
CHANNELS: tuple[Channel, ...] = ("sms", "email")
