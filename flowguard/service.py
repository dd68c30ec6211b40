"""The service: starts every part in order and stops them in reverse."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from alerting.service import Alerting, AlertingSettings
from flowguard.config import Settings
from flowguard.detection import Detection, DetectionSettings
from flowguard.errors import ConfigError
from processing.anomaly.settings import DetectorSettings
from processing.builtins import BUILTIN_PROCESSORS
from processing.chain import Chain, ProcessorContext, build_chain
from receiver.grpc import OtlpGrpcServer
from receiver.http import otlp_http_app
from receiver.ingest import Ingestor
from storage.database import (
    TierInfo,
    detect_tier,
    open_pool,
)
from storage.embedded import EmbeddedPostgres
from storage.ledger import Ledger
from storage.maintenance import Maintenance, MaintenanceSettings
from storage.migrate import apply_migrations
from storage.retention import Retention
from storage.rollups import ensure_rollups
from storage.state import StoredLastPoints, StoredPatterns
from storage.writer import Writer, WriterSettings
from ui.alert_api import add_alert_routes
from ui.anomaly_api import add_anomaly_routes
from ui.api import api_app
from ui.query_api import add_query_routes

__all__ = ["Ports", "Service", "prepare_database"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ports:
    """The ports the service listens on, once started."""

    otlp_grpc: int
    otlp_http: int
    http: int


async def prepare_database(url: str) -> TierInfo:
    """Create the extension where offered, apply migrations, detect the tier
    and create the rollups for it."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await apply_migrations(conn)
        tier = await detect_tier(conn)
        await ensure_rollups(conn, tier.tier)
        return tier


def retention_of(settings: Settings) -> Retention:
    """The retention periods from the settings."""
    return Retention(
        logs=settings.retention_logs,
        metrics=settings.retention_metrics,
        kpi_1m=settings.retention_kpi_1m,
        kpi_1h=settings.retention_kpi_1h,
        compress_after=settings.compress_after,
    )


def detection_of(settings: Settings) -> Detection:
    """The anomaly detection the settings ask for."""
    detector = DetectorSettings(threshold=settings.anomaly_threshold)
    return Detection(
        DetectionSettings(
            detector=detector,
            delay_s=settings.anomaly_delay_s,
            min_requests=settings.anomaly_min_requests,
        )
    )


def _chain(settings: Settings, pool: AsyncConnectionPool) -> Chain:
    context = ProcessorContext(
        options=settings.processing_options(),
        services={
            "last_points": StoredLastPoints(pool),
            "patterns": StoredPatterns(pool),
        },
    )
    return build_chain(
        settings.log_processors,
        settings.metric_processors,
        context,
        BUILTIN_PROCESSORS,
    )


def _site_port(runner: web.AppRunner) -> int:
    for site in runner.sites:
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            return int(server.sockets[0].getsockname()[1])
    msg = "the HTTP site has no listening socket"
    raise RuntimeError(msg)


class Service:
    """FlowGuard's long-lived parts, wired together."""

    def __init__(self, settings: Settings, reuse_port: bool = False) -> None:
        self._settings = settings
        self._reuse_port = reuse_port
        self._embedded: EmbeddedPostgres | None = None
        self._pool: AsyncConnectionPool | None = None
        self._writer: Writer | None = None
        self._ledger: Ledger | None = None
        self._maintenance: Maintenance | None = None
        self.alerting: Alerting | None = None
        self._grpc: OtlpGrpcServer | None = None
        self._runners: list[web.AppRunner] = []
        self.tier: TierInfo | None = None
        self.ports: Ports | None = None

    async def start(self) -> Ports:
        """Start storage, the writer and every server; return their ports."""
        s = self._settings
        url = s.database_url
        if url is None:
            self._embedded = EmbeddedPostgres(s.data_dir)
            url = await self._embedded.start()
        self.tier = await prepare_database(url)
        logger.info(
            "storage tier %s (postgresql %s, timescaledb %s)",
            self.tier.tier,
            self.tier.server_version,
            self.tier.timescaledb_version or "absent",
        )
        self._pool = await open_pool(url, s.pool_size)
        self._writer = Writer(
            self._pool,
            WriterSettings(
                max_inflight_bytes=s.max_inflight_bytes,
                batch_max_rows=s.batch_max_rows,
                batch_max_bytes=s.batch_max_bytes,
                batch_delay_ms=s.batch_delay_ms,
                max_concurrent_flushes=max(1, min(2, s.pool_size - 1)),
            ),
        )
        await self._writer.start()
        self._ledger = Ledger(self._pool)
        await self._ledger.start()
        ingestor = Ingestor(self._writer, self._ledger, _chain(s, self._pool))
        self._maintenance = Maintenance(
            url,
            MaintenanceSettings(
                self.tier.tier,
                retention_of(s),
                refresh_s=s.rollup_refresh_s,
                late_window=s.rollup_late_window,
            ),
            {"detecting anomalies": detection_of(s).run_once},
        )
        await self._maintenance.start()
        self.alerting = Alerting(
            url,
            self._pool,
            AlertingSettings(s.rules_path, s.link_base, required=s.rules is not None),
        )
        await self.alerting.start()

        self._grpc = OtlpGrpcServer(
            ingestor,
            s.bind,
            s.otlp_grpc_port,
            s.max_request_bytes,
            s.retry_after_s,
            reuse_port=self._reuse_port,
        )
        try:
            await self._grpc.start()
        except RuntimeError as exc:  # grpc says only that the bind failed
            error = _cannot_listen(s.otlp_grpc_port, "FLOWGUARD_OTLP_GRPC_PORT", exc)
            raise error from None
        logger.info("otlp grpc listening on %s:%d", s.bind, self._grpc.port)
        http_port = await self._serve(
            otlp_http_app(ingestor, s.max_request_bytes, s.retry_after_s),
            s.otlp_http_port,
            "FLOWGUARD_OTLP_HTTP_PORT",
        )
        logger.info("otlp http listening on %s:%d", s.bind, http_port)
        writer = self._writer
        app = api_app(
            ingestor,
            self._ledger,
            self.tier,
            lambda: writer.available,
            lambda: {"database refused a batch": writer.refused_warning.count},
            s.max_request_bytes,
            s.retry_after_s,
        )
        add_query_routes(app, self._pool, s.retry_after_s)
        add_anomaly_routes(
            app, self._pool, detection_of(s).settings.detector.warmup_buckets
        )
        add_alert_routes(app, self._pool, self.alerting)
        api_port = await self._serve(app, s.http_port, "FLOWGUARD_HTTP_PORT")
        logger.info("ui and api listening on http://%s:%d", s.bind, api_port)
        self.ports = Ports(self._grpc.port, http_port, api_port)
        return self.ports

    def reload_rules(self) -> None:
        """Read the rule file again; on errors keep the rules in use."""
        if self.alerting is None:
            return
        try:
            self.alerting.load()
        except ConfigError as exc:
            logger.error("rule file not reloaded, the previous rules stay: %s", exc)

    async def _serve(self, app: web.Application, port: int, variable: str) -> int:
        runner = web.AppRunner(app, auto_decompress=False, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(
            runner, self._settings.bind, port, reuse_port=self._reuse_port
        )
        try:
            await site.start()
        except OSError as exc:
            raise _cannot_listen(port, variable, exc) from None
        return _site_port(runner)

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Refuse new data, flush what was accepted, close everything.

        Safe before ``start`` and twice.
        """
        if self._grpc is not None:
            await self._grpc.stop(timeout_s / 3)
        for runner in reversed(self._runners):
            # Closing the sites stops accepting; running handlers finish.
            await runner.cleanup()
        self._runners.clear()
        if self._writer is not None:
            await self._writer.stop(timeout_s)
        if self._maintenance is not None:
            await self._maintenance.stop(timeout_s / 3)
        if self.alerting is not None:
            await self.alerting.stop(timeout_s / 3)
            self.alerting = None
        if self._ledger is not None:
            await self._ledger.stop()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._embedded is not None:
            await self._embedded.stop()
            self._embedded = None
        logger.info("flowguard stopped")


def _cannot_listen(port: int, variable: str, exc: Exception) -> ConfigError:
    """A port that cannot be bound, said as the setting to change."""
    return ConfigError(
        f"cannot listen on port {port} ({exc}); another server may hold it:"
        f" stop it or set {variable} to a free port"
    )
