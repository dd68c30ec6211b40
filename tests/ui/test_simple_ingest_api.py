"""The simple JSON ingest endpoints, through a running server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tests.servers import JSON_HEADERS, Server, post


def _post(server: Server, path: str, payload: Any) -> tuple[int, Any]:
    status, _, body = post(
        f"{server.api}/api/ingest/{path}", json.dumps(payload).encode(), JSON_HEADERS
    )
    return status, json.loads(body)


def test_simple_logs_and_metrics_are_stored(small_server: Server) -> None:
    """Items in the simple format arrive as logs, series and points."""
    status, answer = _post(
        small_server,
        "logs",
        {
            "logs": [
                {
                    "time": "2026-12-03T10:00:00Z",
                    "service": "checkout",
                    "severity": "error",
                    "body": "payment failed",
                    "attributes": {"order.id": 42},
                    "trace_id": "5b8efff798038103d269b633813fc60c",
                },
                {"body": {"structured": True}},
            ]
        },
    )
    assert (status, answer["accepted"], answer["rejected"]) == (200, 2, 0)
    status, answer = _post(
        small_server,
        "metrics",
        [
            {
                "name": "queue.depth",
                "kind": "gauge",
                "value": 12,
                "service": "orders",
                "time": 1764756000.5,
                "attributes": {"queue": "orders"},
            },
            {"name": "jobs.done", "kind": "sum", "value": 5, "temporality": "delta"},
            {
                "name": "http.server.request.duration",
                "kind": "histogram",
                "unit": "s",
                "bounds": [0.1, 0.5],
                "counts": [3, 1, 0],
                "sum": 0.9,
            },
        ],
    )
    assert (status, answer["accepted"]) == (200, 3)

    with psycopg.connect(small_server.env["FLOWGUARD_DATABASE_URL"]) as conn:
        logs = conn.execute(
            "SELECT time, service, severity_number, body, attributes, trace_id"
            " FROM logs ORDER BY time"
        ).fetchall()
        assert logs[0] == (
            datetime(2026, 12, 3, 10, tzinfo=UTC),
            "checkout",
            17,
            "payment failed",
            {"order.id": 42},
            "5b8efff798038103d269b633813fc60c",
        )
        assert logs[1][1] == "unknown_service"
        assert json.loads(logs[1][3]) == {"structured": True}
        gauge = conn.execute(
            "SELECT p.value, p.time, s.service, s.attributes FROM metric_points p"
            " JOIN metric_series s USING (series_id) WHERE s.name = 'queue.depth'"
        ).fetchone()
        assert gauge == (
            12.0,
            datetime(2025, 12, 3, 10, 0, 0, 500000, tzinfo=UTC),
            "orders",
            {"queue": "orders"},
        )
        hist = conn.execute(
            "SELECT count, bucket_counts FROM metric_histograms"
        ).fetchone()
        assert hist == (4, [3, 1, 0])


@pytest.mark.parametrize(
    ("path", "payload", "words"),
    [
        (
            "logs",
            {"logs": [{"body": "ok"}, {"body": "x", "time": "yesterday"}]},
            "logs[1].time: not an ISO 8601 time",
        ),
        ("logs", {"logs": [{"body": "x", "time": -5}]}, "outside 1970-01-01"),
        ("logs", {"logs": [{"body": "x", "time": "300000-01-01"}]}, "logs[0].time"),
        ("logs", {"logs": [{"severity": "INFO"}]}, "logs[0]: body is required"),
        ("logs", {"logs": [{"body": "x", "trace_id": "abc"}]}, "logs[0].trace_id"),
        ("logs", {"events": []}, 'expected {"logs": [...]}'),
        (
            "metrics",
            [{"name": "m", "kind": "gauge", "value": "7"}],
            "metrics[0].value: expected a number",
        ),
        (
            "metrics",
            [{"name": "m", "kind": "histogram", "bounds": [1], "counts": [1]}],
            "metrics[0]: 1 counts for 1 bounds",
        ),
        ("metrics", [{"name": "m", "kind": "meter", "value": 1}], "metrics[0].kind"),
        ("metrics", [{"name": "m", "value": True}], "metrics[0].value"),
    ],
)
def test_bad_items_are_refused_with_their_index(
    small_server: Server, path: str, payload: Any, words: str
) -> None:
    """A bad item refuses the batch with 400 naming the item and field;
    nothing of that batch is stored."""
    status, answer = _post(small_server, path, payload)
    assert status == 400
    assert words in answer["error"]
    with psycopg.connect(small_server.env["FLOWGUARD_DATABASE_URL"]) as conn:
        assert conn.execute("SELECT count(*) FROM logs").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM metric_points").fetchone() == (0,)


def test_invalid_json_is_refused(small_server: Server) -> None:
    """A body that is not JSON gets 400 with the parser's complaint."""
    status, _, body = post(
        f"{small_server.api}/api/ingest/logs", b"{nope", JSON_HEADERS
    )
    assert status == 400
    assert "not valid JSON" in json.loads(body)["error"]
