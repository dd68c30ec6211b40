"""Settings, read once from FLOWGUARD_* variables and an optional YAML file.

Every setting is documented here, once:

=============================  ==========================  ===================
variable                       YAML key                    default
=============================  ==========================  ===================
FLOWGUARD_CONFIG               (names the YAML file)       unset
FLOWGUARD_DATABASE_URL         database_url                unset: embedded
FLOWGUARD_DATA_DIR             data_dir                    ~/.local/share/flowguard
FLOWGUARD_BIND                 bind                        127.0.0.1
FLOWGUARD_OTLP_GRPC_PORT       otlp_grpc_port              4317
FLOWGUARD_OTLP_HTTP_PORT       otlp_http_port              4318
FLOWGUARD_HTTP_PORT            http_port                   8000
FLOWGUARD_MAX_REQUEST_BYTES    max_request_bytes           16 MiB
FLOWGUARD_MAX_INFLIGHT_BYTES   max_inflight_bytes          64 MiB
FLOWGUARD_BATCH_MAX_ROWS       batch_max_rows              5000
FLOWGUARD_BATCH_MAX_BYTES      batch_max_bytes             4 MiB
FLOWGUARD_BATCH_DELAY_MS       batch_delay_ms              5
FLOWGUARD_POOL_SIZE            pool_size                   4
FLOWGUARD_WORKERS              workers                     1
FLOWGUARD_RETRY_AFTER_S        retry_after_s               1
FLOWGUARD_LOG_LEVEL            log_level                   INFO
FLOWGUARD_LOG_PROCESSORS       log_processors              severity,tags,patterns
FLOWGUARD_METRIC_PROCESSORS    metric_processors           temporality,kpis
FLOWGUARD_PATTERN_MAX          pattern_max                 50000
FLOWGUARD_METRIC_STATE_TTL_MS  metric_state_ttl_ms         1000
FLOWGUARD_KPI_REQUEST_METRICS  kpi_request_metrics         see below
FLOWGUARD_KPI_STATUS_ATTRIBUTES  kpi_status_attributes     see below
FLOWGUARD_KPI_ERROR_STATUS_MIN  kpi_error_status_min       500
FLOWGUARD_KPI_ERROR_ATTRIBUTES  kpi_error_attributes       error.type
FLOWGUARD_ROLLUP_REFRESH_S     rollup_refresh_s            15
FLOWGUARD_ROLLUP_LATE_WINDOW   rollup_late_window          5m
FLOWGUARD_RETENTION_LOGS       retention_logs              7d
FLOWGUARD_RETENTION_METRICS    retention_metrics           30d
FLOWGUARD_RETENTION_KPI_1M     retention_kpi_1m            90d
FLOWGUARD_RETENTION_KPI_1H     retention_kpi_1h            730d
FLOWGUARD_COMPRESS_AFTER       compress_after              1d
FLOWGUARD_ANOMALY_THRESHOLD    anomaly_threshold           0.9998
FLOWGUARD_ANOMALY_MIN_REQUESTS  anomaly_min_requests       20
FLOWGUARD_ANOMALY_DELAY_S      anomaly_delay_s             30
FLOWGUARD_RULES                rules                       <data_dir>/rules.yaml
FLOWGUARD_PUBLIC_URL           public_url                  http://<bind>:<http_port>
=============================  ==========================  ===================

Environment variables win over the file. Ports may be 0 to pick a free one.
Lists are YAML lists in the file and comma-separated in variables.
Durations are written 90s, 15m, 12h, 7d or 2w.

- Processors run in the order named; a name is a built-in processor or
  ``package.module:ClassName`` (see ``processing.chain``).
- ``pattern_max`` bounds the log patterns kept in memory; all are stored.
- ``metric_state_ttl_ms``: the last point of a cumulative series is read
  back from the database when this process has not seen the series for
  this long, so receivers that share a database convert consecutive
  points of one series correctly; 0 reads it back for every request.
- KPIs count requests from the histograms named in ``kpi_request_metrics``
  (default ``http.server.request.duration``, ``http.server.duration``,
  ``rpc.server.call.duration``, ``rpc.server.duration``). A point counts
  errors when one of ``kpi_error_attributes`` is set, when the first of
  ``kpi_status_attributes`` it carries (default
  ``http.response.status_code``, ``http.status_code``) is at least
  ``kpi_error_status_min``, or when its ``rpc.grpc.status_code`` is a
  server error.
- ``rollup_late_window``: data that arrives up to this late is still
  counted in the rollups, which re-read that much of their sources at
  every refresh (at least three hours on ``timescale``). Raise it to load
  history.
- Retention drops raw logs, raw metric points (KPI facts included) and
  each rollup after its own period; ``compress_after`` applies where
  TimescaleDB offers compression.
- Anomaly detection scores each KPI minute of each service
  ``anomaly_delay_s`` seconds after it ends. A bucket is anomalous when its
  combined score (one minus a tail probability, in [0, 1]) reaches
  ``anomaly_threshold``. An error rate or a latency computed from fewer than
  ``anomaly_min_requests`` requests is never anomalous.
- ``rules`` names the alert rule file (see ``alerting.rulefile``). Without
  the setting a missing ``rules.yaml`` in the data directory means no
  rules; a file named by the setting must exist. ``public_url`` is where
  users reach this server; links in notifications start with it."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from flowguard.durations import format_duration, parse_duration
from flowguard.errors import ConfigError

__all__ = ["Settings", "load_settings", "to_environment"]

_MIB = 1024 * 1024
_DEFAULT_DATA_DIR = Path("~/.local/share/flowguard").expanduser()


@dataclass(frozen=True, slots=True)
class Settings:
    """FlowGuard's configuration, validated."""

    database_url: str | None = None
    data_dir: Path = _DEFAULT_DATA_DIR
    bind: str = "127.0.0.1"
    otlp_grpc_port: int = 4317
    otlp_http_port: int = 4318
    http_port: int = 8000
    max_request_bytes: int = 16 * _MIB
    max_inflight_bytes: int = 64 * _MIB
    batch_max_rows: int = 5000
    batch_max_bytes: int = 4 * _MIB
    batch_delay_ms: int = 5
    pool_size: int = 4
    workers: int = 1
    retry_after_s: int = 1
    log_level: str = "INFO"
    log_processors: tuple[str, ...] = ("severity", "tags", "patterns")
    metric_processors: tuple[str, ...] = ("temporality", "kpis")
    pattern_max: int = 50_000
    metric_state_ttl_ms: int = 1000
    kpi_request_metrics: tuple[str, ...] = (
        "http.server.request.duration",
        "http.server.duration",
        "rpc.server.call.duration",
        "rpc.server.duration",
    )
    kpi_status_attributes: tuple[str, ...] = (
        "http.response.status_code",
        "http.status_code",
    )
    kpi_error_status_min: int = 500
    kpi_error_attributes: tuple[str, ...] = ("error.type",)
    rollup_refresh_s: int = 15
    rollup_late_window: timedelta = timedelta(minutes=5)
    retention_logs: timedelta = timedelta(days=7)
    retention_metrics: timedelta = timedelta(days=30)
    retention_kpi_1m: timedelta = timedelta(days=90)
    retention_kpi_1h: timedelta = timedelta(days=730)
    compress_after: timedelta = timedelta(days=1)
    anomaly_threshold: float = 0.9998
    anomaly_min_requests: int = 20
    anomaly_delay_s: int = 30
    rules: Path | None = None
    public_url: str | None = None

    @property
    def rules_path(self) -> Path:
        """The alert rule file: the setting, or rules.yaml in the data dir."""
        return self.rules or self.data_dir / "rules.yaml"

    @property
    def link_base(self) -> str:
        """The start of links to this server in notifications."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "::", "") else self.bind
        return f"http://{host}:{self.http_port}"

    def processing_options(self) -> dict[str, Any]:
        """The settings processors read, by name."""
        return {
            "pattern_max": self.pattern_max,
            "state_ttl_s": self.metric_state_ttl_ms / 1000,
            "kpi_request_metrics": self.kpi_request_metrics,
            "kpi_status_attributes": self.kpi_status_attributes,
            "kpi_error_status_min": self.kpi_error_status_min,
            "kpi_error_attributes": self.kpi_error_attributes,
        }


def _port(name: str, raw: Any) -> int:
    value = _integer(name, raw, minimum=0)
    if value > 65535:
        msg = f"{name} must be a TCP port from 0 to 65535, got {raw!r}"
        raise ConfigError(msg)
    return value


def _integer(name: str, raw: Any, minimum: int = 1) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        msg = f"{name} must be a whole number, got {raw!r}"
        raise ConfigError(msg) from None
    if value < minimum:
        msg = f"{name} must be at least {minimum}, got {raw!r}"
        raise ConfigError(msg)
    return value


def _database_url(name: str, raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    text = str(raw)
    if not text.startswith(("postgresql://", "postgres://")) and "=" not in text:
        msg = (
            f"{name} must be a PostgreSQL URL such as "
            f"postgresql://user@host:5432/db, got {raw!r}"
        )
        raise ConfigError(msg)
    return text


def _path(name: str, raw: Any) -> Path:
    if not raw:
        msg = f"{name} must be a directory path, got {raw!r}"
        raise ConfigError(msg)
    return Path(str(raw)).expanduser()


def _text(name: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        msg = f"{name} must be a non-empty string, got {raw!r}"
        raise ConfigError(msg)
    return raw


def _file(name: str, raw: Any) -> Path:
    if not raw:
        msg = f"{name} must be a file path, got {raw!r}"
        raise ConfigError(msg)
    return Path(str(raw)).expanduser()


def _url(name: str, raw: Any) -> str:
    text = str(raw)
    if not text.startswith(("http://", "https://")):
        msg = f"{name} must be an http:// or https:// URL, got {raw!r}"
        raise ConfigError(msg)
    return text


def _log_level(name: str, raw: Any) -> str:
    level = str(raw).upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        msg = f"{name} must be DEBUG, INFO, WARNING or ERROR, got {raw!r}"
        raise ConfigError(msg)
    return level


def _nonnegative(name: str, raw: Any) -> int:
    return _integer(name, raw, minimum=0)


def _names(name: str, raw: Any) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        msg = f"{name} must be a list of names, got {raw!r}"
        raise ConfigError(msg)
    names = tuple(str(item).strip() for item in items if str(item).strip())
    return names


def _duration(name: str, raw: Any) -> timedelta:
    try:
        value = parse_duration(str(raw))
    except ValueError as exc:
        msg = f"{name}: {exc}"
        raise ConfigError(msg) from None
    if not value:
        msg = f"{name} must be longer than zero, got {raw!r}"
        raise ConfigError(msg)
    return value


def _fraction(name: str, raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if not 0 < value < 1:
        msg = f"{name} must be a number between 0 and 1 (exclusive), got {raw!r}"
        raise ConfigError(msg)
    return value


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "database_url": _database_url,
    "data_dir": _path,
    "bind": _text,
    "otlp_grpc_port": _port,
    "otlp_http_port": _port,
    "http_port": _port,
    "max_request_bytes": _integer,
    "max_inflight_bytes": _integer,
    "batch_max_rows": _integer,
    "batch_max_bytes": _integer,
    "batch_delay_ms": _integer,
    "pool_size": _integer,
    "workers": _integer,
    "retry_after_s": _integer,
    "log_level": _log_level,
    "log_processors": _names,
    "metric_processors": _names,
    "pattern_max": _integer,
    "metric_state_ttl_ms": _nonnegative,
    "kpi_request_metrics": _names,
    "kpi_status_attributes": _names,
    "kpi_error_status_min": _integer,
    "kpi_error_attributes": _names,
    "rollup_refresh_s": _integer,
    "rollup_late_window": _duration,
    "retention_logs": _duration,
    "retention_metrics": _duration,
    "retention_kpi_1m": _duration,
    "retention_kpi_1h": _duration,
    "compress_after": _duration,
    "anomaly_threshold": _fraction,
    "anomaly_min_requests": _nonnegative,
    "anomaly_delay_s": _nonnegative,
    "rules": _file,
    "public_url": _url,
}


def _read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            data = yaml.safe_load(file)
    except OSError as exc:
        msg = f"FLOWGUARD_CONFIG names {path!r}, which cannot be read: {exc}"
        raise ConfigError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"FLOWGUARD_CONFIG file {path!r} is not valid YAML: {exc}"
        raise ConfigError(msg) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        msg = f"FLOWGUARD_CONFIG file {path!r} must hold a mapping of settings"
        raise ConfigError(msg)
    unknown = sorted(set(data) - set(_PARSERS))
    if unknown:
        msg = (
            f"FLOWGUARD_CONFIG file {path!r} has unknown settings {unknown}; "
            f"known ones are {sorted(_PARSERS)}"
        )
        raise ConfigError(msg)
    return data


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings.

    Raises:
        ConfigError: naming the setting and the bad value.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_path = env.get("FLOWGUARD_CONFIG")
    if config_path:
        for key, raw in _read_file(config_path).items():
            values[key] = _PARSERS[key](key, raw)
    for key, parse in _PARSERS.items():
        variable = f"FLOWGUARD_{key.upper()}"
        if variable in env:
            values[key] = parse(variable, env[variable])
    settings = Settings(**values)
    if settings.batch_max_bytes > settings.max_inflight_bytes:
        msg = (
            "FLOWGUARD_BATCH_MAX_BYTES must not exceed FLOWGUARD_MAX_INFLIGHT_BYTES "
            f"({settings.batch_max_bytes} > {settings.max_inflight_bytes})"
        )
        raise ConfigError(msg)
    if settings.retention_kpi_1h < settings.retention_kpi_1m:
        msg = (
            "FLOWGUARD_RETENTION_KPI_1H must not be shorter than "
            "FLOWGUARD_RETENTION_KPI_1M, or hourly history would end first"
        )
        raise ConfigError(msg)
    return settings


def _variable_value(value: Any) -> str:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def to_environment(settings: Settings) -> dict[str, str]:
    """The ``FLOWGUARD_*`` variables that reproduce ``settings`` exactly."""
    env = {}
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if value is not None:
            env[f"FLOWGUARD_{field.name.upper()}"] = _variable_value(value)
    return env
