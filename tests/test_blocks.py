"""Block Kit building: Slack's limits, mrkdwn escaping, large results and the CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from handlers.blocks import (
    MAX_BLOCKS,
    MAX_ECHO,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    echo,
    escape,
    fields_section,
    fit,
    header,
    line_sections,
    noun_for,
    plural,
    section,
)
from handlers.context import ChannelContext
from handlers.grammar import parse_command
from handlers.inventory import inventory_reply
from handlers.terminal import render_reply
from services.accounts import Account
from services.fanout import Gathered, ScanWarning
from services.models import Resource

CTX = ChannelContext("C0PROD0001", (Account("prod"),), environments={"prod": "production"})


def instance(number: int, name: str | None = None, **tags: str) -> Resource:
    return Resource(
        kind="ec2",
        id=f"i-{number:017x}",
        account="prod",
        region="us-east-1",
        state="running",
        name=name,
        type="t3.micro",
        tags={"Environment": "production", **tags},
        created=datetime(2026, 1, 1, tzinfo=UTC),
        details=(("private_ip", "10.0.0.1"), ("public_ip", "-")),
    )


def gathered(
    resources: list[Resource], warnings: list[ScanWarning] | None = None
) -> Gathered[Resource]:
    return Gathered(resources, warnings or [], ["prod"], ["us-east-1"], 0.42)


def test_escape_neutralises_mentions_and_links() -> None:
    assert (
        escape("<!channel> & <http://evil|click>")
        == "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;"
    )


def test_header_truncated_to_limit() -> None:
    block = header("x" * 500)
    assert len(block["text"]["text"]) == MAX_HEADER_TEXT


def test_section_truncated_to_limit() -> None:
    assert len(section("y" * 10_000)["text"]["text"]) == MAX_SECTION_TEXT


def test_truncate_never_splits_entity() -> None:
    text = section("a" * (MAX_SECTION_TEXT - 3) + "&amp;b")["text"]["text"]
    assert not text.rstrip("…").endswith(("&", "&a", "&am", "&amp"))


def test_fields_section_caps_fields() -> None:
    block = fields_section([f"f{i}" for i in range(25)])
    assert len(block["fields"]) == 10


def test_line_sections_stay_under_limit() -> None:
    blocks = line_sections(["z" * 700 for _ in range(20)])
    assert len(blocks) > 1
    assert all(len(b["text"]["text"]) <= MAX_SECTION_TEXT for b in blocks)


def test_fit_keeps_footer_within_block_limit() -> None:
    blocks = [section(str(i)) for i in range(80)]
    fitted = fit(blocks)
    assert len(fitted) == MAX_BLOCKS
    assert fitted[-1] == blocks[-1]


def test_inventory_reply_escapes_tag_names() -> None:
    reply = inventory_reply(
        "EC2 instances", parse_command("ec2 prod"), CTX, gathered([instance(1, "<!channel> web")])
    )
    payload = json.dumps(reply.blocks)
    assert "<!channel>" not in payload
    assert "&lt;!channel&gt; web" in payload


def test_inventory_reply_large_result_attaches_csv() -> None:
    resources = [instance(i, f"web-{i}", Team="a,b") for i in range(120)]
    reply = inventory_reply("EC2 instances", parse_command("ec2 prod"), CTX, gathered(resources))
    assert len(reply.blocks) <= MAX_BLOCKS
    assert "Showing 40 of 120" in json.dumps(reply.blocks)
    assert len(reply.files) == 1
    rows = list(csv.reader(io.StringIO(reply.files[0].content.decode())))
    assert len(rows) == 121
    assert rows[0][:5] == ["kind", "account", "account_id", "region", "id"]
    assert "Environment=production;Team=a,b" in rows[1]


def test_inventory_reply_small_result_no_file() -> None:
    reply = inventory_reply(
        "EC2 instances", parse_command("ec2 prod"), CTX, gathered([instance(1, "web")])
    )
    assert reply.files == []
    assert reply.text.startswith("1 EC2 instance in 1 account and 1 region")


def test_inventory_reply_warnings_and_footer() -> None:
    warnings = [
        ScanWarning(
            "prod",
            "eu-west-1",
            f"Missing IAM permission ec2:DescribeInstances in account prod, region eu-west-1 #{i}",
        )
        for i in range(14)
    ]
    reply = inventory_reply("EC2 instances", parse_command("ec2"), CTX, gathered([], warnings))
    text = json.dumps(reply.blocks)
    assert "No EC2 instances found, but parts of the scan failed" in text
    assert "region eu-west-1 #9" in text
    assert "#10" not in text
    assert "4 more warnings" in text
    assert reply.blocks[-1]["type"] == "context"
    assert "Scanned accounts prod" in reply.blocks[-1]["elements"][0]["text"]
    assert "(14 warnings)" in reply.text


def test_inventory_reply_header_names_selection() -> None:
    reply = inventory_reply(
        "EC2 instances", parse_command("ec2 prod state=stopped"), CTX, gathered([])
    )
    assert reply.blocks[0]["text"]["text"] == "EC2 instances · Environment=production state=stopped"


def test_render_reply_unescapes_for_terminal() -> None:
    reply = inventory_reply(
        "EC2 instances", parse_command("ec2"), CTX, gathered([instance(1, "a & <b>")])
    )
    assert "a & <b>" in render_reply(reply)


@pytest.mark.parametrize(
    ("count", "singular", "plural_form", "expected"),
    [
        (0, "account", None, "0 accounts"),
        (1, "account", None, "1 account"),
        (2, "account", None, "2 accounts"),
        (1, "more service", None, "1 more service"),
        (1, "more resource is", "more resources are", "1 more resource is"),
        (3, "more resource is", "more resources are", "3 more resources are"),
    ],
)
def test_plural_cases(count: int, singular: str, plural_form: str | None, expected: str) -> None:
    assert plural(count, singular, plural_form) == expected


def test_noun_for_singular_and_plural() -> None:
    assert noun_for(1, "EC2 instance", "EC2 instances") == "EC2 instance"
    assert noun_for(2, "EC2 instance", "EC2 instances") == "EC2 instances"


def test_echo_escapes_and_shortens() -> None:
    echoed = echo("<!channel> " + "x" * 20_000_000)
    assert echoed.startswith("&lt;!channel&gt; x")
    assert "<!channel>" not in echoed
    assert len(echoed) < MAX_ECHO + 20


def test_inventory_reply_one_instance_singular() -> None:
    reply = inventory_reply(
        "EC2 instances", parse_command("ec2 prod"), CTX, gathered([instance(1, "web")])
    )
    summary = reply.blocks[1]["text"]["text"]
    assert summary.startswith("*1* EC2 instance in 1 account and 1 region")


def test_inventory_reply_all_accounts_failed() -> None:
    warnings = [
        ScanWarning(
            "prod",
            "us-east-1",
            "Could not assume arn:aws:iam::111111111111:role/R (AccessDenied) (account prod)",
        )
    ]
    reply = inventory_reply("EC2 instances", parse_command("ec2 prod"), CTX, gathered([], warnings))
    summary = reply.blocks[1]["text"]["text"]
    assert summary.startswith("No account could be read")
    assert "No EC2 instances match" not in json.dumps(reply.blocks)


def test_inventory_reply_every_region_failed() -> None:
    warnings = [
        ScanWarning(
            "prod",
            region,
            f"Timed out calling ec2:DescribeInstances in account prod, region {region}",
        )
        for region in ("us-east-1", "eu-west-1")
    ]
    result = Gathered([], warnings, ["prod"], ["eu-west-1", "us-east-1"], 0.1)
    reply = inventory_reply("EC2 instances", parse_command("ec2 prod"), CTX, result)
    assert reply.blocks[1]["text"]["text"].startswith("No account could be read")


def test_inventory_reply_some_regions_failed() -> None:
    warnings = [
        ScanWarning(
            "prod",
            "eu-west-1",
            "Timed out calling ec2:DescribeInstances in account prod, region eu-west-1",
        )
    ]
    result = Gathered([], warnings, ["prod"], ["eu-west-1", "us-east-1"], 0.1)
    reply = inventory_reply("EC2 instances", parse_command("ec2 prod"), CTX, result)
    summary = reply.blocks[1]["text"]["text"]
    assert summary.startswith("No EC2 instances found, but parts of the scan failed")
    assert reply.text.endswith("(1 warning)")
