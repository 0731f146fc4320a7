"""WSGI entry point for a production server, e.g. ``gunicorn 'backend.wsgi:app'``.

Settings come from the environment exactly as for ``python -m backend``.
"""
from .app import create_app

app = create_app()
