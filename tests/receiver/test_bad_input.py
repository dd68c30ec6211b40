"""Bad input gets the status the OTLP specification sets; the server goes on."""

from __future__ import annotations

import gzip
import json
from typing import Any

import grpc
import psycopg
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)

from tests.servers import JSON_HEADERS, PROTOBUF_HEADERS, Server, get_json, post

LIMIT = 1024 * 1024


def _good_request(body: str) -> bytes:
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.body.string_value = body
    return request.SerializeToString()


def _nested_attribute_request(depth: int) -> bytes:
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    kv = record.attributes.add()
    kv.key = "deep"
    value = kv.value
    for _ in range(depth):
        value = value.array_value.values.add()
    value.string_value = "leaf"
    return request.SerializeToString()


def _flip_byte(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1 :]


def _status(body: bytes, content_type: str) -> status_pb2.Status:
    status = status_pb2.Status()
    if content_type.startswith("application/json"):
        data = json.loads(body)
        status.code = data.get("code", 0)
        status.message = data.get("message", "")
    else:
        status.ParseFromString(body)
    return status


CASES: dict[str, tuple[bytes, dict[str, str], int, str]] = {
    "truncated protobuf": (
        _good_request("x" * 100)[:-20],
        PROTOBUF_HEADERS,
        400,
        "cannot decode",
    ),
    "invalid JSON": (b'{"resourceLogs": [', JSON_HEADERS, 400, "not valid JSON"),
    "JSON of the wrong shape": (
        b'{"resourceLogs": {"a": 1}}',
        JSON_HEADERS,
        400,
        "cannot decode",
    ),
    "bad hex trace id": (
        b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}',
        JSON_HEADERS,
        400,
        "traceId must be hex",
    ),
    "wrong content type": (
        b"hello",
        {"Content-Type": "text/plain"},
        415,
        "unsupported content type",
    ),
    "unknown content encoding": (
        _good_request("x"),
        {**PROTOBUF_HEADERS, "Content-Encoding": "br"},
        415,
        "unsupported content encoding",
    ),
    "gzip bomb": (
        gzip.compress(b"\0" * (64 * LIMIT)),
        {**PROTOBUF_HEADERS, "Content-Encoding": "gzip"},
        413,
        "after decompression",
    ),
    "truncated gzip": (
        gzip.compress(_good_request("x" * 1000))[:-12],
        {**PROTOBUF_HEADERS, "Content-Encoding": "gzip"},
        400,
        "truncated",
    ),
    "corrupt gzip": (
        _flip_byte(gzip.compress(_good_request("x" * 1000)), 15),
        {**PROTOBUF_HEADERS, "Content-Encoding": "gzip"},
        400,
        "cannot decompress",
    ),
    "oversized body": (
        _good_request("x" * (LIMIT + 10)),
        PROTOBUF_HEADERS,
        413,
        "exceeds the limit",
    ),
    "attribute nested past the protobuf limit": (
        _nested_attribute_request(500),
        PROTOBUF_HEADERS,
        400,
        "cannot decode",
    ),
    "JSON nested past the parser limit": (
        b"[" * 100_000 + b"]" * 100_000,
        JSON_HEADERS,
        400,
        "not valid JSON",
    ),
}


def _assert_still_serving(server: Server, body: str) -> None:
    status, _, answer = post(
        f"{server.otlp_http}/v1/logs", _good_request(body), PROTOBUF_HEADERS
    )
    assert status == 200, answer
    assert server.alive()
    with psycopg.connect(server.env["FLOWGUARD_DATABASE_URL"]) as conn:
        found = conn.execute("SELECT count(*) FROM logs WHERE body = %s", (body,))
        assert found.fetchone() == (1,)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_http_input_gets_the_specified_status(
    small_server: Server, case: str
) -> None:
    """Each kind of bad body gets its status and a google.rpc.Status message,
    and good data sent afterwards is stored."""
    body, headers, expected, words = CASES[case]
    status, response_headers, answer = post(
        f"{small_server.otlp_http}/v1/logs", body, headers
    )
    assert status == expected, answer
    message = _status(answer, response_headers.get("Content-Type", "")).message
    assert words in message
    _assert_still_serving(small_server, f"after {case}")


def test_other_methods_get_405(small_server: Server) -> None:
    """GET on an export path is refused with 405."""
    status, _, _ = post(f"{small_server.otlp_http}/v1/logs", b"", method="GET")
    assert status == 405
    _assert_still_serving(small_server, "after GET")


def _grpc_call(server: Server, method: str, payload: bytes) -> Any:
    with grpc.insecure_channel(server.grpc_endpoint) as channel:
        call = channel.unary_unary(method)
        return call(payload, timeout=10)


def test_bad_grpc_input_gets_invalid_argument(small_server: Server) -> None:
    """Undecodable protobuf over gRPC gets INVALID_ARGUMENT with a message."""
    method = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
    with pytest.raises(grpc.RpcError) as caught:
        _grpc_call(small_server, method, _good_request("x" * 100)[:-20])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cannot decode" in caught.value.details()
    _grpc_call(small_server, method, _good_request("grpc after bad"))
    _assert_still_serving(small_server, "after bad grpc")


def test_grpc_message_over_the_limit_is_refused(small_server: Server) -> None:
    """A gRPC export larger than the request limit gets RESOURCE_EXHAUSTED."""
    method = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
    with pytest.raises(grpc.RpcError) as caught:
        _grpc_call(small_server, method, _good_request("x" * (LIMIT + 10)))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    _assert_still_serving(small_server, "after a large grpc message")


def test_grpc_traces_are_unimplemented(small_server: Server) -> None:
    """TraceService/Export answers UNIMPLEMENTED with a message."""
    method = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
    with pytest.raises(grpc.RpcError) as caught:
        _grpc_call(small_server, method, b"")
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "traces are not supported" in caught.value.details()


def test_bad_input_is_counted_nowhere_as_accepted(small_server: Server) -> None:
    """Health still answers and the ledger counts only the good records."""
    post(f"{small_server.otlp_http}/v1/logs", b"garbage", PROTOBUF_HEADERS)
    _assert_still_serving(small_server, "counted")
    status, health = get_json(f"{small_server.api}/api/health")
    assert status == 200
    assert health["ledger_this_process"] == {"logs": {"accepted": 1}}
