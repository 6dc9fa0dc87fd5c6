"""The Litestar application, built by a factory from a settings object."""

from __future__ import annotations

import importlib.metadata
import os
import signal
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from arq.connections import ArqRedis
from litestar import Litestar, Response, get
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Server
from litestar.plugins.prometheus import PrometheusController
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from redis.asyncio import ConnectionPool

from backend import migrations, runtime_metrics
from backend.api import CONTROLLERS
from backend.api.contract import ContractOpenAPIConfig
from backend.api.options import AllowMiddleware
from backend.api.problems import document_problems
from backend.auth import provide_api_client, provide_citizen, provide_principal, provide_staff
from backend.db import close_pool, create_pool, provide_db
from backend.docs_ui import docs_assets_router, swagger_plugin
from backend.errors import EXCEPTION_HANDLERS
from backend.evaluation_schedule import EvaluationScheduler
from backend.json_body import refuse_deep_json
from backend.lifecycle import die_with_parent
from backend.log import RequestIdMiddleware, configure_logging
from backend.request_metrics import RequestMetricsMiddleware
from backend.security import VerifiedTokens, jwt_secret
from backend.security_headers import SecurityHeadersMiddleware, metrics_token_required
from backend.services.ratings import rating_writer
from backend.settings import Settings

API_TITLE = "Commune Pulse API"
# Rating batches in flight per API process. With one, a process's throughput is capped by
# one batch's round trips, and a process that the kernel hands most connections to stalls
# (bench/ratings: 0.65-0.94 x baseline with one, 0.80-0.88 with two, steadily).
RATING_DRAINERS = 2


def api_version() -> str:
    try:
        return importlib.metadata.version("commune-pulse")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


class MetricsController(PrometheusController):
    """Prometheus metrics, for the scraper alone: a bearer token (METRICS_TOKEN)."""

    path = "/metrics"
    include_in_schema = False
    guards = [metrics_token_required]

    @get()
    async def get(self, state: State) -> Response:
        """Litestar's request metrics, plus the background gauges read afresh (runtime_metrics)."""
        await runtime_metrics.refresh(state.pool, state.settings.worker_stale_after)
        registry = REGISTRY
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ or "prometheus_multiproc_dir" in os.environ:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), status_code=200, headers={"Content-Type": CONTENT_TYPE_LATEST})


def redis_client(settings: Settings) -> ArqRedis:
    """Lazy: the API starts (and keeps taking ratings) while Redis is down."""
    assert settings.redis_url, "servers must be resolved before Redis is used"
    pool = ConnectionPool.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    return ArqRedis(pool, default_queue_name=settings.queue_name)


def create_app(settings: Settings) -> Litestar:
    """The API for these settings; database_url and redis_url must be set (see embedded)."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        app.state.settings = settings
        app.state.jwt_secret = jwt_secret(settings)
        app.state.tokens = VerifiedTokens(app.state.jwt_secret)
        # Statements of requests are bounded so a stalled database answers 503, not a hang.
        app.state.pool = await create_pool(settings, command_timeout=settings.db_command_timeout)
        app.state.redis = redis_client(settings)
        # Ratings are written in groups on connections of their own (see backend.group_commit).
        app.state.write_pool = await create_pool(
            settings, max_size=RATING_DRAINERS + 1, generic_plans=True, command_timeout=settings.db_command_timeout
        )
        app.state.evaluations = EvaluationScheduler(app.state.redis, settings.redis_key_prefix)
        app.state.rating_writer = rating_writer(
            app.state.write_pool,
            settings.rating_daily_limit,
            settings.rating_window,
            drainers=RATING_DRAINERS,
            on_stored=app.state.evaluations.mark,
            acquire_timeout=settings.db_acquire_timeout,
            # A rating request answers within the same bound as any other request.
            deadline=settings.db_acquire_timeout + settings.db_command_timeout,
            campaign=settings.campaign_thresholds(),
        )
        try:
            async with app.state.pool.acquire() as conn:
                waiting = await migrations.pending(conn)
            if waiting:
                names = ", ".join(f"{m.version:04d}_{m.name}" for m in waiting)
                raise migrations.MigrationError(f"the database lacks migrations {names}: run `commune-pulse migrate`")
            yield
        finally:
            try:
                await app.state.rating_writer.close()
                await app.state.evaluations.close()
                await app.state.redis.aclose()
                # A pool handed to the client is not closed with it.
                await app.state.redis.connection_pool.disconnect()
            finally:
                # Bounded, so a stopped or stalled PostgreSQL cannot hold the shutdown.
                await close_pool(app.state.write_pool, settings.db_command_timeout)
                await close_pool(app.state.pool, settings.db_command_timeout)

    openapi_config = ContractOpenAPIConfig(
        title=API_TITLE,
        version=api_version(),
        description=(
            "Citizen satisfaction ratings, Fatherland Front feedback and service indicators for "
            "Vietnam's communes. Errors are RFC 9457 problem documents with a stable `code`. "
            "Each operation lists the credentials it takes (`security`) and, for staff, the roles "
            "that may call it (`x-roles`); the scope of those roles is checked on every row."
        ),
        servers=[Server(url="/")],
        path="/schema",
        render_plugins=[swagger_plugin(), JsonRenderPlugin()],
    )
    app = Litestar(
        route_handlers=[*CONTROLLERS, MetricsController, docs_assets_router],
        lifespan=[lifespan],
        dependencies={
            "db": Provide(provide_db),
            "principal": Provide(provide_principal),
            "staff": Provide(provide_staff),
            "citizen": Provide(provide_citizen),
            "api_client": Provide(provide_api_client),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=refuse_deep_json,
        middleware=[RequestIdMiddleware, RequestMetricsMiddleware, AllowMiddleware()],
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins)) if settings.cors_origins else None,
        openapi_config=openapi_config,
        logging_config=None,
        debug=False,
    )
    document_problems(app)
    openapi_config.bind(app)
    # Outside the router and its exception handling (route middleware never sees a 404 or
    # 405 from the router): the security headers go on every response.
    app.asgi_handler = SecurityHeadersMiddleware(app.asgi_handler)
    return app


def app_from_env() -> Litestar:
    """Factory for `uvicorn --factory` worker processes: settings from their environment."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    # Closing the terminal sends SIGHUP to every process of the group: the supervisor
    # (`commune-pulse serve`) stops on it and ends its processes with SIGTERM, which
    # drains their requests; dying on SIGHUP here would cut them off.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    die_with_parent()
    return create_app(settings)
