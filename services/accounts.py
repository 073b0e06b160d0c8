"""AWS accounts as the rest of the code uses them."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ROLE_ARN = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):role/[\w+=,.@/-]+$")


@dataclass(frozen=True)
class Account:
    """One AWS account the bot reads, through a role or through its own credentials."""

    name: str
    role_arn: str | None = None
    external_id: str | None = None
    regions: tuple[str, ...] | None = None
    cost_payer: str | None = None

    @property
    def account_id(self) -> str | None:
        if self.role_arn is None:
            return None
        match = _ROLE_ARN.match(self.role_arn)
        return match.group(1) if match else None

    @property
    def label(self) -> str:
        account_id = self.account_id
        return f"{self.name} ({account_id})" if account_id else self.name


def is_valid_role_arn(value: str) -> bool:
    return bool(_ROLE_ARN.match(value))
