"""Seed moto with an estate of several accounts and regions, and write the bot's config for it.

Counts vary by account and region so that no two listings have the same size. Every call
goes through boto3 against the endpoint in AWS_ENDPOINT_URL, in the account that
sts:AssumeRole into `arn:aws:iam::ACCOUNT:role/...` selects in moto.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

ROLE_NAME = "AwsMonitorReadOnly"
CHANNEL_ID = "C0BENCH001"
ACCOUNTS: dict[str, str] = {
    "prod": "111111111111",
    "staging": "222222222222",
    "data": "333333333333",
}
REGIONS: tuple[str, ...] = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-northeast-1",
)
ENVIRONMENTS = ("production", "staging", "development")
_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


@dataclass(frozen=True)
class Scale:
    """How many resources each account and region gets, before the per-place variation."""

    instances: int = 12
    extra_volumes: int = 3
    db_instances: int = 2
    functions: int = 3
    eks_clusters: int = 1
    emr_clusters: int = 1
    buckets_per_account: int = 16


def role_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{ROLE_NAME}"


def account_session(account_id: str) -> boto3.Session:
    """Return a session whose calls land in `account_id`, through moto's sts:AssumeRole."""
    sts = boto3.client("sts", region_name="us-east-1")
    credentials = sts.assume_role(RoleArn=role_arn(account_id), RoleSessionName="seed")["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="us-east-1",
    )


def _tags(name: str, index: int) -> list[dict[str, str]]:
    return [
        {"Key": "Name", "Value": name},
        {"Key": "Environment", "Value": ENVIRONMENTS[index % len(ENVIRONMENTS)]},
        {"Key": "Team", "Value": f"team-{index % 5}"},
    ]


def _function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def _seed_region(
    session: boto3.Session, account_id: str, region: str, place: int, scale: Scale, counts: Counter[str]
) -> None:
    ec2 = session.client("ec2", region_name=region)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instances = scale.instances + place % 9
    created = ec2.run_instances(
        ImageId=image,
        MinCount=instances,
        MaxCount=instances,
        InstanceType=("t3.micro", "m5.large", "c5.xlarge")[place % 3],
        TagSpecifications=[{"ResourceType": "instance", "Tags": _tags(f"web-{place}", place)}],
    )["Instances"]
    stopped = [instance["InstanceId"] for instance in created[: instances // 4]]
    if stopped:
        ec2.stop_instances(InstanceIds=stopped)
    counts["ec2"] += instances
    # moto gives every instance a root volume; the extra ones are unattached.
    counts["ebs"] += instances
    for index in range(scale.extra_volumes + place % 2):
        ec2.create_volume(
            AvailabilityZone=f"{region}a",
            Size=20 + index,
            VolumeType="gp3",
            TagSpecifications=[{"ResourceType": "volume", "Tags": _tags(f"data-{place}-{index}", index)}],
        )
        counts["ebs"] += 1

    rds = session.client("rds", region_name=region)
    for index in range(scale.db_instances):
        rds.create_db_instance(
            DBInstanceIdentifier=f"db-{place}-{index}",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="admin",
            MasterUserPassword="not-a-secret-1",
            AllocatedStorage=20,
            Tags=_tags(f"db-{place}-{index}", index),
        )
        counts["rds"] += 1

    lam = session.client("lambda", region_name=region)
    code = {"ZipFile": _function_zip()}
    for index in range(scale.functions + place % 3):
        lam.create_function(
            FunctionName=f"fn-{place}-{index}",
            Runtime="python3.12",
            Role=f"arn:aws:iam::{account_id}:role/lambda-runner",
            Handler="handler.handler",
            Code=code,
            Tags={tag["Key"]: tag["Value"] for tag in _tags(f"fn-{place}-{index}", index)},
        )
        counts["lambda"] += 1

    eks = session.client("eks", region_name=region)
    for index in range(scale.eks_clusters):
        eks.create_cluster(
            name=f"k8s-{place}-{index}",
            roleArn=f"arn:aws:iam::{account_id}:role/eks-cluster",
            resourcesVpcConfig={"subnetIds": []},
            tags={"Environment": ENVIRONMENTS[index % len(ENVIRONMENTS)]},
        )
        counts["eks"] += 1

    emr = session.client("emr", region_name=region)
    for index in range(scale.emr_clusters):
        emr.run_job_flow(
            Name=f"etl-{place}-{index}",
            ReleaseLabel="emr-7.1.0",
            Instances={
                "MasterInstanceType": "m5.xlarge",
                "SlaveInstanceType": "m5.xlarge",
                "InstanceCount": 3,
                "KeepJobFlowAliveWhenNoSteps": True,
            },
            JobFlowRole="EMR_EC2_DefaultRole",
            ServiceRole="EMR_DefaultRole",
            Tags=_tags(f"etl-{place}-{index}", index),
        )
        counts["emr"] += 1


def _seed_buckets(session: boto3.Session, account_id: str, scale: Scale, counts: Counter[str]) -> None:
    s3 = session.client("s3", region_name="us-east-1")
    for index in range(scale.buckets_per_account):
        region = REGIONS[index % len(REGIONS)]
        name = f"bench-{account_id}-{index:03d}"
        if region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
        if index % 2 == 0:
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tags(name, index)})
        counts["s3"] += 1


def seed_estate(
    scale: Scale = Scale(),
    regions: tuple[str, ...] = REGIONS,
    accounts: dict[str, str] = ACCOUNTS,
) -> Counter[str]:
    """Create the estate in each of `accounts` (name -> id) and return the count per kind."""
    counts: Counter[str] = Counter()
    for number, account_id in enumerate(accounts.values()):
        session = account_session(account_id)
        session.client("iam").create_role(RoleName="lambda-runner", AssumeRolePolicyDocument=_TRUST_POLICY)
        for index, region in enumerate(regions):
            _seed_region(session, account_id, region, number * len(regions) + index, scale, counts)
        _seed_buckets(session, account_id, scale, counts)
    return counts


def write_config(
    path: Path,
    regions: tuple[str, ...] | str = REGIONS,
    accounts: dict[str, str] = ACCOUNTS,
) -> Path:
    """Write an aws-monitor config that maps each of `accounts` to CHANNEL_ID."""
    aws: dict[str, Any] = {"regions": list(regions) if isinstance(regions, tuple) else regions}
    config = {
        "aws": aws,
        "accounts": {name: {"role_arn": role_arn(account_id)} for name, account_id in accounts.items()},
        "channels": {CHANNEL_ID: {"accounts": list(accounts)}},
    }
    # JSON is valid YAML, so the file needs no YAML writer.
    path.write_text(json.dumps(config, indent=2))
    return path
