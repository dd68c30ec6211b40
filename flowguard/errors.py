"""The error hierarchy: one root, one subclass per area, each retryable or not."""

from __future__ import annotations

__all__ = [
    "BackpressureError",
    "ConfigError",
    "DecodeError",
    "FlowGuardError",
    "PayloadTooLargeError",
    "StorageError",
    "StorageUnavailableError",
    "UnsupportedMediaTypeError",
]


class FlowGuardError(Exception):
    """Root of every error FlowGuard raises on purpose."""

    retryable = False


class ConfigError(FlowGuardError):
    """A setting is missing or has a bad value."""


class DecodeError(FlowGuardError):
    """An export request could not be decoded; sending it again will not help."""


class UnsupportedMediaTypeError(DecodeError):
    """The request's content type or encoding is not one FlowGuard reads."""


class PayloadTooLargeError(DecodeError):
    """The request body is over the size limit after decompression."""


class StorageError(FlowGuardError):
    """The database refused rows for a reason that a retry will not fix."""


class StorageUnavailableError(FlowGuardError):
    """The database cannot be reached now; the sender should retry later."""

    retryable = True


class BackpressureError(FlowGuardError):
    """Too many bytes are in flight; the sender should retry later."""

    retryable = True
