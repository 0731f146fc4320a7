"""WSGI entry point of the production server:
``gunicorn -c python:backend.gunicorn_conf backend.wsgi:app`` (see :mod:`backend.gunicorn_conf`).

Settings come from the environment exactly as for ``python -m backend``; a
bad setting, or a non-loopback ``HOST`` without credentials
(:func:`backend.settings.check_bind`), raises at import, so no worker starts.
"""
import logging

from . import hint_sweeper
from .app import create_app, current_service
from .settings import from_env

_settings = from_env()
logging.basicConfig(level=_settings.log_level, format="[%(asctime)s] [%(levelname)s] [%(name)s] %(message)s")
app = create_app(_settings)
# hints left pending before a restart are confirmed now, and hints whose job a crash lost later
# (python -m backend does the same)
hint_sweeper.start(current_service())
