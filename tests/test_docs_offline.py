"""The API docs page renders with the network cut: its assets come from our own wheel.

Headless Chromium (Debian's `chromium`) loads `/schema/swagger` from `commune-pulse serve`
with every name but 127.0.0.1 unresolvable and every other address sent to a dead proxy,
then dumps the DOM after the page's scripts ran. A control page that loads Swagger UI from
the CDN proves the cut holds: there it stays blank. Chromium's network log shows nothing
left loopback."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import HTTPServer, SimpleHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from backend.docs_ui import ASSETS, ASSETS_PATH


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is missing in CI: .ci/run installs it (apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install -y chromium); CI installs it and runs this test")


def render_offline(url: str, tmp_path: Path) -> tuple[str, list[str]]:
    """The DOM after the page's scripts ran, and every URL Chromium tried to fetch."""
    net_log = tmp_path / "net-log.json"
    result = subprocess.run(
        [
            chromium(),
            "--headless=new",
            "--no-sandbox",  # we run as root in CI
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--no-pings",
            f"--user-data-dir={tmp_path / 'profile'}",
            # The network cut: no name resolves but loopback, and anything else addressed
            # by number goes to a proxy that is not there (loopback bypasses proxies).
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--proxy-server=http://127.0.0.1:9",
            f"--log-net-log={net_log}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # The page's requests name the page's origin as their initiator; Chromium's own (update
    # checks, account probes, all dead here too) name none and are not the page's doing.
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    events = json.loads(net_log.read_text(encoding="utf-8"))["events"]
    fetched = {
        event["params"]["url"]
        for event in events
        if isinstance(event.get("params"), dict) and event["params"].get("initiator") == origin
    }
    return result.stdout, sorted(fetched)


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
def test_the_docs_page_lists_the_operations_offline(served: str, tmp_path: Path, page: str) -> None:
    import urllib.request

    with urllib.request.urlopen(f"http://{served}/schema/openapi.json", timeout=30) as response:
        document = json.loads(response.read())
    dom, fetched = render_offline(f"http://{served}{page}", tmp_path)

    shown = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    assert shown, f"no operation rendered; the page was:\n{dom[:2000]}"
    assert shown == set(document["paths"]), f"missing: {set(document['paths']) - shown}"
    assert dom.count('class="opblock-summary-method"') == sum(len(ops) for ops in document["paths"].values())
    assert "Commune Pulse API" in dom

    hosts = {urlsplit(url).hostname for url in fetched}
    assert hosts == {"127.0.0.1"}, f"the page reached beyond loopback: {fetched}"
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"http://{served}{ASSETS_PATH}/{name}" in fetched


@pytest.fixture
def cdn_page(tmp_path: Path) -> Iterator[str]:
    """A page that needs Swagger UI from the CDN, as the docs page did, on a local server."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(
        "<!DOCTYPE html><html><head>"
        '<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.18.2/swagger-ui-bundle.js"></script>'
        '</head><body><p id="probe">loading</p><script>'
        "document.getElementById('probe').textContent = typeof SwaggerUIBundle;"
        "</script></body></html>"
    )

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(site), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()


def test_the_cut_holds_a_cdn_page_stays_empty(cdn_page: str, tmp_path: Path) -> None:
    dom, fetched = render_offline(cdn_page, tmp_path)
    assert '<p id="probe">undefined</p>' in dom  # the script ran, the CDN's never arrived
    assert "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.18.2/swagger-ui-bundle.js" in fetched


def test_only_the_pages_assets_are_served(served: str) -> None:
    import urllib.error
    import urllib.request

    for name, media_type in ASSETS.items():
        with urllib.request.urlopen(f"http://{served}{ASSETS_PATH}/{name}", timeout=10) as response:
            assert response.headers["content-type"].startswith(media_type)
            assert "max-age=31536000" in response.headers["cache-control"]
            assert len(response.read()) > 500
    for name in ("index.html", "swagger-initializer.js", "..%2F..%2F__init__.py"):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"http://{served}{ASSETS_PATH}/{name}", timeout=10)
        assert caught.value.code == 404
        caught.value.close()
