"""Project exceptions and the translation of AWS errors into sentences a user can act on."""

from __future__ import annotations

import re

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

# botocore 1.x defines this in botocore.parsers, not in botocore.exceptions.
from botocore.parsers import ResponseParserError

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
# Maximum length of AWS's error message in a warning line, in characters.
MAX_MESSAGE_LENGTH = 150
# The start of a document: an HTML page from a proxy or a wrong endpoint, or an XML body.
_MARKUP = re.compile(r"<\s*(!doctype|html|head|body|title|h1|pre|\?xml)\b", re.IGNORECASE)
NOT_AWS_RESPONSE = "the endpoint returned a response that is not AWS's"


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


def short_message(text: str, limit: int = MAX_MESSAGE_LENGTH) -> str:
    """Keep the first line of an error message, without any markup, in at most `limit` characters.

    A proxy or a wrong endpoint responds with an HTML page, and botocore puts the whole
    page in the message. Only the text before the page is kept.
    """
    markup = _MARKUP.search(text)
    kept = text[: markup.start()] if markup else text
    lines = kept.strip().splitlines()
    first = " ".join(lines[0].split()) if lines else ""
    if len(first) > limit:
        first = first[: limit - 1].rstrip() + "…"
    if markup and not first:
        return "with an HTML or XML page instead of an AWS error"
    return first


def describe_aws_error(
    exc: BaseException, *, action: str, account: str, account_id: str | None, region: str | None
) -> str:
    """Turn an AWS failure into one line that names the account, the region and the fix.

    The line keeps an error code and at most one short line of AWS's message, never an
    HTML page or a Python class name other than the code of an unexpected error.
    """
    if isinstance(exc, AccountAccessError):
        message = short_message(str(exc), 2 * MAX_MESSAGE_LENGTH)
        return f"{message} (account {account_label(account, account_id)})"
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
    if isinstance(exc, ResponseParserError):
        return f"{action} failed in {where}: {NOT_AWS_RESPONSE}"
    if isinstance(exc, ClientError):
        message = short_message(str(exc.response.get("Error", {}).get("Message", "")))
        # A proxy or a wrong endpoint responds without an AWS error, so botocore uses the
        # HTTP status as the code.
        shown_code = f"HTTP {code}" if code.isdigit() else code
        return f"{action} failed in {where}: {shown_code} {message}".rstrip()
    message = short_message(str(exc))
    if message:
        return f"{action} failed in {where}: {type(exc).__name__}: {message}"
    return f"{action} failed in {where}: {type(exc).__name__}"
