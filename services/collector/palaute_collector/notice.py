"""The privacy notice of a survey programme (GDPR art. 13), in Finnish, Swedish and English:
who asks (the controller) and who sends on its behalf (a processor), why, what is kept and
for how long, the respondent's rights, and every way to refuse surveys. Its figures are the
settings in force, so it never says a retention the services do not keep."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from palaute_collector.settings import CollectorSettings
from palaute_collector.web_context import UNKNOWN, WebContext, page
from palaute_runtime.programmes import Programme
from palaute_schemas import Language
from palaute_schemas.notices import notice_path

LANGUAGES: tuple[Language, ...] = ("fi", "sv", "en")

NOTICE: dict[Language, dict[str, str]] = {
    "fi": {
        "title": "Tietosuojaseloste: asiakaskysely",
        "controller": "Rekisterinpitäjä on {organization}.",
        "contact": "Tietosuojaa koskevat kysymykset: {contact}.",
        "no_contact": "Tietosuojaa koskevat kysymykset: {organization}n asiakaspalvelu.",
        "processor": (
            "Kyselykutsun lähettää rekisterinpitäjän lukuun henkilötietojen käsittelijä "
            "(tekstiviesti- tai sähköpostipalvelu). Se saa vain puhelinnumeron tai "
            "sähköpostiosoitteen ja viestin tekstin, ja poistaa ne pyynnöstä."
        ),
        "purpose_h": "Mihin tietoja käytetään",
        "purpose": (
            "Kysymme asioinnin jälkeen, miten onnistuimme, jotta voimme kehittää "
            "palveluamme. Tulokset julkaistaan vain yhteenvetoina, joissa on vähintään "
            "{min_group} vastausta."
        ),
        "anonymous_all": "Tämän kyselyn vastaukset ovat aina nimettömiä.",
        "anonymous_some": (
            "Vastaus liitetään asiakastietoihisi, ellei kutsu ja kyselysivu kerro, että "
            "vastaus on nimetön. Nimettömänä annettua vastausta ei voi liittää sinuun."
        ),
        "kept_h": "Mitä säilytetään ja kuinka kauan",
        "kept_address": (
            "Puhelinnumero tai sähköpostiosoite, jolla kutsu lähetettiin, poistetaan "
            "{address_days} päivän kuluttua kyselyn päättymisestä."
        ),
        "kept_invitation": (
            "Kutsun tiedot (ilman osoitetta) poistetaan {invitation_days} päivän kuluttua "
            "kyselyn päättymisestä."
        ),
        "kept_named": (
            "Asiakastietoihin liitetyn vastauksen ja kommentin yhteys sinuun poistetaan "
            "{link_months} kuukauden kuluttua; pisteet jäävät vain yhteenvetoihin."
        ),
        "kept_anonymous": (
            "Nimettömästä vastauksesta säilyvät vain pisteet yhteenvedoissa ja kommentti "
            "ilman mitään tietoa vastaajasta."
        ),
        "rights_h": "Oikeutesi",
        "rights": (
            "Voit pyytää pääsyä tietoihisi, niiden oikaisua tai poistamista, ja vastustaa "
            "kyselyjä milloin tahansa. Voit tehdä valituksen tietosuojavalvontaviranomaiselle "
            "(Suomessa tietosuojavaltuutetun toimisto)."
        ),
        "refuse_h": "Näin kiellät kyselyt",
        "refuse_sms": "Vastaa kyselyn tekstiviestiin STOP (tai LOPETA).",
        "refuse_email": "Valitse kyselyn sähköpostissa linkki ”En halua enää kyselyjä”.",
        "refuse_app": (
            "Aseta kielto {organization}n verkkopalvelussa tai sovelluksessa, jos se "
            "tarjoaa valinnan."
        ),
        "refuse_service": "Kerro asiakaspalvelulle, ettet halua kyselyjä.",
    },
    "sv": {
        "title": "Dataskyddsbeskrivning: kundenkät",
        "controller": "Personuppgiftsansvarig är {organization}.",
        "contact": "Frågor om dataskydd: {contact}.",
        "no_contact": "Frågor om dataskydd: kundtjänsten hos {organization}.",
        "processor": (
            "Inbjudan skickas för den personuppgiftsansvariges räkning av ett "
            "personuppgiftsbiträde (en sms- eller e-posttjänst). Det får bara "
            "telefonnumret eller e-postadressen och meddelandets text, och raderar dem på "
            "begäran."
        ),
        "purpose_h": "Vad uppgifterna används till",
        "purpose": (
            "Vi frågar efter ditt ärende hur vi lyckades, för att utveckla vår service. "
            "Resultaten publiceras bara som sammanställningar med minst {min_group} svar."
        ),
        "anonymous_all": "Svaren på den här enkäten är alltid anonyma.",
        "anonymous_some": (
            "Svaret kopplas till dina kunduppgifter, om inte inbjudan och enkätsidan säger "
            "att svaret är anonymt. Ett anonymt svar kan inte kopplas till dig."
        ),
        "kept_h": "Vad som sparas och hur länge",
        "kept_address": (
            "Telefonnumret eller e-postadressen som inbjudan skickades till raderas "
            "{address_days} dagar efter att enkäten stängt."
        ),
        "kept_invitation": (
            "Inbjudans uppgifter (utan adress) raderas {invitation_days} dagar efter att "
            "enkäten stängt."
        ),
        "kept_named": (
            "Kopplingen mellan ett svar med kommentar och dina kunduppgifter raderas efter "
            "{link_months} månader; poängen finns kvar bara i sammanställningarna."
        ),
        "kept_anonymous": (
            "Av ett anonymt svar sparas bara poängen i sammanställningarna och kommentaren "
            "utan någon uppgift om vem som svarade."
        ),
        "rights_h": "Dina rättigheter",
        "rights": (
            "Du kan begära tillgång till dina uppgifter, rättelse eller radering, och "
            "invända mot enkäter när som helst. Du kan klaga hos tillsynsmyndigheten för "
            "dataskydd (i Finland dataombudsmannens byrå, i Sverige IMY)."
        ),
        "refuse_h": "Så säger du nej till enkäter",
        "refuse_sms": "Svara STOPP på enkätens sms.",
        "refuse_email": "Välj länken ”Jag vill inte ha fler enkäter” i enkätens e-post.",
        "refuse_app": (
            "Ställ in förbudet i webbtjänsten eller appen hos {organization}, om den "
            "erbjuder valet."
        ),
        "refuse_service": "Säg till kundtjänsten att du inte vill ha enkäter.",
    },
    "en": {
        "title": "Privacy notice: customer survey",
        "controller": "The controller is {organization}.",
        "contact": "Questions about your data: {contact}.",
        "no_contact": "Questions about your data: {organization}'s customer service.",
        "processor": (
            "The invitation is sent on the controller's behalf by a processor (an SMS or "
            "email service). It gets only the phone number or email address and the "
            "message's text, and deletes them when instructed."
        ),
        "purpose_h": "What the data is used for",
        "purpose": (
            "After a contact we ask how we did, to improve our service. Results are "
            "published only as summaries of at least {min_group} answers."
        ),
        "anonymous_all": "Answers to this survey are always anonymous.",
        "anonymous_some": (
            "Your answer is linked to your customer record unless the invitation and the "
            "survey page say that it is anonymous. An anonymous answer cannot be linked to you."
        ),
        "kept_h": "What is kept and for how long",
        "kept_address": (
            "The phone number or email address the invitation went to is deleted "
            "{address_days} days after the survey closes."
        ),
        "kept_invitation": (
            "The invitation's record (without the address) is deleted {invitation_days} days "
            "after the survey closes."
        ),
        "kept_named": (
            "The link between an answer with its comment and your customer record is deleted "
            "after {link_months} months; the scores stay in the summaries only."
        ),
        "kept_anonymous": (
            "Of an anonymous answer only the scores in the summaries and the comment are "
            "kept, with nothing about who gave it."
        ),
        "rights_h": "Your rights",
        "rights": (
            "You may ask for access to your data, its rectification or erasure, and object to "
            "surveys at any time. You may complain to a data protection supervisory authority "
            "(in Finland the Data Protection Ombudsman)."
        ),
        "refuse_h": "How to refuse surveys",
        "refuse_sms": "Reply STOP to a survey SMS.",
        "refuse_email": "Choose the link “No more surveys, please” in a survey email.",
        "refuse_app": (
            "Set the ban in {organization}'s online service or app, where it offers the choice."
        ),
        "refuse_service": "Tell customer service that you want no surveys.",
    },
}


def notice_of(
    programme: Programme, language: Language, settings: CollectorSettings
) -> dict[str, str]:
    """The notice's sentences for one programme, with the settings' figures filled in."""
    values = {
        "organization": programme.organization_name,
        "contact": programme.privacy_contact or "",
        "min_group": str(settings.min_group_size),
        "address_days": str(settings.keep_addresses_days),
        "invitation_days": str(settings.keep_invitations_days),
        "link_months": str(settings.keep_response_links_months),
    }
    return {key: text.format(**values) for key, text in NOTICE[language].items()}


async def privacy_notice(web: WebContext, request: Request) -> Response:
    """
    ---
    summary: The privacy notice of a survey programme
    description: >-
      Who asks (the controller) and who sends on its behalf, why, what is kept and for how
      long, the rights, and every way to refuse surveys; linked from every email invitation
      and survey page.
    parameters:
      - {name: programme, in: path, required: true, schema: {type: string, maxLength: 40}}
      - name: language
        in: path
        required: true
        schema: {type: string, enum: [fi, sv, en]}
    responses:
      "200": {description: the notice, content: {text/html: {}}}
      "404": {description: no such programme or language, content: {text/html: {}}}
    """
    language = request.path_params["language"]
    programme = web.service.settings.programmes.named(request.path_params["programme"])
    if programme is None or language not in LANGUAGES:
        return page("fi", 404, message=UNKNOWN)
    return page(
        language,
        template="privacy.html",
        notice=notice_of(programme, language, web.service.settings),
        has_contact=programme.privacy_contact is not None,
        always_anonymous=programme.anonymous,
        others={code: notice_path(programme.name, code) for code in LANGUAGES},
    )
