"""OTLP/HTTP with the OTLP JSON mapping, end to end into the database."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceResponse,
)

from tests.servers import JSON_HEADERS, OTLP_EXAMPLES, Server, post


@pytest.fixture
def db(server: Server) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(server.env["FLOWGUARD_DATABASE_URL"]) as conn:
        yield conn


def _example(name: str) -> bytes:
    path = OTLP_EXAMPLES / name
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared folder is not beside the repo)")
    return path.read_bytes()


def test_example_logs_are_stored_field_by_field(
    server: Server, db: psycopg.Connection[Any]
) -> None:
    """The OTLP project's logs.json example is stored with every field."""
    status, headers, body = post(
        f"{server.otlp_http}/v1/logs", _example("logs.json"), JSON_HEADERS
    )
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {}

    row = db.execute(
        "SELECT time, observed_time, service, severity_number, severity_text,"
        " body, attributes, resource, scope_name, scope_version,"
        " scope_attributes, trace_id, span_id FROM logs"
    ).fetchall()
    assert len(row) == 1
    (
        time,
        observed,
        service,
        sev,
        sev_text,
        text,
        attrs,
        resource,
        scope,
        version,
        scope_attrs,
        trace_id,
        span_id,
    ) = row[0]
    expected_time = datetime(2018, 12, 13, 14, 51, 0, 300000, tzinfo=UTC)
    assert time == observed == expected_time
    assert (service, sev, sev_text, text) == (
        "my.service",
        10,
        "Information",
        "Example log record",
    )
    assert attrs == {
        "string.attribute": "some string",
        "boolean.attribute": True,
        "int.attribute": 10,
        "double.attribute": 637.704,
        "array.attribute": ["many", "values"],
        "map.attribute": {"some.map.key": "some value"},
    }
    assert resource == {"service.name": "my.service"}
    assert (scope, version) == ("my.library", "1.0.0")
    assert scope_attrs == {"my.scope.attribute": "some scope attribute"}
    assert trace_id == "5b8efff798038103d269b633813fc60c"
    assert span_id == "eee19b7ec3c1b174"


def test_example_event_keeps_name_and_structured_body(
    server: Server, db: psycopg.Connection[Any]
) -> None:
    """The events.json example keeps its event name and its map body."""
    status, _, body = post(
        f"{server.otlp_http}/v1/logs", _example("events.json"), JSON_HEADERS
    )
    assert status == 200, body
    event_name, body_value, text = db.execute(
        "SELECT event_name, body_value, body FROM logs"
    ).fetchone() or (None, None, None)
    assert event_name == "browser.page_view"
    assert body_value["type"] == 0
    assert body_value["title"] == "Free Online GUID Generator"
    assert json.loads(text) == body_value


def test_example_metrics_store_every_point(
    server: Server, db: psycopg.Connection[Any]
) -> None:
    """The metrics.json example stores its sum, gauge and both histograms."""
    status, _, body = post(
        f"{server.otlp_http}/v1/metrics", _example("metrics.json"), JSON_HEADERS
    )
    assert status == 200, body
    series = dict(
        db.execute("SELECT name, (kind, temporality, description) FROM metric_series")
    )
    assert series == {
        "my.counter": ("sum", "delta", "I am a Counter"),
        "my.gauge": ("gauge", None, "I am a Gauge"),
        "my.histogram": ("histogram", "delta", "I am a Histogram"),
        "my.exponential.histogram": (
            "exponential_histogram",
            "delta",
            "I am an Exponential Histogram",
        ),
    }
    values = db.execute("SELECT value FROM metric_points ORDER BY value").fetchall()
    assert values == [(5.0,), (10.0,)]
    hist = db.execute(
        "SELECT count, sum, bounds, bucket_counts, min, max FROM metric_histograms"
    ).fetchone()
    assert hist == (2, 2.0, [1.0], [1, 1], 0.0, 2.0)
    exp = db.execute(
        "SELECT count, sum, scale, zero_count, positive_offset, positive_counts"
        " FROM metric_exp_histograms"
    ).fetchone()
    assert exp == (3, 10.0, 0, 1, 1, [0, 2])


def test_example_traces_are_refused_clearly(server: Server) -> None:
    """Traces are not stored; the answer says so instead of a bare 404."""
    status, _, body = post(
        f"{server.otlp_http}/v1/traces", _example("trace.json"), JSON_HEADERS
    )
    assert status == 501
    assert "traces are not supported" in json.loads(body)["message"]


MAPPING_VARIANTS = {
    "snake_case keys, integers as numbers, unknown fields": {
        "resource_logs": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"string_value": "snake"}}
                    ]
                },
                "scope_logs": [
                    {
                        "future_field": {"ignored": True},
                        "log_records": [
                            {
                                "time_unix_nano": 1544712660300000000,
                                "severity_number": 17,
                                "trace_id": "5b8efff798038103d269b633813fc60c",
                                "body": {"string_value": "snake body"},
                                "attributes": [{"key": "n", "value": {"int_value": 7}}],
                                "some_new_field": 3,
                            }
                        ],
                    }
                ],
            }
        ],
    },
    "camelCase keys, integers as strings": {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "snake"}}
                    ]
                },
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1544712660300000000",
                                "severityNumber": 17,
                                "traceId": "5B8EFFF798038103D269B633813FC60C",
                                "body": {"stringValue": "snake body"},
                                "attributes": [
                                    {"key": "n", "value": {"intValue": "7"}}
                                ],
                            }
                        ]
                    }
                ],
            }
        ],
    },
}


@pytest.mark.parametrize("variant", sorted(MAPPING_VARIANTS))
def test_json_mapping_variants_store_the_same_record(
    server: Server, db: psycopg.Connection[Any], variant: str
) -> None:
    """Both key styles and both integer forms decode to the same record."""
    body = json.dumps(MAPPING_VARIANTS[variant]).encode()
    status, _, answer = post(f"{server.otlp_http}/v1/logs", body, JSON_HEADERS)
    assert status == 200, answer
    row = db.execute(
        "SELECT service, severity_number, trace_id, body, attributes, time FROM logs"
    ).fetchone()
    assert row == (
        "snake",
        17,
        "5b8efff798038103d269b633813fc60c",
        "snake body",
        {"n": 7},
        datetime(2018, 12, 13, 14, 51, 0, 300000, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-15)),
    ],
)
def test_compressed_bodies_are_accepted(
    server: Server, db: psycopg.Connection[Any], encoding: str, compress: Any
) -> None:
    """gzip and deflate (zlib or raw) bodies decode to the same records."""
    body = compress(_example("logs.json"))
    headers = {**JSON_HEADERS, "Content-Encoding": encoding}
    status, _, answer = post(f"{server.otlp_http}/v1/logs", body, headers)
    assert status == 200, answer
    assert db.execute("SELECT count(*) FROM logs").fetchone() == (1,)


def test_unstorable_records_are_counted_in_partial_success(
    server: Server, db: psycopg.Connection[Any]
) -> None:
    """A record that cannot be stored is rejected with a reason; the rest stay."""
    deep: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(40):
        deep = {"arrayValue": {"values": [deep]}}
    request = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {"body": {"stringValue": "kept"}},
                            {"body": {"stringValue": "bad id"}, "traceId": "abcd"},
                            {
                                "body": {"stringValue": "too deep"},
                                "attributes": [{"key": "deep", "value": deep}],
                            },
                        ]
                    }
                ]
            }
        ]
    }
    status, _, body = post(
        f"{server.otlp_http}/v1/logs", json.dumps(request).encode(), JSON_HEADERS
    )
    assert status == 200, body
    answer = json.loads(body)["partialSuccess"]
    assert answer["rejectedLogRecords"] == "2"
    assert "trace_id must be 16 bytes" in answer["errorMessage"]
    assert "deeper than 32 levels" in answer["errorMessage"]
    assert db.execute("SELECT body, service FROM logs").fetchall() == [
        ("kept", "unknown_service")
    ]


def test_protobuf_response_for_protobuf_request(server: Server) -> None:
    """A protobuf request gets a protobuf ExportLogsServiceResponse."""
    status, headers, body = post(
        f"{server.otlp_http}/v1/logs", b"", {"Content-Type": "application/x-protobuf"}
    )
    assert status == 200
    assert headers["Content-Type"] == "application/x-protobuf"
    response = ExportLogsServiceResponse()
    response.ParseFromString(body)
    assert not response.HasField("partial_success")
