"""OTLP AnyValue and KeyValue lists as plain JSON-ready Python values."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

__all__ = [
    "MAX_DEPTH",
    "TooDeepError",
    "attributes",
    "clean_text",
    "from_unix_nano",
    "service_of",
    "to_json",
    "value_of",
]

# Attribute values nest through arrays and key-value lists. Deeper than this
# is almost surely a bug or an attack, and JSONB handling gets slow with it.
MAX_DEPTH = 32

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNKNOWN_SERVICE = "unknown_service"


class TooDeepError(ValueError):
    """An attribute value nests deeper than MAX_DEPTH."""


def clean_text(text: str) -> str:
    """Replace NUL characters, which PostgreSQL text and JSONB cannot hold."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _float(number: float) -> Any:
    # JSON, and so JSONB, has no NaN or infinity: keep them as strings.
    return number if math.isfinite(number) else str(number)


def value_of(value: AnyValue, depth: int = 0) -> Any:
    """Convert one AnyValue; raises TooDeepError past MAX_DEPTH."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return clean_text(value.string_value)
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return _float(value.double_value)
    if kind is None:
        return None
    if depth >= MAX_DEPTH:
        msg = f"attribute value nests deeper than {MAX_DEPTH} levels"
        raise TooDeepError(msg)
    if kind == "array_value":
        return [value_of(item, depth + 1) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values, depth + 1)
    return base64.b64encode(value.bytes_value).decode("ascii")


def attributes(pairs: Iterable[KeyValue], depth: int = 0) -> dict[str, Any]:
    """Convert a KeyValue list to a dict; a repeated key keeps its last value."""
    out: dict[str, Any] = {}
    # This runs for every attribute of every record: string values, by far
    # the most common, take a path without further calls.
    for kv in pairs:
        key = kv.key
        if "\x00" in key:
            key = clean_text(key)
        value = kv.value
        if value.WhichOneof("value") == "string_value":
            text = value.string_value
            out[key] = text if "\x00" not in text else clean_text(text)
        else:
            out[key] = value_of(value, depth)
    return out


def to_json(value: Any, sort_keys: bool = False) -> bytes:
    """Encode a converted value as JSON text for a JSONB column.

    Rows carry JSONB values already encoded, so that a resource shared by a
    thousand records is encoded once, not a thousand times.
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else 0)


def service_of(resource: dict[str, Any]) -> str:
    """The service.name resource attribute, or OTel's default for its absence."""
    name = resource.get("service.name")
    return name if isinstance(name, str) and name else UNKNOWN_SERVICE


def from_unix_nano(nanos: int) -> datetime | None:
    """Nanoseconds since the epoch as a datetime (microsecond precision)."""
    if not nanos:
        return None
    return _EPOCH + timedelta(microseconds=nanos // 1000)
