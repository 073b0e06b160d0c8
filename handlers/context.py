"""Context of the channel a request came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.accounts import Account


@dataclass(frozen=True)
class ChannelContext:
    """The accounts and settings mapped to one Slack channel, plus who is asking."""

    channel_id: str
    accounts: tuple[Account, ...]
    environment_tag: str = "Environment"
    environments: Mapping[str, str] = field(default_factory=dict)
    timezone: str = "UTC"
    user_id: str | None = None

    def environment_value(self, word: str) -> str:
        """Map a typed word (`prod`) to its tag value (`production`); unknown words are literal."""
        return self.environments.get(word.lower(), word)
