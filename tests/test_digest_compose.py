"""Digest composition: spike rule, the cost digest and the idle digest with snooze buttons."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.store import Store
from handlers.blocks import MAX_BLOCKS
from handlers.context import ChannelContext
from handlers.digests import (
    MAX_BUTTON_VALUE,
    DigestOptions,
    SnoozeRequest,
    build_digest,
    cost_digest_reply,
    idle_digest_reply,
    mark_snoozed,
    parse_snooze,
    snooze_actions,
    snooze_note,
)
from handlers.dispatch import Backends, handle_text
from services.accounts import Account
from services.cost_digest import (
    CostDigest,
    SpikeRule,
    collect_cost_digest,
    find_spikes,
    mean_before,
)
from services.cost_periods import Period
from services.costs import SERVICE_GROUPING, CostReport, Forecast
from services.fanout import ScanWarning
from services.idle import IdleFinding, IdleReport, IdleThresholds
from services.idle_rules import EBS_UNATTACHED, EC2_STOPPED

PROD = Account("prod", "arn:aws:iam::111111111111:role/AwsMonitorReadOnly")
CTX = ChannelContext(channel_id="C0PROD0001", accounts=(PROD,), timezone="Europe/Berlin")
RULE = SpikeRule(percent=Decimal(50), min_amount=Decimal(10))
TODAY = date(2025, 3, 10)
YESTERDAY = date(2025, 3, 9)
EC2 = "Amazon Elastic Compute Cloud - Compute"
LAMBDA = "AWS Lambda"
S3 = "Amazon Simple Storage Service"


def money(value: str) -> Decimal:
    return Decimal(value)


def cost_report(
    period: Period,
    daily: dict[date, dict[str, Decimal]],
    previous: dict[str, Decimal] | None = None,
    forecast: Forecast | None = None,
    answered: bool = True,
    warnings: list[ScanWarning] | None = None,
) -> CostReport:
    groups: dict[str, Decimal] = {}
    for amounts in daily.values():
        for key, amount in amounts.items():
            groups[key] = groups.get(key, Decimal(0)) + amount
    return CostReport(
        period=period,
        previous=Period("before", period.start - timedelta(days=period.days), period.start),
        group_by=SERVICE_GROUPING,
        metric="UnblendedCost",
        services=(),
        unit="USD",
        daily=daily,
        groups=groups,
        previous_groups=previous,
        other_charges={},
        labels={key: key for key in groups},
        forecast=forecast,
        warnings=warnings or [],
        accounts=["prod"],
        answered=answered,
        estimated=False,
        requests_sent=3,
        cache_hits=1,
        elapsed=0.2,
    )


def recent_daily() -> dict[date, dict[str, Decimal]]:
    """15 days: EC2 $80 a day, S3 $20 a day, Lambda $30 a day jumping to $60 yesterday."""
    daily = {}
    for offset in range(15):
        day = YESTERDAY - timedelta(days=offset)
        daily[day] = {EC2: money("80"), S3: money("20"), LAMBDA: money("30")}
    daily[YESTERDAY][LAMBDA] = money("60")
    daily[YESTERDAY - timedelta(days=1)][EC2] = money("70")
    daily[YESTERDAY - timedelta(days=7)][S3] = money("40")
    return daily


def cost_digest(month: CostReport | None = None, recent: CostReport | None = None) -> CostDigest:
    recent = recent or cost_report(
        Period("last 15 days", YESTERDAY - timedelta(days=14), TODAY), recent_daily()
    )
    if month is None:
        month = cost_report(
            Period("this month", date(2025, 3, 1), TODAY, month_to_date=True),
            {date(2025, 3, 1): {EC2: money("900")}},
            previous={EC2: money("800")},
            forecast=Forecast(
                month=date(2025, 3, 1),
                actual=money("900"),
                projected=money("3100"),
                method="aws",
                lower=money("2900"),
                upper=money("3300"),
                reasons=[],
            ),
        )
    return CostDigest(today=TODAY, day=YESTERDAY, rule=RULE, recent=recent, month=month)


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


# Spike rule


def test_spike_rule_needs_percent_and_amount() -> None:
    assert RULE.is_spike(money("30.01"), money("20"))
    assert not RULE.is_spike(money("30"), money("20"))  # exactly 50 % and $10 above: not more
    assert not RULE.is_spike(money("140"), money("100"))  # 40 above, but only 40 %
    assert not RULE.is_spike(money("12"), money("4"))  # 200 %, but only 8 above


def test_find_spikes_missing_days_count_as_zero() -> None:
    daily = {YESTERDAY - timedelta(days=offset): {LAMBDA: money("20")} for offset in range(1, 8)}
    daily[YESTERDAY] = {LAMBDA: money("30")}
    assert mean_before(daily, LAMBDA, YESTERDAY, 14) == money("10")
    spikes = find_spikes(daily, YESTERDAY, RULE)
    assert [(spike.key, spike.amount, spike.mean) for spike in spikes] == [
        (LAMBDA, money("30"), money("10"))
    ]
    assert spikes[0].percent == money("200")


def test_find_spikes_new_service_has_no_percent() -> None:
    spikes = find_spikes({YESTERDAY: {LAMBDA: money("25")}}, YESTERDAY, RULE)
    assert len(spikes) == 1
    assert spikes[0].percent is None
    assert spikes[0].above == money("25")


# Cost digest


def test_cost_digest_reply_compares_days_and_month() -> None:
    reply = cost_digest_reply(cost_digest(), CTX, top=2)
    text = blocks_text(reply.blocks)
    assert reply.blocks[0]["text"]["text"] == "AWS cost digest · Mon 2025-03-10"
    assert "*Yesterday, Sun 2025-03-09:* *$160.00*" in text
    # The day before: 70 + 20 + 30; a week earlier: 80 + 40 + 30.
    assert "+33.3 % (+$40.00) against the day before, Sat 2025-03-08 ($120.00)" in text
    assert "+6.7 % (+$10.00) against a week earlier, Sun 2025-03-02 ($150.00)" in text
    assert "*Month to date, 2025-03-01 – 2025-03-09:* *$900.00*" in text
    assert "+12.5 % (+$100.00) against the same days of last month" in text
    assert "*Forecast for March 2025:* $3,100.00" in text


def test_cost_digest_reply_flags_spike_and_states_rule() -> None:
    reply = cost_digest_reply(cost_digest(), CTX, top=5)
    text = blocks_text(reply.blocks)
    assert "*1 cost spike yesterday*" in text
    assert "*AWS Lambda* $60.00, $30.00 above its 14-day mean of $30.00 (+100.0 %)" in text
    assert (
        "A spike is a service's daily cost more than 50 % and more than $10.00 above its mean "
        "over the 14 days before." in text
    )
    assert "1 cost spike" in reply.text


def test_cost_digest_reply_top_services_with_changes() -> None:
    reply = cost_digest_reply(cost_digest(), CTX, top=2)
    text = blocks_text(reply.blocks)
    assert "*Top services yesterday* (of 3)" in text
    assert f"• *{EC2}* $80.00 · day before +14.3 % (+$10.00) · week before no change" in text
    assert f"• *{LAMBDA}* $60.00 · day before +100.0 % (+$30.00)" in text
    assert "• *Other* (1 more service) $20.00" in text


def test_cost_digest_reply_attaches_daily_chart() -> None:
    reply = cost_digest_reply(cost_digest(), CTX, top=3)
    assert [attachment.filename for attachment in reply.files] == ["cost-digest-2025-03-10.png"]
    assert reply.files[0].content.startswith(b"\x89PNG\r\n\x1a\n")
    assert reply.files[0].title == "Daily cost by service, 2025-02-23 – 2025-03-09"


def test_cost_digest_reply_first_of_month() -> None:
    digest = cost_digest()
    digest.month = None
    text = blocks_text(cost_digest_reply(digest, CTX, top=3).blocks)
    assert "*Month to date:* none yet, the month began today (2025-03-10)." in text
    assert "Forecast" not in text


def test_cost_digest_reply_without_answer_shows_warnings() -> None:
    warning = ScanWarning("prod", None, "Cost Explorer is not enabled for account prod.")
    recent = cost_report(
        Period("last 15 days", YESTERDAY - timedelta(days=14), TODAY),
        {},
        answered=False,
        warnings=[warning],
    )
    month = cost_report(
        Period("this month", date(2025, 3, 1), TODAY, month_to_date=True),
        {},
        answered=False,
        warnings=[warning],
    )
    reply = cost_digest_reply(cost_digest(month=month, recent=recent), CTX, top=3)
    text = blocks_text(reply.blocks)
    assert "No cost data" in text
    assert text.count("Cost Explorer is not enabled for account prod.") == 1
    assert reply.files == []


def test_cost_digest_reply_day_without_data_says_so() -> None:
    daily = recent_daily()
    del daily[YESTERDAY]
    recent = cost_report(Period("last 15 days", YESTERDAY - timedelta(days=14), TODAY), daily)
    text = blocks_text(cost_digest_reply(cost_digest(recent=recent), CTX, top=3).blocks)
    assert "Cost Explorer has no cost for this billing day yet" in text


class RecordingExplorer:
    """Records the periods a digest requests and returns empty reports."""

    top = 5

    def __init__(self) -> None:
        self.requests: list[tuple[Period, bool]] = []

    def report(self, accounts: Any, period: Period, group_by: Any, **options: Any) -> CostReport:
        self.requests.append((period, options.get("forecast", True)))
        return cost_report(period, {})


def test_collect_cost_digest_asks_fifteen_days_and_month() -> None:
    explorer = RecordingExplorer()
    digest = collect_cost_digest(explorer, [PROD], TODAY, RULE)  # type: ignore[arg-type]
    (recent, recent_forecast), (month, month_forecast) = explorer.requests
    assert (recent.start, recent.end, recent_forecast) == (date(2025, 2, 23), TODAY, False)
    assert (month.start, month.end, month.month_to_date) == (date(2025, 3, 1), TODAY, True)
    assert month_forecast is True
    assert digest.day == YESTERDAY


def test_collect_cost_digest_first_of_month_skips_month() -> None:
    explorer = RecordingExplorer()
    digest = collect_cost_digest(explorer, [PROD], date(2025, 4, 1), RULE)  # type: ignore[arg-type]
    assert len(explorer.requests) == 1
    assert digest.month is None


# Idle digest


def finding(
    resource_id: str, rule: str = EBS_UNATTACHED, cost: str | None = "40.00", account: str = "prod"
) -> IdleFinding:
    return IdleFinding(
        rule=rule,
        kind="ebs" if rule == EBS_UNATTACHED else "ec2",
        resource_id=resource_id,
        account=account,
        region="us-east-1",
        reason="Unattached 500 GiB gp3 volume",
        since=datetime(2025, 1, 1, tzinfo=UTC),
        since_label="created at",
        monthly_cost=None if cost is None else Decimal(cost),
        cost_note="gp3 storage list price",
    )


def idle_report(findings: list[IdleFinding]) -> IdleReport:
    return IdleReport(
        findings=findings,
        warnings=[],
        accounts=["prod"],
        regions=["us-east-1"],
        elapsed=0.5,
        checked_at=datetime(2025, 3, 10, 8, tzinfo=UTC),
        thresholds=IdleThresholds(),
        scanned={"ebs": len(findings)},
    )


def actions_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [block for block in blocks if block["type"] == "actions"]


def test_idle_digest_reply_buttons_carry_finding_keys() -> None:
    first, second = finding("vol-1", cost="40.00"), finding("vol-2", cost="5.00")
    reply = idle_digest_reply(idle_report([second, first]), CTX, TODAY)
    actions = actions_blocks(reply.blocks)
    assert [block["block_id"] for block in actions] == [
        "snooze-finding-1",
        "snooze-finding-2",
        f"snooze-rule-{EBS_UNATTACHED}",
    ]
    single = actions[0]["elements"]
    assert [(button["action_id"], button["value"]) for button in single] == [
        ("snooze_7", first.key),
        ("snooze_30", first.key),
    ]
    assert [button["text"]["text"] for button in single] == ["Snooze 7 days", "Snooze 30 days"]
    group = actions[2]["elements"]
    assert json.loads(group[0]["value"]) == [first.key, second.key]
    assert group[1]["text"]["text"] == "Snooze all 2 for 30 days"
    assert reply.blocks[0]["text"]["text"] == "Idle resources digest · Mon 2025-03-10"


def test_idle_digest_reply_groups_by_rule_with_cost() -> None:
    findings = [finding("vol-1", cost="40.00"), finding("i-1", rule=EC2_STOPPED, cost=None)]
    text = blocks_text(idle_digest_reply(idle_report(findings), CTX, TODAY).blocks)
    assert "*2* idle resources in account prod, estimated *$40.00/month*" in text
    assert "*Unattached EBS volumes* (1) · ~$40.00/month" in text
    assert "*EC2 instances stopped for a long time* (1)" in text
    assert text.index("Unattached EBS volumes") < text.index("EC2 instances stopped")


def test_idle_digest_reply_leaves_out_snoozed() -> None:
    kept, snoozed = finding("vol-1"), finding("vol-2")
    reply = idle_digest_reply(idle_report([kept, snoozed]), CTX, TODAY, {snoozed.key})
    text = blocks_text(reply.blocks)
    assert "vol-1" in text
    assert "vol-2" not in text
    assert "1 snoozed finding is not shown." in text


def test_idle_digest_reply_many_findings_fit_one_message() -> None:
    findings = [finding(f"vol-{n:04d}", cost=f"{n}.00") for n in range(1, 121)]
    findings += [finding(f"i-{n:04d}", rule=EC2_STOPPED, cost=None) for n in range(1, 41)]
    reply = idle_digest_reply(idle_report(findings), CTX, TODAY)
    assert len(reply.blocks) <= MAX_BLOCKS
    block_ids = [block["block_id"] for block in actions_blocks(reply.blocks)]
    assert len(block_ids) == len(set(block_ids))
    assert f"snooze-rule-{EBS_UNATTACHED}" in block_ids
    assert f"snooze-rule-{EC2_STOPPED}" in block_ids
    for block in actions_blocks(reply.blocks):
        for button in block["elements"]:
            assert len(button["value"]) <= MAX_BUTTON_VALUE
    csv_files = [f for f in reply.files if f.filename == "idle-resources-2025-03-10.csv"]
    assert len(csv_files) == 1
    assert csv_files[0].content.decode().count("\n") == len(findings) + 1


def test_snooze_actions_group_value_cut_to_limit() -> None:
    keys = [f"prod/us-east-1/ebs/vol-{n:040d}/{EBS_UNATTACHED}" for n in range(60)]
    block = snooze_actions("snooze-rule-x", keys)
    value = block["elements"][0]["value"]
    assert len(value) <= MAX_BUTTON_VALUE
    included = json.loads(value)
    assert included == keys[: len(included)]
    assert 0 < len(included) < len(keys)
    assert block["elements"][0]["text"]["text"] == f"Snooze the first {len(included)} for 7 days"


def test_parse_snooze_reads_single_and_group() -> None:
    key = finding("vol-1").key
    assert parse_snooze("snooze_7", key) == SnoozeRequest(days=7, keys=(key,))
    other = finding("vol-2").key
    group = parse_snooze("snooze_30", json.dumps([key, other]))
    assert group == SnoozeRequest(days=30, keys=(key, other))
    assert group.accounts == {"prod"}


@pytest.mark.parametrize(
    ("action_id", "value"),
    [
        ("snooze_3", "prod/us-east-1/ebs/vol-1/ebs-unattached"),
        ("delete_7", "prod/us-east-1/ebs/vol-1/ebs-unattached"),
        ("snooze_7", "prod/vol-1"),
        ("snooze_7", "prod//ebs/vol-1/ebs-unattached"),
        ("snooze_7", "[not json"),
        ("snooze_7", "[]"),
        ("snooze_7", "[1, 2]"),
        ("snooze_7", "x" * (MAX_BUTTON_VALUE + 1)),
    ],
)
def test_parse_snooze_rejects_invalid(action_id: str, value: str) -> None:
    with pytest.raises(ValueError):
        parse_snooze(action_id, value)


def test_mark_snoozed_replaces_pressed_and_covered_buttons() -> None:
    first, second, third = finding("vol-1"), finding("vol-2"), finding("vol-3")
    blocks = idle_digest_reply(idle_report([first, second, third]), CTX, TODAY).blocks
    request = SnoozeRequest(days=7, keys=(first.key, second.key, third.key))
    note = snooze_note(request, "U0TEST", date(2025, 3, 17))
    marked = mark_snoozed(blocks, request, f"snooze-rule-{EBS_UNATTACHED}", note)
    assert marked is not None
    assert actions_blocks(marked) == []
    assert len(marked) == len(blocks)
    assert note in blocks_text(marked)
    assert note == (
        ":zzz: Snoozed these 3 findings by <@U0TEST> for 7 days: the idle digest leaves them "
        "out until 2025-03-17."
    )
    assert mark_snoozed(blocks, request, "snooze-finding-99", note) is None


def test_mark_snoozed_keeps_other_buttons() -> None:
    first, second = finding("vol-1"), finding("vol-2")
    blocks = idle_digest_reply(idle_report([first, second]), CTX, TODAY).blocks
    request = SnoozeRequest(days=30, keys=(first.key,))
    marked = mark_snoozed(blocks, request, "snooze-finding-1", "snoozed")
    assert marked is not None
    assert [block["block_id"] for block in actions_blocks(marked)] == [
        "snooze-finding-2",
        f"snooze-rule-{EBS_UNATTACHED}",
    ]


# build_digest and the /aws digest verb


class FixedIdleScanner:
    def __init__(self, findings: list[IdleFinding]) -> None:
        self.findings = findings

    def run(self, accounts: Any, query: Any, user_id: str | None = None) -> IdleReport:
        return idle_report(list(self.findings))


def test_build_digest_idle_snooze_ends(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    kept, snoozed = finding("vol-1"), finding("vol-2")
    now = [datetime(2025, 3, 10, 8, tzinfo=UTC)]
    backends = Backends(
        inventory=None,  # type: ignore[arg-type]
        idle=FixedIdleScanner([kept, snoozed]),  # type: ignore[arg-type]
        digests=DigestOptions(RULE, store.snoozed_keys, clock=lambda: now[0]),
    )
    store.snooze(CTX.channel_id, snoozed.key, now[0] + timedelta(days=7), "U0TEST")
    try:
        during = blocks_text(build_digest("idle", CTX, backends).blocks)
        now[0] += timedelta(days=7, seconds=1)
        after = blocks_text(build_digest("idle", CTX, backends).blocks)
    finally:
        store.engine.dispose()
    assert "vol-2" not in during
    assert "1 snoozed finding is not shown." in during
    assert "vol-2" in after
    assert "snoozed finding is not shown" not in after
    assert "snoozed findings are not shown" not in after


def test_snooze_in_other_channel_not_applied(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    item = finding("vol-1")
    store.snooze("C0OTHER001", item.key, datetime.now(UTC) + timedelta(days=7), "U0TEST")
    backends = Backends(
        inventory=None,  # type: ignore[arg-type]
        idle=FixedIdleScanner([item]),  # type: ignore[arg-type]
        digests=DigestOptions(RULE, store.snoozed_keys),
    )
    try:
        assert "vol-1" in blocks_text(build_digest("idle", CTX, backends).blocks)
    finally:
        store.engine.dispose()


def test_digest_verb_answers_slash_command() -> None:
    backends = Backends(
        inventory=None,  # type: ignore[arg-type]
        idle=FixedIdleScanner([finding("vol-1")]),  # type: ignore[arg-type]
        digests=DigestOptions(RULE, lambda channel, now: set()),
    )
    reply = handle_text("digest idle", CTX, backends)
    assert reply.blocks[0]["text"]["text"].startswith("Idle resources digest · ")
    assert actions_blocks(reply.blocks)


def test_digest_verb_unknown_kind_gets_help() -> None:
    backends = Backends(inventory=None)  # type: ignore[arg-type]
    reply = handle_text("digest weekly", CTX, backends)
    assert "`digest` takes `costs` or `idle`" in reply.text
