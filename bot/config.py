"""Load and validate the YAML configuration; a bad file stops start-up with the key and the fix."""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import botocore
import botocore.session
import yaml
from yaml.constructor import ConstructorError

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
# The shape of a region name, such as eu-west-1, us-gov-west-1 or eusc-de-east-1. A name of
# this shape is then looked up in botocore's endpoint data.
_REGION = re.compile(r"^[a-z]{2,}(-[a-z]+)+-\d+$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DAYS = re.compile(rf"^({'|'.join(WEEKDAYS)})(-({'|'.join(WEEKDAYS)}))?$")
_ROLE_ARN_PARTITION = re.compile(r"^arn:([\w-]+):")
# Debian's tzdata package installs `localtime` as a link to /etc/localtime, so
# available_timezones() lists it, but its zone is the host's. `Factory` is a placeholder
# zone whose abbreviation reads "-00".
_NOT_TIME_ZONES = frozenset({"localtime", "Factory"})
# Messages cut an echoed value to this many characters.
MAX_SHOWN_CHARS = 80


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


def is_channel_id(value: str) -> bool:
    """Return whether the value has the form of a Slack channel id, such as C0PROD0001."""
    return bool(_CHANNEL_ID.match(value))


def shown(value: Any) -> str:
    """Return repr(value) for a message, cut to MAX_SHOWN_CHARS characters."""
    try:
        text = repr(value)
    except ValueError:
        # Python refuses to convert an int of more than sys.get_int_max_str_digits() digits.
        return f"a number of more than {sys.get_int_max_str_digits()} digits"
    return _cut(text)


def _cut(text: str) -> str:
    if len(text) <= MAX_SHOWN_CHARS:
        return text
    return f"{text[: MAX_SHOWN_CHARS - 3]}... ({len(text)} characters)"


@functools.cache
def region_partitions() -> dict[str, str]:
    """Map each region in the installed botocore's endpoint data to its partition (aws, aws-cn, ...)."""
    session = botocore.session.get_session()
    partitions = {}
    for partition in session.get_available_partitions():
        # EC2 is listed in every region of every partition (checked in botocore 1.44.8).
        for region in session.get_available_regions("ec2", partition):
            partitions[region] = partition
    return partitions


@functools.cache
def time_zone_names() -> frozenset[str]:
    """Return the IANA time zone names that the host's tz database (or tzdata) provides."""
    return (frozenset(available_timezones()) - _NOT_TIME_ZONES) | {"UTC"}


class DuplicateKeyError(ConstructorError):
    """A mapping in the YAML file contains the same key twice."""

    def __init__(self, key: Any, line: int, column: int, first_line: int) -> None:
        super().__init__(problem=f"duplicate key {shown(key)}")
        self.key = key
        self.line = line
        self.column = column
        self.first_line = first_line


class ConfigLoader(yaml.SafeLoader):
    """A SafeLoader that rejects duplicate mapping keys and numbers Python cannot convert.

    PyYAML keeps the last of two equal keys, so a second `prod:` account would silently
    replace the first.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        if isinstance(node, yaml.MappingNode):
            first_marks: dict[Any, yaml.Mark] = {}
            for key_node, _ in node.value:
                # A `<<` merge key may appear more than once, and its keys may be overridden.
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = first_marks.setdefault(key, key_node.start_mark)
                except TypeError:
                    continue  # an unhashable key: the base class raises its own error
                if first is not key_node.start_mark:
                    raise DuplicateKeyError(
                        key,
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                        first.line + 1,
                    )
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            return super().construct_yaml_int(node)  # type: ignore[no-any-return]
        except ValueError:
            # Python refuses to convert more than sys.get_int_max_str_digits() digits.
            raise ConstructorError(
                problem=f"a number has more than {sys.get_int_max_str_digits()} digits, "
                "far beyond the range of any setting",
                problem_mark=node.start_mark,
            ) from None


ConfigLoader.add_constructor("tag:yaml.org,2002:int", ConfigLoader.construct_yaml_int)


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
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{location}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start} is invalid); save the file as UTF-8."
        ) from None
    try:
        data = yaml.load(text, Loader=ConfigLoader)
    except DuplicateKeyError as exc:
        raise ConfigError(
            f"{location}: line {exc.line}, column {exc.column}: duplicate key {shown(exc.key)}, "
            f"first defined at line {exc.first_line}. Keep one of the two and merge their settings."
        ) from None
    except RecursionError:
        raise ConfigError(
            f"{location}: invalid YAML: the values are nested too deeply to parse. Look for "
            "unclosed or repeated brackets."
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{location}: invalid YAML{where}: {exc}") from None
    return parse_config(data, location)


def parse_config(data: Any, location: str = DEFAULT_CONFIG_PATH) -> AppConfig:
    return _Parser(location).parse(data)


def _described(value: Any) -> str:
    """Return the YAML type and the value, such as `list ['prod']`, for a message."""
    return f"{type(value).__name__} {shown(value)}"


def _shown_as_yaml(value: Any) -> str:
    """Show a value that should have been a number as YAML spells it, with why it is not one."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if value is None:
        return "no value (the key is empty)"
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return shown(value)
        return f"the text {shown(value)}; write the number without quotes, in digits such as 1000"
    return shown(value)


def _day_range(first: str, last: str) -> str:
    return first if first == last else f"{first}-{last}"


def _role_partition(role_arn: str) -> str:
    match = _ROLE_ARN_PARTITION.match(role_arn)
    return match[1] if match else "aws"


class _Parser:
    def __init__(self, location: str) -> None:
        self.location = location

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.location}: {_cut(key)}: {problem}")

    def mapping(self, value: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {_described(value)}.")
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
            raise self.fail(
                key, f"expected a number from {minimum} to {maximum}, got {_shown_as_yaml(value)}."
            )
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise self.fail(key, f"expected a whole number, got {shown(value)}.")
        # An int is compared exactly, without a conversion to float that overflows past 1e308.
        if not minimum <= value <= maximum:
            raise self.fail(key, f"{shown(value)} is out of range; use {minimum} to {maximum}.")
        return kind(value)

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {shown(value)}.")
        return value

    def account_name(self, value: Any, key: str) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise self.fail(
                key,
                f"account names are text, but YAML reads {shown(value)} as a number; "
                f"quote it: '{shown(value)}'.",
            )
        raise self.fail(key, f"expected an account name, got {_described(value)}.")

    def region(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not _REGION.match(value):
            raise self.fail(key, f"{shown(value)} is not a region name such as eu-west-1.")
        if value not in region_partitions():
            raise self.fail(
                key,
                f"{shown(value)} is not a region known to the installed botocore "
                f"{botocore.__version__}. Check the spelling, or upgrade botocore "
                "(pip install --upgrade botocore) if the region is new.",
            )
        return value

    def regions(self, value: Any, key: str) -> tuple[str, ...] | str:
        if value == ENABLED:
            return ENABLED
        if not isinstance(value, list) or not value:
            raise self.fail(
                key,
                f'expected a list of regions such as [us-east-1] or "enabled", got {shown(value)}.',
            )
        regions = tuple(
            dict.fromkeys(
                self.region(region, f"{key}[{index}]") for index, region in enumerate(value)
            )
        )
        partitions = {region_partitions()[region]: region for region in regions}
        if len(partitions) > 1:
            examples = ", ".join(f"{region} ({name})" for name, region in partitions.items())
            raise self.fail(
                key,
                f"the regions are in more than one AWS partition: {examples}. Credentials "
                "work in one partition only, so list regions of one partition.",
            )
        return regions

    def parse(self, data: Any) -> AppConfig:
        if data is None:
            raise self.fail(
                "(top level)", "the file is empty; it needs aws, accounts and channels."
            )
        if not isinstance(data, dict):
            raise self.fail(
                "(top level)",
                f"expected a mapping with the keys aws, accounts and channels, got "
                f"{_described(data)}.",
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
                "answer_timeout",
                "max_clients",
                "default_region",
            ),
        )
        regions = self.regions(aws.get("regions", ["us-east-1"]), "aws.regions")
        environment_tag = self.string(
            aws.get("environment_tag", "Environment"), "aws.environment_tag"
        )
        environments = self.environments(aws.get("environments"))
        settings = self.aws_settings(aws)
        accounts = self.accounts(top.get("accounts"), regions, settings.default_region)
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
                f"expected a mapping such as {{prod: production}}, got {shown(value)}.",
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
            raise self.fail(
                "aws.retry_mode", f"{shown(mode)} is not valid; use standard or adaptive."
            )
        default_region = self.region(
            aws.get("default_region", defaults.default_region), "aws.default_region"
        )
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
            answer_timeout=self.number(
                aws.get("answer_timeout", defaults.answer_timeout),
                "aws.answer_timeout",
                float,
                1,
                1800,
            ),
            max_clients=self.number(
                aws.get("max_clients", defaults.max_clients), "aws.max_clients", int, 1, 100_000
            ),
            default_region=default_region,
        )

    def accounts(
        self, value: Any, default_regions: tuple[str, ...] | str, default_region: str
    ) -> dict[str, Account]:
        if not value:
            raise self.fail("accounts", "at least one account is needed, e.g. `shared: {}`.")
        if not isinstance(value, dict):
            raise self.fail(
                "accounts",
                f"expected a mapping of account names such as `shared: {{}}`, got "
                f"{_described(value)}.",
            )
        result: dict[str, Account] = {}
        for raw_name, raw in value.items():
            key = f"accounts.{raw_name}"
            name = self.account_name(raw_name, key)
            if not re.match(r"^[\w.-]+$", name):
                raise self.fail(key, "account names must be letters, digits, '.', '-' or '_'.")
            fields = self.mapping(raw, key, ("role_arn", "external_id", "regions", "cost_payer"))
            role_arn = fields.get("role_arn")
            if role_arn is not None and (
                not isinstance(role_arn, str) or not is_valid_role_arn(role_arn)
            ):
                raise self.fail(
                    f"{key}.role_arn",
                    f"{shown(role_arn)} is not a role ARN such as "
                    "arn:aws:iam::111111111111:role/AwsMonitorReadOnly.",
                )
            external_id = fields.get("external_id")
            if external_id is not None:
                external_id = self.string(external_id, f"{key}.external_id")
            raw_regions = fields.get("regions")
            regions = None if raw_regions is None else self.regions(raw_regions, f"{key}.regions")
            if role_arn is not None:
                self.check_partition(key, role_arn, regions or default_regions, default_region)
            cost_payer = fields.get("cost_payer")
            if cost_payer is not None:
                cost_payer = self.account_name(cost_payer, f"{key}.cost_payer")
            result[name] = Account(
                name=name,
                role_arn=role_arn,
                external_id=external_id,
                regions=regions,  # type: ignore[arg-type]
                cost_payer=cost_payer,
            )
        for name, account in result.items():
            if account.cost_payer is not None and account.cost_payer not in result:
                raise self.fail(
                    f"accounts.{name}.cost_payer",
                    f"unknown account {shown(account.cost_payer)}; name one of: "
                    f"{', '.join(result)}.",
                )
        return result

    def check_partition(
        self, key: str, role_arn: str, regions: tuple[str, ...] | str, default_region: str
    ) -> None:
        """Reject a role whose AWS partition (aws, aws-cn, aws-us-gov, ...) differs from its regions'."""
        partition = _role_partition(role_arn)
        default_partition = region_partitions()[default_region]
        if partition != default_partition:
            raise self.fail(
                f"{key}.role_arn",
                f"the role is in partition {partition}, but aws.default_region "
                f"{default_region} is in {default_partition}. The bot assumes every role "
                f"through STS in aws.default_region, so set it to a region of {partition}.",
            )
        if isinstance(regions, str):
            return  # "enabled": describe_regions runs in aws.default_region, checked above
        region_partition = region_partitions()[regions[0]]
        if region_partition != partition:
            raise self.fail(
                f"{key}.role_arn",
                f"the role is in partition {partition}, but its regions ({', '.join(regions)}) "
                f"are in {region_partition}. A partition's credentials work only in its own "
                f"regions, so use an arn:{region_partition}: role or list regions of "
                f"{partition} under {key}.regions.",
            )

    def channels(self, value: Any, accounts: dict[str, Account]) -> dict[str, ChannelConfig]:
        if not value:
            raise self.fail("channels", "map at least one Slack channel id to accounts.")
        if not isinstance(value, dict):
            raise self.fail(
                "channels", f"expected a mapping of channel ids, got {_described(value)}."
            )
        result = {}
        for channel_id, raw in value.items():
            key = f"channels.{channel_id}"
            if not isinstance(channel_id, str) or not is_channel_id(channel_id):
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
                name_key = f"{key}.accounts[{index}]"
                if self.account_name(name, name_key) not in accounts:
                    raise self.fail(
                        name_key,
                        f"unknown account {shown(name)}. Define it under accounts: or use one "
                        f"of: {', '.join(accounts)}.",
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
                key, f"expected an IANA time zone such as Europe/Berlin, got {shown(value)}."
            )
        if value not in time_zone_names():
            raise self.fail(
                key,
                f"unknown time zone {shown(value)}; use an IANA name such as Europe/Berlin or UTC.",
            )
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
                    f'{shown(at)} is not a time; write it quoted as "HH:MM", e.g. "09:00".',
                )
            days = self.days(fields.get("days", "mon-sun"), f"{key}.{kind}.days")
            result.append(DigestSchedule(kind, time(int(match[1]), int(match[2])), days))
        return tuple(result)

    def days(self, value: Any, key: str) -> str:
        """Parse a day list such as mon-fri or sat,sun into APScheduler's day_of_week form.

        A range that passes Sunday, such as fri-mon, is split in two (fri-sun,mon) because
        APScheduler rejects a range whose start is after its end.
        """
        problem = (
            f"{shown(value)} is not a day list; use e.g. mon-fri, sat,sun, mon-sun or fri-mon "
            "(Friday to Monday)."
        )
        if not isinstance(value, str):
            raise self.fail(key, problem)
        ranges = []
        for part in value.lower().split(","):
            match = _DAYS.match(part.strip())
            if match is None:
                raise self.fail(key, problem)
            first, last = match[1], match[3] or match[1]
            if WEEKDAYS.index(first) <= WEEKDAYS.index(last):
                ranges.append(_day_range(first, last))
            else:
                ranges.append(_day_range(first, "sun"))
                ranges.append(_day_range("mon", last))
        return ",".join(ranges)

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
                "costs.metric", f"{shown(metric)} is not valid; use one of {', '.join(allowed)}."
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
