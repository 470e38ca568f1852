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
        "privacy": (
            "Tämä kysely kysyy vain vastauksiasi: ei koskaan nimeäsi, tunnuksiasi, "
            "henkilötunnustasi, korttisi tai tilisi tietoja. "
            "Jos sivu pyytää niitä, se ei ole meiltä."
        ),
        "about": "Kysely koskee yhteydenottoasi: {organization}, {channel}, {day}.",
        "csat_question": "Kuinka tyytyväinen olit saamaasi palveluun?",
        "follow_up": (
            "Ottakaa minuun yhteyttä palautteeni vuoksi ({days} arkipäivän kuluessa). "
            "Vastaukseni on liitetty asiakastietoihini."
        ),
        "notice_link": "Tietosuojaseloste",
        "csat_low": "1 = erittäin tyytymätön",
        "csat_high": "5 = erittäin tyytyväinen",
        "phone": "puhelin",
        "email": "sähköposti",
        "chat": "chat",
        "branch": "toimipiste",
        "web_form": "verkkolomake",
        "social_media": "sosiaalinen media",
        "thanks": "Kiitos vastauksestasi! Palautteesi auttaa meitä kehittämään palveluamme.",
        "answered": "Tähän kyselyyn on jo vastattu. Kiitos!",
        "expired": "Tämän kyselyn vastausaika on päättynyt. Kiitos kiinnostuksestasi!",
        "unknown": "Kyselylinkki ei ole voimassa.",
        "slow_down": "Liian monta yritystä. Yritä hetken kuluttua uudelleen.",
        "unsubscribe_title": "Kyselyistä kieltäytyminen",
        "unsubscribe_question": "Haluatko, ettemme lähetä sinulle enää asiakaskyselyjä?",
        "unsubscribe_button": "En halua enää kyselyjä",
        "unsubscribed": "Selvä. Emme lähetä sinulle enää asiakaskyselyjä.",
        "choose": "Vastaa ainakin toiseen kysymykseen (0-10 tai 1-5).",
        "too_long": "Kommentti on liian pitkä (enintään 2000 merkkiä).",
    },
    "sv": {
        "title": "Kundenkät",
        "question": "Hur troligt är det att du skulle rekommendera oss till en vän eller kollega?",
        "low": "0 = inte alls troligt",
        "high": "10 = mycket troligt",
        "comment": "Vill du berätta varför? (frivilligt)",
        "submit": "Skicka svar",
        "privacy": (
            "Den här enkäten frågar bara efter dina svar: aldrig ditt namn, dina koder, ditt "
            "personnummer eller dina kort- eller kontouppgifter. "
            "Om sidan ber om dem är den inte från oss."
        ),
        "about": "Enkäten gäller din kontakt: {organization}, {channel}, {day}.",
        "csat_question": "Hur nöjd var du med servicen?",
        "follow_up": (
            "Kontakta mig om min respons (inom {days} arbetsdagar). "
            "Mitt svar är kopplat till mina kunduppgifter."
        ),
        "notice_link": "Dataskyddsbeskrivning",
        "csat_low": "1 = mycket missnöjd",
        "csat_high": "5 = mycket nöjd",
        "phone": "telefon",
        "email": "e-post",
        "chat": "chatt",
        "branch": "kontor",
        "web_form": "webbformulär",
        "social_media": "sociala medier",
        "thanks": "Tack för ditt svar! Din respons hjälper oss att utveckla vår service.",
        "answered": "Den här enkäten är redan besvarad. Tack!",
        "expired": "Svarstiden för den här enkäten har gått ut. Tack för ditt intresse!",
        "unknown": "Enkätlänken är inte giltig.",
        "slow_down": "För många försök. Försök igen om en stund.",
        "unsubscribe_title": "Avregistrering från enkäter",
        "unsubscribe_question": "Vill du att vi inte skickar fler kundenkäter till dig?",
        "unsubscribe_button": "Jag vill inte ha fler enkäter",
        "unsubscribed": "Klart. Vi skickar inga fler kundenkäter till dig.",
        "choose": "Svara på minst en av frågorna (0-10 eller 1-5).",
        "too_long": "Kommentaren är för lång (högst 2000 tecken).",
    },
    "en": {
        "title": "Customer survey",
        "question": "How likely are you to recommend us to a friend or colleague?",
        "low": "0 = not at all likely",
        "high": "10 = extremely likely",
        "comment": "Would you like to tell us why? (optional)",
        "submit": "Send answer",
        "privacy": (
            "This survey asks for nothing but your answers: never your name, credentials, "
            "identity number, card or account details. A page that asks for them is not ours."
        ),
        "about": "This survey is about your contact: {organization}, {channel}, {day}.",
        "csat_question": "How satisfied were you with the service?",
        "follow_up": (
            "Please contact me about my feedback (within {days} working days). "
            "My answer is linked to my customer record."
        ),
        "notice_link": "Privacy notice",
        "csat_low": "1 = very dissatisfied",
        "csat_high": "5 = very satisfied",
        "phone": "phone",
        "email": "email",
        "chat": "chat",
        "branch": "branch",
        "web_form": "web form",
        "social_media": "social media",
        "thanks": "Thank you for your answer! Your feedback helps us improve our service.",
        "answered": "This survey has already been answered. Thank you!",
        "expired": "The time to answer this survey has ended. Thank you for your interest!",
        "unknown": "This survey link is not valid.",
        "slow_down": "Too many attempts. Please try again in a moment.",
        "unsubscribe_title": "No more surveys",
        "unsubscribe_question": "Do you want us to stop sending you customer surveys?",
        "unsubscribe_button": "No more surveys, please",
        "unsubscribed": "Done. We will send you no more customer surveys.",
        "choose": "Answer at least one of the questions (0-10 or 1-5).",
        "too_long": "The comment is too long (at most 2000 characters).",
    },
}
