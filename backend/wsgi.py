"""WSGI entry point of the production server:
``gunicorn -c python:backend.gunicorn_conf backend.wsgi:app`` (see :mod:`backend.gunicorn_conf`).

Settings come from the environment exactly as for ``python -m backend``; a
bad setting, or a non-loopback ``HOST`` without credentials
(:func:`backend.settings.check_bind`), raises at import, so no worker starts.
"""
import logging
import threading

from .app import create_app, current_service
from .settings import from_env

_settings = from_env()
logging.basicConfig(level=_settings.log_level, format="[%(asctime)s] [%(levelname)s] [%(name)s] %(message)s")
app = create_app(_settings)
# hints left pending before a restart are confirmed now, not at the first job (python -m backend does the same)
threading.Thread(target=lambda: current_service().check_label_studio(), daemon=True,
                 name="label-studio-check").start()
