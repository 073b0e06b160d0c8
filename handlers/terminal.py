"""Render a Reply for a terminal: the CLI's `ask`, `digest` and the demo tour."""

from __future__ import annotations

import re

from handlers.blocks import Block, Reply

_BOLD = re.compile(r"\*([^*\n]+)\*")
_CODE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
_EMOJI = {
    ":warning:": "!",
    ":grey_question:": "?",
    ":large_green_circle:": "+",
    ":red_circle:": "-",
}


def plain(mrkdwn: str) -> str:
    """Strip mrkdwn markup and undo Slack's escaping."""
    text = _LINK.sub(r"\2 (\1)", mrkdwn)
    text = _BOLD.sub(r"\1", text)
    text = _CODE.sub(r"\1", text)
    text = text.replace("```", "")
    for emoji, mark in _EMOJI.items():
        text = text.replace(emoji, mark)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render_block(block: Block) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        title = block["text"]["text"]
        return ["", title, "=" * min(len(title), 78)]
    if kind == "section":
        lines = []
        if "text" in block:
            lines.extend(plain(block["text"]["text"]).splitlines())
        for field in block.get("fields", []):
            lines.extend(plain(field["text"]).splitlines())
        return lines
    if kind == "context":
        return ["  " + " ".join(plain(element.get("text", "")) for element in block["elements"])]
    if kind == "divider":
        return ["-" * 40]
    if kind == "actions":
        labels = [element.get("text", {}).get("text", "") for element in block["elements"]]
        return ["  [" + "] [".join(labels) + "]"]
    if kind == "image":
        return [f"  [image: {block.get('alt_text', '')}]"]
    return []


def render_reply(reply: Reply) -> str:
    lines: list[str] = []
    for block in reply.blocks:
        lines.extend(render_block(block))
    for attachment in reply.files:
        lines.append(
            f"  [attached file {attachment.filename}: {attachment.title}, "
            f"{len(attachment.content)} bytes]"
        )
    return "\n".join(lines).strip("\n")
