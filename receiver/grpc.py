"""OTLP/gRPC receiver: LogsService/Export and MetricsService/Export.

Requests arrive as raw bytes and are decoded here, so that undecodable data
gets INVALID_ARGUMENT with a message rather than a generic failure. Retryable
refusals get UNAVAILABLE with a google.rpc.RetryInfo, both in the standard
``grpc-status-details-bin`` trailer and in the ``google.rpc.retryinfo-bin``
trailer that some SDKs read.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from flowguard.errors import FlowGuardError
from receiver._decode import PROTOBUF, parse
from receiver._responses import logs_response, metrics_response
from receiver.ingest import Ingestor

__all__ = ["OtlpGrpcServer"]

logger = logging.getLogger(__name__)

_LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"
_METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"
_TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"

Handler = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]


async def _refuse(
    context: grpc.aio.ServicerContext, exc: FlowGuardError, retry_after_s: int
) -> None:
    if not exc.retryable:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    retry = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=retry_after_s))
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=str(exc))
    status.details.add().Pack(retry)
    context.set_trailing_metadata(
        (
            ("grpc-status-details-bin", status.SerializeToString()),
            ("google.rpc.retryinfo-bin", retry.SerializeToString()),
        )
    )
    await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))


class OtlpGrpcServer:
    """The gRPC server; ``start`` binds, ``stop`` drains with a grace period."""

    def __init__(
        self,
        ingestor: Ingestor,
        bind: str,
        port: int,
        max_request_bytes: int,
        retry_after_s: int,
        reuse_port: bool = False,
    ) -> None:
        self._ingestor = ingestor
        self._reuse_port = reuse_port
        self._address = f"{bind}:{port}"
        self._retry_after_s = retry_after_s
        self._max_request_bytes = max_request_bytes
        self._server: grpc.aio.Server | None = None
        self.port = port

    async def _export(
        self,
        data: bytes,
        context: grpc.aio.ServicerContext,
        store: Callable[[bytes], Awaitable[Message]],
    ) -> bytes:
        try:
            response = await store(data)
        except FlowGuardError as exc:
            await _refuse(context, exc, self._retry_after_s)
            raise
        return bytes(response.SerializeToString())

    async def _store_logs(self, data: bytes) -> Message:
        request = parse(data, PROTOBUF, ExportLogsServiceRequest)
        return logs_response(await self._ingestor.logs(request, len(data)))

    async def _store_metrics(self, data: bytes) -> Message:
        request = parse(data, PROTOBUF, ExportMetricsServiceRequest)
        return metrics_response(await self._ingestor.metrics(request, len(data)))

    async def _export_logs(
        self, data: bytes, context: grpc.aio.ServicerContext
    ) -> bytes:
        return await self._export(data, context, self._store_logs)

    async def _export_metrics(
        self, data: bytes, context: grpc.aio.ServicerContext
    ) -> bytes:
        return await self._export(data, context, self._store_metrics)

    async def _export_traces(
        self, data: bytes, context: grpc.aio.ServicerContext
    ) -> bytes:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "traces are not supported yet; FlowGuard accepts logs and metrics",
        )
        return b""

    def _handlers(self) -> list[grpc.GenericRpcHandler]:
        def unary(handler: Handler) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(handler)

        return [
            grpc.method_handlers_generic_handler(
                _LOGS_SERVICE, {"Export": unary(self._export_logs)}
            ),
            grpc.method_handlers_generic_handler(
                _METRICS_SERVICE, {"Export": unary(self._export_metrics)}
            ),
            grpc.method_handlers_generic_handler(
                _TRACE_SERVICE, {"Export": unary(self._export_traces)}
            ),
        ]

    async def start(self) -> None:
        """Bind and start serving; ``port`` holds the bound port after."""
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", self._max_request_bytes),
                # Only worker processes share a port; otherwise a second
                # server on the same port must fail to start.
                ("grpc.so_reuseport", int(self._reuse_port)),
            ]
        )
        server.add_generic_rpc_handlers(self._handlers())
        self.port = server.add_insecure_port(self._address)
        await server.start()
        self._server = server

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Refuse new calls, let running ones finish; safe twice."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop(timeout_s)
