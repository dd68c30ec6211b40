"""OTLP/HTTP receiver: POST /v1/logs and /v1/metrics (protobuf or JSON).

Status codes follow the OTLP/HTTP specification: 200 with partial_success
when some records cannot be stored, 400 with a google.rpc.Status body for
undecodable data, 413 for a body over the limit, 415 for an unknown
content type, 503 with Retry-After when the sender should retry.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from flowguard.errors import (
    DecodeError,
    FlowGuardError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from receiver._decode import JSON, decompress, media_type, parse, to_bytes
from receiver._responses import logs_response, metrics_response
from receiver.ingest import Ingestor

__all__ = ["otlp_http_app"]

logger = logging.getLogger(__name__)

_READ_CHUNK = 256 * 1024


async def _read_body(request: web.Request, limit: int) -> bytes:
    # Bodies may come chunked with no Content-Length (the Node.js exporters
    # send them so), so read in pieces and stop as soon as the limit passes.
    if request.content_length is not None and request.content_length > limit:
        msg = f"body of {request.content_length} bytes exceeds the limit of {limit}"
        raise PayloadTooLargeError(msg)
    body = bytearray()
    while chunk := await request.content.read(_READ_CHUNK):
        body += chunk
        if len(body) > limit:
            msg = f"body exceeds the limit of {limit} bytes"
            raise PayloadTooLargeError(msg)
    return bytes(body)


def _status_response(
    http_status: int, code: int, message: str, encoding: str, headers: dict[str, str]
) -> web.Response:
    status = status_pb2.Status(code=code, message=message)
    return web.Response(
        status=http_status,
        body=to_bytes(status, encoding),
        content_type=encoding,
        headers=headers,
    )


def _error_response(
    exc: FlowGuardError, encoding: str, retry_after_s: int
) -> web.Response:
    if exc.retryable:
        return _status_response(
            503,
            code_pb2.UNAVAILABLE,
            str(exc),
            encoding,
            {"Retry-After": str(retry_after_s)},
        )
    if isinstance(exc, PayloadTooLargeError):
        return _status_response(413, code_pb2.INVALID_ARGUMENT, str(exc), encoding, {})
    if isinstance(exc, UnsupportedMediaTypeError):
        return _status_response(415, code_pb2.INVALID_ARGUMENT, str(exc), encoding, {})
    return _status_response(400, code_pb2.INVALID_ARGUMENT, str(exc), encoding, {})


Export = Callable[[bytes, str], Awaitable[Message]]


def _handler(
    export: Export, check_capacity: Callable[[], None], limit: int, retry_after_s: int
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        encoding = JSON
        try:
            encoding = media_type(request.headers.get("Content-Type"))
            # Refuse before reading up to a whole body into memory.
            check_capacity()
            raw = await _read_body(request, limit)
            data = decompress(raw, request.headers.get("Content-Encoding"), limit)
            response = await export(data, encoding)
        except FlowGuardError as exc:
            if not isinstance(exc, DecodeError) or exc.retryable:
                logger.debug("export refused: %s", exc)
            return _error_response(exc, encoding, retry_after_s)
        return web.Response(body=to_bytes(response, encoding), content_type=encoding)

    return handle


def otlp_http_app(
    ingestor: Ingestor, max_request_bytes: int, retry_after_s: int
) -> web.Application:
    """The aiohttp application serving OTLP/HTTP."""

    async def export_logs(data: bytes, encoding: str) -> Message:
        request = parse(data, encoding, ExportLogsServiceRequest)
        return logs_response(await ingestor.logs(request, len(data)))

    async def export_metrics(data: bytes, encoding: str) -> Message:
        request = parse(data, encoding, ExportMetricsServiceRequest)
        return metrics_response(await ingestor.metrics(request, len(data)))

    app = web.Application(client_max_size=max_request_bytes + 1)
    app.router.add_post(
        "/v1/logs",
        _handler(
            export_logs,
            lambda: ingestor.check_capacity("logs"),
            max_request_bytes,
            retry_after_s,
        ),
    )
    app.router.add_post(
        "/v1/metrics",
        _handler(
            export_metrics,
            lambda: ingestor.check_capacity("metrics"),
            max_request_bytes,
            retry_after_s,
        ),
    )
    app.router.add_post("/v1/traces", _traces_handler())
    return app


def _traces_handler() -> Callable[[web.Request], Awaitable[web.Response]]:
    # Trace exporters pointed here get a clear, permanent answer rather
    # than a bare 404, so they stop retrying.
    async def handle(request: web.Request) -> web.Response:
        encoding = JSON
        try:
            encoding = media_type(request.headers.get("Content-Type"))
        except UnsupportedMediaTypeError as exc:
            return _error_response(exc, encoding, 1)
        message = (
            "traces are not supported yet; FlowGuard accepts logs at /v1/logs "
            "and metrics at /v1/metrics"
        )
        return _status_response(501, code_pb2.UNIMPLEMENTED, message, encoding, {})

    return handle
