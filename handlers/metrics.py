"""Replies to `/aws metrics RESOURCE-ID [1h|24h|7d]` and the CPU column of
`/aws ec2 prod metrics`, rendered as Block Kit."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from handlers.blocks import (
    Block,
    Reply,
    context,
    escape,
    fit,
    header,
    line_sections,
    plural,
    section,
    shorten,
)
from handlers.context import ChannelContext
from handlers.grammar import Command, CommandError
from handlers.report import footer, warning_blocks
from services.fanout import Gathered, ScanWarning
from services.lookup import MAX_ID_LENGTH, kinds_for_id
from services.metrics import MetricWindow
from services.models import Resource
from services.resource_metrics import (
    CLOUDWATCH_AGENT,
    CONTAINER_INSIGHTS,
    CPU_METRICS,
    MetricsAnswer,
    MetricSummary,
    ResourceMetrics,
    ResourceMetricsService,
)

if TYPE_CHECKING:
    from handlers.dispatch import Backends

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
DEFAULT_WINDOW = "24h"
CPU_WINDOW = "24h"
KIND_TITLES = {
    "ec2": "EC2 instance",
    "ebs": "EBS volume",
    "rds": "RDS instance",
    "lambda": "Lambda function",
    "eks": "EKS cluster",
    "emr": "EMR cluster",
}
REQUIREMENT_HINTS = {
    CLOUDWATCH_AGENT: (
        "EC2 reports no memory use by itself. Install the CloudWatch agent on the instance "
        "to publish `mem_used_percent` in the `CWAgent` namespace."
    ),
    CONTAINER_INSIGHTS: "Enable Container Insights on the cluster to publish it.",
}
_BYTE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")
RESOURCE_ID_HINT = (
    "Use an EC2 instance id (`i-` and hex digits), an EBS volume id (`vol-` and hex digits), "
    "an EMR cluster id (`j-` and letters or digits), or the name of an RDS instance (up to 63 "
    "letters, digits and hyphens, starting with a letter), a Lambda function (up to 64 "
    "letters, digits, `-` and `_`) or an EKS cluster (up to 100 of those, starting with a "
    "letter or digit)."
)


def format_bytes(value: float) -> str:
    """Format a byte count with decimal (SI) prefixes, e.g. 1.5 MB for 1,500,000 bytes."""
    size = float(value)
    for unit in _BYTE_UNITS:
        if abs(size) < 1000 or unit == _BYTE_UNITS[-1]:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def format_value(value: float | None, unit: str) -> str:
    """Format a metric value in its CloudWatch unit. None is shown as "no data"."""
    if value is None:
        return "no data"
    if unit == "Percent":
        return f"{value:.1f}%"
    if unit == "Bytes":
        return format_bytes(value)
    if unit == "Seconds":
        return f"{value * 1000:.1f} ms" if abs(value) < 1 else f"{value:.2f} s"
    if unit == "Milliseconds":
        return f"{value:.1f} ms"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}" if unit == "Count" else f"{value:,.2f}"


def format_period(seconds: int) -> str:
    if seconds % 86_400 == 0:
        days = seconds // 86_400
        return "day" if days == 1 else f"{days} days"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "hour" if hours == 1 else f"{hours} h"
    return f"{seconds // 60} min"


def parse_metrics_args(args: Sequence[str]) -> tuple[str, str]:
    """Split the arguments of `metrics` into the resource id and the window word."""
    if not args:
        raise CommandError("`metrics` needs a resource id, e.g. `/aws metrics i-0abc123 24h`.")
    if len(args) > 2:
        raise CommandError(
            f"`metrics` takes a resource id and a window, but got `{shorten(' '.join(args))}`. "
            "Example: `/aws metrics i-0abc123 24h`."
        )
    resource_id = args[0]
    if len(resource_id) > MAX_ID_LENGTH:
        raise CommandError(f"The resource id is longer than {MAX_ID_LENGTH} characters.")
    if not kinds_for_id(resource_id):
        raise CommandError(
            f"`{shorten(resource_id)}` is not a resource id or name aws-monitor can look up. "
            f"{RESOURCE_ID_HINT}"
        )
    window = args[1].lower() if len(args) == 2 else DEFAULT_WINDOW
    if window not in WINDOWS:
        raise CommandError(
            f"Unknown window `{shorten(args[1])}`. Use `1h`, `24h` or `7d`, "
            "e.g. `/aws metrics i-0abc123 7d`."
        )
    return resource_id, window


def metrics_command(command: Command, ctx: ChannelContext, backends: Backends) -> Reply:
    """Reply to `/aws metrics RESOURCE-ID [1h|24h|7d]`."""
    resource_id, window = parse_metrics_args(command.args)
    if backends.metrics is None:
        raise CommandError("Metrics are not enabled in this aws-monitor process.")
    answer = backends.metrics.describe(ctx.accounts, resource_id, WINDOWS[window], ctx.user_id)
    return metrics_reply(answer, window)


def summary_line(summary: MetricSummary, period: int) -> str:
    spec = summary.spec
    name = f"*{spec.name}*"
    if not spec.namespace.startswith("AWS/"):
        name += f" ({spec.namespace})"
    if not summary.available:
        return f"{name} :warning: not available: the CloudWatch request failed (see below)"
    if not summary.has_data:
        hint = REQUIREMENT_HINTS.get(spec.requires or "")
        return f"{name} no data." + (f" {hint}" if hint else "")
    unit = spec.unit
    if spec.counter:
        return (
            f"{name} total {format_value(summary.total, unit)} · per {format_period(period)}: "
            f"avg {format_value(summary.average, unit)} · "
            f"max {format_value(summary.maximum, unit)} · "
            f"min {format_value(summary.minimum, unit)}"
        )
    return (
        f"{name} avg {format_value(summary.average, unit)} · "
        f"max {format_value(summary.maximum, unit)} · "
        f"min {format_value(summary.minimum, unit)}"
    )


def resource_heading(resource: Resource) -> str:
    title = escape(resource.name) if resource.name else escape(resource.id)
    parts = [f"*{title}*"]
    if resource.name and resource.name != resource.id:
        parts.append(f"`{escape(resource.id)}`")
    kind = KIND_TITLES.get(resource.kind, resource.kind)
    parts.append(f"{kind} {escape(resource.type)}" if resource.type else kind)
    parts.append(escape(resource.state))
    parts.append(f"{escape(resource.account)}/{escape(resource.region)}")
    return " · ".join(parts)


def resource_blocks(metrics: ResourceMetrics, window: MetricWindow) -> list[Block]:
    lines = [summary_line(summary, window.period) for summary in metrics.summaries]
    return [section(resource_heading(metrics.resource)), *line_sections(lines)]


def window_text(window: MetricWindow) -> str:
    return (
        f"{window.start:%Y-%m-%d %H:%M} to {window.end:%Y-%m-%d %H:%M} UTC, "
        f"period {format_period(window.period)}"
    )


def metrics_reply(answer: MetricsAnswer, window_word: str) -> Reply:
    """Render the metrics of every resource found for one id."""
    resource_id = escape(answer.resource_id)
    blocks: list[Block] = [header(f"Metrics of {answer.resource_id} · last {window_word}")]
    if not answer.resources:
        text = (
            f"No resource `{resource_id}` was found in this channel's accounts and regions. "
            "Use an EC2 instance id (`i-…`), an EBS volume id (`vol-…`), an EMR cluster id "
            "(`j-…`), or the name of an RDS instance, Lambda function or EKS cluster."
        )
        blocks.append(section(text))
        fallback = f"No resource {answer.resource_id} found"
    else:
        for metrics in answer.resources:
            blocks.extend(resource_blocks(metrics, answer.window))
        if answer.more_matches:
            blocks.append(
                context(
                    f"{plural(answer.more_matches, 'more resource is', 'more resources are')} "
                    f"named `{resource_id}`, and "
                    "only the first ones are shown here."
                )
            )
        fallback = f"Metrics of {answer.resource_id} over the last {window_word}"
    blocks.append(
        context(
            f"{window_text(answer.window)}. Gauges: mean of the per-period averages, highest "
            "maximum, lowest minimum. Counters: total and per-period sums. Periods without "
            "datapoints are left out, never counted as 0."
        )
    )
    blocks.extend(warning_blocks(answer.warnings))
    blocks.append(
        footer(
            Gathered(
                items=[],
                warnings=answer.warnings,
                accounts=answer.accounts,
                regions=answer.regions,
                elapsed=answer.elapsed,
            )
        )
    )
    if answer.warnings:
        fallback += f" ({plural(len(answer.warnings), 'warning')})"
    return Reply(text=fallback, blocks=fit(blocks))


def cpu_annotations(
    service: ResourceMetricsService,
    ctx: ChannelContext,
    gathered: Gathered[Resource],
    max_rows: int,
) -> tuple[dict[str, str], Gathered[Resource]]:
    """Read the average CPU of the listed rows and return annotations by resource id,
    with the metric warnings added to the listing's warnings."""
    shown = gathered.items[:max_rows]
    kinds = {resource.kind for resource in shown}
    warnings: list[ScanWarning] = []
    if kinds and not kinds & set(CPU_METRICS):
        warnings.append(
            ScanWarning(
                account="",
                region=None,
                message="`metrics` adds average CPU to `ec2` and `rds` lists only.",
            )
        )
    averages, metric_warnings = service.average_cpu(
        ctx.accounts, shown, WINDOWS[CPU_WINDOW], ctx.user_id
    )
    warnings.extend(metric_warnings)
    annotations = {}
    for resource in shown:
        key = (resource.account, resource.region, resource.id)
        if key not in averages:
            continue
        average = averages[key]
        cpu_text = "no data" if average is None else f"{average:.0f}%"
        annotations[resource.id] = f"cpu {cpu_text} ({CPU_WINDOW} avg)"
    if not warnings:
        return annotations, gathered
    return annotations, dataclasses.replace(gathered, warnings=[*gathered.warnings, *warnings])
