"""Replies built without AWS: help and its escaping, mentions, the unmapped channel,
`/aws regions` failures, account and region filters, idle summaries and plurals."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from handlers.context import ChannelContext
from handlers.digests import idle_digest_reply
from handlers.dispatch import (
    Backends,
    handle_mention,
    handle_text,
    help_reply,
    run_command,
    unmapped_channel_reply,
)
from handlers.grammar import Command, CommandError, parse_command
from handlers.idle import idle_reply, no_data_text
from handlers.inventory import build_query
from services.accounts import Account
from services.errors import AccountAccessError
from services.fanout import ScanWarning
from services.idle import IdleFinding, IdleReport, IdleThresholds
from services.idle_rules import EBS_UNATTACHED, EC2_LOW_UTILIZATION, LAMBDA_NO_INVOCATIONS

PROD = Account("prod", role_arn="arn:aws:iam::111111111111:role/AwsMonitorReadOnly")
STAGING = Account("Staging", regions=("eu-central-1",))
CTX = ChannelContext("C0PROD0001", (PROD, STAGING), environments={"prod": "production"})


class StubRegions:
    """A region resolver with fixed configured regions. `resolve` raises `error` if given."""

    def __init__(self, default: tuple[str, ...] | str, error: Exception | None = None) -> None:
        self.default = default
        self.error = error

    def configured(self, account: Account) -> tuple[str, ...] | str:
        return account.regions if account.regions is not None else self.default

    def resolve(self, account: Account, user_id: str | None = None) -> tuple[str, ...]:
        if self.error is not None:
            raise self.error
        configured = self.configured(account)
        assert isinstance(configured, tuple)
        return configured


class StubInventory:
    def __init__(self, regions: StubRegions) -> None:
        self.regions = regions


def backends(regions: StubRegions) -> Backends:
    return Backends(inventory=StubInventory(regions))  # type: ignore[arg-type]


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_help_reply_escapes_problem() -> None:
    reply = help_reply("Unknown command `<!here>`.")
    assert "<!here>" not in blocks_text(reply.blocks)
    assert "&lt;!here&gt;" in blocks_text(reply.blocks)
    assert "<!here>" not in reply.text


def test_handle_text_unknown_command_escaped() -> None:
    reply = handle_text("<!here>", CTX, backends(StubRegions(("us-east-1",))))
    assert "Unknown command `&lt;!here&gt;`" in blocks_text(reply.blocks)
    assert "<!here>" not in reply.text


def test_handle_text_huge_command_shortened() -> None:
    reply = handle_text("y" * 1_000_000, CTX, backends(StubRegions(("us-east-1",))))
    assert len(reply.text) < 500
    assert len(blocks_text(reply.blocks)) < 5000


def test_handle_mention_echo_escaped_without_bot() -> None:
    reply = handle_mention("<@UBOT> <!channel> hello", CTX, backends(StubRegions(("us-east-1",))))
    text = blocks_text(reply.blocks)
    assert "I did not understand “&lt;!channel&gt; hello”" in text
    assert "<!channel>" not in text
    assert "UBOT" not in text
    assert "<!channel>" not in reply.text


def test_unmapped_channel_reply_base_name_only() -> None:
    reply = unmapped_channel_reply("C0NEW", "/srv/secret/dir/aws-monitor.yaml", ["billing", "prod"])
    text = blocks_text(reply.blocks) + reply.text
    assert "/srv/secret" not in text
    assert "`aws-monitor.yaml`" in text
    assert "accounts: [billing]" in text
    assert "accounts: [prod]" not in text


def test_unmapped_channel_reply_placeholder_account() -> None:
    reply = unmapped_channel_reply("C0NEW", "aws-monitor.yaml")
    assert "accounts: [ACCOUNT_NAME]" in reply.text


def test_regions_command_describes_error() -> None:
    error = AccountAccessError(
        "Could not assume arn:aws:iam::111111111111:role/AwsMonitorReadOnly (AccessDenied): "
        "allow sts:AssumeRole for the bot's identity in the role's trust policy"
    )
    reply = run_command(Command(verb="regions"), CTX, backends(StubRegions(("us-east-1",), error)))
    text = blocks_text(reply.blocks)
    assert "AccountAccessError" not in text
    assert "Could not assume arn:aws:iam::111111111111:role/AwsMonitorReadOnly" in text
    assert "(account prod (111111111111))" in text


def test_build_query_account_any_case() -> None:
    command = parse_command("ec2 account=PROD account=staging")
    query = build_query(command, CTX, StubRegions(("us-east-1",)))  # type: ignore[arg-type]
    assert query.accounts == frozenset({"prod", "Staging"})


def test_build_query_unknown_account_lists_names() -> None:
    with pytest.raises(CommandError) as raised:
        build_query(parse_command("ec2 account=dev"), CTX)
    assert "Account `dev` is not mapped to this channel. Its accounts are: Staging, prod." in str(
        raised.value
    )


def test_build_query_region_uppercase_matches() -> None:
    query = build_query(
        parse_command("ec2 region=EU-CENTRAL-1"),
        CTX,
        StubRegions(("us-east-1",)),  # type: ignore[arg-type]
    )
    assert query.regions == frozenset({"eu-central-1"})


def test_build_query_region_outside_channel() -> None:
    with pytest.raises(CommandError) as raised:
        build_query(
            parse_command("ec2 region=ap-south-1"),
            CTX,
            StubRegions(("us-east-1",)),  # type: ignore[arg-type]
        )
    message = str(raised.value)
    assert "Region `ap-south-1` is not scanned for this channel" in message
    assert "Its regions are: eu-central-1, us-east-1." in message


def test_build_query_region_of_other_account() -> None:
    with pytest.raises(CommandError, match=r"Its regions are: us-east-1\."):
        build_query(
            parse_command("ec2 account=prod region=eu-central-1"),
            CTX,
            StubRegions(("us-east-1",)),  # type: ignore[arg-type]
        )


def test_build_query_region_not_a_name() -> None:
    with pytest.raises(CommandError, match="`mars-1` is not an AWS region name"):
        build_query(parse_command("ec2 region=mars-1"), CTX, StubRegions("enabled"))  # type: ignore[arg-type]


def test_build_query_enabled_regions_unchecked() -> None:
    query = build_query(
        parse_command("ec2 region=ap-south-1"),
        CTX,
        StubRegions("enabled"),  # type: ignore[arg-type]
    )
    assert query.regions == frozenset({"ap-south-1"})


def finding(resource_id: str, rule: str = EBS_UNATTACHED) -> IdleFinding:
    return IdleFinding(
        rule=rule,
        kind="ebs",
        resource_id=resource_id,
        account="prod",
        region="us-east-1",
        reason="Unattached 500 GiB gp3 volume",
        since=datetime(2025, 1, 1, tzinfo=UTC),
        since_label="created at",
        monthly_cost=Decimal("40.00"),
        cost_note="gp3 storage list price",
    )


def idle_report(
    findings: list[IdleFinding],
    warnings: list[ScanWarning] | None = None,
    scanned: int = 5,
    no_data: dict[str, int] | None = None,
) -> IdleReport:
    return IdleReport(
        findings=findings,
        warnings=warnings or [],
        accounts=["prod"],
        regions=["us-east-1"],
        elapsed=0.5,
        checked_at=datetime(2025, 3, 10, 8, tzinfo=UTC),
        thresholds=IdleThresholds(),
        scanned={"ebs": scanned} if scanned else {},
        no_data=no_data or {},
    )


ACCOUNT_FAILED = ScanWarning(
    "prod", "us-east-1", "Could not assume arn:aws:iam::111111111111:role/R (account prod)"
)
REGION_FAILED = ScanWarning(
    "prod",
    "us-east-1",
    "Missing IAM permission lambda:ListFunctions in account prod, region us-east-1",
)


def test_idle_reply_one_finding_singular() -> None:
    reply = idle_reply(idle_report([finding("vol-1")]))
    assert reply.text.startswith("1 idle resource among 5 scanned")


def test_idle_reply_nothing_scanned_all_failed() -> None:
    reply = idle_reply(idle_report([], [ACCOUNT_FAILED], scanned=0))
    assert reply.blocks[1]["text"]["text"].startswith("No account could be read")
    assert "among the 0" not in blocks_text(reply.blocks)


def test_idle_reply_partial_failure() -> None:
    reply = idle_reply(idle_report([], [REGION_FAILED], scanned=5))
    summary = reply.blocks[1]["text"]["text"]
    assert summary.startswith("No idle resources found, but parts of the scan failed")


def test_idle_reply_nothing_found_one_resource() -> None:
    reply = idle_reply(idle_report([], scanned=1))
    assert reply.text == "No idle resources among the 1 resource scanned."


def test_idle_digest_all_failed() -> None:
    ctx = ChannelContext("C0PROD0001", (PROD,))
    reply = idle_digest_reply(
        idle_report([], [ACCOUNT_FAILED], scanned=0), ctx, datetime(2025, 3, 10).date()
    )
    text = blocks_text(reply.blocks)
    assert "No account could be read" in text
    assert "No idle resources in account" not in text
    assert "Scanned 0 resources" in text


def test_no_data_text_wording() -> None:
    report = idle_report([], no_data={EC2_LOW_UTILIZATION: 5, LAMBDA_NO_INVOCATIONS: 1})
    assert no_data_text(report) == (
        "Not judged for lack of CloudWatch data: 5 EC2 instances (low-utilization rule), "
        "1 Lambda function (no-invocations rule)."
    )
