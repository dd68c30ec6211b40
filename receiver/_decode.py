"""Decode OTLP request bodies: content type, compression, size, protobuf, JSON."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from flowguard.errors import (
    DecodeError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)

__all__ = ["JSON", "PROTOBUF", "decompress", "media_type", "parse", "to_bytes"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_MEDIA_TYPES = {
    "application/x-protobuf": PROTOBUF,
    "application/protobuf": PROTOBUF,
    "application/json": JSON,
}
# The OTLP JSON encoding writes these byte fields as hex, not base64.
_ID_KEYS = frozenset({"traceId", "trace_id", "spanId", "span_id"})

M = TypeVar("M", bound=Message)


def media_type(content_type: str | None) -> str:
    """The OTLP encoding named by a Content-Type header.

    Raises:
        UnsupportedMediaTypeError: neither protobuf nor JSON.
    """
    base = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        return _MEDIA_TYPES[base]
    except KeyError:
        msg = f"unsupported content type {content_type!r}; send {PROTOBUF} or {JSON}"
        raise UnsupportedMediaTypeError(msg) from None


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(wbits)
        out += inflater.decompress(data, limit + 1 - len(out))
        if len(out) > limit:
            msg = f"body exceeds {limit} bytes after decompression"
            raise PayloadTooLargeError(msg)
        if not inflater.eof:
            if inflater.unconsumed_tail:
                msg = f"body exceeds {limit} bytes after decompression"
                raise PayloadTooLargeError(msg)
            msg = "compressed body is truncated"
            raise DecodeError(msg)
        # A gzip stream may hold several members one after another.
        data = inflater.unused_data if wbits != -zlib.MAX_WBITS else b""
    return bytes(out)


def decompress(data: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding, refusing output larger than ``limit`` bytes.

    Raises:
        UnsupportedMediaTypeError: an encoding other than gzip or deflate.
        PayloadTooLargeError: the result would exceed ``limit``.
        DecodeError: the compressed data is corrupt.
    """
    name = (encoding or "identity").strip().lower()
    try:
        if name in {"identity", ""}:
            result = data
        elif name in {"gzip", "x-gzip"}:
            result = _inflate(data, 16 + zlib.MAX_WBITS, limit)
        elif name == "deflate":
            # HTTP's "deflate" is the zlib format, but raw deflate is common.
            try:
                result = _inflate(data, zlib.MAX_WBITS, limit)
            except zlib.error:
                result = _inflate(data, -zlib.MAX_WBITS, limit)
        else:
            msg = f"unsupported content encoding {encoding!r}; use gzip or deflate"
            raise UnsupportedMediaTypeError(msg)
    except zlib.error as exc:
        msg = f"cannot decompress {name} body: {exc}"
        raise DecodeError(msg) from None
    if len(result) > limit:
        msg = f"body of {len(result)} bytes exceeds the limit of {limit} bytes"
        raise PayloadTooLargeError(msg)
    return result


def _hex_to_base64(node: Any) -> None:
    # Walk with an explicit stack so deep input cannot exhaust recursion.
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in _ID_KEYS and isinstance(value, str):
                    item[key] = _convert_id(key, value)
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))


def _convert_id(key: str, value: str) -> str:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        msg = f"{key} must be hex digits, got {value[:40]!r}"
        raise DecodeError(msg) from None
    return base64.b64encode(raw).decode("ascii")


def parse(data: bytes, encoding: str, message_type: type[M]) -> M:
    """Parse an OTLP request in protobuf or OTLP JSON.

    Raises:
        DecodeError: naming what could not be read.
    """
    message = message_type()
    if encoding == PROTOBUF:
        try:
            message.ParseFromString(data)
        except (ProtobufDecodeError, RecursionError) as exc:
            msg = f"cannot decode {message_type.__name__} protobuf: {exc}"
            raise DecodeError(msg) from None
        return message
    try:
        tree = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        msg = f"request body is not valid JSON: {exc}"
        raise DecodeError(msg) from None
    if not isinstance(tree, dict):
        msg = f"{message_type.__name__} JSON must be an object"
        raise DecodeError(msg)
    _hex_to_base64(tree)
    try:
        json_format.ParseDict(tree, message, ignore_unknown_fields=True)
    except (json_format.ParseError, binascii.Error, RecursionError) as exc:
        msg = f"cannot decode {message_type.__name__} JSON: {exc}"
        raise DecodeError(msg) from None
    return message


def to_bytes(message: Message, encoding: str) -> bytes:
    """Serialise a response in the request's encoding."""
    if encoding == JSON:
        return json_format.MessageToJson(message, indent=None).encode()
    return message.SerializeToString()
