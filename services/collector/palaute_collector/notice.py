"""The privacy notice of a survey programme (GDPR art. 13), in each of its languages:
who asks (the controller) and who sends on its behalf (a processor), why, what is kept and
for how long, the respondent's rights, and every way to refuse surveys. Its figures are the
settings in force, so it never says a retention the services do not keep."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from palaute_collector.settings import CollectorSettings
from palaute_collector.web_context import WebContext, in_every_language, page
from palaute_runtime import i18n
from palaute_runtime.programmes import Programme
from palaute_schemas import Language
from palaute_schemas.notices import notice_path


def notice_of(
    programme: Programme, language: Language, settings: CollectorSettings
) -> dict[str, str]:
    """The notice's sentences for one programme (the catalogue's `notice.*`), with the
    settings' figures filled in, each count in its plural form."""
    texts = i18n.for_reader(language)
    values = {
        "organization": programme.organization_name,
        "contact": programme.privacy_contact or "",
        "min_group": str(settings.min_group_size),
    }
    sentences = {key: text.format(**values) for key, text in texts.section("notice").items()}
    for key, count in (
        ("kept_address", settings.keep_addresses_days),
        ("kept_invitation", settings.keep_invitations_days),
        ("kept_named", settings.keep_response_links_months),
    ):
        sentences[key] = texts.plural(f"notice.{key}", count)
    return sentences


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
        schema: {type: string, maxLength: 35, description: "a language of the programme"}
    responses:
      "200": {description: the notice, content: {text/html: {}}}
      "404": {description: no such programme or language, content: {text/html: {}}}
    """
    language = request.path_params["language"]
    programme = web.service.settings.programmes.named(request.path_params["programme"])
    if programme is None or not i18n.available(language):
        return page("fi", 404, message=in_every_language("survey.unknown"))
    return page(
        language,
        template="privacy.html",
        notice=notice_of(programme, language, web.service.settings),
        has_contact=programme.privacy_contact is not None,
        always_anonymous=programme.anonymous,
        others={code: notice_path(programme.name, code) for code in programme.languages},
    )
