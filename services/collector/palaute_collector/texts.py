"""The survey page's words in Finnish, Swedish and English."""

from __future__ import annotations

from palaute_schemas import Language

TEXTS: dict[Language, dict[str, str]] = {
    "fi": {
        "title": "Asiakaskysely",
        "question": "Kuinka todennäköisesti suosittelisit meitä ystävällesi tai kollegallesi?",
        "low": "0 = en lainkaan todennäköisesti",
        "high": "10 = erittäin todennäköisesti",
        "comment": "Haluatko kertoa, miksi? (vapaaehtoinen)",
        "submit": "Lähetä vastaus",
        "privacy": "Emme koskaan pyydä tunnistautumista tässä kyselyssä.",
        "thanks": "Kiitos vastauksestasi! Palautteesi auttaa meitä kehittämään palveluamme.",
        "answered": "Tähän kyselyyn on jo vastattu. Kiitos!",
        "expired": "Tämän kyselyn vastausaika on päättynyt. Kiitos kiinnostuksestasi!",
        "unknown": "Kyselylinkki ei ole voimassa.",
        "slow_down": "Liian monta yritystä. Yritä hetken kuluttua uudelleen.",
        "choose": "Valitse arvosana 0-10.",
        "too_long": "Kommentti on liian pitkä (enintään 2000 merkkiä).",
    },
    "sv": {
        "title": "Kundenkät",
        "question": "Hur troligt är det att du skulle rekommendera oss till en vän eller kollega?",
        "low": "0 = inte alls troligt",
        "high": "10 = mycket troligt",
        "comment": "Vill du berätta varför? (frivilligt)",
        "submit": "Skicka svar",
        "privacy": "Vi ber dig aldrig identifiera dig i den här enkäten.",
        "thanks": "Tack för ditt svar! Din respons hjälper oss att utveckla vår service.",
        "answered": "Den här enkäten är redan besvarad. Tack!",
        "expired": "Svarstiden för den här enkäten har gått ut. Tack för ditt intresse!",
        "unknown": "Enkätlänken är inte giltig.",
        "slow_down": "För många försök. Försök igen om en stund.",
        "choose": "Välj ett betyg 0-10.",
        "too_long": "Kommentaren är för lång (högst 2000 tecken).",
    },
    "en": {
        "title": "Customer survey",
        "question": "How likely are you to recommend us to a friend or colleague?",
        "low": "0 = not at all likely",
        "high": "10 = extremely likely",
        "comment": "Would you like to tell us why? (optional)",
        "submit": "Send answer",
        "privacy": "We never ask you to identify yourself in this survey.",
        "thanks": "Thank you for your answer! Your feedback helps us improve our service.",
        "answered": "This survey has already been answered. Thank you!",
        "expired": "The time to answer this survey has ended. Thank you for your interest!",
        "unknown": "This survey link is not valid.",
        "slow_down": "Too many attempts. Please try again in a moment.",
        "choose": "Choose a score from 0 to 10.",
        "too_long": "The comment is too long (at most 2000 characters).",
    },
}
