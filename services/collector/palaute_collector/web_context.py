"""What the collector's HTTP handlers share: the service, the throttle on unknown links, and
the pages' templates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from palaute_collector.service import CollectorService
from palaute_runtime import i18n
from palaute_runtime.http import client_of
from palaute_schemas import Language

log = structlog.get_logger("palaute.collector.web")
_pages = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def in_every_language(key: str) -> str:
    """A message in every available language, where the link does not tell the reader's."""
    known = i18n.languages()
    return " / ".join(known.available[tag].text(key) for tag in known.tags())


@dataclass
class WebContext:
    """The collector's HTTP surface's state: its service and the unknown-link throttle."""

    service: CollectorService

    async def slowed(self, request: Request) -> Response | None:
        """A 429 page for an address that asked for too many unknown links, else None."""
        wait = await self.service.unknown_links.retry_after(client_of(request))
        if wait is None:
            return None
        log.warning("unknown_links_throttled", client=client_of(request), retry_after=wait)
        response = page("fi", 429, message=in_every_language("survey.slow_down"))
        response.headers["Retry-After"] = str(wait)
        return response

    async def missed(self, request: Request) -> None:
        """The request asked for a link that is not ours."""
        await self.service.unknown_links.missed(client_of(request))


def page(
    language: Language, status: int = 200, template: str = "survey.html", **values: object
) -> HTMLResponse:
    """A page of the collector in the reader's language (`t`: the catalogue's `survey.*`)."""
    texts = i18n.for_reader(language)
    html = _pages.get_template(template).render(
        language=texts.language, t=texts.section("survey"), **values
    )
    return HTMLResponse(html, status_code=status)  # security headers: palaute_runtime.http


def is_text(value: str) -> bool:
    """Whether a string can be stored as UTF-8 (a lone surrogate cannot)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
