import json
import logging
from typing import Any

import msgspec
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.log import JsonFormatter
from backend.settings import Settings


async def test_live_and_ready(client: AsyncTestClient[Any]) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    # No worker runs beside these tests: the API is ready, the body says what is missing.
    assert ready.json() == {
        "status": "degraded",
        "postgres": "ok",
        "redis": "ok",
        "worker": "missing: no worker has reported",
    }


async def test_ready_is_503_when_redis_is_unreachable(settings: Settings, unused_tcp_port: int) -> None:
    broken = msgspec.structs.replace(settings, redis_url=f"redis://127.0.0.1:{unused_tcp_port}/0")
    async with AsyncTestClient(app=create_app(broken)) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "unavailable"
        assert body["postgres"] == "ok"
        assert body["redis"].startswith("error")
        # The rest of the API keeps working without Redis.
        assert (await client.get("/v1/communes/00004")).status_code == 200


METRICS_TOKEN = "metrics-" + "m" * 40


async def test_metrics_need_the_metrics_token(settings: Settings) -> None:
    async with AsyncTestClient(
        app=create_app(msgspec.structs.replace(settings, metrics_token=METRICS_TOKEN))
    ) as client:
        await client.get("/v1/provinces")
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {METRICS_TOKEN}"}):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.json()["code"] == "unauthenticated"
            assert "commune_pulse" not in refused.text
        metrics = await client.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
        assert metrics.status_code == 200
        assert "commune_pulse_requests_total" in metrics.text
        assert 'path="/v1/provinces"' in metrics.text


def metric_value(text: str, name: str, **labels: str) -> float:
    """One series' value in a Prometheus text exposition; 0 when the series is absent."""
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series.startswith(name + "{") and all(f'{k}="{v}"' in series for k, v in labels.items()):
            return float(value)
    return 0.0


async def test_request_metrics_count_per_route_template_and_status(settings: Settings) -> None:
    """Series per method, path template (not per id) and status; probes and scrapes are not
    counted; nothing stays in progress once answered."""
    auth = {"authorization": f"Bearer {METRICS_TOKEN}"}
    async with AsyncTestClient(
        app=create_app(msgspec.structs.replace(settings, metrics_token=METRICS_TOKEN))
    ) as client:
        before = (await client.get("/metrics", headers=auth)).text
        route = {"method": "GET", "path": "/v1/communes/{code}"}
        ok = metric_value(before, "commune_pulse_requests_total", status_code="200", **route)
        missing = metric_value(before, "commune_pulse_requests_total", status_code="404", **route)
        timed = metric_value(before, "commune_pulse_request_duration_seconds_count", status_code="200", **route)
        for _ in range(3):
            assert (await client.get("/v1/communes/00004")).status_code == 200
        assert (await client.get("/v1/communes/99999")).status_code == 404
        await client.get("/health/live")
        after = (await client.get("/metrics", headers=auth)).text
        assert metric_value(after, "commune_pulse_requests_total", status_code="200", **route) == ok + 3
        assert metric_value(after, "commune_pulse_requests_total", status_code="404", **route) == missing + 1
        assert metric_value(after, "commune_pulse_request_duration_seconds_count", status_code="200", **route) == (
            timed + 3
        )
        assert metric_value(after, "commune_pulse_requests_in_progress", status_code="200", **route) == 0
        assert 'path="/v1/communes/00004"' not in after
        assert 'path="/health' not in after and 'path="/metrics' not in after


async def test_metrics_are_not_served_without_a_token_setting(client: AsyncTestClient[Any]) -> None:
    hidden = await client.get("/metrics", headers={"authorization": "Bearer anything"})
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "not_found"


async def test_request_id_is_echoed_or_made(client: AsyncTestClient[Any]) -> None:
    echoed = await client.get("/health/live", headers={"x-request-id": "phone-42.abc"})
    assert echoed.headers["x-request-id"] == "phone-42.abc"
    made = await client.get("/health/live", headers={"x-request-id": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces"
    assert len(made.headers["x-request-id"]) == 32


async def test_unknown_route_and_method_are_problems(client: AsyncTestClient[Any]) -> None:
    missing = await client.get("/v1/nothing-here", headers={"accept-language": "en"})
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["code"] == "not_found"
    assert missing.json()["title"] == "Not found"
    wrong_method = await client.put("/v1/provinces")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"
    assert wrong_method.json()["title"] == "Phương thức không được hỗ trợ"


async def test_api_docs_are_served(client: AsyncTestClient[Any]) -> None:
    document = await client.get("/schema/openapi.json")
    assert document.status_code == 200
    assert document.json()["info"]["title"] == "Commune Pulse API"
    assert (await client.get("/schema/swagger")).status_code == 200


class Lines(logging.Handler):
    """Formats records as they are emitted (the request id is read then)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def test_access_log_line_per_request_only_at_info(client: AsyncTestClient[Any]) -> None:
    """One `request` line per request with method, path, status, duration and request id at
    INFO; at WARNING nothing is built or written."""
    access = logging.getLogger("commune_pulse.access")
    handler, level = Lines(), access.level
    access.addHandler(handler)
    try:
        access.setLevel(logging.INFO)
        await client.get("/v1/communes/99999", headers={"x-request-id": "phone-7.a"})
        (line,) = handler.lines
        assert line["msg"] == "request" and line["request_id"] == "phone-7.a"
        assert (line["method"], line["path"], line["status"]) == ("GET", "/v1/communes/99999", 404)
        assert 0 <= line["duration_ms"] < 10_000
        access.setLevel(logging.WARNING)
        await client.get("/v1/communes/99999")
        assert len(handler.lines) == 1
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
