"""`/docs` (Swagger UI) and `/redoc` with their JavaScript, CSS and icon served by the app.

FastAPI's default pages load their assets from a CDN, so they are blank on a machine with
no internet. The assets ship in the `fastapi-offline` package (its `static/` directory);
they are mounted under `ASSETS` and the two pages reference only them.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = "/docs-assets"


def _assets_dir() -> str:
    return str(files("fastapi_offline") / "static")


def install(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Add `/docs`, `/redoc` and the assets they load (none of them in the OpenAPI document)."""
    app.mount(ASSETS, StaticFiles(directory=_assets_dir()), name="docs-assets")

    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
        )

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    app.add_api_route("/docs", swagger, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
