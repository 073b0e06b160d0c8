"""Load and validate the YAML configuration; a bad file stops start-up with the key and the fix."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from handlers.context import ChannelContext
from services.accounts import Account, is_valid_role_arn
from services.errors import ConfigError
from services.idle_rules import IdleThresholds
from services.regions import ENABLED
from services.sessions import MAX_ASSUME_ROLE_SECONDS, AwsSettings

DEFAULT_CONFIG_PATH = "./aws-monitor.yaml"
CONFIG_ENV = "AWS_MONITOR_CONFIG"
DIGEST_KINDS = ("costs", "idle")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DAYS = re.compile(rf"^({'|'.join(WEEKDAYS)})(-({'|'.join(WEEKDAYS)}))?$")


@dataclass(frozen=True)
class DigestSchedule:
    kind: str
    at: time
    days: str = "mon-sun"


@dataclass(frozen=True)
class ChannelConfig:
    channel_id: str
    accounts: tuple[str, ...]
    timezone: str = "UTC"
    digests: tuple[DigestSchedule, ...] = ()


@dataclass(frozen=True)
class CostSettings:
    cache_hours: float = 6.0
    metric: str = "UnblendedCost"
    top: int = 5


@dataclass(frozen=True)
class DigestSettings:
    grace_minutes: int = 240
    spike_percent: float = 50.0
    spike_min_amount: float = 10.0


@dataclass(frozen=True)
class AppConfig:
    path: str
    regions: tuple[str, ...] | str
    environment_tag: str
    environments: Mapping[str, str]
    accounts: Mapping[str, Account]
    channels: Mapping[str, ChannelConfig]
    aws: AwsSettings = field(default_factory=AwsSettings)
    costs: CostSettings = field(default_factory=CostSettings)
    idle: IdleThresholds = field(default_factory=IdleThresholds)
    digests: DigestSettings = field(default_factory=DigestSettings)

    def channel_context(self, channel_id: str, user_id: str | None = None) -> ChannelContext | None:
        """Return the channel's context, or None when the channel is not mapped."""
        channel = self.channels.get(channel_id)
        if channel is None:
            return None
        return ChannelContext(
            channel_id=channel_id,
            accounts=tuple(self.accounts[name] for name in channel.accounts),
            environment_tag=self.environment_tag,
            environments=self.environments,
            timezone=channel.timezone,
            user_id=user_id,
        )


def config_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH


def load_config(path: str | os.PathLike[str]) -> AppConfig:
    """Read and validate the file; raise ConfigError naming the file, the key and the fix."""
    location = str(path)
    try:
        text = Path(location).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{location}: file not found. Create it (see aws-monitor.example.yaml) or pass "
            f"--config PATH / set {CONFIG_ENV}."
        ) from None
    except OSError as exc:
        raise ConfigError(f"{location}: cannot be read ({exc.strerror}).") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{location}: invalid YAML{where}: {exc}") from None
    return parse_config(data, location)


def parse_config(data: Any, location: str = DEFAULT_CONFIG_PATH) -> AppConfig:
    return _Parser(location).parse(data)


class _Parser:
    def __init__(self, location: str) -> None:
        self.location = location

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.location}: {key}: {problem}")

    def mapping(self, value: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {type(value).__name__} {value!r}.")
        for name in value:
            if name not in allowed:
                raise self.fail(
                    f"{key}.{name}" if key else str(name),
                    f"unknown key. Allowed keys here: {', '.join(allowed)}.",
                )
        return value

    def number(
        self, value: Any, key: str, kind: Callable[[Any], Any], minimum: float, maximum: float
    ) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number from {minimum} to {maximum}, got {value!r}.")
        if kind is int and not float(value).is_integer():
            raise self.fail(key, f"expected a whole number, got {value!r}.")
        if not minimum <= value <= maximum:
            raise self.fail(key, f"{value!r} is out of range; use {minimum} to {maximum}.")
        return kind(value)

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {value!r}.")
        return value

    def regions(self, value: Any, key: str) -> tuple[str, ...] | str:
        if value == ENABLED:
            return ENABLED
        if not isinstance(value, list) or not value:
            raise self.fail(
                key, f'expected a list of regions such as [us-east-1] or "enabled", got {value!r}.'
            )
        for index, region in enumerate(value):
            if not isinstance(region, str) or not _REGION.match(region):
                raise self.fail(
                    f"{key}[{index}]", f"{region!r} is not a region name such as eu-west-1."
                )
        return tuple(dict.fromkeys(value))

    def parse(self, data: Any) -> AppConfig:
        if data is None:
            raise self.fail(
                "(top level)", "the file is empty; it needs aws, accounts and channels."
            )
        top = self.mapping(data, "", ("aws", "accounts", "channels", "costs", "idle", "digests"))
        aws = self.mapping(
            top.get("aws"),
            "aws",
            (
                "regions",
                "environment_tag",
                "environments",
                "retry_mode",
                "max_attempts",
                "connect_timeout",
                "read_timeout",
                "max_workers",
                "default_region",
            ),
        )
        regions = self.regions(aws.get("regions", ["us-east-1"]), "aws.regions")
        environment_tag = self.string(
            aws.get("environment_tag", "Environment"), "aws.environment_tag"
        )
        environments = self.environments(aws.get("environments"))
        settings = self.aws_settings(aws)
        accounts = self.accounts(top.get("accounts"))
        channels = self.channels(top.get("channels"), accounts)
        return AppConfig(
            path=self.location,
            regions=regions,
            environment_tag=environment_tag,
            environments=environments,
            accounts=accounts,
            channels=channels,
            aws=settings,
            costs=self.costs(top.get("costs")),
            idle=self.idle(top.get("idle")),
            digests=self.digest_settings(top.get("digests")),
        )

    def environments(self, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(
                "aws.environments",
                f"expected a mapping such as {{prod: production}}, got {value!r}.",
            )
        result = {}
        for word, tag_value in value.items():
            key = f"aws.environments.{word}"
            if not isinstance(word, str) or not re.match(r"^[\w.-]+$", word):
                raise self.fail(key, "the word must be letters, digits, '.', '-' or '_'.")
            result[word.lower()] = self.string(tag_value, key)
        return result

    def aws_settings(self, aws: dict[str, Any]) -> AwsSettings:
        defaults = AwsSettings()
        mode = aws.get("retry_mode", defaults.retry_mode)
        if mode not in ("standard", "adaptive"):
            raise self.fail("aws.retry_mode", f"{mode!r} is not valid; use standard or adaptive.")
        default_region = aws.get("default_region", defaults.default_region)
        if not isinstance(default_region, str) or not _REGION.match(default_region):
            raise self.fail("aws.default_region", f"{default_region!r} is not a region name.")
        return AwsSettings(
            retry_mode=mode,
            max_attempts=self.number(
                aws.get("max_attempts", defaults.max_attempts), "aws.max_attempts", int, 1, 20
            ),
            connect_timeout=self.number(
                aws.get("connect_timeout", defaults.connect_timeout),
                "aws.connect_timeout",
                float,
                0.1,
                120,
            ),
            read_timeout=self.number(
                aws.get("read_timeout", defaults.read_timeout), "aws.read_timeout", float, 0.1, 600
            ),
            max_workers=self.number(
                aws.get("max_workers", defaults.max_workers), "aws.max_workers", int, 1, 256
            ),
            default_region=default_region,
        )

    def accounts(self, value: Any) -> dict[str, Account]:
        if not value:
            raise self.fail("accounts", "at least one account is needed, e.g. `shared: {}`.")
        raw_accounts = self.mapping(value, "accounts", tuple(str(name) for name in value))
        result: dict[str, Account] = {}
        for name, raw in raw_accounts.items():
            key = f"accounts.{name}"
            if not re.match(r"^[\w.-]+$", str(name)):
                raise self.fail(key, "account names must be letters, digits, '.', '-' or '_'.")
            fields = self.mapping(raw, key, ("role_arn", "external_id", "regions", "cost_payer"))
            role_arn = fields.get("role_arn")
            if role_arn is not None and (
                not isinstance(role_arn, str) or not is_valid_role_arn(role_arn)
            ):
                raise self.fail(
                    f"{key}.role_arn",
                    f"{role_arn!r} is not a role ARN such as "
                    "arn:aws:iam::111111111111:role/AwsMonitorReadOnly.",
                )
            external_id = fields.get("external_id")
            if external_id is not None:
                external_id = self.string(external_id, f"{key}.external_id")
            regions = fields.get("regions")
            result[str(name)] = Account(
                name=str(name),
                role_arn=role_arn,
                external_id=external_id,
                regions=None if regions is None else self.regions(regions, f"{key}.regions"),  # type: ignore[arg-type]
                cost_payer=fields.get("cost_payer"),
            )
        for name, account in result.items():
            if account.cost_payer is not None and account.cost_payer not in result:
                raise self.fail(
                    f"accounts.{name}.cost_payer",
                    f"unknown account {account.cost_payer!r}; name one of: {', '.join(result)}.",
                )
        return result

    def channels(self, value: Any, accounts: dict[str, Account]) -> dict[str, ChannelConfig]:
        if not value:
            raise self.fail("channels", "map at least one Slack channel id to accounts.")
        if not isinstance(value, dict):
            raise self.fail("channels", f"expected a mapping of channel ids, got {value!r}.")
        result = {}
        for channel_id, raw in value.items():
            key = f"channels.{channel_id}"
            if not isinstance(channel_id, str) or not _CHANNEL_ID.match(channel_id):
                raise self.fail(
                    key,
                    "not a Slack channel id. Use the id (e.g. C0PROD0001, from the channel's "
                    "details), not its name.",
                )
            fields = self.mapping(raw, key, ("accounts", "timezone", "digests"))
            names = fields.get("accounts")
            if not isinstance(names, list) or not names:
                raise self.fail(f"{key}.accounts", "list the account names this channel sees.")
            for index, name in enumerate(names):
                if name not in accounts:
                    raise self.fail(
                        f"{key}.accounts[{index}]",
                        f"unknown account {name!r}. Define it under accounts: or use one of: "
                        f"{', '.join(accounts)}.",
                    )
            timezone = self.timezone(fields.get("timezone", "UTC"), f"{key}.timezone")
            digests = self.digests(fields.get("digests"), f"{key}.digests")
            result[channel_id] = ChannelConfig(
                channel_id=channel_id,
                accounts=tuple(dict.fromkeys(names)),
                timezone=timezone,
                digests=digests,
            )
        return result

    def timezone(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise self.fail(
                key, f"expected an IANA time zone such as Europe/Berlin, got {value!r}."
            )
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(
                key, f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin or UTC."
            ) from None
        return value

    def digests(self, value: Any, key: str) -> tuple[DigestSchedule, ...]:
        digests = self.mapping(value, key, DIGEST_KINDS)
        result = []
        for kind, raw in digests.items():
            fields = self.mapping(raw, f"{key}.{kind}", ("at", "days"))
            at = fields.get("at")
            match = _TIME.match(at) if isinstance(at, str) else None
            if match is None:
                raise self.fail(
                    f"{key}.{kind}.at",
                    f'{at!r} is not a time; write it quoted as "HH:MM", e.g. "09:00".',
                )
            days = str(fields.get("days", "mon-sun")).lower()
            if not all(_DAYS.match(part.strip()) for part in days.split(",")):
                raise self.fail(
                    f"{key}.{kind}.days",
                    f"{days!r} is not a day list; use e.g. mon-fri, sat,sun or mon-sun.",
                )
            result.append(DigestSchedule(kind, time(int(match[1]), int(match[2])), days))
        return tuple(result)

    def costs(self, value: Any) -> CostSettings:
        fields = self.mapping(value, "costs", ("cache_hours", "metric", "top"))
        defaults = CostSettings()
        metric = fields.get("metric", defaults.metric)
        allowed = (
            "UnblendedCost",
            "BlendedCost",
            "AmortizedCost",
            "NetUnblendedCost",
            "NetAmortizedCost",
        )
        if metric not in allowed:
            raise self.fail(
                "costs.metric", f"{metric!r} is not valid; use one of {', '.join(allowed)}."
            )
        return CostSettings(
            cache_hours=self.number(
                fields.get("cache_hours", defaults.cache_hours),
                "costs.cache_hours",
                float,
                0,
                24 * 31,
            ),
            metric=metric,
            top=self.number(fields.get("top", defaults.top), "costs.top", int, 1, 20),
        )

    def idle(self, value: Any) -> IdleThresholds:
        defaults = IdleThresholds()
        names = tuple(defaults.__dataclass_fields__)
        fields = self.mapping(value, "idle", names)
        values = {}
        for name in names:
            default = getattr(defaults, name)
            kind = int if isinstance(default, int) else float
            values[name] = self.number(fields.get(name, default), f"idle.{name}", kind, 0, 100_000)
        try:
            return IdleThresholds(**values)
        except ValueError as exc:
            # The thresholds check how they relate to each other and to CloudWatch's retention.
            raise ConfigError(f"{self.location}: {exc}.") from None

    def digest_settings(self, value: Any) -> DigestSettings:
        defaults = DigestSettings()
        fields = self.mapping(
            value, "digests", ("grace_minutes", "spike_percent", "spike_min_amount")
        )
        return DigestSettings(
            grace_minutes=self.number(
                fields.get("grace_minutes", defaults.grace_minutes),
                "digests.grace_minutes",
                int,
                0,
                24 * 60,
            ),
            spike_percent=self.number(
                fields.get("spike_percent", defaults.spike_percent),
                "digests.spike_percent",
                float,
                0,
                10_000,
            ),
            spike_min_amount=self.number(
                fields.get("spike_min_amount", defaults.spike_min_amount),
                "digests.spike_min_amount",
                float,
                0,
                1e9,
            ),
        )


__all__ = ["MAX_ASSUME_ROLE_SECONDS", "AppConfig", "ChannelConfig", "DigestSchedule", "load_config"]
