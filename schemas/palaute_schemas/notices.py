"""What the respondent is told of their answer, in the invitation's email and on the survey
page alike, and where each programme's privacy notice is (the collector serves it)."""

from __future__ import annotations

from palaute_schemas.identifiers import Language

ANONYMITY: dict[Language, tuple[str, str]] = {  # (anonymous, named)
    "fi": (
        "Vastauksesi on nimetön: sitä ei liitetä asiakastietoihisi.",
        "Vastauksesi liitetään asiakastietoihisi, jotta voimme kehittää palveluamme ja "
        "tarvittaessa ottaa sinuun yhteyttä.",
    ),
    "sv": (
        "Ditt svar är anonymt: det kopplas inte till dina kunduppgifter.",
        "Ditt svar kopplas till dina kunduppgifter, så att vi kan utveckla vår service och "
        "vid behov kontakta dig.",
    ),
    "en": (
        "Your answer is anonymous: it is not linked to your customer record.",
        "Your answer is linked to your customer record, so that we can improve our service "
        "and contact you if needed.",
    ),
}


def notice_path(programme: str, language: Language) -> str:
    """Where the collector serves a programme's privacy notice in a language."""
    return f"/privacy/{programme}/{language}"
