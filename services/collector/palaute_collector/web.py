"""The collector's HTTP surface, listed in one place: the survey page and unsubscribe links
(survey_page.py), each programme's privacy notice (notice.py) and the partner's SMS webhook
(sms_webhook.py), and the staff's read of comments for the consent service (staff_api.py).
Each handler is a
top-level function of the context and the request that calls the service."""

from __future__ import annotations

from starlette.routing import Route

from palaute_collector.notice import privacy_notice
from palaute_collector.service import CollectorService
from palaute_collector.sms_webhook import elks_inbound, inbound_sms, twilio_inbound
from palaute_collector.staff_api import staff_comments
from palaute_collector.survey_page import show_page, submit_answer, unsubscribe
from palaute_collector.web_context import WebContext
from palaute_runtime.http import bound


def routes(service: CollectorService) -> list[Route]:
    """The collector's public surface."""
    web = WebContext(service)
    return [
        Route("/u/{token}", bound(unsubscribe, web), methods=["GET", "POST"]),
        Route("/s/{token}", bound(show_page, web), methods=["GET"]),  # HEAD too, recording nothing
        Route("/s/{token}", bound(submit_answer, web), methods=["POST"]),
        Route("/partner/sms-inbound", bound(inbound_sms, web), methods=["POST"]),
        Route("/partner/twilio/inbound", bound(twilio_inbound, web), methods=["POST"]),
        Route("/partner/46elks/inbound", bound(elks_inbound, web), methods=["POST"]),
        Route("/privacy/{programme}/{language}", bound(privacy_notice, web), methods=["GET"]),
        Route("/staff/comments", bound(staff_comments, web), methods=["GET"]),
    ]
