"""Mentions in plain words mapped onto the command grammar.

Verbs and filler words are matched without case. Every other word keeps its case,
because tag keys and values (`tag:Team=data`) are case-sensitive in AWS.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from handlers.costs import cost_mention_command
from handlers.grammar import FREE_FORM_VERBS, INVENTORY_VERBS, SIMPLE_VERBS, VERB_ALIASES

_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")
# Slack's special mentions (`<!channel>`, `<!here>`, `<!subteam^S1|@team>`) and channel links.
_SPECIAL_MENTION = re.compile(r"<[!#][^>]*>")
FILLER_WORDS = frozenset(
    (
        *("please", "show", "me", "list", "all", "our", "my", "the", "what", "what's", "whats"),
        *("what’s", "which", "are", "is", "were", "was", "do", "we", "have", "give", "get"),
        *("any", "resources", "resource", "in", "for", "of", "on", "there", "can", "you"),
        *("that", "currently", "now", "right", "with"),
    )
)
NOUN_WORDS = frozenset(
    {"instances", "instance", "servers", "volumes", "buckets", "functions", "clusters", "databases"}
)
# Words in a mention that ask for resources in one EC2 state, mapped to `state=` values.
STATE_WORDS = {"running": "running", "stopped": "stopped"}
DEFAULT_STATE_VERB = "ec2"


def strip_mention(text: str) -> str:
    """Remove `<@U123>` mentions of the bot from an event's text."""
    return _MENTION.sub(" ", text).strip()


def clean_mention_text(text: str) -> str:
    """Remove user mentions, special mentions such as `<!channel>` and channel links."""
    return _SPECIAL_MENTION.sub(" ", strip_mention(text)).strip()


def _words(text: str) -> list[str]:
    return re.sub(r"[?!,;]", " ", text).split()


def _is_dropped(word: str) -> bool:
    lowered = word.lower()
    return lowered in FILLER_WORDS or lowered in NOUN_WORDS or lowered in VERB_ALIASES


def _inventory_command(verb: str, words: Sequence[str]) -> str:
    """Build `VERB words... state=...` from the words around an inventory verb."""
    kept: list[str] = []
    states: dict[str, None] = {}
    for word in words:
        lowered = word.lower()
        if lowered in STATE_WORDS:
            states.setdefault(f"state={STATE_WORDS[lowered]}")
        elif not _is_dropped(word):
            kept.append(word)
    return " ".join([verb, *kept, *states])


def _idle_command(words: Sequence[str]) -> str:
    rest = [
        word
        for word in words
        if word.lower() != "idle" and word.lower() not in STATE_WORDS and not _is_dropped(word)
    ]
    return " ".join(["idle", *rest])


def mention_to_command(text: str) -> str | None:
    """Map a mention's words to command text, or None when no intent is recognised."""
    cleaned = clean_mention_text(text)
    words = _words(cleaned)
    if not words:
        return "help"
    lowered = [word.lower() for word in words]
    first = VERB_ALIASES.get(lowered[0], lowered[0])
    if first == "cost":
        # Parsed from the original text, because tag keys such as `Team` keep their case.
        return cost_mention_command(cleaned) or " ".join([first, *words[1:]])
    if first in INVENTORY_VERBS:
        return _inventory_command(first, words[1:])
    if first == "idle" or (first not in (*SIMPLE_VERBS, *FREE_FORM_VERBS) and "idle" in lowered):
        return _idle_command(words)
    if first in (*SIMPLE_VERBS, *FREE_FORM_VERBS):
        return " ".join([first, *words[1:]])
    cost_command = cost_mention_command(cleaned)
    if cost_command is not None:
        return cost_command
    for index, word in enumerate(lowered):
        verb = VERB_ALIASES.get(word, word)
        if verb in INVENTORY_VERBS:
            return _inventory_command(verb, [*words[:index], *words[index + 1 :]])
    if any(word in STATE_WORDS for word in lowered):
        return _inventory_command(DEFAULT_STATE_VERB, words)
    return None
