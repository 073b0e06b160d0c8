"""Try each IAM action the bot needs, per account, without reading more than a page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services.accounts import Account
from services.errors import ACCESS_DENIED_CODES, AccountAccessError, error_code
from services.sessions import SessionFactory

ALLOWED = "allowed"
DENIED = "denied"
FAILED = "failed"
SKIPPED = "not tried"


class NothingToTryError(Exception):
    """A probe needs a resource, such as a bucket, that the account does not have."""


@dataclass(frozen=True)
class PermissionResult:
    account: str
    action: str
    status: str
    detail: str = ""


@dataclass(frozen=True)
class Probe:
    action: str
    service: str
    call: Callable[[Any, dict[str, str]], str | None]
    """Makes the smallest request for the action; returns a note, or raises."""


def _dry_run(method: str, **params: Any) -> Callable[[Any, dict[str, str]], str | None]:
    def call(client: Any, found: dict[str, str]) -> str | None:
        try:
            getattr(client, method)(DryRun=True, **params)
        except ClientError as exc:
            if error_code(exc) == "DryRunOperation":
                return None
            raise
        return None

    return call


def _first_bucket(client: Any, found: dict[str, str]) -> str | None:
    buckets = client.list_buckets().get("Buckets", [])
    if buckets:
        found["bucket"] = buckets[0]["Name"]
    return None


def _needs(
    key: str, call: Callable[[Any, str], Any]
) -> Callable[[Any, dict[str, str]], str | None]:
    def run(client: Any, found: dict[str, str]) -> str | None:
        if key not in found:
            raise NothingToTryError(f"no {key} to try it on")
        call(client, found[key])
        return None

    return run


def _bucket_tagging(client: Any, bucket: str) -> None:
    try:
        client.get_bucket_tagging(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) != "NoSuchTagSet":
            raise


def _first_function(client: Any, found: dict[str, str]) -> str | None:
    functions = client.list_functions(MaxItems=1).get("Functions", [])
    if functions:
        found["function"] = functions[0]["FunctionArn"]
    return None


def _first_eks(client: Any, found: dict[str, str]) -> str | None:
    clusters = client.list_clusters(maxResults=1).get("clusters", [])
    if clusters:
        found["eks cluster"] = clusters[0]
    return None


def _first_emr(client: Any, found: dict[str, str]) -> str | None:
    clusters = client.list_clusters().get("Clusters", [])
    if clusters:
        found["emr cluster"] = clusters[0]["Id"]
    return None


def _metric_data(client: Any, found: dict[str, str]) -> str | None:
    end = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    client.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "probe",
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/EC2", "MetricName": "CPUUtilization"},
                    "Period": 300,
                    "Stat": "Average",
                },
            }
        ],
        StartTime=end - dt.timedelta(minutes=10),
        EndTime=end,
    )
    return None


def _metric_statistics(client: Any, found: dict[str, str]) -> str | None:
    end = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    client.get_metric_statistics(
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        StartTime=end - dt.timedelta(minutes=10),
        EndTime=end,
        Period=300,
        Statistics=["Average"],
    )
    return None


def _list_metrics(client: Any, found: dict[str, str]) -> str | None:
    client.list_metrics(Namespace="CWAgent", MetricName="mem_used_percent")
    return None


def _cost_forecast(client: Any, found: dict[str, str]) -> str | None:
    today = dt.date.today()
    start = today + dt.timedelta(days=1)
    end = (start.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    try:
        client.get_cost_forecast(
            TimePeriod={"Start": start.isoformat(), "End": end.isoformat()},
            Metric="UNBLENDED_COST",
            Granularity="MONTHLY",
        )
    except ClientError as exc:
        # Allowed, but AWS has too little history to forecast from.
        if error_code(exc) != "DataUnavailableException":
            raise
    return "each call is billed USD 0.01"


def _cost_and_usage(client: Any, found: dict[str, str]) -> str | None:
    today = dt.date.today()
    client.get_cost_and_usage(
        TimePeriod={"Start": (today - dt.timedelta(days=1)).isoformat(), "End": today.isoformat()},
        Granularity="DAILY",
        Metrics=["UnblendedCost"],
    )
    return "each call is billed USD 0.01"


PROBES: tuple[Probe, ...] = (
    Probe("ec2:DescribeRegions", "ec2", _dry_run("describe_regions")),
    Probe("ec2:DescribeInstances", "ec2", _dry_run("describe_instances", MaxResults=5)),
    Probe("ec2:DescribeVolumes", "ec2", _dry_run("describe_volumes", MaxResults=5)),
    Probe(
        "rds:DescribeDBInstances",
        "rds",
        lambda c, f: c.describe_db_instances(MaxRecords=20) and None,
    ),
    Probe("s3:ListAllMyBuckets", "s3", _first_bucket),
    Probe(
        "s3:GetBucketLocation", "s3", _needs("bucket", lambda c, b: c.get_bucket_location(Bucket=b))
    ),
    Probe("s3:GetBucketTagging", "s3", _needs("bucket", _bucket_tagging)),
    Probe("lambda:ListFunctions", "lambda", _first_function),
    Probe(
        "lambda:ListTags", "lambda", _needs("function", lambda c, arn: c.list_tags(Resource=arn))
    ),
    Probe("eks:ListClusters", "eks", _first_eks),
    Probe(
        "eks:DescribeCluster", "eks", _needs("eks cluster", lambda c, n: c.describe_cluster(name=n))
    ),
    Probe("elasticmapreduce:ListClusters", "emr", _first_emr),
    Probe(
        "elasticmapreduce:DescribeCluster",
        "emr",
        _needs("emr cluster", lambda c, i: c.describe_cluster(ClusterId=i)),
    ),
    Probe("cloudwatch:GetMetricData", "cloudwatch", _metric_data),
    Probe("cloudwatch:GetMetricStatistics", "cloudwatch", _metric_statistics),
    Probe("cloudwatch:ListMetrics", "cloudwatch", _list_metrics),
    Probe("ce:GetCostAndUsage", "ce", _cost_and_usage),
    Probe("ce:GetCostForecast", "ce", _cost_forecast),
)


def classify_failure(exc: BaseException) -> tuple[str, str]:
    """Return the status and detail of a failed probe: DENIED only for an access-denied code.

    Anything else, such as a timeout or an unreachable endpoint, is FAILED, because it shows
    nothing about the role's permissions. An AccountAccessError is judged by its cause.
    """
    if isinstance(exc, ClientError):
        code = error_code(exc)
        return (DENIED if code in ACCESS_DENIED_CODES else FAILED), code
    cause = exc.__cause__
    if isinstance(exc, AccountAccessError) and isinstance(cause, ClientError):
        return (DENIED if error_code(cause) in ACCESS_DENIED_CODES else FAILED), str(exc)
    if isinstance(exc, BotoCoreError | AccountAccessError):
        return FAILED, str(exc)
    return FAILED, f"{type(exc).__name__}: {exc}"[:200]


def check_account(
    factory: SessionFactory, account: Account, region: str, user_id: str | None = None
) -> list[PermissionResult]:
    """Try every probe in one region of the account; later probes reuse what earlier ones found."""
    results: list[PermissionResult] = []
    found: dict[str, str] = {}
    if account.role_arn:
        try:
            factory.client(account, "sts", region, user_id=user_id).get_caller_identity()
            results.append(
                PermissionResult(account.name, "sts:AssumeRole", ALLOWED, account.role_arn)
            )
        except (AccountAccessError, ClientError, BotoCoreError) as exc:
            status, detail = classify_failure(exc)
            results.append(PermissionResult(account.name, "sts:AssumeRole", status, detail))
            return results
    for probe in PROBES:
        client_region = "us-east-1" if probe.service == "ce" else region
        try:
            client = factory.client(account, probe.service, client_region, user_id=user_id)
            note = probe.call(client, found)
            results.append(PermissionResult(account.name, probe.action, ALLOWED, note or ""))
        except NothingToTryError as exc:
            results.append(PermissionResult(account.name, probe.action, SKIPPED, str(exc)))
        except Exception as exc:  # a failing endpoint is reported, not fatal
            status, detail = classify_failure(exc)
            results.append(PermissionResult(account.name, probe.action, status, detail))
    return results
