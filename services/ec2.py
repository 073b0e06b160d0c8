"""EC2 instances and EBS volumes."""

from __future__ import annotations

from typing import Any

from services.accounts import Account
from services.models import Query, Resource, tag_dict
from services.query import ResourceType


def _instance_request(query: Query) -> dict[str, Any]:
    filters = query.tag_filters()
    if query.states:
        filters.append({"Name": "instance-state-name", "Values": sorted(query.states)})
    return {"Filters": filters} if filters else {}


def _instances(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        instance
        for reservation in page.get("Reservations", [])
        for instance in reservation.get("Instances", [])
    ]


def _parse_instance(raw: dict[str, Any], account: Account, region: str) -> Resource:
    tags = tag_dict(raw.get("Tags"))
    placement = raw.get("Placement") or {}
    details = (
        ("private_ip", raw.get("PrivateIpAddress") or "-"),
        ("public_ip", raw.get("PublicIpAddress") or "-"),
        ("zone", placement.get("AvailabilityZone") or region),
    )
    return Resource(
        kind="ec2",
        id=raw["InstanceId"],
        account=account.name,
        account_id=account.account_id,
        region=region,
        state=(raw.get("State") or {}).get("Name", "unknown"),
        name=tags.get("Name"),
        type=raw.get("InstanceType"),
        tags=tags,
        created=raw.get("LaunchTime"),
        details=details,
    )


def _volume_request(query: Query) -> dict[str, Any]:
    filters = query.tag_filters()
    if query.states:
        filters.append({"Name": "status", "Values": sorted(query.states)})
    return {"Filters": filters} if filters else {}


def _parse_volume(raw: dict[str, Any], account: Account, region: str) -> Resource:
    tags = tag_dict(raw.get("Tags"))
    attached = [
        attachment["InstanceId"]
        for attachment in raw.get("Attachments") or []
        if attachment.get("InstanceId")
    ]
    details = (
        ("size_gib", str(raw.get("Size", "-"))),
        ("attached_to", ", ".join(attached) or "-"),
        ("encrypted", "yes" if raw.get("Encrypted") else "no"),
        ("zone", raw.get("AvailabilityZone") or region),
    )
    return Resource(
        kind="ebs",
        id=raw["VolumeId"],
        account=account.name,
        account_id=account.account_id,
        region=region,
        state=raw.get("State", "unknown"),
        name=tags.get("Name"),
        type=raw.get("VolumeType"),
        tags=tags,
        created=raw.get("CreateTime"),
        details=details,
    )


INSTANCES = ResourceType(
    kind="ec2",
    title="EC2 instances",
    service="ec2",
    operation="describe_instances",
    iam_action="ec2:DescribeInstances",
    items=_instances,
    parse=_parse_instance,
    request=_instance_request,
    metric_namespace="AWS/EC2",
    metric_dimension="InstanceId",
)

VOLUMES = ResourceType(
    kind="ebs",
    title="EBS volumes",
    service="ec2",
    operation="describe_volumes",
    iam_action="ec2:DescribeVolumes",
    items=lambda page: page.get("Volumes", []),
    parse=_parse_volume,
    request=_volume_request,
    metric_namespace="AWS/EBS",
    metric_dimension="VolumeId",
)
