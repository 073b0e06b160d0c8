"""S3 buckets: one global list per account, then each bucket's region and tags."""

from __future__ import annotations

import dataclasses
from typing import Any

from botocore.exceptions import ClientError

from services.accounts import Account
from services.cache import TtlCache
from services.errors import error_code
from services.fanout import Outcome, Task
from services.models import Query, Resource, tag_dict
from services.query import ResourceType, fetch_pages
from services.sessions import SessionFactory

GLOBAL_REGION = "us-east-1"
NO_TAGS_CODES = frozenset({"NoSuchTagSet", "NoSuchTagSetError"})


def normalise_location(constraint: str | None) -> str:
    """Map GetBucketLocation's response to a region: None is us-east-1, legacy 'EU' is eu-west-1."""
    if not constraint:
        return "us-east-1"
    if constraint == "EU":
        return "eu-west-1"
    return constraint


def bucket_tags(client: Any, bucket: str) -> dict[str, str]:
    """Return a bucket's tags; NoSuchTagSet means the bucket has none."""
    try:
        return tag_dict(client.get_bucket_tagging(Bucket=bucket).get("TagSet"))
    except ClientError as exc:
        if error_code(exc) in NO_TAGS_CODES:
            return {}
        raise


def _parse_bucket(raw: dict[str, Any], account: Account, region: str) -> Resource:
    return Resource(
        kind="s3",
        id=raw["Name"],
        account=account.name,
        account_id=account.account_id,
        region=region,
        state="available",
        name=raw["Name"],
        created=raw.get("CreationDate"),
    )


BUCKETS = ResourceType(
    kind="s3",
    title="S3 buckets",
    service="s3",
    operation="list_buckets",
    iam_action="s3:ListAllMyBuckets",
    items=lambda page: page.get("Buckets", []),
    parse=_parse_bucket,
    metric_namespace="AWS/S3",
    metric_dimension="BucketName",
)


def bucket_tasks(
    factory: SessionFactory,
    account: Account,
    query: Query,
    user_id: str | None = None,
    locations: TtlCache[tuple[str, str], str] | None = None,
) -> Task[Resource]:
    """Build the task that lists an account's buckets once; each bucket then gets a follow-up."""

    def run() -> Outcome[Resource]:
        client = factory.client(account, "s3", GLOBAL_REGION, user_id=user_id)
        buckets = [
            _parse_bucket(raw, account, GLOBAL_REGION)
            for page in fetch_pages(client, "list_buckets")
            for raw in page.get("Buckets", [])
        ]
        return Outcome(followups=[_bucket_task(bucket) for bucket in buckets])

    def _bucket_task(bucket: Resource) -> Task[Resource]:
        def locate_and_tag() -> Outcome[Resource]:
            region = locations.get((account.name, bucket.id)) if locations else None
            if region is None:
                client = factory.client(account, "s3", GLOBAL_REGION, user_id=user_id)
                constraint = client.get_bucket_location(Bucket=bucket.id).get("LocationConstraint")
                region = normalise_location(constraint)
                if locations is not None:
                    locations.put((account.name, bucket.id), region)
            located = dataclasses.replace(bucket, region=region)
            if not _may_match(query, located):
                return Outcome()
            return Outcome(followups=[_tags_task(located)])

        return Task(account=account, region=None, action="s3:GetBucketLocation", run=locate_and_tag)

    def _tags_task(bucket: Resource) -> Task[Resource]:
        def tag() -> Outcome[Resource]:
            client = factory.client(account, "s3", bucket.region, user_id=user_id)
            tagged = dataclasses.replace(bucket, tags=bucket_tags(client, bucket.id))
            return Outcome(items=[tagged] if query.matches(tagged) else [])

        fallback = [bucket] if query.matches(bucket) else []
        return Task(
            account=account,
            region=bucket.region,
            action="s3:GetBucketTagging",
            run=tag,
            fallback=fallback,
        )

    return Task(account=account, region=None, action="s3:ListAllMyBuckets", run=run)


def _may_match(query: Query, bucket: Resource) -> bool:
    """Check the parts of the query known before the tags are read."""
    if query.regions and bucket.region not in query.regions:
        return False
    return not (query.accounts and bucket.account not in query.accounts)
