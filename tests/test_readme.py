"""The README's promises that a newcomer runs by hand: the "Try it" block, and its links.

`served` (tests/served.py) is `commune-pulse serve` on this test's database."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def try_it_block() -> str:
    match = re.search(r"^Try it:\n\n```sh\n(.*?)^```", README, re.M | re.S)
    assert match, "README lost its 'Try it:' block"
    return match[1]


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
