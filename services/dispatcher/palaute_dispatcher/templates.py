"""Invitation texts per language and channel. SMS carries no link; email links its survey
page and its programme's privacy notice (both on the survey origin)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from palaute_runtime.programmes import Question
from palaute_schemas import Channel, Language
from palaute_schemas.notices import ANONYMITY, notice_path


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
_SMS_OPENING: dict[Language, tuple[str, str]] = {  # (invitation, reminder)
    "fi": ("{organization} kiittää!", "{organization} muistuttaa:"),
    "sv": ("Tack från {organization}!", "Påminnelse från {organization}:"),
    "en": ("Thanks from {organization}!", "Reminder from {organization}:"),
}
_SMS_QUESTION: dict[Question, dict[Language, str]] = {
    "nps": {
        "fi": "Suosittelisitko meitä? Vastaa 0-10 (0 = en lainkaan, 10 = varmasti).",
        "sv": "Rekommenderar du oss? Svara 0-10 (0 = nej, 10 = absolut).",
        "en": "Would you recommend us? Reply 0-10 (0 = not at all, 10 = extremely likely).",
    },
    "csat": {
        "fi": "Olitko tyytyväinen? Vastaa 1-5 (1 = tyytymätön, 5 = tyytyväinen).",
        "sv": "Hur nöjd var du? Svara 1-5 (1 = missnöjd, 5 = mycket nöjd).",
        "en": "How satisfied were you? Reply 1-5 (1 = very poor, 5 = excellent).",
    },
}
_SMS_ANONYMITY: dict[Language, tuple[str, str]] = {  # (anonymous, named)
    "fi": ("Vastaus on nimetön.", "Vastaus liitetään asiakastietoihisi."),
    "sv": ("Svaret är anonymt.", "Svaret kopplas till dina kunduppgifter."),
    "en": ("Your answer is anonymous.", "Linked to your customer record."),
}
_SMS_STOP: dict[Language, str] = {
    "fi": "Ei kyselyjä: STOP",
    "sv": "Inga enkäter: STOPP",
    "en": "No surveys: STOP",
}

# Who asks, on whose behalf the message is sent, and where the privacy notice is (email).
CONTROLLER: dict[Language, str] = {
    "fi": (
        "Kyselyn rekisterinpitäjä on {organization}; viestin lähettää sen lukuun "
        "henkilötietojen käsittelijä. Tietosuojaseloste: {notice_url}"
    ),
    "sv": (
        "Personuppgiftsansvarig för enkäten är {organization}; meddelandet skickas för dess "
        "räkning av ett personuppgiftsbiträde. Dataskyddsbeskrivning: {notice_url}"
    ),
    "en": (
        "The controller of this survey is {organization}; the message is sent on its behalf "
        "by a processor. Privacy notice: {notice_url}"
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
        "vapaaehtoista, ja linkki on voimassa {valid_days} päivää.\n\n{notice}\n\nYstävällisin "
        "terveisin,\n{organization}\n"
    ),
    "sv": (
        "Hej,\n\ntack för att du kontaktade {organization}. {question} Det tar under en minut "
        "och kräver ingen identifiering:\n\n{survey_url}\n\nDet är frivilligt att svara, och "
        "länken gäller i {valid_days} dagar.\n\n{notice}\n\nMed vänliga hälsningar,\n"
        "{organization}\n"
    ),
    "en": (
        "Hello,\n\nthank you for contacting {organization}. {question} It takes less than a "
        "minute and needs no identification:\n\n{survey_url}\n\nAnswering is voluntary, and "
        "the link is valid for {valid_days} days.\n\n{notice}\n\nKind regards,\n{organization}\n"
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
                f"<p><small>{escape(_SCALE[question][language])}</small></p>"
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
    anonymous: bool = False,
    notice_url: str = "",
) -> Invitation:
    """Render one invitation, or its one reminder; an email needs its survey URL (and may
    carry its unsubscribe link in the HTML part), an SMS must have neither. The message asks
    the programme's first question: NPS, or CSAT for a programme that asks CSAT only (in its
    own wording by email); it says whether the answer is anonymous or linked to the customer
    record, and an email names the controller and links its privacy notice."""
    question: Question = "nps" if "nps" in questions else "csat"
    if channel == "sms":
        if survey_url is not None:
            raise ValueError("an SMS invitation carries no link")
        text = " ".join(
            (
                _SMS_OPENING[language][reminder].format(organization=organization),
                _SMS_QUESTION[question][language],
                _SMS_ANONYMITY[language][not anonymous],
                _SMS_STOP[language],
            )
        )
        return Invitation(subject="", text=text)
    if survey_url is None:
        raise ValueError("an email invitation needs its survey URL")
    subject = _EMAIL_SUBJECT[language]
    asked = _EMAIL_QUESTION[question][language]
    if question == "csat" and csat_question:
        asked = csat_question
    notice = ANONYMITY[language][not anonymous]
    if notice_url:
        notice += " " + CONTROLLER[language].format(
            organization=organization, notice_url=notice_url
        )
    text = _EMAIL_BODY[language].format(
        organization=organization,
        question=asked,
        survey_url=survey_url,
        valid_days=valid_days,
        notice=notice,
    )
    if reminder:
        subject = _REMINDER_SUBJECT[language] + subject
        greeting, rest = text.split("\n\n", 1)
        text = f"{greeting}\n\n{_REMINDER_INTRO[language]}\n\n{rest[:1].upper()}{rest[1:]}"
    html = _html(language, subject, text, (survey_url, unsubscribe_url), question, notice_url)
    if unsubscribe_url:  # both parts offer it: a reader of the plain text can leave too
        text = f"{text.rstrip()}\n\n{_UNSUBSCRIBE[language]}: {unsubscribe_url}\n"
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


LANGUAGES: tuple[Language, ...] = ("fi", "sv", "en")
CHANNELS: tuple[Channel, ...] = ("sms", "email")
