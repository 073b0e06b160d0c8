"""Inventory replies: `/aws ec2 prod` and the other list commands rendered as Block Kit."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Mapping, Sequence

from handlers.blocks import (
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
    shorten,
)
from handlers.context import ChannelContext
from handlers.grammar import Command, CommandError
from handlers.report import footer, no_account_read, nothing_found_text, warning_blocks
from services.accounts import Account
from services.fanout import Gathered
from services.models import Query, Resource
from services.regions import RegionResolver

MAX_ROWS = 40
# Detail keys shown in a row, per resource kind; the CSV always carries all of them.
ROW_DETAILS: dict[str, tuple[str, ...]] = {
    "ec2": ("private_ip", "public_ip"),
    "ebs": ("size_gib", "attached_to"),
    "rds": ("engine", "storage_gib"),
    "s3": (),
    "lambda": ("memory_mb",),
    "eks": (),
    "emr": ("instance_hours",),
}
DETAIL_UNITS = {
    "size_gib": " GiB",
    "storage_gib": " GiB",
    "memory_mb": " MB",
    "instance_hours": " instance-hours",
}
# AWS region names: `eu-west-1`, `us-gov-west-1`, `ap-southeast-3`.
REGION_NAME = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$")


def build_query(
    command: Command, ctx: ChannelContext, regions: RegionResolver | None = None
) -> Query:
    """Turn the command's environment word and filters into a Query for this channel.

    Account names are matched without case. With `regions`, a region filter is checked
    against the regions configured for the accounts in scope, when those are lists.
    """
    accounts = resolve_accounts(command.filter_values("account"), ctx)
    requested_regions = frozenset(command.filter_values("region"))
    in_scope = [account for account in ctx.accounts if not accounts or account.name in accounts]
    check_regions(requested_regions, in_scope, regions)
    tags = tuple(
        (name.removeprefix("tag:"), value)
        for name, value in command.filters
        if name.startswith("tag:")
    )
    return Query(
        environment_tag=ctx.environment_tag,
        environment=ctx.environment_value(command.environment) if command.environment else None,
        states=frozenset(value.lower() for value in command.filter_values("state")),
        regions=frozenset(region.lower() for region in requested_regions),
        accounts=accounts,
        tags=tags,
    )


def resolve_accounts(typed: Sequence[str], ctx: ChannelContext) -> frozenset[str]:
    """Map typed account names to the channel's account names, without case."""
    by_lowercase = {account.name.lower(): account.name for account in ctx.accounts}
    resolved = set()
    for name in typed:
        account = by_lowercase.get(name.lower())
        if account is None:
            known = ", ".join(sorted(by_lowercase.values()))
            raise CommandError(
                f"Account `{shorten(name)}` is not mapped to this channel. "
                f"Its accounts are: {known}."
            )
        resolved.add(account)
    return frozenset(resolved)


def check_regions(
    requested: frozenset[str], accounts: Sequence[Account], resolver: RegionResolver | None
) -> None:
    """Reject a region filter that would scan nothing, before any AWS call.

    Accounts configured with `enabled` regions are known only by asking AWS, so for
    those only the form of the name is checked.
    """
    for region in sorted(requested):
        if not REGION_NAME.match(region.lower()):
            raise CommandError(
                f"`{shorten(region)}` is not an AWS region name. Write it like `region=eu-west-1`."
            )
    if not requested or resolver is None:
        return
    configured = [resolver.configured(account) for account in accounts]
    if not configured or any(isinstance(regions, str) for regions in configured):
        return
    known = sorted({region for regions in configured for region in regions})
    unknown = sorted(region for region in requested if region.lower() not in known)
    if unknown:
        raise CommandError(
            f"Region `{shorten(unknown[0])}` is not scanned for this channel. "
            f"Its regions are: {', '.join(known)}."
        )


def describe_selection(command: Command, ctx: ChannelContext) -> str:
    parts = []
    if command.environment:
        value = ctx.environment_value(command.environment)
        parts.append(f"{ctx.environment_tag}={value}")
    parts.extend(f"{key}={value}" for key, value in command.filters)
    return " ".join(parts)


def resource_line(resource: Resource, annotation: str | None = None) -> str:
    title = escape(resource.name) if resource.name else escape(resource.id)
    parts = [f"*{title}*"]
    if resource.name and resource.name != resource.id:
        parts.append(f"`{escape(resource.id)}`")
    if resource.type:
        parts.append(escape(resource.type))
    parts.append(escape(resource.state))
    for key in ROW_DETAILS.get(resource.kind, ()):
        value = resource.detail(key)
        if value and value != "-":
            parts.append(escape(value) + DETAIL_UNITS.get(key, ""))
    if annotation:
        parts.append(annotation)
    parts.append(f"{escape(resource.account)}/{escape(resource.region)}")
    return " · ".join(parts)


def inventory_reply(
    title: str,
    command: Command,
    ctx: ChannelContext,
    gathered: Gathered[Resource],
    annotations: Mapping[str, str] | None = None,
    max_rows: int = MAX_ROWS,
) -> Reply:
    """Render a listing; past `max_rows` the message is summarised and the CSV carries all."""
    resources = gathered.items
    selection = describe_selection(command, ctx)
    heading = f"{title} · {selection}" if selection else title
    summary = summarise(title, resources, gathered)
    blocks = [header(heading), section(summary)]
    annotations = annotations or {}
    shown = resources[:max_rows]
    blocks.extend(line_sections(resource_line(r, annotations.get(r.id)) for r in shown))
    files: list[FileAttachment] = []
    if len(resources) > max_rows:
        blocks.append(
            context(
                f"Showing {max_rows} of {len(resources)}. "
                "The full list is in the attached CSV file."
            )
        )
        files.append(
            FileAttachment(
                filename=f"{command.verb}-{ctx.channel_id}.csv",
                content=resources_csv(resources),
                title=f"{heading} ({len(resources)} rows)",
            )
        )
    blocks.extend(warning_blocks(gathered.warnings))
    blocks.append(footer(gathered))
    text = summary.replace("*", "")
    if gathered.warnings:
        text += f" ({plural(len(gathered.warnings), 'warning')})"
    return Reply(text=text, blocks=fit(blocks), files=files)


def summarise(title: str, resources: Sequence[Resource], gathered: Gathered[Resource]) -> str:
    """Return the summary line; `title` is the plural noun, e.g. `EC2 instances`."""
    if not resources:
        if gathered.warnings:
            failed_everywhere = no_account_read(
                gathered.accounts, gathered.regions, gathered.warnings
            )
            return nothing_found_text(title, failed_everywhere)
        return f"No {title} match in the accounts and regions scanned."
    states = Counter(resource.state for resource in resources)
    by_state = ", ".join(f"{escape(state)} {count}" for state, count in states.most_common())
    accounts = len({resource.account for resource in resources})
    regions = len({resource.region for resource in resources})
    noun = noun_for(len(resources), title.removesuffix("s"), title)
    return (
        f"*{len(resources)}* {noun} in {plural(accounts, 'account')} and "
        f"{plural(regions, 'region')}: {by_state}"
    )


def resources_csv(resources: Sequence[Resource]) -> bytes:
    detail_keys: dict[str, None] = {}
    for resource in resources:
        for key, _ in resource.details:
            detail_keys.setdefault(key)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    columns = ["kind", "account", "account_id", "region", "id", "name", "type", "state", "created"]
    writer.writerow([*columns, *detail_keys, "tags"])
    for resource in resources:
        details = dict(resource.details)
        writer.writerow(
            [
                resource.kind,
                resource.account,
                resource.account_id or "",
                resource.region,
                resource.id,
                resource.name or "",
                resource.type or "",
                resource.state,
                resource.created.isoformat() if resource.created else "",
                *(details.get(key, "") for key in detail_keys),
                ";".join(f"{key}={value}" for key, value in sorted(resource.tags.items())),
            ]
        )
    return buffer.getvalue().encode()
