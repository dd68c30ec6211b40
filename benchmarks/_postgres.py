"""The PostgreSQL server a benchmark runs on, and fresh databases on it.

With FLOWGUARD_DATABASE_URL set, that server is used and its user needs the
CREATEDB privilege. Otherwise the benchmark starts a private PostgreSQL 15
cluster with TimescaleDB preloaded when that extension is installed, and
else the embedded default. Private servers keep PostgreSQL's defaults
(fsync on), and are destroyed at the end.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks._errors import BenchmarkError
from benchmarks.cluster import PG15_BIN, Cluster, timescaledb_installed
from flowguard.config import Settings

__all__ = ["Postgres", "count_rows", "postgres_server"]

logger = logging.getLogger(__name__)

_names = itertools.count()


class Postgres:
    """A server reached through an admin URL; hands out fresh databases."""

    def __init__(self, admin_url: str, origin: str) -> None:
        self.admin_url = admin_url
        self.origin = origin

    def _url_of(self, name: str) -> str:
        return psycopg.conninfo.make_conninfo(self.admin_url, dbname=name)

    def _execute(self, statement: sql.Composed) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(statement)

    @contextmanager
    def database(self) -> Iterator[str]:
        """Create an empty database, yield its URL, drop it afterwards."""
        name = f"flowguard_bench_{os.getpid()}_{next(_names)}"
        try:
            self._execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            msg = f"cannot create database {name!r} on {self.origin}: {exc}"
            raise BenchmarkError(msg) from exc
        try:
            yield self._url_of(name)
        finally:
            self._execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


def count_rows(url: str, table: str) -> int:
    """The number of rows in ``table``."""
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


@contextmanager
def _private_cluster() -> Iterator[Postgres]:
    cluster = Cluster(PG15_BIN, preload="timescaledb", durable=True)
    try:
        try:
            cluster.init().start()
        except subprocess.CalledProcessError as exc:
            stderr = exc.stderr.decode(errors="replace").strip()
            msg = f"cannot start a private cluster: {stderr}"
            raise BenchmarkError(msg) from exc
        logger.info("private postgresql 15 cluster with timescaledb started")
        yield Postgres(cluster.url(), "a private PostgreSQL 15 cluster")
    finally:
        cluster.destroy()


@contextmanager
def _embedded() -> Iterator[Postgres]:
    from storage.embedded import EmbeddedPostgres

    root = Path(tempfile.mkdtemp(prefix="flowguard-bench-embedded-"))
    server = EmbeddedPostgres(root)
    try:
        url = asyncio.run(server.start())
        yield Postgres(url, "the embedded PostgreSQL")
    finally:
        asyncio.run(server.stop())
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_server(settings: Settings) -> Iterator[Postgres]:
    """The server named by the settings, or a private one; see the module doc."""
    if settings.database_url is not None:
        yield Postgres(settings.database_url, "FLOWGUARD_DATABASE_URL")
    elif timescaledb_installed(PG15_BIN):
        with _private_cluster() as postgres:
            yield postgres
    else:
        logger.info("timescaledb is not installed for postgresql 15: using embedded")
        with _embedded() as postgres:
            yield postgres
