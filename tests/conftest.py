"""Shared fixtures: fake AWS credentials, moto in process or as a server, the Slack stand-in."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from tests.fakes.slack_api import FakeSlackApi

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may use real credentials or reach a real AWS endpoint."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name.startswith("SLACK_"):
            monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 with a free port; yields its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # The server keeps its state in this process's moto backends: start and end empty.
    reset_moto(url)
    try:
        yield url
    finally:
        reset_moto(url)
        server.stop()


def reset_moto(url: str) -> None:
    request = urllib.request.Request(f"{url}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture
def slack_api() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as api:
        yield api


def account_session(account_id: str, endpoint_url: str | None = None) -> boto3.Session:
    """A session whose calls land in `account_id` (moto maps assumed-role credentials to it)."""
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=endpoint_url)
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/AwsMonitorReadOnly", RoleSessionName="seed"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="us-east-1",
    )
