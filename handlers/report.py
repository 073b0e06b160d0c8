"""Parts every answer shares: the scan footer and the warnings under the answer."""

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
