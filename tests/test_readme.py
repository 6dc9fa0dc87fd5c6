"""The README's promises that a newcomer runs by hand: the "Try it" block, and its links."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.settings import Settings

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def try_it_block() -> str:
    match = re.search(r"^Try it:\n\n```sh\n(.*?)^```", README, re.M | re.S)
    assert match, "README lost its 'Try it:' block"
    return match[1]


def settings_env(settings: Settings) -> dict[str, str]:
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


@pytest.fixture
def served(settings: Settings, unused_tcp_port: int, tmp_path: Path) -> Iterator[str]:
    """`commune-pulse serve` on this test's database; its base URL."""
    env = settings_env(settings) | {"PORT": str(unused_tcp_port)}
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend", "serve"], env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT
        )
    base = f"127.0.0.1:{unused_tcp_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                if httpx.get(f"http://{base}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve never became ready"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def run_block(block: str, base: str) -> list[int]:
    """Run the block as a reader would paste it, under `set -eu`; return every HTTP status.

    curl is wrapped so it also writes its status to stderr; the block itself is unchanged."""
    script = (
        "set -euo pipefail\n"
        "curl() { command curl --max-time 20 -w '%{stderr}%{http_code}\\n' \"$@\"; }\n"
        + block.replace("localhost:8000", base)
    )
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"block failed:\n{result.stdout}\n{result.stderr}"
    return [int(line) for line in result.stderr.split()]


def test_try_it_runs_twice(served: str) -> None:
    block = try_it_block()
    expected = [200, 200, 200, 200, 403, 201, 200, 201]
    assert run_block(block, served) == expected
    # The second paste used to fail: the install id was already registered (403 without its secret).
    assert run_block(block, served) == expected


def test_try_it_states_the_codes_it_shows(served: str) -> None:
    # The comments promise 200, 403 and 201: they are the statuses the block gets.
    promised = [int(code) for code in re.findall(r"#\s*(\d{3})\b", try_it_block())]
    statuses = run_block(try_it_block(), served)
    assert promised == [200, 403, 201]
    assert [statuses[3], statuses[4], statuses[7]] == promised


def test_the_readme_points_only_at_files_in_the_repository() -> None:
    assert "../" not in README, "a clone has nothing outside the repository"
    for target in re.findall(r"\]\(([^)#\s]+)\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links to missing {target}"


def test_the_product_description_and_data_licence_ship_with_the_code() -> None:
    assert "Commune Pulse — product specification" in (ROOT / "docs/SPEC.md").read_text(encoding="utf-8")
    notice = (ROOT / "LICENSE-DATA").read_text(encoding="utf-8")
    assert "Copyright (c) 2021 Thang Le Quoc" in notice and "MIT License" in notice
    for name in ("provinces.csv", "communes.csv", "procedures.csv", "holidays.csv"):
        assert name in notice, f"LICENSE-DATA does not say where {name} comes from"
