"""Find one resource by its id or name across a channel's accounts and regions.

The id's prefix gives the kind (`i-` instance, `vol-` volume, `j-` EMR cluster). Any
other word is looked up as an RDS instance, a Lambda function and an EKS cluster, each
only when the word fits that kind's AWS naming rules. A word that fits none is rejected
before any AWS call.
Each lookup is a targeted call per account and region, so nothing is listed in full
except Lambda functions, which have no filter in ListFunctions.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from services import awslambda, ec2, eks, emr, rds
from services.accounts import Account
from services.errors import error_code
from services.fanout import FanOut, Gathered, Outcome, Task
from services.models import Resource, tag_dict
from services.query import fetch_pages
from services.regions import RegionResolver
from services.sessions import SessionFactory

KIND_PREFIXES = (("i-", "ec2"), ("vol-", "ebs"), ("j-", "emr"))
NAMED_KINDS = ("rds", "lambda", "eks")
MAX_ID_LENGTH = 255
# AWS naming rules per kind, from the API references of CreateDBInstance,
# CreateFunction and CreateCluster; ids of EC2 and EMR are as those services print them.
ID_PATTERNS: dict[str, re.Pattern[str]] = {
    "ec2": re.compile(r"^i-[0-9a-f]+$"),
    "ebs": re.compile(r"^vol-[0-9a-f]+$"),
    "emr": re.compile(r"^j-[0-9A-Za-z]+$"),
    # 1 to 63 letters, digits and hyphens; first a letter, no `--` and no hyphen at the end.
    "rds": re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$"),
    "lambda": re.compile(r"^[A-Za-z0-9_-]{1,64}$"),
    "eks": re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$"),
}

Finder = Callable[[Any, str, Account, str], list[Resource]]


def kinds_for_id(resource_id: str) -> tuple[str, ...]:
    """Return the resource kinds an id can belong to; empty when it fits no naming rule."""
    for prefix, kind in KIND_PREFIXES:
        if resource_id.startswith(prefix) and ID_PATTERNS[kind].match(resource_id):
            return (kind,)
    return tuple(kind for kind in NAMED_KINDS if ID_PATTERNS[kind].match(resource_id))


def _find_instance(client: Any, resource_id: str, account: Account, region: str) -> list[Resource]:
    # A filter, unlike InstanceIds, returns an empty list for an unknown id.
    pages = fetch_pages(
        client, "describe_instances", Filters=[{"Name": "instance-id", "Values": [resource_id]}]
    )
    return [
        ec2.INSTANCES.parse(raw, account, region)
        for page in pages
        for raw in ec2.INSTANCES.items(page)
    ]


def _find_volume(client: Any, resource_id: str, account: Account, region: str) -> list[Resource]:
    pages = fetch_pages(
        client, "describe_volumes", Filters=[{"Name": "volume-id", "Values": [resource_id]}]
    )
    return [
        ec2.VOLUMES.parse(raw, account, region) for page in pages for raw in ec2.VOLUMES.items(page)
    ]


def _find_db_instance(
    client: Any, resource_id: str, account: Account, region: str
) -> list[Resource]:
    pages = fetch_pages(
        client,
        "describe_db_instances",
        Filters=[{"Name": "db-instance-id", "Values": [resource_id]}],
    )
    return [
        rds.DB_INSTANCES.parse(raw, account, region)
        for page in pages
        for raw in rds.DB_INSTANCES.items(page)
    ]


def _find_function(client: Any, resource_id: str, account: Account, region: str) -> list[Resource]:
    return [
        awslambda.FUNCTIONS.parse(raw, account, region)
        for page in fetch_pages(client, "list_functions")
        for raw in awslambda.FUNCTIONS.items(page)
        if raw.get("FunctionName") == resource_id
    ]


def _find_eks_cluster(
    client: Any, resource_id: str, account: Account, region: str
) -> list[Resource]:
    bare = eks.CLUSTERS.parse(resource_id, account, region)  # type: ignore[arg-type]
    assert eks.CLUSTERS.detail is not None
    try:
        return [eks.CLUSTERS.detail.call(client, bare)]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return []
        raise


def _find_emr_cluster(
    client: Any, resource_id: str, account: Account, region: str
) -> list[Resource]:
    try:
        cluster = client.describe_cluster(ClusterId=resource_id).get("Cluster") or {}
    except ClientError as exc:
        # EMR rejects an unknown cluster id with InvalidRequestException.
        if error_code(exc) == "InvalidRequestException":
            return []
        raise
    if not cluster:
        return []
    bare = emr.CLUSTERS.parse(cluster, account, region)
    return [
        dataclasses.replace(
            bare, type=cluster.get("ReleaseLabel"), tags=tag_dict(cluster.get("Tags"))
        )
    ]


# Per kind: the boto3 service, the IAM action named in warnings, and the finder.
FINDERS: dict[str, tuple[str, str, Finder]] = {
    "ec2": ("ec2", "ec2:DescribeInstances", _find_instance),
    "ebs": ("ec2", "ec2:DescribeVolumes", _find_volume),
    "rds": ("rds", "rds:DescribeDBInstances", _find_db_instance),
    "lambda": ("lambda", "lambda:ListFunctions", _find_function),
    "eks": ("eks", "eks:DescribeCluster", _find_eks_cluster),
    "emr": ("emr", "elasticmapreduce:DescribeCluster", _find_emr_cluster),
}


class ResourceLocator:
    """Finds resources by id on the shared fan-out; failures become warnings."""

    def __init__(self, factory: SessionFactory, fanout: FanOut, regions: RegionResolver) -> None:
        self.factory = factory
        self.fanout = fanout
        self.regions = regions

    def locate(
        self, accounts: Sequence[Account], resource_id: str, user_id: str | None = None
    ) -> Gathered[Resource]:
        """Return every resource with this id or name in the accounts' regions."""
        if not resource_id or len(resource_id) > MAX_ID_LENGTH:
            raise ValueError(f"Resource id must be 1 to {MAX_ID_LENGTH} characters")
        kinds = kinds_for_id(resource_id)
        if not kinds:
            raise ValueError(f"{resource_id!r} fits no AWS naming rule of a resource id or name")
        tasks = [self._account_task(account, kinds, resource_id, user_id) for account in accounts]
        gathered = self.fanout.run(tasks)
        gathered.items.sort(key=lambda r: (r.kind, r.account, r.region, r.id))
        return gathered

    def _account_task(
        self, account: Account, kinds: Sequence[str], resource_id: str, user_id: str | None
    ) -> Task[Resource]:
        def run() -> Outcome[Resource]:
            regions = self.regions.resolve(account, user_id)
            return Outcome(
                followups=[
                    self._find_task(account, region, kind, resource_id, user_id)
                    for region in regions
                    for kind in kinds
                ]
            )

        return Task(account=account, region=None, action="ec2:DescribeRegions", run=run)

    def _find_task(
        self, account: Account, region: str, kind: str, resource_id: str, user_id: str | None
    ) -> Task[Resource]:
        service, action, finder = FINDERS[kind]

        def run() -> Outcome[Resource]:
            client = self.factory.client(account, service, region, user_id=user_id)
            return Outcome(items=finder(client, resource_id, account, region))

        return Task(account=account, region=region, action=action, run=run)
