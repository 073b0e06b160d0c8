"""describe_aws_error: short warning lines without HTML pages or parser dumps."""

from __future__ import annotations

from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from services.errors import (
    MAX_MESSAGE_LENGTH,
    NOT_AWS_RESPONSE,
    AccountAccessError,
    describe_aws_error,
    short_message,
)

HTML_PAGE = (
    "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    "<p>The requested URL was not found on the server.</p>\n" + "<p>padding</p>\n" * 2000
)


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "GetCostForecast")


def describe(exc: BaseException, region: str | None = None) -> str:
    return describe_aws_error(
        exc, action="ce:GetCostForecast", account="prod", account_id="111111111111", region=region
    )


def test_describe_aws_error_drops_html_page() -> None:
    line = describe(client_error("500", HTML_PAGE))
    assert line == (
        "ce:GetCostForecast failed in account prod (111111111111): HTTP 500 with an HTML or "
        "XML page instead of an AWS error"
    )


def test_describe_aws_error_keeps_text_before_html() -> None:
    line = describe(client_error("404", "Not Found " + HTML_PAGE))
    assert line.endswith(": HTTP 404 Not Found")


def test_describe_aws_error_first_line_shortened() -> None:
    message = "Validation failed: " + "x" * 1000 + "\nsecond line"
    line = describe(client_error("ValidationException", message))
    assert "second line" not in line
    assert line.endswith("…")
    assert len(line) < 100 + MAX_MESSAGE_LENGTH


def test_describe_aws_error_keeps_short_message() -> None:
    line = describe(client_error("LimitExceededException", "You have exceeded the limit."))
    assert line.endswith(": LimitExceededException You have exceeded the limit.")


def test_describe_aws_error_response_parser_error() -> None:
    error = ResponseParserError(
        "Unable to parse response (syntax error: line 1, column 0), invalid XML received. "
        "Further retries may succeed:\nb'<!doctype html><html><body>" + "x" * 5000 + "'"
    )
    line = describe(error, region="us-east-1")
    assert line == (
        "ce:GetCostForecast failed in account prod (111111111111), region us-east-1: "
        f"{NOT_AWS_RESPONSE}"
    )


def test_describe_aws_error_account_access_shortened() -> None:
    error = AccountAccessError("Could not assume arn:aws:iam::1:role/R: " + HTML_PAGE)
    line = describe(error)
    assert "<" not in line
    assert line.endswith("(account prod (111111111111))")


def test_describe_aws_error_names_region() -> None:
    # handlers.report.is_account_failure relies on this form for region failures.
    line = describe(client_error("InternalError", "try again"), region="eu-west-1")
    assert ", region eu-west-1" in line


def test_describe_aws_error_unexpected_error() -> None:
    assert describe(RuntimeError("boom")).endswith(": RuntimeError: boom")
    assert describe(RuntimeError()).endswith(": RuntimeError")


def test_short_message_keeps_angle_brackets_in_text() -> None:
    assert short_message("Value 'a<b' is invalid") == "Value 'a<b' is invalid"
