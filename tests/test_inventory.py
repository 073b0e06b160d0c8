"""Inventory services against moto in process: every service, filters, accounts and failures."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from services.accounts import Account
from services.fanout import FanOut
from services.inventory import RESOURCE_TYPES, Inventory
from services.models import Query
from services.query import fetch_pages
from services.regions import ENABLED, RegionResolver
from services.s3 import normalise_location
from services.sessions import AwsSettings, SessionFactory, role_session_name
from tests.conftest import account_session

PROD = Account("prod", "arn:aws:iam::111111111111:role/AwsMonitorReadOnly", external_id="ext-1")
STAGING = Account("staging", "arn:aws:iam::222222222222:role/AwsMonitorReadOnly")
REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture
def inventory(aws: None) -> Iterator[Inventory]:
    factory = SessionFactory(AwsSettings(max_workers=4))
    fanout = FanOut(4)
    yield Inventory(factory, fanout, RegionResolver(factory, REGIONS))
    fanout.shutdown()


def run(session: boto3.Session, region: str, count: int, **tags: str) -> list[str]:
    ec2 = session.client("ec2", region_name=region)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    params: dict[str, Any] = {"ImageId": image, "MinCount": count, "MaxCount": count}
    if tags:
        params["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    return [i["InstanceId"] for i in ec2.run_instances(**params)["Instances"]]


def ids(resources: list[Any]) -> set[str]:
    return {resource.id for resource in resources}


def test_collect_ec2_filters_environment_across_regions(inventory: Inventory) -> None:
    prod = account_session("111111111111")
    expected = set(run(prod, "us-east-1", 2, Environment="production")) | set(
        run(prod, "eu-west-1", 1, Environment="production")
    )
    run(prod, "us-east-1", 1, Environment="staging")
    run(prod, "us-east-1", 1)
    gathered = inventory.collect([PROD], ["ec2"], Query(environment="production"))
    assert ids(gathered.items) == expected
    assert gathered.warnings == []
    assert gathered.regions == ["eu-west-1", "us-east-1"]


def test_collect_keeps_accounts_apart(inventory: Inventory) -> None:
    mine = set(run(account_session("111111111111"), "us-east-1", 2, Environment="production"))
    run(account_session("222222222222"), "us-east-1", 3, Environment="production")
    gathered = inventory.collect([PROD], ["ec2"], Query(environment="production"))
    assert ids(gathered.items) == mine
    assert {r.account_id for r in gathered.items} == {"111111111111"}


def test_collect_state_and_tag_filters(inventory: Inventory) -> None:
    prod = account_session("111111111111")
    stopped = run(prod, "us-east-1", 2, Team="data")
    prod.client("ec2", region_name="us-east-1").stop_instances(InstanceIds=stopped[:1])
    run(prod, "us-east-1", 1, Team="web")
    query = Query(states=frozenset({"stopped"}), tags=(("Team", "data"),))
    assert ids(inventory.collect([PROD], ["ec2"], query).items) == {stopped[0]}


def test_collect_region_and_account_filters(inventory: Inventory) -> None:
    eu = set(run(account_session("111111111111"), "eu-west-1", 1))
    run(account_session("111111111111"), "us-east-1", 1)
    run(account_session("222222222222"), "eu-west-1", 1)
    query = Query(regions=frozenset({"eu-west-1"}), accounts=frozenset({"prod"}))
    gathered = inventory.collect([PROD, STAGING], ["ec2"], query)
    assert ids(gathered.items) == eu
    assert gathered.regions == ["eu-west-1"]


def test_collect_instance_without_tags_or_public_ip(inventory: Inventory) -> None:
    run(account_session("111111111111"), "us-east-1", 1)
    (resource,) = inventory.collect([PROD], ["ec2"], Query()).items
    assert resource.tags == {}
    assert resource.name is None
    assert resource.detail("private_ip")


def test_collect_volumes_unattached(inventory: Inventory) -> None:
    ec2 = account_session("111111111111").client("ec2", region_name="us-east-1")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=20, VolumeType="gp3")["VolumeId"]
    gathered = inventory.collect([PROD], ["ebs"], Query(states=frozenset({"available"})))
    assert ids(gathered.items) == {volume}
    assert gathered.items[0].detail("attached_to") == "-"


def test_collect_rds_instances(inventory: Inventory) -> None:
    rds = account_session("111111111111").client("rds", region_name="eu-west-1")
    rds.create_db_instance(
        DBInstanceIdentifier="orders",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword="password-123",
        Tags=[{"Key": "Environment", "Value": "production"}],
    )
    (db,) = inventory.collect([PROD], ["rds"], Query(environment="production")).items
    assert (db.id, db.region, db.type) == ("orders", "eu-west-1", "db.t3.micro")


def test_collect_s3_locations_and_tags(inventory: Inventory) -> None:
    s3 = account_session("111111111111").client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="virginia-bucket")
    s3.create_bucket(
        Bucket="ireland-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    s3.put_bucket_tagging(
        Bucket="ireland-bucket", Tagging={"TagSet": [{"Key": "Environment", "Value": "production"}]}
    )
    gathered = inventory.collect([PROD], ["s3"], Query())
    by_name = {bucket.id: bucket for bucket in gathered.items}
    assert by_name["virginia-bucket"].region == "us-east-1"
    assert by_name["virginia-bucket"].tags == {}
    assert by_name["ireland-bucket"].region == "eu-west-1"
    assert by_name["ireland-bucket"].tags == {"Environment": "production"}
    assert gathered.warnings == []
    production = inventory.collect([PROD], ["s3"], Query(environment="production"))
    assert ids(production.items) == {"ireland-bucket"}


def test_collect_s3_lists_buckets_once_per_account(inventory: Inventory) -> None:
    s3 = account_session("111111111111").client("s3", region_name="us-east-1")
    for n in range(3):
        s3.create_bucket(Bucket=f"bucket-{n}")
    inventory.collect([PROD], ["s3"], Query())
    assert inventory.factory.counter.calls["s3.ListBuckets"] == 1


def test_normalise_location_legacy_values() -> None:
    assert normalise_location(None) == "us-east-1"
    assert normalise_location("") == "us-east-1"
    assert normalise_location("EU") == "eu-west-1"
    assert normalise_location("ap-south-1") == "ap-south-1"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("h.py", "def h(e, c):\n    return 1\n")
    return buffer.getvalue()


def test_collect_lambda_functions_with_tags(inventory: Inventory) -> None:
    session = account_session("111111111111")
    role = session.client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"][
        "Arn"
    ]
    client = session.client("lambda", region_name="us-east-1")
    for n in range(3):
        client.create_function(
            FunctionName=f"fn-{n}",
            Runtime="python3.12",
            Role=role,
            Handler="h.h",
            Code={"ZipFile": _zip()},
            Tags={"Environment": "production" if n else "staging"},
        )
    gathered = inventory.collect([PROD], ["lambda"], Query(environment="production"))
    assert ids(gathered.items) == {"fn-1", "fn-2"}
    assert inventory.factory.counter.calls["lambda.ListTags"] == 3


def test_collect_eks_and_emr_described(inventory: Inventory) -> None:
    session = account_session("111111111111")
    session.client("eks", region_name="us-east-1").create_cluster(
        name="main",
        roleArn="arn:aws:iam::111111111111:role/eks",
        resourcesVpcConfig={"subnetIds": []},
        tags={"Environment": "production"},
    )
    session.client("emr", region_name="eu-west-1").run_job_flow(
        Name="etl",
        ReleaseLabel="emr-7.1.0",
        Instances={
            "MasterInstanceType": "m5.xlarge",
            "InstanceCount": 1,
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
        Tags=[{"Key": "Environment", "Value": "production"}],
    )
    eks = inventory.collect([PROD], ["eks"], Query(environment="production")).items
    emr = inventory.collect([PROD], ["emr"], Query(environment="production")).items
    assert [(c.id, c.state) for c in eks] == [("main", "ACTIVE")]
    assert [(c.name, c.region, c.type) for c in emr] == [("etl", "eu-west-1", "emr-7.1.0")]


def test_collect_denied_region_becomes_warning(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = set(run(account_session("111111111111"), "us-east-1", 1))
    original = inventory.factory.client

    def client(account: Account, service: str, region: str, **kwargs: Any) -> Any:
        made = original(account, service, region, **kwargs)
        if region == "eu-west-1":
            stubber = Stubber(made)
            stubber.add_client_error("describe_instances", "UnauthorizedOperation", "denied")
            stubber.activate()
        return made

    monkeypatch.setattr(inventory.factory, "client", client)
    gathered = inventory.collect([PROD], ["ec2"], Query())
    assert ids(gathered.items) == expected
    assert [w.message for w in gathered.warnings] == [
        "Missing IAM permission ec2:DescribeInstances in account prod (111111111111), region eu-west-1"
    ]


def hooked_session(seen: list[dict[str, Any]], deny: str | None = None) -> boto3.Session:
    """A base session that records AssumeRole parameters and rejects one role as untrusted."""
    session = boto3.Session()

    def before_call(params: dict[str, Any], model: Any, **_: Any) -> Any:
        if model.name != "AssumeRole":
            return None
        seen.append(dict(params["body"]))
        if params["body"].get("RoleArn") == deny:
            error = {"Error": {"Code": "AccessDenied", "Message": "not trusted"}}
            return AWSResponse("https://sts", 403, {}, None), {
                **error,
                "ResponseMetadata": {"HTTPStatusCode": 403},
            }
        return None

    session.events.register("before-call.sts.AssumeRole", before_call)
    return session


def test_collect_unassumable_account_becomes_warning(aws: None) -> None:
    broken = Account("broken", "arn:aws:iam::999999999999:role/Missing")
    seen: list[dict[str, Any]] = []
    factory = SessionFactory(
        AwsSettings(max_workers=2), base_session=lambda: hooked_session(seen, broken.role_arn)
    )
    fanout = FanOut(2)
    inventory = Inventory(factory, fanout, RegionResolver(factory, ("us-east-1",)))
    expected = set(run(account_session("111111111111"), "us-east-1", 1))
    gathered = inventory.collect([broken, PROD], ["ec2", "ebs"], Query())
    fanout.shutdown()
    assert {r.id for r in gathered.items if r.kind == "ec2"} == expected
    assert [w.message for w in gathered.warnings] == [
        "Could not assume arn:aws:iam::999999999999:role/Missing (AccessDenied): allow "
        "sts:AssumeRole for the bot's identity in the role's trust policy "
        "(account broken (999999999999))"
    ]
    # The ec2 and ebs tasks share the failed AssumeRole instead of sending one each.
    assert [params["RoleArn"] for params in seen].count(broken.role_arn) == 1


def test_assume_role_parameters(aws: None) -> None:
    seen: list[dict[str, Any]] = []
    factory = SessionFactory(
        AwsSettings(assume_role_seconds=7200), base_session=lambda: hooked_session(seen)
    )
    factory.client(PROD, "ec2", "us-east-1", user_id="U0SLACK").describe_instances()
    factory.client(PROD, "rds", "us-east-1", user_id="U0SLACK").describe_db_instances()
    assert len(seen) == 1
    assert seen[0]["RoleArn"] == PROD.role_arn
    assert seen[0]["RoleSessionName"] == "aws-monitor-U0SLACK"
    assert seen[0]["ExternalId"] == "ext-1"
    assert str(seen[0]["DurationSeconds"]) == "3600"


def test_role_session_name_valid_for_sts() -> None:
    assert role_session_name(None) == "aws-monitor"
    assert role_session_name("U0123ABC") == "aws-monitor-U0123ABC"
    assert role_session_name("U/é x") == "aws-monitor-U---x"
    assert len(role_session_name("U" * 200)) == 64


def test_client_cache_reuses_and_bounds(aws: None) -> None:
    factory = SessionFactory(AwsSettings(max_clients=3))
    first = factory.client(PROD, "ec2", "us-east-1")
    assert factory.client(PROD, "ec2", "us-east-1") is first
    for region in ("eu-west-1", "eu-west-2", "eu-west-3"):
        factory.client(PROD, "ec2", region)
    assert factory.cached_clients == 3
    assert factory.client(PROD, "ec2", "us-east-1") is not first


def test_fetch_pages_follows_tokens() -> None:
    client = boto3.client("ec2", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_response(
        "describe_volumes", {"Volumes": [{"VolumeId": "vol-1"}], "NextToken": "t1"}, {}
    )
    stubber.add_response(
        "describe_volumes", {"Volumes": [{"VolumeId": "vol-2"}]}, {"NextToken": "t1"}
    )
    with stubber:
        pages = list(fetch_pages(client, "describe_volumes"))
    assert [v["VolumeId"] for page in pages for v in page["Volumes"]] == ["vol-1", "vol-2"]
    stubber.assert_no_pending_responses()


def test_regions_enabled_skips_not_opted_in(aws: None) -> None:
    factory = SessionFactory()
    resolver = RegionResolver(factory, "enabled")
    client = factory.client(PROD, "ec2", "us-east-1")
    stubber = Stubber(client)
    stubber.add_response(
        "describe_regions",
        {
            "Regions": [
                {"RegionName": "us-east-1", "OptInStatus": "opt-in-not-required"},
                {"RegionName": "af-south-1", "OptInStatus": "not-opted-in"},
                {"RegionName": "ap-east-1", "OptInStatus": "opted-in"},
            ]
        },
    )
    with stubber:
        assert resolver.resolve(PROD) == ("ap-east-1", "us-east-1")
        assert resolver.resolve(PROD) == ("ap-east-1", "us-east-1")
    stubber.assert_no_pending_responses()


def test_warm_creates_inventory_clients(aws: None) -> None:
    account_session("111111111111").client("s3", region_name="eu-west-1").create_bucket(
        Bucket="warm-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    factory = SessionFactory(AwsSettings(max_workers=4))
    fanout = FanOut(4)
    inventory = Inventory(factory, fanout, RegionResolver(factory, REGIONS))

    created, needed = inventory.warm([PROD], limit=512)
    assert factory.counter.total_attempts == 0
    assert needed == created
    # ec2, rds, s3, lambda, eks and emr in each of the 2 regions. S3's global region is one of them.
    assert created == factory.cached_clients == 12

    gathered = inventory.collect([PROD], list(RESOURCE_TYPES), Query(), "U0WARM")
    fanout.shutdown()
    assert gathered.warnings == []
    assert [r.id for r in gathered.items if r.kind == "s3"] == ["warm-eu"]
    assert factory.cached_clients == created


def test_warm_limit_and_enabled_regions(aws: None) -> None:
    factory = SessionFactory(AwsSettings())
    fanout = FanOut(2)
    assert Inventory(factory, fanout, RegionResolver(factory, REGIONS)).warm([PROD], 5) == (5, 12)
    assert factory.cached_clients == 5

    factory = SessionFactory(AwsSettings())
    enabled = Inventory(factory, fanout, RegionResolver(factory, ENABLED))
    # Only the client that looks the regions up, because listing them needs an AWS call.
    assert enabled.warm([PROD, STAGING], 512) == (2, 2)
    assert factory.counter.total_attempts == 0
    fanout.shutdown()
