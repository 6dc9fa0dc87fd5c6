"""The API docs page (Swagger UI) from assets shipped in a wheel, never from a CDN.

Litestar's Swagger plugin loads its script, style and favicon from jsDelivr by default, so
the page was blank without the Internet (a ministry network, a laptop on a train). The
`swagger-ui-py` package ships Swagger UI 5's built files (the 4.x of `swagger-ui-bundle`
cannot read OpenAPI 3.1, which Litestar writes); we serve the few the page needs, under a
path keyed by the package's version so browsers may cache them for good."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Annotated

from litestar import Router, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import PathParameter
from litestar.response import File


def _swagger_dir() -> Path:
    # Found without importing the package: its __init__ pulls in jinja2 and PyYAML for
    # framework adapters we do not use.
    spec = importlib.util.find_spec("swagger_ui")
    assert spec is not None and spec.submodule_search_locations, "swagger-ui-py is not installed"
    return Path(next(iter(spec.submodule_search_locations))) / "static"


SWAGGER_DIR = _swagger_dir()
ASSETS_PATH = f"/schema/assets/{importlib.metadata.version('swagger-ui-py')}"

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


@get("/{name:str}", include_in_schema=False, cache_control=CacheControlHeader(max_age=31_536_000, public=True))
async def docs_asset(name: Annotated[str, PathParameter()]) -> File:
    if name not in ASSETS:
        raise NotFoundException()
    return File(path=SWAGGER_DIR / name, media_type=ASSETS[name], content_disposition_type="inline")


docs_assets_router = Router(path=ASSETS_PATH, route_handlers=[docs_asset])


def swagger_plugin() -> SwaggerRenderPlugin:
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )
