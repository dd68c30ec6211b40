"""Private PostgreSQL clusters for tests and benchmarks, made with initdb and
run with pg_ctl.

initdb refuses to run as root, so as root the cluster belongs to the
``postgres`` system user and every command runs as that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PG15_BIN", "Cluster", "free_port", "timescaledb_installed"]

PG15_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timescaledb_installed(bin_dir: Path) -> bool:
    """Whether this PostgreSQL installation has the timescaledb extension."""
    pg_config = bin_dir / "pg_config"
    if not pg_config.exists():
        return False
    share = subprocess.run(
        [pg_config, "--sharedir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return (Path(share) / "extension" / "timescaledb.control").exists()


class Cluster:
    """One PostgreSQL server in a temporary folder, on a free port.

    Raises ``subprocess.CalledProcessError`` when a PostgreSQL tool fails.
    """

    def __init__(self, bin_dir: Path, preload: str = "", durable: bool = False) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="flowguard-pg-"))
        self.pgdata = self.root / "data"
        self.preload = preload
        # Tests run without fsync for speed; benchmarks keep the defaults.
        self.durable = durable
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "postgres"
            pw = pwd.getpwnam(self._user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.root.chmod(0o755)

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.root)

    def init(self) -> Cluster:
        """Create the data folder with initdb."""
        self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        return self

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
            " -c max_connections=200"
        )
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        if self.preload:
            options += (
                f" -c shared_preload_libraries={self.preload}"
                " -c timescaledb.telemetry_level=off"
            )
        self._run(
            "pg_ctl",
            "-D",
            str(self.pgdata),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``mode`` is pg_ctl's shutdown mode."""
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        """A URL for ``database`` as the superuser."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def destroy(self) -> None:
        """Stop the server at once and delete its folder."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
