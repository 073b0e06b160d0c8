"""Parts every reply shares: the scan footer and the warnings under the reply."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from handlers.blocks import Block, context, escape, line_sections
from services.fanout import Gathered, ScanWarning

MAX_WARNINGS = 10


def warning_blocks(warnings: Sequence[ScanWarning]) -> list[Block]:
    if not warnings:
        return []
    lines = [f":warning: {escape(warning.message)}" for warning in warnings[:MAX_WARNINGS]]
    if len(warnings) > MAX_WARNINGS:
        lines.append(f"…and {len(warnings) - MAX_WARNINGS} more warnings; see the bot's log.")
    return line_sections(lines)


def footer(gathered: Gathered[Any]) -> Block:
    accounts = ", ".join(escape(name) for name in gathered.accounts) or "none"
    regions = ", ".join(gathered.regions) or "none"
    return context(f"Scanned accounts {accounts} · regions {regions} · {gathered.elapsed:.1f} s")


def is_account_failure(warning: ScanWarning) -> bool:
    """Return whether a warning is about a whole account rather than one of its regions.

    Account-wide failures, such as a role that cannot be assumed, have no region, or a
    message that names none: services.errors.describe_aws_error writes `, region R`
    into every message about one region.
    """
    return warning.region is None or f", region {warning.region}" not in warning.message


def no_account_read(
    accounts: Sequence[str],
    regions: Sequence[str],
    warnings: Sequence[ScanWarning],
    *,
    count_regions: bool = True,
) -> bool:
    """Return whether every account failed, as a whole or in each region scanned.

    With `count_regions`, an account whose every region has a warning counts as failed,
    which holds only when each region had one task, as a listing of one resource kind
    has. Regions are the union over all accounts, so an account scanned in fewer regions
    never counts as failed that way.
    """
    if not accounts or not warnings:
        return False
    whole = {warning.account for warning in warnings if is_account_failure(warning)}
    failed_regions = {
        (warning.account, warning.region) for warning in warnings if not is_account_failure(warning)
    }
    for account in accounts:
        if account in whole:
            continue
        if count_regions and regions and all((account, r) in failed_regions for r in regions):
            continue
        return False
    return True


def nothing_found_text(nothing: str, failed_everywhere: bool) -> str:
    """Say that no `nothing` (e.g. `EC2 instances`) was found although the scan had warnings."""
    if failed_everywhere:
        return (
            f"No account could be read, so aws-monitor cannot tell whether there are any "
            f"{nothing}. The warnings below say why."
        )
    return (
        f"No {nothing} found, but parts of the scan failed, so some may be missing. "
        "The warnings below say which."
    )
