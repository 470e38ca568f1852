"""The results page and its CSV: NPS, CSAT and the response rate over time, by breakdown,
as published for BI (results.py). Plain HTML, the chart an SVG drawn on the server with
its table beside it; no JavaScript."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from palaute_consent.officer_web import OfficerWeb, language, page
from palaute_consent.officers import Session
from palaute_consent.results import (
    DIMENSIONS,
    FUNNEL_DIMENSIONS,
    GRAINS,
    METRICS,
    View,
    chart_svg,
    csv_rows,
    figures_view,
    funnel_view,
    parse_query,
)
from palaute_runtime import i18n


async def _view(web: OfficerWeb, request: Request) -> View:
    grain, dimension, metric = parse_query(dict(request.query_params))
    if metric == "response_rate":
        return funnel_view(await web.results.funnel(), grain, dimension)
    return figures_view(await web.results.figures(grain, dimension), grain, dimension, metric)


def value_names(dimension: str, values: Iterable[str], texts: i18n.Catalogue) -> dict[str, str]:
    """What a breakdown's values are called in the reader's language: a language by its
    name (its tag beside it), a channel by its label; units and programmes as they are."""
    if dimension == "language":
        names = {v: i18n.language_name(v, texts.language) for v in values}
        return {v: v if name == v else f"{name} ({v})" for v, name in names.items()}
    if dimension in ("contact_channel", "survey_channel"):
        return {v: texts.label(v) for v in values}
    return {}


async def results(
    web: OfficerWeb, request: Request, current: Session, _: FormData | None
) -> Response:
    view = await _view(web, request)
    texts = i18n.catalogue(language(request))
    t = texts.section("officer")
    names = value_names(view.dimension, view.rows, texts)
    labels = {"total": t["dimension_total"], "no_data": t["no_results"], **names}
    title = f"{t['metric_' + view.metric]} · {t['dimension_' + view.dimension]}"
    return page(
        request,
        "results.html",
        session=current,
        view=view,
        chart=chart_svg(view, title, labels) if view.rows else "",
        chart_title=title,
        names=names,
        grains=GRAINS,
        dimensions=FUNNEL_DIMENSIONS if view.metric == "response_rate" else DIMENSIONS,
        metrics=METRICS,
        query=request.url.query,
    )


async def results_csv(
    web: OfficerWeb, request: Request, _current: Session, _: FormData | None
) -> Response:
    view = await _view(web, request)
    out = io.StringIO()
    csv.writer(out).writerows(csv_rows(view))
    name = f"results-{view.metric}-{view.grain}-{view.dimension}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
