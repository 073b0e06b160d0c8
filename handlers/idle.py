"""Replies to `/aws idle [ENV]`: findings grouped by rule with the largest estimated cost
first, within Slack's message limits. The idle digest reuses the line and heading helpers."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from handlers.blocks import (
    MAX_FALLBACK_TEXT,
    Block,
    FileAttachment,
    Reply,
    context,
    escape,
    fit,
    header,
    line_sections,
    noun_for,
    plural,
    section,
    truncate,
)
from handlers.context import ChannelContext
from handlers.grammar import Command, CommandError
from handlers.inventory import build_query, describe_selection
from handlers.report import footer, no_account_read, nothing_found_text, warning_blocks
from services.fanout import Gathered
from services.idle import IdleFinding, IdleReport, IdleThresholds, total_cost
from services.idle_rules import (
    EBS_ON_STOPPED_INSTANCE,
    EBS_UNATTACHED,
    EC2_LOW_UTILIZATION,
    EC2_STOPPED,
    EMR_IDLE,
    LAMBDA_NO_INVOCATIONS,
    RDS_NO_CONNECTIONS,
)
from services.pricing import PRICE_SOURCE

if TYPE_CHECKING:
    from handlers.dispatch import Backends

# Maximum findings listed per rule in the message. The attached CSV carries all of them.
MAX_PER_RULE = 8
RULE_TITLES = {
    EC2_LOW_UTILIZATION: "EC2 instances with low utilization",
    EC2_STOPPED: "EC2 instances stopped for a long time",
    EBS_UNATTACHED: "Unattached EBS volumes",
    EBS_ON_STOPPED_INSTANCE: "EBS volumes attached only to stopped instances",
    RDS_NO_CONNECTIONS: "RDS instances without connections",
    LAMBDA_NO_INVOCATIONS: "Lambda functions without invocations",
    EMR_IDLE: "Idle EMR clusters",
}


def format_money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def idle_command(command: Command, ctx: ChannelContext, backends: Backends) -> Reply:
    """Reply to `/aws idle [ENV] [region=... account=... tag:KEY=VALUE]`."""
    if command.filter_values("state"):
        raise CommandError(
            "`idle` takes no `state=` filter, because each rule picks the states it checks. "
            "Use an environment, `region=`, `account=` or `tag:KEY=VALUE`."
        )
    if backends.idle is None:
        raise CommandError("The idle scan is not enabled in this aws-monitor process.")
    query = build_query(command, ctx, backends.inventory.regions)
    report = backends.idle.run(ctx.accounts, query, ctx.user_id)
    return idle_reply(report, describe_selection(command, ctx), ctx.timezone)


def format_time(moment: datetime | None, timezone: str) -> str:
    if moment is None:
        return "unknown"
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or timezone}"


def finding_line(finding: IdleFinding, timezone: str) -> str:
    title = escape(finding.name) if finding.name else escape(finding.resource_id)
    parts = [f"*{title}*"]
    if finding.name and finding.name != finding.resource_id:
        parts.append(f"`{escape(finding.resource_id)}`")
    if finding.resource_type:
        parts.append(escape(finding.resource_type))
    if finding.monthly_cost is not None:
        parts.append(f"~{format_money(finding.monthly_cost)}/month")
    parts.append(f"{escape(finding.account)}/{escape(finding.region)}")
    since = f"{escape(finding.since_label)} {format_time(finding.since, timezone)}"
    return f"• {' · '.join(parts)}\n    {escape(finding.reason)}; {since}"


def rule_heading(rule: str, findings: Sequence[IdleFinding]) -> str:
    title = RULE_TITLES.get(rule, rule)
    cost = total_cost(findings)
    priced = sum(1 for finding in findings if finding.monthly_cost is not None)
    text = f"*{title}* ({len(findings)})"
    if priced:
        text += f" · ~{format_money(cost)}/month"
    return text


def thresholds_text(limits: IdleThresholds) -> str:
    return (
        f"Rules: EC2 daily CPU ≤ {limits.ec2_cpu_percent:g}% and network ≤ "
        f"{limits.ec2_network_mb:g} MB on ≥ {limits.ec2_low_days} of {limits.ec2_lookback_days} "
        f"days · EC2 stopped > {limits.ec2_stopped_days} days · EBS unattached, or attached "
        f"only to such stopped instances · RDS without connections for {limits.rds_idle_days} "
        f"days · Lambda without invocations for {limits.lambda_idle_days} days · EMR idle > "
        f"{limits.emr_idle_minutes} min."
    )


# Per rule: the kind of resource it judges (singular noun) and a short name of the rule.
RULE_NOUNS = {
    EC2_LOW_UTILIZATION: ("EC2 instance", "low-utilization rule"),
    EC2_STOPPED: ("EC2 instance", "stopped-instance rule"),
    EBS_UNATTACHED: ("EBS volume", "unattached-volume rule"),
    EBS_ON_STOPPED_INSTANCE: ("EBS volume", "stopped-instance volume rule"),
    RDS_NO_CONNECTIONS: ("RDS instance", "no-connections rule"),
    LAMBDA_NO_INVOCATIONS: ("Lambda function", "no-invocations rule"),
    EMR_IDLE: ("EMR cluster", "idle-cluster rule"),
}


def no_data_text(report: IdleReport) -> str | None:
    """Name, per rule, how many resources CloudWatch had too little data to judge."""
    counts = [(rule, count) for rule, count in report.no_data.items() if count]
    if not counts:
        return None
    parts = []
    for rule, count in counts:
        noun, rule_name = RULE_NOUNS.get(rule, ("resource", f"{rule} rule"))
        parts.append(f"{plural(count, noun)} ({rule_name})")
    return f"Not judged for lack of CloudWatch data: {', '.join(parts)}."


def scan_failed_everywhere(report: IdleReport) -> bool:
    """Return whether no account could be read in an idle scan.

    Regions count only when nothing was listed at all, because each region runs one
    task per resource kind and one failed kind does not make the region unreadable.
    """
    scanned = sum(report.scanned.values())
    return no_account_read(
        report.accounts, report.regions, report.warnings, count_regions=scanned == 0
    )


def idle_reply(report: IdleReport, selection: str = "", timezone: str = "UTC") -> Reply:
    """Render a scan: a summary, then each rule's findings, largest estimated cost first."""
    title = f"Idle resources · {selection}" if selection else "Idle resources"
    findings = report.findings
    cost = total_cost(findings)
    scanned = sum(report.scanned.values())
    if findings:
        summary = (
            f"*{len(findings)}* idle {noun_for(len(findings), 'resource')} "
            f"among {scanned} scanned, estimated *{format_money(cost)}/month* where a price "
            "is known."
        )
    elif report.warnings:
        summary = nothing_found_text("idle resources", scan_failed_everywhere(report))
    else:
        summary = f"No idle resources among the {plural(scanned, 'resource')} scanned."
    blocks: list[Block] = [header(title), section(summary)]

    truncated = False
    for rule, members in report.by_rule():
        lines = [finding_line(finding, timezone) for finding in members[:MAX_PER_RULE]]
        if len(members) > MAX_PER_RULE:
            truncated = True
            lines.append(f"…and {len(members) - MAX_PER_RULE} more in the attached CSV file.")
        blocks.append(section(rule_heading(rule, members)))
        blocks.extend(line_sections(lines))

    notes = [
        f"Costs are estimates from {PRICE_SOURCE}, before discounts.",
        thresholds_text(report.thresholds),
    ]
    missing = no_data_text(report)
    if missing:
        notes.append(missing)
    blocks.append(context(*notes))
    blocks.extend(warning_blocks(report.warnings))
    blocks.append(
        footer(
            Gathered(
                items=[],
                warnings=report.warnings,
                accounts=report.accounts,
                regions=report.regions,
                elapsed=report.elapsed,
            )
        )
    )

    fitted = fit(blocks, "The answer was cut to fit one Slack message; the CSV lists all.")
    files = []
    if truncated or len(fitted) < len(blocks):
        files.append(
            FileAttachment(
                filename="idle-resources.csv",
                content=findings_csv(findings),
                title=f"{title} ({len(findings)} findings)",
            )
        )
    text = summary.replace("*", "")
    if report.warnings:
        text += f" ({plural(len(report.warnings), 'warning')})"
    return Reply(text=truncate(text, MAX_FALLBACK_TEXT), blocks=fitted, files=files)


def findings_csv(findings: Sequence[IdleFinding]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "rule",
            "key",
            "account",
            "account_id",
            "region",
            "kind",
            "id",
            "name",
            "type",
            "reason",
            "since",
            "since_label",
            "estimated_monthly_usd",
            "cost_note",
        ]
    )
    for finding in findings:
        writer.writerow(
            [
                finding.rule,
                finding.key,
                finding.account,
                finding.account_id or "",
                finding.region,
                finding.kind,
                finding.resource_id,
                finding.name or "",
                finding.resource_type or "",
                finding.reason,
                finding.since.isoformat() if finding.since else "",
                finding.since_label,
                "" if finding.monthly_cost is None else str(finding.monthly_cost),
                finding.cost_note,
            ]
        )
    return buffer.getvalue().encode()
