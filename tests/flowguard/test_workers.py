"""``FLOWGUARD_WORKERS``: several serving processes on the same ports."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import psutil
import psycopg
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)

from tests.conftest import Tier
from tests.servers import PROTOBUF_HEADERS, Server, get_json, post
from tests.wait import until


def _request(body: str) -> bytes:
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.body.string_value = body
    return request.SerializeToString()


def _workers(server: Server) -> list[psutil.Process]:
    assert server.process is not None
    children = psutil.Process(server.process.pid).children()
    return [c for c in children if "--worker" in c.cmdline()]


def _database_url(server: Server) -> str:
    match = re.search(r"embedded postgresql running in \S+: (\S+)", server.log)
    assert match, server.log
    return match[1]


def test_workers_share_the_ports_and_store_everything() -> None:
    """Two workers answer on the same ports; every acknowledged record is
    stored; SIGTERM stops the workers and then the embedded database."""
    server = Server(None, FLOWGUARD_WORKERS="2").start()
    try:
        workers = _workers(server)
        assert len(workers) == 2
        for n in range(40):
            status, _, _ = post(
                f"{server.otlp_http}/v1/logs", _request(f"w{n}"), PROTOBUF_HEADERS
            )
            assert status == 200
        answered_by: set[Any] = set()
        for _ in range(40):
            _, health = get_json(f"{server.api}/api/health")
            answered_by.add(health["process"])
        assert answered_by == {w.pid for w in workers}
        with psycopg.connect(_database_url(server)) as conn:
            stored = {r[0] for r in conn.execute("SELECT body FROM logs")}
        assert stored == {f"w{n}" for n in range(40)}
    finally:
        assert server.terminate() == 0
    assert not any(w.is_running() and w.status() != "zombie" for w in workers)
    assert "embedded postgresql stopped" in server.log


def test_a_dead_worker_stops_the_rest_with_an_error(postgres_tier: Tier) -> None:
    """When a worker dies, the supervisor stops the other and exits 1."""
    server = Server(postgres_tier.fresh_database(), FLOWGUARD_WORKERS="2").start()
    try:
        first, second = _workers(server)
        os.kill(first.pid, signal.SIGKILL)
        assert server.process is not None
        until(lambda: server.process.poll() is not None, 60, "the supervisor to exit")
        assert server.process.returncode == 1
        assert f"worker {first.pid} exited" in server.log
        until(lambda: not second.is_running(), 30, "the other worker to stop")
    finally:
        server.stop()


def _rule_file(path: Path, alert: str) -> None:
    path.write_text(
        "groups:\n  - name: g\n    rules:\n"
        f"      - alert: {alert}\n        logs: {{min_severity: ERROR}}\n"
        "        above: 0\n"
    )


def test_a_reload_through_the_api_reaches_every_worker(
    postgres_tier: Tier, tmp_path: Path
) -> None:
    """POST /api/rules/reload reaches one worker; all of them take the new
    rules, since that worker asks the supervisor to pass SIGHUP on."""
    rules = tmp_path / "rules.yaml"
    _rule_file(rules, "Before")
    url = postgres_tier.fresh_database()
    server = Server(url, FLOWGUARD_WORKERS="2", FLOWGUARD_RULES=str(rules)).start()
    try:
        pids = {w.pid for w in _workers(server)}
        _rule_file(rules, "After")
        status, _, answer = post(f"{server.api}/api/rules/reload", b"")
        assert status == 200, answer
        assert b'"every_worker":true' in answer, answer
        renamed: set[int] = set()

        def every_worker_renamed() -> bool:
            status, loaded = get_json(f"{server.api}/api/rules")
            assert status == 200, loaded
            if [r["alert"] for r in loaded["rules"]] == ["After"]:
                renamed.add(loaded["process"])
            return renamed == pids

        until(every_worker_renamed, 30, "every worker to have the new rules")
    finally:
        assert server.terminate() == 0
