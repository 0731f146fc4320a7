"""``python -m backend``: serve the ML backend on ``HOST:PORT`` (default 0.0.0.0:9090).

Reads the settings from the environment, loads and checks the candidate pool
and opens the SQLite state under ``MODEL_DIR`` before serving; a bad setting
or pool file stops the start with a message naming what is wrong (exit 2).
Serves with Werkzeug's threaded server, the one label-studio-ml's own
``_wsgi.py`` uses; for production run a WSGI server on
``backend.wsgi:app`` instead (see the README).
"""
from __future__ import annotations

import logging
import sys

from .settings import SettingsError, from_env


def main(argv: list[str] | None = None) -> int:
    if argv:
        print("python -m backend takes no arguments; configure it with environment variables "
              "(MODELPICKER_POOL, MODEL_DIR, HOST, PORT, ...)", file=sys.stderr)
        return 2
    try:
        settings = from_env()
    except SettingsError as exc:
        print(f"backend: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level,
                        format="[%(asctime)s] [%(levelname)s] [%(name)s] %(message)s")
    from .app import create_app
    from .service import Service

    try:
        service = Service.from_settings(settings)
    except SettingsError as exc:
        print(f"backend: {exc}", file=sys.stderr)
        return 2
    if service.pool is None:
        print(f"backend: candidate pool unusable: {service.pool_error}", file=sys.stderr)
        service.store.close()
        return 2
    app = create_app(settings, service)
    logging.getLogger("backend").info(
        "serving %d candidates (%s) with strategy %r on %s:%d, state in %s, jobs %s",
        len(service.pool.candidates), ", ".join(service.pool.names), service.strategy,
        settings.host, settings.port, settings.db_path, service.runner.kind)
    app.run(host=settings.host, port=settings.port, threaded=True, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
