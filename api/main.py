"""ASGI entry point for uvicorn workers: settings come from the environment."""

from api.app import create_app
from custstats.settings import Settings

app = create_app(Settings())
