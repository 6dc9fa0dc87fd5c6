"""`commune-pulse serve` as a real process on this test's database, for tests that drive the
service from outside Python (curl, a browser). Fixture: `served` (its host:port)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.settings import Settings

ROOT = Path(__file__).parent.parent


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes `commune-pulse` use these settings."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "JWT_SECRET": settings.jwt_secret or "",
        "FEEDBACK_KEYS": ",".join(f"{k}:{v}" for k, v in settings.feedback_keys),
        "FINGERPRINT_KEYS": ",".join(f"{k}:{v}" for k, v in settings.fingerprint_keys),
        "DATA_DIR": settings.data_dir,
        "LOG_LEVEL": "WARNING",
    }


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def served(settings: Settings, unused_tcp_port: int, tmp_path: Path) -> Iterator[str]:
    """`commune-pulse serve` on this test's database; its host:port once ready."""
    env = settings_env(settings) | {"PORT": str(unused_tcp_port)}
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend", "serve"], env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT
        )
    base = f"127.0.0.1:{unused_tcp_port}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(f"http://{base}/health/ready"):
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "serve never became ready"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
