"""WSGI entry point for a production server, e.g. ``gunicorn 'backend.wsgi:app'``.

Settings come from the environment exactly as for ``python -m backend``; a
bad setting raises at import, so the server does not start.
"""
import logging

from .app import create_app
from .settings import from_env

_settings = from_env()
logging.basicConfig(level=_settings.log_level, format="[%(asctime)s] [%(levelname)s] [%(name)s] %(message)s")
app = create_app(_settings)
