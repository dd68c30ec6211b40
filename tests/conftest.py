"""Shared fixtures: real PostgreSQL clusters of every tier, and servers."""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.clusters import PG15_BIN, Cluster, timescaledb_installed
from tests.servers import Server

TIERS = ("timescale-apache", "postgres", "timescale")
_counter = itertools.count()


class Tier:
    """A running server of one storage tier that hands out fresh databases."""

    def __init__(self, name: str, admin_url: str) -> None:
        self.name = name
        self.admin_url = admin_url

    def fresh_database(self) -> str:
        name = f"fg_test_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return _with_database(self.admin_url, name)


def _with_database(url: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)


@pytest.fixture(scope="session")
def apache_tier() -> Iterator[Tier]:
    """PostgreSQL 15 with TimescaleDB's Apache-2 edition preloaded."""
    if not timescaledb_installed(PG15_BIN):
        pytest.skip(
            "TimescaleDB Apache-2 edition is not installed for PostgreSQL 15; "
            "scripts/test.sh provisions it"
        )
    cluster = Cluster(PG15_BIN, preload="timescaledb").init()
    cluster.start()
    try:
        yield Tier("timescale-apache", cluster.url())
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def postgres_tier() -> Iterator[Tier]:
    """The embedded default: PostgreSQL from the pip-installed wheel."""
    from storage.embedded import EmbeddedPostgres

    root = Path(tempfile.mkdtemp(prefix="flowguard-embedded-"))
    server = EmbeddedPostgres(root)
    url = asyncio.run(server.start())
    try:
        yield Tier("postgres", url)
    finally:
        asyncio.run(server.stop())


@pytest.fixture(scope="session")
def timescale_tier() -> Tier:
    """A full TimescaleDB edition, when one is offered for the tests."""
    url = os.environ.get("FLOWGUARD_TEST_TIMESCALE_URL")
    if not url:
        pytest.skip(
            "no full TimescaleDB edition: set FLOWGUARD_TEST_TIMESCALE_URL to an "
            "admin URL of a server with timescaledb.license=timescale"
        )
    return Tier("timescale", url)


@pytest.fixture(params=TIERS)
def tier(request: pytest.FixtureRequest) -> Tier:
    """Each storage tier in turn."""
    names = {
        "timescale-apache": "apache_tier",
        "postgres": "postgres_tier",
        "timescale": "timescale_tier",
    }
    fixture: Tier = request.getfixturevalue(names[request.param])
    return fixture


@pytest.fixture
def database_url(tier: Tier) -> str:
    """A fresh, empty database on each tier in turn."""
    return tier.fresh_database()


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    """``flowguard serve`` on a fresh database of each tier."""
    running = Server(database_url).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def small_server(postgres_tier: Tier) -> Iterator[Server]:
    """``flowguard serve`` with a 1 MiB request limit, on the embedded tier."""
    running = Server(
        postgres_tier.fresh_database(), FLOWGUARD_MAX_REQUEST_BYTES=str(1024 * 1024)
    ).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    """A private PostgreSQL 15 cluster a test may stop and start."""
    if not (PG15_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 server binaries are not installed")
    preload = "timescaledb" if timescaledb_installed(PG15_BIN) else ""
    cluster = Cluster(PG15_BIN, preload=preload).init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()
