"""`aws-monitor demo`: the bot's replies on an embedded AWS (moto, in process) with demo data.

Nothing leaves the process: moto intercepts every AWS call, and no Slack is involved.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TextIO

import boto3

from bot.config import AppConfig, parse_config
from bot.demo_costs import COST_TOUR, seed_costs
from bot.demo_metrics import SeededMetrics, metrics_tour, seed_metrics, seed_session
from bot.digests import digest_tour_steps
from bot.runtime import Runtime, build_runtime
from bot.store import Store
from handlers.dispatch import handle_mention, handle_text, unmapped_channel_reply
from handlers.grammar import FREE_FORM_VERBS, INVENTORY_VERBS, SIMPLE_VERBS, VERB_ALIASES
from handlers.terminal import render_reply

logger = logging.getLogger(__name__)

ROLE_NAME = "AwsMonitorReadOnly"
ACCOUNT_IDS = {"prod": "111111111111", "staging": "222222222222", "data": "333333333333"}
PROD_CHANNEL = "C0DEMOPROD"
STAGING_CHANNEL = "C0DEMOSTG"
PLATFORM_CHANNEL = "C0DEMOPLAT"
UNMAPPED_CHANNEL = "C0NOTMAPPED"

DEMO_CONFIG: dict[str, Any] = {
    "aws": {
        "regions": ["us-east-1", "eu-west-1"],
        "environment_tag": "Environment",
        "environments": {"prod": "production", "stg": "staging", "dev": "development"},
    },
    "accounts": {
        "prod": {"role_arn": f"arn:aws:iam::{ACCOUNT_IDS['prod']}:role/{ROLE_NAME}"},
        "staging": {
            "role_arn": f"arn:aws:iam::{ACCOUNT_IDS['staging']}:role/{ROLE_NAME}",
            "external_id": "demo-external-id",
            "regions": ["us-east-1"],
        },
        "data": {"role_arn": f"arn:aws:iam::{ACCOUNT_IDS['data']}:role/{ROLE_NAME}"},
    },
    "channels": {
        PROD_CHANNEL: {"accounts": ["prod"], "timezone": "Europe/Berlin"},
        STAGING_CHANNEL: {"accounts": ["staging"], "timezone": "America/New_York"},
        PLATFORM_CHANNEL: {
            "accounts": ["prod", "staging", "data"],
            "timezone": "UTC",
            "digests": {"costs": {"at": "09:00"}, "idle": {"at": "09:05", "days": "mon-fri"}},
        },
    },
}


@dataclass(frozen=True)
class TourStep:
    channel: str
    text: str
    mention: bool = False


INVENTORY_TOUR = (
    TourStep(PROD_CHANNEL, "help"),
    TourStep(PROD_CHANNEL, "accounts"),
    TourStep(PROD_CHANNEL, "ec2 prod"),
    TourStep(PLATFORM_CHANNEL, "ec2 state=stopped"),
    TourStep(PLATFORM_CHANNEL, "ebs state=available"),
    TourStep(PLATFORM_CHANNEL, "rds"),
    TourStep(PLATFORM_CHANNEL, "s3"),
    TourStep(PLATFORM_CHANNEL, "lambda prod"),
    TourStep(PLATFORM_CHANNEL, "eks"),
    TourStep(PLATFORM_CHANNEL, "emr"),
    TourStep(STAGING_CHANNEL, "show me the ec2 instances in stg", mention=True),
    TourStep(PROD_CHANNEL, "ec2 prod tag:Team=payments region=eu-west-1"),
    TourStep(PROD_CHANNEL, "ec2 prod production"),
    TourStep(UNMAPPED_CHANNEL, "ec2 prod"),
)


@contextmanager
def embedded_aws() -> Iterator[None]:
    """Start moto in process with fake credentials and no shared AWS config files."""
    from moto import mock_aws

    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID="demo",
        AWS_SECRET_ACCESS_KEY="demo",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    mock = mock_aws()
    mock.start()
    try:
        yield
    finally:
        mock.stop()
        os.environ.clear()
        os.environ.update(saved)


def _tags(**tags: str) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _run(ec2: Any, count: int, instance_type: str, stop: bool = False, **tags: str) -> list[str]:
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    params: dict[str, Any] = {
        "ImageId": image,
        "MinCount": count,
        "MaxCount": count,
        "InstanceType": instance_type,
    }
    if tags:
        params["TagSpecifications"] = [{"ResourceType": "instance", "Tags": _tags(**tags)}]
    ids = [instance["InstanceId"] for instance in ec2.run_instances(**params)["Instances"]]
    if stop:
        ec2.stop_instances(InstanceIds=ids)
    return ids


def _seed_ec2(
    session: boto3.Session, region: str, plan: list[tuple[int, str, bool, dict[str, str]]]
) -> None:
    ec2 = session.client("ec2", region_name=region)
    for count, instance_type, stop, tags in plan:
        _run(ec2, count, instance_type, stop, **tags)


def _seed_volumes(
    session: boto3.Session, region: str, sizes: list[tuple[int, str, dict[str, str]]]
) -> None:
    ec2 = session.client("ec2", region_name=region)
    for size, volume_type, tags in sizes:
        params: dict[str, Any] = {
            "AvailabilityZone": f"{region}a",
            "Size": size,
            "VolumeType": volume_type,
        }
        if tags:
            params["TagSpecifications"] = [{"ResourceType": "volume", "Tags": _tags(**tags)}]
        ec2.create_volume(**params)


def _seed_rds(
    session: boto3.Session, region: str, name: str, klass: str, engine: str, env: str
) -> None:
    session.client("rds", region_name=region).create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass=klass,
        Engine=engine,
        AllocatedStorage=200,
        MasterUsername="admin",
        MasterUserPassword="demo-password-1",
        Tags=_tags(Environment=env, Team="payments"),
    )


def _seed_bucket(session: boto3.Session, name: str, region: str | None, **tags: str) -> None:
    s3 = session.client("s3", region_name="us-east-1")
    if region is None:
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tags(**tags)})


def _function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def _seed_lambdas(session: boto3.Session, region: str, names: list[str], env: str) -> None:
    role = session.client("iam").create_role(
        RoleName=f"demo-lambda-{region}",
        AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}',
    )["Role"]["Arn"]
    client = session.client("lambda", region_name=region)
    code = _function_zip()
    for index, name in enumerate(names):
        client.create_function(
            FunctionName=name,
            Runtime="python3.12" if index % 3 else "nodejs20.x",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": code},
            MemorySize=128 * (1 + index % 4),
            Tags={"Environment": env, "Team": "data" if index % 2 else "platform"},
        )


def _seed_eks(session: boto3.Session, region: str, name: str, env: str) -> None:
    session.client("eks", region_name=region).create_cluster(
        name=name,
        roleArn=f"arn:aws:iam::{session.client('sts').get_caller_identity()['Account']}:role/eks",
        resourcesVpcConfig={"subnetIds": []},
        version="1.30",
        tags={"Environment": env},
    )


def _seed_emr(session: boto3.Session, region: str, name: str, env: str) -> None:
    session.client("emr", region_name=region).run_job_flow(
        Name=name,
        ReleaseLabel="emr-7.1.0",
        Instances={
            "MasterInstanceType": "m5.xlarge",
            "SlaveInstanceType": "m5.xlarge",
            "InstanceCount": 3,
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
        Tags=_tags(Environment=env, Team="data"),
    )


def seed_organisation() -> dict[str, str]:
    """Create the demo estate: 3 accounts, 2 regions, every listed service; return account ids."""
    prod = seed_session(ACCOUNT_IDS["prod"])
    staging = seed_session(ACCOUNT_IDS["staging"])
    data = seed_session(ACCOUNT_IDS["data"])

    production = {"Environment": "production"}
    _seed_ec2(
        prod,
        "us-east-1",
        [
            (4, "t3.large", False, {**production, "Name": "web", "Team": "storefront"}),
            (2, "m5.xlarge", False, {**production, "Name": "api", "Team": "payments"}),
            (1, "c5.2xlarge", True, {**production, "Name": "batch-legacy", "Team": "payments"}),
            (2, "t3.micro", False, {}),
        ],
    )
    _seed_ec2(
        prod,
        "eu-west-1",
        [
            (3, "m5.large", False, {**production, "Name": "api-eu", "Team": "payments"}),
            (1, "t3.small", False, {**production, "Name": "<!channel> ping & <b>", "Team": "qa"}),
        ],
    )
    _seed_volumes(prod, "us-east-1", [(500, "gp3", {"Name": "orphaned-backup"}), (100, "st1", {})])
    _seed_rds(prod, "us-east-1", "orders-db", "db.r6g.large", "postgres", "production")
    _seed_bucket(prod, "demo-prod-assets", None, Environment="production", Team="storefront")
    _seed_bucket(prod, "demo-prod-logs-eu", "EU", Environment="production")
    _seed_bucket(prod, "demo-prod-scratch", None)
    _seed_eks(prod, "us-east-1", "prod-main", "production")

    _seed_ec2(
        staging,
        "us-east-1",
        [
            (3, "t3.medium", False, {"Environment": "staging", "Name": "web-stg"}),
            (2, "t3.medium", True, {"Environment": "staging", "Name": "worker-stg"}),
        ],
    )
    _seed_volumes(staging, "us-east-1", [(50, "gp2", {"Environment": "staging"})])
    _seed_rds(staging, "us-east-1", "orders-db-stg", "db.t3.medium", "postgres", "staging")
    _seed_bucket(staging, "demo-staging-assets", None, Environment="staging")

    _seed_ec2(data, "us-east-1", [(2, "r5.2xlarge", False, {**production, "Name": "etl-worker"})])
    _seed_lambdas(data, "us-east-1", [f"ingest-{n:02d}" for n in range(1, 57)], "production")
    _seed_lambdas(data, "eu-west-1", [f"export-{n:02d}" for n in range(1, 5)], "production")
    _seed_bucket(data, "demo-data-lake", "eu-west-1", Environment="production", Team="data")
    _seed_eks(data, "eu-west-1", "analytics", "production")
    _seed_emr(data, "us-east-1", "nightly-etl", "production")
    return dict(ACCOUNT_IDS)


def demo_config() -> AppConfig:
    return parse_config(DEMO_CONFIG, "demo configuration (built in)")


def answer_step(runtime: Runtime, step: TourStep) -> str:
    ctx = runtime.config.channel_context(step.channel, "U0DEMOUSER")
    if ctx is None:
        reply = unmapped_channel_reply(step.channel, runtime.config.path)
    elif step.mention:
        reply = handle_mention(step.text, ctx, runtime.backends)
    else:
        reply = handle_text(step.text, ctx, runtime.backends)
    return render_reply(reply)


def tour_steps(seeded: SeededMetrics | None = None) -> list[TourStep]:
    cost_steps = [TourStep(PLATFORM_CHANNEL, text) for text in COST_TOUR]
    cost_steps.append(
        TourStep(PROD_CHANNEL, "what did we spend last month by service?", mention=True)
    )
    metric_steps = [
        TourStep(PLATFORM_CHANNEL, text) for text in metrics_tour(seeded or SeededMetrics())
    ]
    metric_steps.append(TourStep(STAGING_CHANNEL, "show idle resources in stg", mention=True))
    digest_steps = [TourStep(PLATFORM_CHANNEL, text) for text in digest_tour_steps()]
    return [*INVENTORY_TOUR, *cost_steps, *metric_steps, *digest_steps]


def age_demo_resources(now: datetime) -> None:
    """Backdate stop and modification times in moto so the age-based idle rules have cases.

    moto stamps a stopped instance and a new function with the current time. The demo edits
    its embedded AWS in place, because a real estate has older resources.
    """
    from moto.awslambda.models import lambda_backends
    from moto.ec2.models import ec2_backends

    stopped_at = (now - timedelta(days=45)).strftime("%Y-%m-%d %H:%M:%S UTC")
    for account_id in ACCOUNT_IDS.values():
        for region in ("us-east-1", "eu-west-1"):
            for reservation in ec2_backends[account_id][region].reservations.values():
                for instance in reservation.instances:
                    if instance.state == "stopped":
                        instance._reason = f"User initiated ({stopped_at})"
    modified = (now - timedelta(days=75)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    functions = lambda_backends[ACCOUNT_IDS["data"]]["us-east-1"]
    for function in functions.list_functions():
        function.last_modified = modified


def run_demo(prompt: bool = True, out: Any = None) -> int:
    out = out or sys.stdout
    if "LOG_LEVEL" not in os.environ:
        logging.getLogger().setLevel(logging.WARNING)
    started = datetime.now(UTC)
    with embedded_aws(), tempfile.TemporaryDirectory(prefix="aws-monitor-demo-") as state:
        account_ids = seed_organisation()
        seed_costs(account_ids, date.today())
        age_demo_resources(started)
        seeded = seed_metrics(account_ids, started)
        runtime = build_runtime(demo_config(), store=Store(f"sqlite:///{state}/demo.db"))
        try:
            print(
                "aws-monitor demo: an embedded AWS (moto, in process) with 3 accounts "
                f"(prod, staging, data) in 2 regions, seeded {date.today().isoformat()}.\n"
                "Each step shows what the bot answers in Slack, rendered for a terminal.",
                file=out,
            )
            for step in tour_steps(seeded):
                where = f"#{step.channel}"
                typed = f"@aws-monitor {step.text}" if step.mention else f"/aws {step.text}"
                print(f"\n\n>>> {typed}    (in {where})", file=out)
                print(answer_step(runtime, step), file=out)
            elapsed = (datetime.now(UTC) - started).total_seconds()
            print(
                f"\n\nTour done in {elapsed:.1f} s with {runtime.factory.counter.total_calls} "
                "AWS API calls.",
                file=out,
            )
            if prompt and sys.stdin.isatty():
                interactive(runtime, out)
        finally:
            runtime.close()
    return 0


def interactive(runtime: Runtime, out: Any, stdin: TextIO | None = None) -> None:
    """Answer lines typed at a prompt until end of input; `stdin` replaces input() in tests."""
    channel = PLATFORM_CHANNEL
    print(
        "\nType a line as the tour shows it (`/aws ec2 prod`, `@aws-monitor costs this "
        "month`) or without its /aws or @aws-monitor: text that is not a command is read "
        f"as a mention. Channel {channel}; `channel ID` switches, channels: "
        f"{', '.join(runtime.config.channels)}; Ctrl-D quits.",
        file=out,
    )
    while True:
        try:
            text = _read_line(f"{channel}> ", out, stdin).strip()
        except (EOFError, KeyboardInterrupt):
            print(file=out)
            return
        if not text:
            continue
        if text.startswith("channel "):
            channel = text.split(maxsplit=1)[1].strip()
            continue
        print(answer_step(runtime, prompt_step(channel, text)), file=out)


def prompt_step(channel: str, text: str) -> TourStep:
    """Read a prompt line the way the tour prints its steps.

    `@aws-monitor ...` (or any first word starting with @) is a mention without that word,
    and `/aws ...` a command without `/aws`. Other text is a command when its first word is
    a verb of the command grammar, and a mention otherwise, so "show idle resources" works.
    """
    first, *rest = text.split(maxsplit=1)
    after_first = rest[0] if rest else ""
    if first.startswith("@"):
        return TourStep(channel, after_first, mention=True)
    if first == "/aws":
        return TourStep(channel, after_first)
    word = first.lower()
    verb = VERB_ALIASES.get(word, word)
    known = verb in (*SIMPLE_VERBS, *FREE_FORM_VERBS, *INVENTORY_VERBS)
    return TourStep(channel, text, mention=not known)


def _read_line(prompt: str, out: Any, stdin: TextIO | None) -> str:
    if stdin is None:
        return input(prompt)
    print(prompt, end="", file=out)
    line = stdin.readline()
    if not line:
        raise EOFError
    return line
