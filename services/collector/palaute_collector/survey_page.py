"""The survey page behind an invitation's link, and the unsubscribe link of an email: what a
respondent sees and submits (no JavaScript, fi/sv/en)."""

from __future__ import annotations

from typing import TypedDict

from starlette.requests import Request
from starlette.responses import Response

from palaute_collector.answers import OpenSurvey
from palaute_collector.web_context import WebContext, in_every_language, is_text, page
from palaute_runtime import i18n
from palaute_runtime.sealed import unseal
from palaute_schemas import token_hash
from palaute_schemas.notices import notice_path

MAX_COMMENT = 2000
_STATUS = {"answered": 409, "expired": 410, "unknown": 404}


async def show_page(web: WebContext, request: Request) -> Response:
    """
    ---
    summary: The survey page behind an invitation's link
    description: >-
      Shows the questions; `score` preselects a score (the email's 0-10 links; any other
      value preselects nothing). Never records anything: only the form's POST does.
    parameters:
      - name: token
        in: path
        required: true
        description: the invitation's token (43 URL-safe characters); any other is unknown
        schema: {type: string}
      - name: score
        in: query
        required: false
        schema: {type: string, description: "0 to 10; anything else preselects nothing"}
      - name: csat
        in: query
        required: false
        schema: {type: string, description: "1 to 5; anything else preselects nothing"}
    responses:
      "200": {description: the page, content: {text/html: {}}}
      "404": {description: no such survey link, content: {text/html: {}}}
      "409": {description: already answered, content: {text/html: {}}}
      "410": {description: the survey has closed, content: {text/html: {}}}
      "429": {description: too many unknown links from this address; see Retry-After}
    """
    return await _survey(web, request)


async def submit_answer(web: WebContext, request: Request) -> Response:
    """
    ---
    summary: Record an answer
    parameters:
      - {name: token, in: path, required: true, schema: {type: string}}
    requestBody:
      required: true
      content:
        application/x-www-form-urlencoded:
          schema:
            type: object
            description: an NPS score, a CSAT score or both
            properties:
              score: {type: string, pattern: "^([0-9]|10)$", description: "NPS, 0-10"}
              csat: {type: string, pattern: "^[1-5]$", description: "CSAT, 1-5"}
              follow_up:
                type: string
                enum: ["yes"]
                description: contact me (honoured on a named survey only)
              comment: {type: string, maxLength: 2000}
            anyOf:
              - {required: [score]}
              - {required: [csat]}
    responses:
      "200": {description: thanks, content: {text/html: {}}}
      "400": {description: "neither a valid NPS nor CSAT score, or a comment too long"}
      "404": {description: no such survey link, content: {text/html: {}}}
      "409": {description: already answered, content: {text/html: {}}}
      "410": {description: the survey has closed, content: {text/html: {}}}
      "413": {description: body over the limit}
      "429": {description: too many unknown links from this address; see Retry-After}
    """
    return await _survey(web, request)


async def _survey(web: WebContext, request: Request) -> Response:
    """The page for GET and HEAD (GET counts it opened), the answer for POST."""
    token = request.path_params["token"]
    if (refused := await web.slowed(request)) is not None:
        return refused
    survey = await web.service.survey_for_token(token_hash(token))
    if survey is None:
        await web.missed(request)
        return page("fi", 404, message=in_every_language("survey.unknown"))
    t = i18n.for_reader(survey.language).section("survey")
    if survey.state != "open":
        return page(survey.language, _STATUS[survey.state], message=t[survey.state])
    shown = _shown(web, survey, f"/s/{token}")
    if request.method != "POST":  # GET and HEAD only show the page; only POST records
        if request.method == "GET":
            await web.service.mark_opened(survey.invitation_id)
        selected = _score(request.query_params.get("score"))
        selected_csat = _score(request.query_params.get("csat"), highest=5, lowest=1)
        return page(
            survey.language, **shown, selected=selected, selected_csat=selected_csat, comment=""
        )
    form = await request.form()
    # Only the questions its programme asks are read.
    score = _score(form.get("score")) if shown["asks_nps"] else None
    csat = _score(form.get("csat"), highest=5, lowest=1) if shown["asks_csat"] else None
    follow_up = shown["offer_follow_up"] is not None and form.get("follow_up") == "yes"
    comment = str(form.get("comment") or "").strip()
    if not is_text(comment):
        comment = comment.encode("utf-8", errors="replace").decode("utf-8")
    if (score is None and csat is None) or len(comment) > MAX_COMMENT:
        error = t["choose"] if score is None and csat is None else t["too_long"]
        return page(
            survey.language,
            400,
            **shown,
            follow_up=follow_up,
            selected=score,
            selected_csat=csat,
            comment=comment[:MAX_COMMENT],
            error=error,
        )
    if not await web.service.answer(
        survey.invitation_id, score, comment, csat, follow_up=follow_up
    ):
        return page(survey.language, 409, message=t["answered"])
    return page(survey.language, message=t["thanks"])


class Shown(TypedDict):
    """What every rendering of an open survey's form says."""

    action: str
    about: str
    offer_follow_up: str | None
    asks_nps: bool
    asks_csat: bool
    csat_question: str
    anonymity: str
    notice: str


def _shown(web: WebContext, survey: OpenSurvey, action: str) -> Shown:
    """What the form says: who asks (its programme's name), about which contact, whether the
    answer is anonymous or linked to the customer record (with the programme's privacy
    notice), the programme's questions, and whether a follow-up is offered (a named survey
    may ask for one, saying that the answer is linked; an anonymous one never offers it)."""
    programme = web.service.settings.programmes.of(survey.programme, "")
    texts = i18n.for_reader(survey.language)
    t = texts.section("survey")
    day = survey.contact_day
    return Shown(
        action=action,
        asks_nps=programme.asks_nps,
        asks_csat=programme.asks_csat,
        csat_question=programme.csat_question.get(survey.language, t["csat_question"]),
        anonymity=texts.text("anonymity.anonymous" if survey.anonymous else "anonymity.named"),
        notice=notice_path(programme.name, survey.language),
        about=t["about"].format(
            organization=programme.organization_name,
            channel=t.get(survey.contact_channel, survey.contact_channel),
            day=i18n.long_date(day, texts.language),
        ),
        offer_follow_up=None
        if survey.anonymous
        else texts.plural("survey.follow_up", programme.follow_up_working_days),
    )


async def unsubscribe(web: WebContext, request: Request) -> Response:
    """
    ---
    summary: The unsubscribe link of an email invitation (List-Unsubscribe)
    description: >-
      GET shows a confirmation page with a button; POST (the button, or a mail
      provider's one-click `List-Unsubscribe=One-Click`, RFC 8058) opts the address out
      of surveys for good. Only POST changes anything.
    parameters:
      - {name: token, in: path, required: true, schema: {type: string}}
    responses:
      "200": {description: the confirmation page, or done, content: {text/html: {}}}
      "404": {description: not an unsubscribe link of ours}
      "413": {description: body over the limit}
      "429": {description: too many unknown links from this address; see Retry-After}
    """
    if (refused := await web.slowed(request)) is not None:
        return refused
    token = request.path_params["token"]
    opened = unseal(web.service.settings.unsubscribe_key, token)
    address, language = (opened or {}).get("email"), (opened or {}).get("language")
    if not isinstance(address, str) or not isinstance(language, str):
        await web.missed(request)
        return page(
            "fi", 404, template="unsubscribe.html", message=in_every_language("survey.unknown")
        )
    if request.method != "POST":
        return page(language, template="unsubscribe.html", action=f"/u/{token}")
    await web.service.unsubscribe(address)
    texts = i18n.for_reader(language)
    return page(language, template="unsubscribe.html", message=texts.text("survey.unsubscribed"))


def _score(raw: object, *, highest: int = 10, lowest: int = 0) -> int | None:
    """A score in [lowest, highest] written in ASCII digits; anything else (², a 5,000-digit
    number) is no score."""
    if not isinstance(raw, str) or not (0 < len(raw) <= 2 and raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if lowest <= value <= highest else None
