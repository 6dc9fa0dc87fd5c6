"""Prometheus request metrics, kept by a plain ASGI middleware.

The same four families Litestar's PrometheusMiddleware kept (`commune_pulse_requests_total`,
`_request_duration_seconds`, `_requests_in_progress`, `_requests_error_total`; labels
method, path template, status_code, app_name), so dashboards and alerts stay as they were.
Litestar's version built a Request object, two label dicts and four label lookups per
request: about 8 % of a rating's API CPU under load (py-spy, bench.ingest). This one reads
the scope directly and keeps each labelled child once it has been made.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

APP_NAME = "commune_pulse"
PREFIX = "commune_pulse"
LABELS = ("method", "path", "status_code", "app_name")
# Scrapes and probes are not traffic.
EXCLUDED_PATHS = ("/metrics", "/health")

REQUESTS = Counter(f"{PREFIX}_requests_total", "Total requests", LABELS)
DURATION = Histogram(f"{PREFIX}_request_duration_seconds", "Request duration, in seconds", LABELS)
IN_PROGRESS = Gauge(
    f"{PREFIX}_requests_in_progress", "Total requests currently in progress", LABELS, multiprocess_mode="livesum"
)
ERRORS = Counter(f"{PREFIX}_requests_error_total", "Total errors in requests", LABELS)

_children: dict[tuple[MetricWrapperBase, str, str, int], Any] = {}


def child(metric: MetricWrapperBase, method: str, path: str, status: int) -> Any:
    """The metric's child for these labels, made once (label lookups take a lock and a dict)."""
    key = (metric, method, path, status)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(method, path, status, APP_NAME)
    return found


class RequestMetricsMiddleware:
    """Route middleware (after routing, so the path template is known: one series per route,
    not per id). As before, the in-progress gauge is labelled with status 200 and the
    duration runs until the response body is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXCLUDED_PATHS):
            await self.app(scope, receive, send)
            return
        # Route middleware always has a template; never the raw path (one series per id).
        method, path = str(scope.get("method")), str(scope.get("path_template", "unmatched"))
        started = time.perf_counter()
        status, duration = [200], [0.0]

        async def send_observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body":
                duration[0] = time.perf_counter() - started
            await send(message)

        progress = child(IN_PROGRESS, method, path, 200)
        progress.inc()
        try:
            await self.app(scope, receive, send_observed)
        finally:
            progress.dec()
            code = status[0]
            if code >= 500:
                child(ERRORS, method, path, code).inc()
            child(REQUESTS, method, path, code).inc()
            child(DURATION, method, path, code).observe(duration[0])
