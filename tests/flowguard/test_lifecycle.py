"""Starting and stopping ``flowguard serve``: SIGTERM flushes, embedded default."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import psycopg
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)

from tests.clusters import Cluster, free_port
from tests.conftest import Tier
from tests.servers import JSON_HEADERS, PROTOBUF_HEADERS, Server, get_json, post
from tests.wait import copies_waiting_on_a_lock, until


def _request(prefix: str, count: int) -> bytes:
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    for i in range(count):
        records.add().body.string_value = f"{prefix}-{i}"
    return request.SerializeToString()


def test_sigterm_with_requests_in_flight_keeps_every_acknowledged_record(
    own_cluster: Cluster,
) -> None:
    """Requests held in the writer when SIGTERM arrives are committed and
    acknowledged before the process exits; none is lost."""
    url = own_cluster.create_database("sigterm")
    server = Server(url).start()
    answers: dict[int, int] = {}

    def send(n: int) -> None:
        try:
            status, _, _ = post(
                f"{server.otlp_http}/v1/logs", _request(f"r{n}", 50), PROTOBUF_HEADERS
            )
        except OSError:
            status = -1
        answers[n] = status

    try:
        with (
            psycopg.connect(url) as blocker,
            psycopg.connect(url, autocommit=True) as watcher,
        ):
            blocker.execute("LOCK TABLE logs IN ACCESS EXCLUSIVE MODE")
            senders = [threading.Thread(target=send, args=(n,)) for n in range(8)]
            for sender in senders:
                sender.start()
            until(
                lambda: copies_waiting_on_a_lock(watcher) >= 1,
                what="a held COPY",
            )
            assert server.process is not None
            server.process.terminate()
            until(lambda: "stopping: flushing accepted data" in server.log)
        for sender in senders:
            sender.join(timeout=60)
        assert server.terminate() == 0
    finally:
        server.stop()

    acknowledged = [n for n, status in answers.items() if status == 200]
    assert acknowledged, answers
    with psycopg.connect(url) as conn:
        stored = {row[0] for row in conn.execute("SELECT body FROM logs")}
    for n in acknowledged:
        assert {f"r{n}-{i}" for i in range(50)} <= stored
    assert len(stored) == 50 * len(acknowledged)


def _postmaster_pids(data_dir: Path) -> list[int]:
    pids = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and any(str(data_dir) in a for a in cmdline):
            pids.append(proc.pid)
    return pids


def test_embedded_default_serves_and_stops_its_database() -> None:
    """With no database URL, serve runs PostgreSQL from the wheel in the data
    folder on the postgres tier, stores data, and stops it on exit."""
    server = Server(None).start()
    data_dir = Path(server.env["FLOWGUARD_DATA_DIR"]) / "postgres"
    try:
        status, health = get_json(f"{server.api}/api/health")
        assert status == 200
        assert health["tier"] == "postgres"
        assert health["database"]["server_version"].startswith("18")
        assert health["warnings_this_process"] == {"database refused a batch": 0}
        body = b'{"logs": [{"body": "embedded hello", "service": "e"}]}'
        status, _, answer = post(f"{server.api}/api/ingest/logs", body, JSON_HEADERS)
        assert status == 200, answer
        assert _postmaster_pids(data_dir)
    finally:
        assert server.terminate() == 0
    until(lambda: not _postmaster_pids(data_dir), what="embedded postgres to stop")
    assert "embedded postgresql stopped" in server.log

    again = Server(None, FLOWGUARD_DATA_DIR=server.env["FLOWGUARD_DATA_DIR"]).start()
    try:
        _, health = get_json(f"{again.api}/api/health")
        assert health["ledger"]["logs"]["accepted"] == 1
    finally:
        again.stop()


def _flowguard(command: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run one ``flowguard`` command with only the given settings."""
    return subprocess.run(
        [sys.executable, "-m", "flowguard", command],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _migrate(url: str) -> subprocess.CompletedProcess[str]:
    return _flowguard("migrate", FLOWGUARD_DATABASE_URL=url)


def test_migrate_command_applies_once_and_is_safe_twice(database_url: str) -> None:
    """``flowguard migrate`` applies the migrations, and a second run does nothing."""
    first = _migrate(database_url)
    assert first.returncode == 0, first.stderr
    assert "applied migration 0001_ingest" in first.stderr
    second = _migrate(database_url)
    assert second.returncode == 0, second.stderr
    assert "applied migration" not in second.stderr
    assert "database is up to date" in second.stderr


def test_bad_configuration_is_refused_with_the_setting_named() -> None:
    """A bad setting stops the command with the variable and value named."""
    result = _flowguard("serve", FLOWGUARD_OTLP_GRPC_PORT="forty")
    assert result.returncode == 2
    assert "FLOWGUARD_OTLP_GRPC_PORT" in result.stderr
    assert "'forty'" in result.stderr


def test_unknown_processor_is_refused_at_start(postgres_tier: Tier) -> None:
    """A processor name that is neither built in nor importable stops serve
    with status 2, naming it and the accepted forms."""
    result = _flowguard(
        "serve",
        FLOWGUARD_DATABASE_URL=postgres_tier.fresh_database(),
        FLOWGUARD_LOG_PROCESSORS="severity,no_such_step",
        FLOWGUARD_OTLP_GRPC_PORT="0",
        FLOWGUARD_OTLP_HTTP_PORT="0",
        FLOWGUARD_HTTP_PORT="0",
    )
    assert result.returncode == 2, result.stderr
    assert "unknown processor 'no_such_step'" in result.stderr
    assert "package.module:ClassName" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "variable", ["FLOWGUARD_OTLP_GRPC_PORT", "FLOWGUARD_OTLP_HTTP_PORT"]
)
def test_a_port_already_in_use_is_refused_naming_its_setting(
    postgres_tier: Tier, variable: str
) -> None:
    """A second server on a port that is taken stops with status 2, naming
    the port and the variable that moves it, not a traceback."""
    ports = {
        "FLOWGUARD_OTLP_GRPC_PORT": "0",
        "FLOWGUARD_OTLP_HTTP_PORT": "0",
        "FLOWGUARD_HTTP_PORT": "0",
    }
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = _flowguard(
            "serve",
            FLOWGUARD_DATABASE_URL=postgres_tier.fresh_database(),
            **{**ports, variable: str(port)},
        )
    assert result.returncode == 2, result.stderr
    assert f"cannot listen on port {port}" in result.stderr
    assert variable in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_at_start_is_a_clear_error() -> None:
    """A database that cannot be reached stops serve with status 1 and a
    message naming the server, not a traceback."""
    port = free_port()
    result = _flowguard(
        "serve",
        FLOWGUARD_DATABASE_URL=f"postgresql://nobody@127.0.0.1:{port}/x",
        FLOWGUARD_OTLP_GRPC_PORT="0",
        FLOWGUARD_OTLP_HTTP_PORT="0",
        FLOWGUARD_HTTP_PORT="0",
    )
    assert result.returncode == 1
    assert "cannot use the database: connection failed" in result.stderr
    assert f'server at "127.0.0.1", port {port} failed' in result.stderr
    assert "Traceback" not in result.stderr
