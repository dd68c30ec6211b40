"""A second SDK: OpenTelemetry for Node.js sends to a running server.

Its HTTP exporters send bodies chunked, without Content-Length.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.servers import Server

NODE_DIR = Path(__file__).parent / "node"


def test_node_sdk_logs_and_metrics_arrive(server: Server) -> None:
    """Logs over protobuf and gzip JSON, and metrics over protobuf, sent by
    the Node.js SDK are all stored."""
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules").exists():
        pytest.skip(
            "Node.js or tests/node/node_modules is missing; "
            "scripts/test.sh installs them"
        )
    result = subprocess.run(
        [node, "send.mjs", server.otlp_http, "node-svc", "120"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with psycopg.connect(server.env["FLOWGUARD_DATABASE_URL"]) as conn:
        per_transport = dict(
            conn.execute(
                "SELECT attributes->>'transport',"
                " count(DISTINCT attributes->>'record.index')"
                " FROM logs WHERE service = 'node-svc' GROUP BY 1"
            ).fetchall()
        )
        assert per_transport == {"proto": 120, "json": 120}
        row = conn.execute(
            "SELECT severity_number, severity_text, body, attributes, resource,"
            " scope_name, scope_version FROM logs"
            " WHERE body = 'json record 5'"
        ).fetchone()
        assert row is not None
        assert row[:3] == (13, "WARN", "json record 5")
        assert row[3] == {"record.index": 5, "transport": "json", "ratio": 2.5}
        assert row[4]["host.name"] == "node-host"
        assert row[5:] == ("node.scope", "2.0.0")
        totals = dict(
            conn.execute(
                "SELECT s.attributes->>'route', p.value FROM metric_points p"
                " JOIN metric_series s USING (series_id) WHERE s.name = 'node.requests'"
            ).fetchall()
        )
        assert totals == {"/a": 60.0, "/b": 60.0}
        hist = conn.execute(
            "SELECT h.count, h.sum, s.unit FROM metric_histograms h"
            " JOIN metric_series s USING (series_id) WHERE s.name = 'node.latency'"
        ).fetchone()
        assert hist == (120, float(sum(range(120))), "ms")
