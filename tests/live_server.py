"""The app under a real uvicorn, run with `backend.cli.uvicorn_options`, for tests whose
subject is the network address: clients connect from different loopback addresses
(127.0.0.2, 127.0.0.3, ...: all of 127/8 is local on Linux), so the socket peer is real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import msgspec
import uvicorn

from backend.app import create_app
from backend.cli import uvicorn_options
from backend.settings import Settings


@asynccontextmanager
async def live_server(settings: Settings, port: int) -> AsyncIterator[str]:
    """Serve the app on 127.0.0.1:port; yields its base URL."""
    settings = msgspec.structs.replace(settings, host="127.0.0.1", port=port)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), **uvicorn_options(settings)))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(400):
            if server.started or task.done():
                break
            await asyncio.sleep(0.025)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def client_from(base_url: str, address: str) -> httpx.AsyncClient:
    """An HTTP client whose connections come from `address` (a loopback address)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30)
