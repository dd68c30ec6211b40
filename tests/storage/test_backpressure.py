"""While the database is down, exports are refused retryably and nothing
acknowledged is lost; the server recovers by itself."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import grpc
import psycopg
import pytest
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource

from tests.clusters import Cluster
from tests.servers import PROTOBUF_HEADERS, Server, get_json, post
from tests.wait import copies_waiting_on_a_lock, until


class RecordingExporter(LogRecordExporter):
    """Passes batches to a real exporter and remembers what it was told."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.succeeded: list[str] = []
        self.failed: list[str] = []

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        result = self.inner.export(batch)
        bodies = [str(r.log_record.body) for r in batch]
        ok = result == LogRecordExportResult.SUCCESS
        (self.succeeded if ok else self.failed).extend(bodies)
        return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        self.inner.shutdown()


def _exporter(transport: str, server: Server) -> Any:
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
            OTLPLogExporter,
        )

        return OTLPLogExporter(endpoint=server.grpc_endpoint, insecure=True, timeout=60)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (
        OTLPLogExporter as HttpLogExporter,
    )

    return HttpLogExporter(endpoint=f"{server.otlp_http}/v1/logs", timeout=60)


def _emit(provider: LoggerProvider, prefix: str, count: int) -> None:
    logger = provider.get_logger("outage")
    for i in range(count):
        logger.emit(body=f"{prefix}-{i}")


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_database_outage_loses_nothing_acknowledged(
    own_cluster: Cluster, transport: str
) -> None:
    """Stop the database during SDK exports, start it again: every record the
    SDK was told succeeded is stored, and the server refused retryably."""
    url = own_cluster.create_database("outage")
    server = Server(url, FLOWGUARD_RETRY_AFTER_S="1").start()
    try:
        recorder = RecordingExporter(_exporter(transport, server))
        provider = LoggerProvider(resource=Resource.create({"service.name": "svc"}))
        provider.add_log_record_processor(SimpleLogRecordProcessor(recorder))
        _emit(provider, "before", 5)

        own_cluster.stop()
        sender = threading.Thread(target=_emit, args=(provider, "during", 5))
        sender.start()
        until(lambda: "database unreachable" in server.log, what="refusal")
        status, headers, _ = post(f"{server.otlp_http}/v1/logs", b"", PROTOBUF_HEADERS)
        assert status == 503 and headers["Retry-After"] == "1"
        health_status, health = get_json(f"{server.api}/api/health")
        assert health_status == 503 and health["status"] == "degraded"
        own_cluster.start()
        sender.join(timeout=120)
        assert not sender.is_alive()
        until(lambda: "database reachable again" in server.log, what="recovery")
        _emit(provider, "after", 5)
        provider.shutdown()

        with psycopg.connect(url) as conn:
            stored = {row[0] for row in conn.execute("SELECT body FROM logs")}
        assert set(recorder.succeeded) <= stored
        assert {f"before-{i}" for i in range(5)} <= stored
        assert {f"after-{i}" for i in range(5)} <= stored
        assert len(recorder.succeeded) == len(stored)
    finally:
        server.stop()
    with psycopg.connect(url) as conn:
        ledger = dict(
            conn.execute(
                "SELECT outcome, sum(records) FROM ingest_ledger"
                " WHERE service = 'svc' AND signal = 'logs' GROUP BY outcome"
            ).fetchall()
        )
    assert ledger["accepted"] == len(stored)
    assert ledger["refused"] >= 1


def _grpc_export(server: Server, payload: bytes) -> Any:
    method = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
    with grpc.insecure_channel(server.grpc_endpoint) as channel:
        return channel.unary_unary(method)(payload, timeout=30)


def test_inflight_bound_refuses_with_retry_hints(own_cluster: Cluster) -> None:
    """Past the in-flight byte bound, HTTP answers 503 with Retry-After before
    reading the body and gRPC UNAVAILABLE with RetryInfo; the ledger counts
    both refusals and the held request is still stored."""
    from google.rpc import error_details_pb2, status_pb2
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
    )

    url = own_cluster.create_database("bound")
    server = Server(
        url, FLOWGUARD_MAX_INFLIGHT_BYTES="1000", FLOWGUARD_BATCH_MAX_BYTES="1000"
    ).start()
    request = ExportLogsServiceRequest()
    # The held request alone is over the bound: it is admitted because
    # nothing else is in flight, and everything after it must wait.
    held_body = "held" + "." * 1500
    request.resource_logs.add().scope_logs.add().log_records.add().body.string_value = (
        held_body
    )
    payload = request.SerializeToString()
    request.resource_logs[0].scope_logs[0].log_records[0].body.string_value = "x" * 20
    too_much = request.SerializeToString()
    try:
        with (
            psycopg.connect(url) as blocker,
            psycopg.connect(url, autocommit=True) as watcher,
        ):
            blocker.execute("LOCK TABLE logs IN ACCESS EXCLUSIVE MODE")
            held = threading.Thread(
                target=post,
                args=(f"{server.otlp_http}/v1/logs", payload, PROTOBUF_HEADERS),
            )
            held.start()
            until(
                lambda: copies_waiting_on_a_lock(watcher) == 1,
                what="the held COPY",
            )
            status, headers, _ = post(
                f"{server.otlp_http}/v1/logs", too_much, PROTOBUF_HEADERS
            )
            assert status == 503 and headers["Retry-After"] == "1"
            with pytest.raises(grpc.RpcError) as caught:
                _grpc_export(server, too_much)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            trailers = dict(caught.value.trailing_metadata())
            status_detail = status_pb2.Status.FromString(
                trailers["grpc-status-details-bin"]
            )
            retry = error_details_pb2.RetryInfo()
            assert status_detail.details[0].Unpack(retry)
            assert retry.retry_delay.seconds == 1
        held.join(timeout=30)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT body FROM logs").fetchall() == [(held_body,)]
        _, health = get_json(f"{server.api}/api/health")
        assert health["ledger_this_process"]["logs"]["accepted"] == 1
    finally:
        server.stop()
    with psycopg.connect(url) as conn:
        refused = conn.execute(
            "SELECT service, sum(records), sum(requests) FROM ingest_ledger"
            " WHERE outcome = 'refused' GROUP BY service ORDER BY service"
        ).fetchall()
    # HTTP refuses before reading the body (service unknown, no records
    # counted); gRPC has decoded the request and counts its one record.
    assert refused == [("unknown_service", 1, 2)]
