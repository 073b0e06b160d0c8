"""A PNG bar chart of daily cost, stacked by the largest groups of a cost report.

The chart is drawn on matplotlib's object API with an Agg canvas of its own, so it
neither selects a global backend nor touches pyplot's state.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

from services.costs import ZERO, CostReport

WIDTH_INCHES = 10.0
HEIGHT_INCHES = 4.8
DPI = 100
MAX_LABEL_CHARS = 40


def chart_label(text: str) -> str:
    """Shorten a group name and escape `$`, which matplotlib would read as math markup."""
    if len(text) > MAX_LABEL_CHARS:
        text = text[: MAX_LABEL_CHARS - 1] + "…"
    return text.replace("$", r"\$")


def daily_series(report: CostReport, top: int) -> list[tuple[str, list[float]]]:
    """Return (label, cost per day) for the `top` largest groups and one series for the rest."""
    days = report.period.dates()
    top_keys = [key for key, _ in report.ranked()[:top]]
    series = []
    for key in top_keys:
        values = [float(report.daily.get(day, {}).get(key, ZERO)) for day in days]
        series.append((report.label(key), values))
    rest = [_rest_of_day(report.daily.get(day, {}), top_keys) for day in days]
    if any(rest):
        series.append(("Other", rest))
    return series


def daily_cost_chart(report: CostReport, top: int) -> bytes:
    """Render the report's daily cost as a stacked bar chart; return PNG bytes."""
    days = report.period.dates()
    # matplotlib is imported here because it adds about 50 MB to every process that loads it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(days)))
    bottoms = [0.0] * len(days)
    for label, values in daily_series(report, top):
        axes.bar(positions, values, bottom=bottoms, label=chart_label(label), width=0.8)
        bottoms = [bottom + value for bottom, value in zip(bottoms, values, strict=True)]

    step = max(1, len(days) // 15)
    axes.set_xticks(positions[::step])
    axes.set_xticklabels([_day_label(day) for day in days[::step]], rotation=45, ha="right")
    axes.set_ylabel(f"{report.unit} per day")
    axes.set_title(
        f"Daily cost by {report.group_by.noun}, {report.period.describe()} ({report.metric})"
    )
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    figure.tight_layout()

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _rest_of_day(amounts: dict[str, Decimal], top_keys: list[str]) -> float:
    return float(sum((value for key, value in amounts.items() if key not in top_keys), ZERO))


def _day_label(day: date) -> str:
    return day.strftime("%m-%d")
