"""Block Kit building within Slack's limits, and mrkdwn escaping of AWS strings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK_TEXT = 3000
# Maximum length of user text quoted in a reply, in characters before escaping.
MAX_ECHO = 200
ELLIPSIS = "…"

Block = dict[str, Any]


def escape(text: object) -> str:
    """Escape a string for mrkdwn so that AWS data can never ping a channel or forge a link."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def noun_for(count: int, singular: str, plural_form: str | None = None) -> str:
    """Return the noun that fits `count`: `singular` for 1, else `plural_form` or `singular`+s."""
    return singular if count == 1 else (plural_form or f"{singular}s")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """Return the count with its noun, e.g. `1 EC2 instance` or `3 EC2 instances`."""
    return f"{count} {noun_for(count, singular, plural_form)}"


def shorten(text: str, limit: int = MAX_ECHO) -> str:
    """Cut user text quoted in a message to `limit` characters, without escaping it."""
    return truncate(text, limit)


def echo(text: str, limit: int = MAX_ECHO) -> str:
    """Shorten user text to `limit` characters and escape it for a reply.

    Escaping keeps `<!channel>` or `<@U123>` typed by a user from pinging anyone again.
    """
    return escape(shorten(text, limit))


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # Never leave half of an escape entity at the end.
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS


@dataclass(frozen=True)
class FileAttachment:
    """A file sent along with a reply through files_upload_v2."""

    filename: str
    content: bytes
    title: str


@dataclass
class Reply:
    """A finished reply: Block Kit blocks, the notification fallback and any files.

    `rejected` marks the help shown for a command that could not be understood.
    """

    text: str
    blocks: list[Block]
    files: list[FileAttachment] = field(default_factory=list)
    rejected: bool = False

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def header(text: str) -> Block:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(text, MAX_HEADER_TEXT), "emoji": True},
    }


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_TEXT)}}


def fields_section(fields: Sequence[str]) -> Block:
    return {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": truncate(text, MAX_FIELD_TEXT)}
            for text in fields[:MAX_FIELDS]
        ],
    }


def context(*texts: str) -> Block:
    return {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": truncate(text, MAX_FIELD_TEXT)}
            for text in texts[:MAX_CONTEXT_ELEMENTS]
        ],
    }


def divider() -> Block:
    return {"type": "divider"}


def line_sections(lines: Iterable[str], limit: int = MAX_SECTION_TEXT) -> list[Block]:
    """Pack lines into as few sections as fit, each under the section text limit."""
    blocks: list[Block] = []
    chunk: list[str] = []
    size = 0
    for line in lines:
        line = truncate(line, limit)
        if chunk and size + len(line) + 1 > limit:
            blocks.append(section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return blocks


def fit(
    blocks: list[Block], note: str = "The answer was cut to fit one Slack message."
) -> list[Block]:
    """Cut a block list to Slack's 50-block limit, keeping the last block (the footer)."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    return [*blocks[: MAX_BLOCKS - 2], context(note), blocks[-1]]


def simple_reply(text: str, title: str | None = None) -> Reply:
    blocks = [header(title)] if title else []
    blocks.extend(line_sections(text.splitlines() or [text]))
    return Reply(text=truncate(text, MAX_FALLBACK_TEXT), blocks=fit(blocks))
