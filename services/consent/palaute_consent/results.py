"""The results for the organisation's staff: NPS, CSAT and the response rate over time, by
breakdown, from exactly what BI reads.

Consent keeps the newest record of every figure cell (survey.figures.v1) and funnel cell
(survey.funnel.v1) as published, and nothing else: the page can show nothing BI could not,
and no service reads another's tables. A breakdown value with no cell in a period shows as
"fewer than 5" (the collector publishes a cell from five answers on); each period's total
says how many answers came beside how many it counts (`received`), so the page says how
many are not in the figures yet.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, get_args

import pygal
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from palaute_consent.tables import published_figures, published_funnel
from palaute_runtime.database import upsert
from palaute_schemas import Dimension, FiguresPublished, FunnelPublished, Grain
from palaute_schemas.periods import period_label, period_start

log = structlog.get_logger("palaute.consent.results")

# pygal puts a legacy import hook for its map plugins (not used here) on sys.meta_path,
# which every failed import anywhere in the process would then consult (with an
# ImportWarning, find_spec missing): taken off again.
sys.meta_path[:] = [hook for hook in sys.meta_path if type(hook).__name__ != "PluginImportFixer"]

Metric = Literal["nps", "csat", "response_rate"]
METRICS: tuple[Metric, ...] = get_args(Metric)
GRAINS: tuple[Grain, ...] = ("day", "week", "month")
DIMENSIONS: tuple[Dimension, ...] = (
    "total",
    "unit",
    "programme",
    "contact_channel",
    "survey_channel",
    "language",
)
# The funnel is by survey channel and programme only.
FUNNEL_DIMENSIONS: tuple[Dimension, ...] = ("total", "survey_channel", "programme")
PERIODS = {"day": 31, "week": 13, "month": 12}  # how far back each grain looks
CHART_SERIES = 8  # lines in a chart (the largest values); the table has every one


class PublishedResults:
    """The newest published record of every figure and funnel cell, kept as BI keeps them."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def handle_figures(self, batch: Sequence[FiguresPublished]) -> None:
        """Keep each cell's highest revision (records may come again or out of order)."""
        newest: dict[str, FiguresPublished] = {}
        for record in batch:
            known = newest.get(record.cell_key)
            if known is None or record.revision > known.revision:
                newest[record.cell_key] = record
        if not newest:
            return
        async with self.engine.begin() as connection:
            for key, record in newest.items():
                statement = upsert(connection, published_figures).values(
                    key=key,
                    grain=record.grain,
                    dimension=record.dimension,
                    period_start=record.period_start,
                    revision=record.revision,
                    record=record.model_dump_json(),
                )
                columns = published_figures.c
                await connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=[columns.key],
                        set_={"revision": record.revision, "record": record.model_dump_json()},
                        where=columns.revision < record.revision,
                    )
                )
        log.info("published_figures_kept", cells=len(newest))

    async def handle_funnel(self, batch: Sequence[FunnelPublished]) -> None:
        """Keep each funnel cell's newest record (the topic is in order per cell)."""
        newest = {record.cell_key: record for record in batch}
        if not newest:
            return
        async with self.engine.begin() as connection:
            for key, record in newest.items():
                statement = upsert(connection, published_funnel).values(
                    key=key, day=record.day, record=record.model_dump_json()
                )
                await connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=[published_funnel.c.key],
                        set_={"record": record.model_dump_json()},
                    )
                )

    async def figures(self, grain: Grain, dimension: Dimension) -> list[FiguresPublished]:
        """Every published cell of a grain and breakdown, with the totals of the grain."""
        async with self.engine.connect() as connection:
            return await _figures(connection, grain, dimension)

    async def funnel(self) -> list[FunnelPublished]:
        """Every funnel cell."""
        async with self.engine.connect() as connection:
            rows = await connection.scalars(sa.select(published_funnel.c.record))
            return [FunnelPublished.model_validate_json(text) for text in rows]


async def _figures(
    connection: AsyncConnection, grain: Grain, dimension: Dimension
) -> list[FiguresPublished]:
    columns = published_figures.c
    rows = await connection.scalars(
        sa.select(columns.record).where(
            columns.grain == grain, columns.dimension.in_({dimension, "total"})
        )
    )
    return [FiguresPublished.model_validate_json(text) for text in rows]


@dataclass(frozen=True)
class Point:
    """One value of one period: the metric, and the counts behind it."""

    value: float | None  # None: no figure (fewer than 5, or no answers of that kind)
    responses: int | None  # None: fewer than 5
    base: int | None = None  # what the metric is over (NPS or CSAT answers; sent)


@dataclass
class View:
    """What the page shows: the periods, one row of points per breakdown value."""

    grain: Grain
    dimension: Dimension
    metric: Metric
    periods: list[str] = field(default_factory=list)
    final: dict[str, bool] = field(default_factory=dict)
    rows: dict[str, list[Point]] = field(default_factory=dict)
    received: int = 0  # answers of the periods shown that came (where counted)
    counted: int = 0  # of those, in the figures
    published_here: bool = True  # the layout publishes this breakdown at this grain

    @property
    def not_in_figures(self) -> int:
        """Answers of the periods shown that came but are not in the figures (yet)."""
        return max(0, self.received - self.counted)


def figures_view(
    cells: Sequence[FiguresPublished], grain: Grain, dimension: Dimension, metric: Metric
) -> View:
    """NPS or CSAT by period and value, newest periods last, from published cells."""
    view = View(grain, dimension, metric)
    totals = sorted(
        (c for c in cells if c.dimension == "total" and c.grain == grain),
        key=lambda c: c.period_start,
    )[-PERIODS[grain] :]
    view.periods = [c.period for c in totals]
    view.final = {c.period: c.final for c in totals}
    for total in totals:
        if total.received is not None:
            view.received += total.received
            view.counted += total.responses
    shown = set(view.periods)
    by_value: dict[str, dict[str, FiguresPublished]] = {}
    for cell in cells:
        if cell.grain == grain and cell.dimension == dimension and cell.period in shown:
            by_value.setdefault(cell.value, {})[cell.period] = cell
    if dimension != "total" and not by_value and totals:
        view.published_here = False
    for value in sorted(by_value):
        view.rows[value or "total"] = [
            _point(by_value[value].get(period), metric) for period in view.periods
        ]
    return view


def _point(cell: FiguresPublished | None, metric: Metric) -> Point:
    if cell is None:
        return Point(None, None)
    if metric == "csat":
        return Point(cell.csat, cell.responses, cell.csat_responses)
    return Point(cell.nps, cell.responses, cell.nps_responses)


def funnel_view(cells: Sequence[FunnelPublished], grain: Grain, dimension: Dimension) -> View:
    """The response rate by period and survey channel or programme: answered over sent, of
    the cells whose answers are published (a cell with fewer than 5 answers counts in
    neither)."""
    view = View(grain, dimension, "response_rate")
    sums: dict[str, dict[str, list[int]]] = {}
    starts: dict[str, date] = {}
    for cell in cells:
        period = period_label(grain, period_start(grain, cell.day))
        starts[period] = period_start(grain, cell.day)
        value = (
            ""
            if dimension == "total"
            else (cell.channel if dimension == "survey_channel" else cell.programme)
        )
        sent_answered = sums.setdefault(value, {}).setdefault(period, [0, 0])
        if cell.answered is not None:
            sent_answered[0] += cell.sent
            sent_answered[1] += cell.answered
    view.periods = sorted(starts, key=starts.__getitem__)[-PERIODS[grain] :]
    view.final = {period: False for period in view.periods}
    for value in sorted(sums):
        points = []
        for period in view.periods:
            sent, answered = sums[value].get(period, [0, 0])
            rate = round(100.0 * min(answered, sent) / sent, 1) if sent else None
            points.append(Point(rate, answered if sent else None, sent or None))
        view.rows[value or "total"] = points
    return view


def chart_svg(view: View, title: str, labels: dict[str, str]) -> str:
    """The view as a line chart, SVG drawn on the server (no script), for inline use: the
    table beside it is its text alternative."""
    chart = pygal.Line(
        js=[],
        disable_xml_declaration=True,
        width=860,
        height=380,
        show_dots=True,
        dots_size=4,
        x_label_rotation=30 if len(view.periods) > 8 else 0,
        legend_at_bottom=True,
        truncate_legend=30,
        range=(-100, 100) if view.metric == "nps" else (0, 100),
        include_x_axis=view.metric != "nps",
        title=title,
        no_data_text=labels["no_data"],
        style=pygal.style.Style(
            background="white",
            plot_background="white",
            foreground="#1a1a1a",
            foreground_strong="#1a1a1a",
            foreground_subtle="#595959",
            font_family="system-ui, sans-serif",
            colors=("#005a9c", "#a51d2d", "#1a7f37", "#8250df", "#b35900", "#0b6e79"),
        ),
    )
    chart.x_labels = view.periods
    largest = sorted(
        view.rows.items(), key=lambda row: -sum(point.responses or 0 for point in row[1])
    )[:CHART_SERIES]
    for value, points in largest:
        chart.add(labels.get(value, value), [point.value for point in points])
    svg = re.sub(r"<script\b.*?</script>", "", chart.render(is_unicode=True), flags=re.S)
    return svg.replace("<svg ", '<svg role="img" aria-labelledby="chart-caption" ', 1)


def csv_rows(view: View) -> list[list[str]]:
    """The view as CSV rows: one per value and period, with the counts behind it."""
    rows = [["period", "final", view.dimension, view.metric, "responses", "base"]]
    for value, points in view.rows.items():
        for period, point in zip(view.periods, points, strict=True):
            rows.append(
                [
                    period,
                    "true" if view.final.get(period) else "false",
                    "" if value == "total" else value,
                    "" if point.value is None else str(point.value),
                    "<5" if point.responses is None else str(point.responses),
                    "" if point.base is None else str(point.base),
                ]
            )
    return rows


def parse_query(params: dict[str, str]) -> tuple[Grain, Dimension, Metric]:
    """The page's choice from its query (unknown values fall back to the defaults)."""
    grain: Grain = next((g for g in GRAINS if g == params.get("grain")), "week")
    dimension: Dimension = next((d for d in DIMENSIONS if d == params.get("dimension")), "total")
    metric: Metric = next((m for m in METRICS if m == params.get("metric")), "nps")
    if metric == "response_rate" and dimension not in FUNNEL_DIMENSIONS:
        dimension = "total"
    return grain, dimension, metric
