"""Shared by the digest tests: a fresh database per test, on SQLite and on PostgreSQL.

The PostgreSQL cases need a server whose URL is in AWS_MONITOR_TEST_POSTGRES_URL,
and `.ci/postgres.sh` starts one on 127.0.0.1 and prints that URL. Without it they
are skipped with that reason. The role in the URL must be allowed to create databases,
because each test creates a database of its own and drops it afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_URL_ENV = "AWS_MONITOR_TEST_POSTGRES_URL"
# Read at import, because the autouse fixture in conftest removes AWS_* variables.
POSTGRES_URL = os.environ.get(POSTGRES_URL_ENV)
POSTGRES_SKIP_REASON = (
    f"{POSTGRES_URL_ENV} is not set: run `.ci/postgres.sh` to start PostgreSQL on 127.0.0.1 "
    "and export the URL it prints"
)
DATABASES = ("sqlite", "postgresql")


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLAlchemy URL of an empty database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip(POSTGRES_SKIP_REASON)
    yield from temporary_postgres_database(POSTGRES_URL)


def temporary_postgres_database(server_url: str) -> Iterator[str]:
    """Create a database on the server of `server_url`, yield its URL, then drop it."""
    url = make_url(server_url)
    name = f"aws_monitor_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
