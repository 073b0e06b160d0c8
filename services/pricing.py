"""A small static table of on-demand prices for estimating what idle resources cost.

Prices are USD list prices in us-east-1: EC2 on Linux, EBS per GB-month of storage,
RDS Single-AZ instances per engine. Every other region is estimated with them too,
and discounts (Savings Plans, Reserved Instances, credits) are ignored, so each
figure is an estimate, never a bill.

NOTE: the values were copied from the AWS pricing pages' 2024 list prices by hand and
are not checked automatically. Refresh them from the AWS Price List API
(pricing:GetProducts) when AWS changes a price.
"""

from __future__ import annotations

from decimal import Decimal

PRICE_SOURCE = "AWS on-demand list prices, us-east-1, 2024"
# The AWS Pricing Calculator counts 730 hours in a month.
HOURS_PER_MONTH = Decimal(730)

EC2_HOURLY: dict[str, Decimal] = {
    name: Decimal(price)
    for name, price in {
        "t2.nano": "0.0058", "t2.micro": "0.0116", "t2.small": "0.023", "t2.medium": "0.0464",
        "t2.large": "0.0928", "t2.xlarge": "0.1856", "t2.2xlarge": "0.3712",
        "t3.nano": "0.0052", "t3.micro": "0.0104", "t3.small": "0.0208", "t3.medium": "0.0416",
        "t3.large": "0.0832", "t3.xlarge": "0.1664", "t3.2xlarge": "0.3328",
        "t3a.nano": "0.0047", "t3a.micro": "0.0094", "t3a.small": "0.0188",
        "t3a.medium": "0.0376", "t3a.large": "0.0752", "t3a.xlarge": "0.1504",
        "t3a.2xlarge": "0.3008",
        "t4g.nano": "0.0042", "t4g.micro": "0.0084", "t4g.small": "0.0168",
        "t4g.medium": "0.0336", "t4g.large": "0.0672", "t4g.xlarge": "0.1344",
        "t4g.2xlarge": "0.2688",
        "m5.large": "0.096", "m5.xlarge": "0.192", "m5.2xlarge": "0.384", "m5.4xlarge": "0.768",
        "m5.8xlarge": "1.536", "m5.12xlarge": "2.304", "m5.16xlarge": "3.072",
        "m5.24xlarge": "4.608",
        "m5a.large": "0.086", "m5a.xlarge": "0.172", "m5a.2xlarge": "0.344",
        "m6i.large": "0.096", "m6i.xlarge": "0.192", "m6i.2xlarge": "0.384",
        "m6i.4xlarge": "0.768",
        "m6g.medium": "0.0385", "m6g.large": "0.077", "m6g.xlarge": "0.154",
        "m6g.2xlarge": "0.308", "m6g.4xlarge": "0.616",
        "m7g.medium": "0.0408", "m7g.large": "0.0816", "m7g.xlarge": "0.1632",
        "m7g.2xlarge": "0.3264",
        "c5.large": "0.085", "c5.xlarge": "0.17", "c5.2xlarge": "0.34", "c5.4xlarge": "0.68",
        "c5.9xlarge": "1.53",
        "c6i.large": "0.085", "c6i.xlarge": "0.17", "c6i.2xlarge": "0.34", "c6i.4xlarge": "0.68",
        "c6g.medium": "0.034", "c6g.large": "0.068", "c6g.xlarge": "0.136",
        "c6g.2xlarge": "0.272",
        "r5.large": "0.126", "r5.xlarge": "0.252", "r5.2xlarge": "0.504", "r5.4xlarge": "1.008",
        "r6i.large": "0.126", "r6i.xlarge": "0.252", "r6i.2xlarge": "0.504",
        "r6g.medium": "0.0504", "r6g.large": "0.1008", "r6g.xlarge": "0.2016",
        "r6g.2xlarge": "0.4032",
        "g4dn.xlarge": "0.526", "g5.xlarge": "1.006", "p3.2xlarge": "3.06",
    }.items()
}  # fmt: skip

# Storage only: provisioned IOPS and throughput above the included baseline are extra.
EBS_GB_MONTH: dict[str, Decimal] = {
    "gp3": Decimal("0.08"),
    "gp2": Decimal("0.10"),
    "io1": Decimal("0.125"),
    "io2": Decimal("0.125"),
    "st1": Decimal("0.045"),
    "sc1": Decimal("0.015"),
    "standard": Decimal("0.05"),
}

# Single-AZ instance hours. Multi-AZ doubles them, and MariaDB is priced as MySQL.
RDS_HOURLY: dict[str, dict[str, Decimal]] = {
    "mysql": {
        name: Decimal(price)
        for name, price in {
            "db.t3.micro": "0.017", "db.t3.small": "0.034", "db.t3.medium": "0.068",
            "db.t3.large": "0.136", "db.t3.xlarge": "0.272", "db.t3.2xlarge": "0.544",
            "db.t4g.micro": "0.016", "db.t4g.small": "0.032", "db.t4g.medium": "0.065",
            "db.t4g.large": "0.129",
            "db.m5.large": "0.171", "db.m5.xlarge": "0.342", "db.m5.2xlarge": "0.684",
            "db.m5.4xlarge": "1.368",
            "db.m6g.large": "0.152", "db.m6g.xlarge": "0.304",
            "db.m6i.large": "0.171", "db.m6i.xlarge": "0.342",
            "db.r5.large": "0.24", "db.r5.xlarge": "0.48", "db.r5.2xlarge": "0.96",
            "db.r6g.large": "0.215", "db.r6g.xlarge": "0.43",
        }.items()
    },
    "postgres": {
        name: Decimal(price)
        for name, price in {
            "db.t3.micro": "0.018", "db.t3.small": "0.036", "db.t3.medium": "0.072",
            "db.t3.large": "0.145", "db.t3.xlarge": "0.29", "db.t3.2xlarge": "0.579",
            "db.t4g.micro": "0.016", "db.t4g.small": "0.032", "db.t4g.medium": "0.065",
            "db.t4g.large": "0.129",
            "db.m5.large": "0.178", "db.m5.xlarge": "0.356", "db.m5.2xlarge": "0.712",
            "db.m5.4xlarge": "1.424",
            "db.m6g.large": "0.159", "db.m6g.xlarge": "0.318",
            "db.m6i.large": "0.178", "db.m6i.xlarge": "0.356",
            "db.r5.large": "0.25", "db.r5.xlarge": "0.50", "db.r5.2xlarge": "1.00",
            "db.r6g.large": "0.225", "db.r6g.xlarge": "0.45",
        }.items()
    },
}  # fmt: skip
RDS_ENGINE_PRICES = {"mysql": "mysql", "mariadb": "mysql", "postgres": "postgres"}
# General Purpose (gp2) storage, Single-AZ. Multi-AZ doubles it.
RDS_STORAGE_GB_MONTH = Decimal("0.115")


def ec2_monthly(instance_type: str | None) -> Decimal | None:
    """Estimate a month of one running Linux instance, or None for an unlisted type."""
    hourly = EC2_HOURLY.get(instance_type or "")
    return None if hourly is None else _cents(hourly * HOURS_PER_MONTH)


def ebs_monthly(volume_type: str | None, size_gib: float | None) -> Decimal | None:
    """Estimate a month of a volume's storage, or None when type or size is unknown."""
    price = EBS_GB_MONTH.get(volume_type or "")
    if price is None or size_gib is None:
        return None
    return _cents(price * Decimal(str(size_gib)))


def rds_monthly(
    engine: str | None, db_class: str | None, multi_az: bool, storage_gib: float | None
) -> Decimal | None:
    """Estimate a month of a DB instance and its gp2 storage, or None for an unlisted
    engine or class. `engine` is the RDS engine name, e.g. "postgres" or "mysql"."""
    table = RDS_HOURLY.get(RDS_ENGINE_PRICES.get((engine or "").lower(), ""))
    hourly = table.get(db_class or "") if table else None
    if hourly is None:
        return None
    copies = 2 if multi_az else 1
    monthly = hourly * HOURS_PER_MONTH * copies
    if storage_gib is not None:
        monthly += RDS_STORAGE_GB_MONTH * Decimal(str(storage_gib)) * copies
    return _cents(monthly)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"))
