"""``python -m backend``: serve the ML backend on ``HOST:PORT`` (default 0.0.0.0:9090).

``python -m backend export --project ID --out DIR [--round N]`` writes the
project's decision files instead (see :mod:`backend.export`), from the state
under ``MODEL_DIR`` and the pool of ``MODELPICKER_POOL``.
``python -m backend sync --project ID`` reads the project's labels back from
Label Studio into that state (see ``Service.sync``).

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


def _open_service(command: str, settings=None, inline: bool = True, pool_exit: int = 1):
    """The service of ``python -m backend [command]``, or its exit code after a message.

    Bad settings exit 2; an unusable pool exits ``pool_exit``.
    """
    from .service import Service

    prefix = f"backend {command}".rstrip()
    try:
        if settings is None:
            settings = from_env()
            logging.basicConfig(level=settings.log_level, format="[%(levelname)s] [%(name)s] %(message)s")
        service = Service.from_settings(settings, inline=inline)
    except SettingsError as exc:
        print(f"{prefix}: {exc}", file=sys.stderr)
        return 2
    if service.pool is None:
        print(f"{prefix}: candidate pool unusable: {service.pool_error}", file=sys.stderr)
        service.store.close()
        return pool_exit
    return service


def export_main(argv: list[str]) -> int:
    """``python -m backend export``: write decision.json, ranking.csv/json, predictions.json."""
    import argparse

    from .errors import RequestError
    from .export import build_export, write_export

    parser = argparse.ArgumentParser(prog="python -m backend export",
                                     description="Write a project's decision, ranking and the chosen "
                                                 "candidate's predictions (Label Studio import format).")
    parser.add_argument("--project", required=True, help="Label Studio project id")
    parser.add_argument("--out", required=True, help="directory to write the four files into")
    parser.add_argument("--round", default=None, help="round to export (default: the current round)")
    args = parser.parse_args(argv)
    service = _open_service("export")
    if isinstance(service, int):
        return service
    try:
        try:
            bundle = build_export(service, args.project, args.round)
            paths = write_export(bundle, args.out)
        except RequestError as exc:
            print(f"backend export: {exc.message}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"backend export: cannot write to {args.out}: {exc}", file=sys.stderr)
            return 1
    finally:
        service.store.close()
    decision = bundle["decision"]
    state = "decided" if decision["stopped"] else "provisional (round not decided yet)"
    print(f"project {decision['project']} round {decision['round']}: {decision['chosen']} ({state}); "
          f"wrote {', '.join(str(p) for p in paths)}")
    return 0


def sync_main(argv: list[str]) -> int:
    """``python -m backend sync``: read a project's labels back from Label Studio (see ``Service.sync``)."""
    import argparse
    import json

    from .errors import RequestError

    parser = argparse.ArgumentParser(prog="python -m backend sync",
                                     description="Store the labels Label Studio holds for a project, as the "
                                                 "webhooks would have (needs LABEL_STUDIO_URL/LABEL_STUDIO_API_KEY).")
    parser.add_argument("--project", required=True, help="Label Studio project id")
    args = parser.parse_args(argv)
    service = _open_service("sync")
    if isinstance(service, int):
        return service
    try:
        try:
            answer = service.sync(args.project)
        except RequestError as exc:
            print(f"backend sync: {exc.message}", file=sys.stderr)
            return 1
    finally:
        service.store.close()
    print(json.dumps(answer, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv and argv[0] == "export":
        return export_main(argv[1:])
    if argv and argv[0] == "sync":
        return sync_main(argv[1:])
    if argv:
        print("python -m backend takes no arguments (or 'export --project ID --out DIR', "
              "'sync --project ID'); configure it "
              "with environment variables (MODELPICKER_POOL, MODEL_DIR, HOST, PORT, ...)", file=sys.stderr)
        return 2
    try:
        settings = from_env()
    except SettingsError as exc:
        print(f"backend: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level,
                        format="[%(asctime)s] [%(levelname)s] [%(name)s] %(message)s")
    from .app import create_app

    service = _open_service("", settings, inline=False, pool_exit=2)
    if isinstance(service, int):
        return service
    app = create_app(settings, service)
    logging.getLogger("backend").info(
        "serving %d candidates (%s) with strategy %r on %s:%d, state in %s, jobs %s",
        len(service.pool.candidates), ", ".join(service.pool.names), service.strategy,
        settings.host, settings.port, settings.db_path, service.runner.kind)
    app.run(host=settings.host, port=settings.port, threaded=True, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
