"""Mentions in plain words mapped onto the command grammar."""

from __future__ import annotations

import re

from handlers.grammar import FREE_FORM_VERBS, INVENTORY_VERBS, SIMPLE_VERBS, VERB_ALIASES

_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")
_FILLER = re.compile(
    r"\b(please|show|me|list|all|our|my|the|what|which|are|is|do|we|have|give|get|"
    r"resources?|running in|in|for|of|on)\b",
    re.IGNORECASE,
)


def strip_mention(text: str) -> str:
    """Remove `<@U123>` mentions of the bot from an event's text."""
    return _MENTION.sub(" ", text).strip()


def mention_to_command(text: str) -> str | None:
    """Map a mention's words to command text, or None when no intent is recognised."""
    words = strip_mention(text).lower().replace("?", " ").replace(",", " ")
    words = " ".join(words.split())
    if not words:
        return "help"
    first = words.split()[0]
    if first in (*INVENTORY_VERBS, *SIMPLE_VERBS, *FREE_FORM_VERBS, *VERB_ALIASES):
        return words
    if re.search(r"\bidle\b", words):
        rest = _FILLER.sub(" ", re.sub(r"\bidle\b", " ", words))
        return " ".join(["idle", *rest.split()])
    for verb in (*INVENTORY_VERBS, *VERB_ALIASES):
        match = re.search(rf"\b{re.escape(verb)}\b", words)
        if match:
            rest = _FILLER.sub(" ", words[: match.start()] + " " + words[match.end() :])
            return " ".join([verb, *rest.split()])
    return None
