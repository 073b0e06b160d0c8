"""Mentions in plain words mapped onto the command grammar."""

from __future__ import annotations

import re

from handlers.costs import cost_mention_command
from handlers.grammar import FREE_FORM_VERBS, INVENTORY_VERBS, SIMPLE_VERBS, VERB_ALIASES

_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")
FILLER_WORDS = frozenset(
    ["please", "show", "me", "list", "all", "our", "my", "the", "what", "which", "are", "is", "do", "we", "have", "give", "get", "any", "resources", "resource", "running", "in", "for", "of", "on", "there", "can", "you"]
)
NOUN_WORDS = frozenset({"instances", "instance", "servers", "volumes", "buckets", "functions", "clusters", "databases"})


def strip_mention(text: str) -> str:
    """Remove `<@U123>` mentions of the bot from an event's text."""
    return _MENTION.sub(" ", text).strip()


def _words(text: str) -> list[str]:
    cleaned = strip_mention(text).lower()
    return re.sub(r"[?!,;]", " ", cleaned).split()


def mention_to_command(text: str) -> str | None:
    """Map a mention's words to command text, or None when no intent is recognised."""
    words = _words(text)
    if not words:
        return "help"
    if words[0] in (*INVENTORY_VERBS, *SIMPLE_VERBS, *FREE_FORM_VERBS, *VERB_ALIASES):
        if VERB_ALIASES.get(words[0], words[0]) == "cost":
            # Parsed from the original text, because tag keys such as `Team` keep their case.
            return cost_mention_command(strip_mention(text)) or " ".join(words)
        return " ".join(words)
    if "idle" in words:
        rest = [w for w in words if w != "idle" and w not in FILLER_WORDS and w not in NOUN_WORDS]
        return " ".join(["idle", *rest])
    cost_command = cost_mention_command(strip_mention(text))
    if cost_command is not None:
        return cost_command
    for index, word in enumerate(words):
        verb = VERB_ALIASES.get(word, word)
        if verb in INVENTORY_VERBS:
            rest = [
                w
                for w in words[:index] + words[index + 1 :]
                if w not in FILLER_WORDS and w not in NOUN_WORDS and w not in VERB_ALIASES
            ]
            return " ".join([verb, *rest])
    return None
