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
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks._errors import BenchmarkError
from flowguard.config import Settings

__all__ = ["Postgres", "count_rows", "postgres_server"]

logger = logging.getLogger(__name__)

PG15_BIN = Path("/usr/lib/postgresql/15/bin")
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


def _timescaledb_installed(bin_dir: Path) -> bool:
    pg_config = bin_dir / "pg_config"
    if not pg_config.exists():
        return False
    share = subprocess.run(
        [pg_config, "--sharedir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return (Path(share) / "extension" / "timescaledb.control").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Cluster:
    """A throwaway cluster made with initdb and run with pg_ctl.

    initdb refuses to run as root, so as root the cluster belongs to the
    ``postgres`` system user and its tools run as that user.
    """

    def __init__(self, bin_dir: Path) -> None:
        self._bin_dir = bin_dir
        self._root = Path(tempfile.mkdtemp(prefix="flowguard-bench-pg-"))
        self._pgdata = self._root / "data"
        self._port = _free_port()
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user is not None:
            owner = pwd.getpwnam(self._user)
            os.chown(self._root, owner.pw_uid, owner.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self._port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self._bin_dir / tool), *args]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        try:
            subprocess.run(command, check=True, capture_output=True, cwd=self._root)
        except subprocess.CalledProcessError as exc:
            msg = f"{tool} failed: {exc.stderr.decode(errors='replace').strip()}"
            raise BenchmarkError(msg) from exc

    def start(self) -> None:
        pgdata = str(self._pgdata)
        self._run("initdb", "-D", pgdata, "-U", "postgres", "--auth=trust")
        options = (
            f"-p {self._port} -k {self._root} -c listen_addresses=127.0.0.1"
            " -c shared_preload_libraries=timescaledb"
            " -c timescaledb.telemetry_level=off"
        )
        log = str(self._root / "server.log")
        self._run("pg_ctl", "-D", pgdata, "-o", options, "-l", log, "-w", "start")

    def destroy(self) -> None:
        if (self._pgdata / "postmaster.pid").exists():
            pgdata = str(self._pgdata)
            try:
                self._run("pg_ctl", "-D", pgdata, "-m", "immediate", "-w", "stop")
            except BenchmarkError as exc:
                logger.warning("cannot stop the private cluster: %s", exc)
        shutil.rmtree(self._root, ignore_errors=True)


@contextmanager
def _private_cluster() -> Iterator[Postgres]:
    cluster = _Cluster(PG15_BIN)
    try:
        cluster.start()
        logger.info("private postgresql 15 cluster with timescaledb started")
        yield Postgres(cluster.url, "a private PostgreSQL 15 cluster")
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
    elif _timescaledb_installed(PG15_BIN):
        with _private_cluster() as postgres:
            yield postgres
    else:
        logger.info("timescaledb is not installed for postgresql 15: using embedded")
        with _embedded() as postgres:
            yield postgres
