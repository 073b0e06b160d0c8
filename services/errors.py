"""Project exceptions and the translation of AWS errors into sentences a user can act on."""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedException",
        "AuthorizationError",
        "Forbidden",
    }
)
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "RequestThrottled",
    }
)
REGION_DISABLED_CODES = frozenset(
    {"AuthFailure", "InvalidClientTokenId", "UnrecognizedClientException", "OptInRequired"}
)


class AwsMonitorError(Exception):
    """Base class of every error aws-monitor raises on purpose."""


class ConfigError(AwsMonitorError):
    """The configuration file is invalid; the message names the file, the key and the fix."""


class AccountAccessError(AwsMonitorError):
    """An account's role could not be assumed."""


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


def account_label(name: str, account_id: str | None) -> str:
    return f"{name} ({account_id})" if account_id else name


def describe_aws_error(
    exc: BaseException, *, action: str, account: str, account_id: str | None, region: str | None
) -> str:
    """Turn an AWS failure into one line that names the account, the region and the fix."""
    if isinstance(exc, AccountAccessError):
        return f"{exc} (account {account_label(account, account_id)})"
    if isinstance(exc, NoCredentialsError):
        return (
            f"No AWS credentials found for account {account_label(account, account_id)}; "
            "set AWS_PROFILE or attach a role"
        )
    where = f"account {account_label(account, account_id)}"
    if region:
        where += f", region {region}"
    code = error_code(exc)
    if code in ACCESS_DENIED_CODES:
        return f"Missing IAM permission {action} in {where}"
    if code in THROTTLING_CODES:
        return f"AWS throttled {action} in {where} past the retry limit; ask again in a minute"
    if code in REGION_DISABLED_CODES:
        return f"Region not enabled or credentials rejected ({code}) for {action} in {where}"
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        return f"Timed out calling {action} in {where}"
    if isinstance(exc, EndpointConnectionError):
        return f"Could not reach the AWS endpoint for {action} in {where}"
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message", "")
        return f"{action} failed in {where}: {code} {message}".rstrip()
    return f"{action} failed in {where}: {type(exc).__name__}: {exc}"
