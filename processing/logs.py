"""Turn an OTLP logs export request into log entries for the processors."""

from __future__ import annotations

from datetime import UTC, datetime

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from processing._values import (
    TooDeepError,
    attributes,
    clean_text,
    from_unix_nano,
    service_of,
    to_json,
    value_of,
)
from processing.batch import Batch, LogEntry, Row

__all__ = ["logs_batch"]


def _body(record: LogRecord) -> tuple[str | None, bytes | None]:
    kind = record.body.WhichOneof("value")
    if kind is None:
        return None, None
    if kind == "string_value":
        return clean_text(record.body.string_value), None
    encoded = to_json(value_of(record.body))
    return encoded.decode(), encoded


def _hex_id(raw: bytes, size: int, name: str) -> str | None:
    if not raw:
        return None
    if len(raw) != size:
        msg = f"{name} must be {size} bytes, got {len(raw)}"
        raise ValueError(msg)
    return raw.hex()


def _entry(
    record: LogRecord, service: str, context: Row, received: datetime
) -> LogEntry:
    """One entry; context holds the resource and scope fields of its row."""
    observed = from_unix_nano(record.observed_time_unix_nano)
    # The OTLP data model: use the observed time when the event time is
    # unknown, and the time of receipt when both are.
    time = from_unix_nano(record.time_unix_nano) or observed or received
    body, body_value = _body(record)
    return LogEntry(
        time=time,
        observed_time=observed,
        service=service,
        severity_number=record.severity_number,
        severity_text=clean_text(record.severity_text),
        body=body,
        body_value=body_value,
        attributes=attributes(record.attributes),
        context=context,
        trace_id=_hex_id(record.trace_id, 16, "trace_id"),
        span_id=_hex_id(record.span_id, 8, "span_id"),
        flags=record.flags,
        dropped_attributes_count=record.dropped_attributes_count,
        event_name=clean_text(record.event_name),
    )


def logs_batch(request: ExportLogsServiceRequest, nbytes: int = 0) -> Batch:
    """Flatten a logs export request into ``batch.logs``; records that cannot
    be stored are counted as rejections with their reason."""
    batch = Batch("logs", nbytes=nbytes)
    received = datetime.now(UTC)
    for resource_logs in request.resource_logs:
        try:
            resource = attributes(resource_logs.resource.attributes)
        except TooDeepError as exc:
            service = "unknown_service"
            for scope_logs in resource_logs.scope_logs:
                for _ in scope_logs.log_records:
                    batch.reject(service, f"resource {exc}")
            continue
        service = service_of(resource)
        resource_json = to_json(resource)
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope
            try:
                scope_attrs = attributes(scope.attributes)
            except TooDeepError as exc:
                for _ in scope_logs.log_records:
                    batch.reject(service, f"scope {exc}")
                continue
            context = (
                resource_json,
                clean_text(scope.name),
                clean_text(scope.version),
                to_json(scope_attrs),
                scope_logs.schema_url or resource_logs.schema_url,
            )
            for record in scope_logs.log_records:
                try:
                    entry = _entry(record, service, context, received)
                except ValueError as exc:
                    batch.reject(service, str(exc))
                    continue
                batch.add_log(entry)
    return batch
