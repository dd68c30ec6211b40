"""Export responses, shared by the gRPC and HTTP receivers."""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceResponse,
)

from receiver.ingest import IngestResult

__all__ = ["logs_response", "metrics_response"]


def logs_response(result: IngestResult) -> ExportLogsServiceResponse:
    """The logs answer, with partial_success only when records were rejected."""
    response = ExportLogsServiceResponse()
    if result.rejected:
        response.partial_success.CopyFrom(
            ExportLogsPartialSuccess(
                rejected_log_records=result.rejected, error_message=result.message
            )
        )
    return response


def metrics_response(result: IngestResult) -> ExportMetricsServiceResponse:
    """The metrics answer, with partial_success only when points were rejected."""
    response = ExportMetricsServiceResponse()
    if result.rejected:
        response.partial_success.CopyFrom(
            ExportMetricsPartialSuccess(
                rejected_data_points=result.rejected, error_message=result.message
            )
        )
    return response
