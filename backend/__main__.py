"""``python -m backend``: the development server of the ML backend on ``HOST:PORT`` (default 127.0.0.1:9090).

``python -m backend export --project ID --out DIR [--round N]`` writes the
project's decision files instead (see :mod:`backend.export`), from the state
under ``MODEL_DIR`` and the pool of ``MODELPICKER_POOL``.
``python -m backend sync --project ID`` reads the project's labels back from
Label Studio into that state (see ``Service.sync``).

Reads the settings from the environment, loads and checks the candidate pool
and opens the SQLite state under ``MODEL_DIR`` before serving; a bad setting
or pool file stops the start with a message naming what is wrong (exit 2); a
port it cannot listen on (taken, privileged) stops it before anything says
"serving" (exit 1).  With ``LABEL_STUDIO_URL`` set it checks the API key
once in the background: the outcome is one log line and ``/health``.
Without ``BASIC_AUTH_USER``/``BASIC_AUTH_PASS`` it refuses a ``HOST`` other
than loopback (exit 2, one line saying why and what to set) unless
``MODELPICKER_ALLOW_UNAUTHENTICATED`` is true, and its start line says
whether authentication is on.
Serves with Werkzeug's threaded server, the one label-studio-ml's own
``_wsgi.py`` uses: for development.  Production runs gunicorn with
:mod:`backend.gunicorn_conf` on ``backend.wsgi:app`` (see the README).
"""
from __future__ import annotations

import errno
import logging
import sys

from . import hint_sweeper
from .request_args import project_arg
from .settings import SettingsError, check_bind, from_env


def _open_service(command: str, settings=None, inline: bool = True, pool_exit: int = 1):
    """The service of ``python -m backend [command]``, or its exit code after a message.

    Bad settings exit 2; an unusable pool exits ``pool_exit``.
    """
    from .service import Service
    from .store import StoreError

    prefix = f"backend {command}".rstrip()
    try:
        if settings is None:
            settings = from_env()
            logging.basicConfig(level=settings.log_level, format="[%(levelname)s] [%(name)s] %(message)s")
        service = Service.from_settings(settings, inline=inline)
    except SettingsError as exc:
        print(f"{prefix}: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:  # DATABASE_URL's database unreachable or refusing the login (no password shown)
        print(f"{prefix}: {exc}", file=sys.stderr)
        return 1
    if service.pool is None:
        print(f"{prefix}: candidate pool unusable: {service.pool_error}", file=sys.stderr)
        service.store.close()
        return pool_exit
    return service


def _with_service(command: str, action) -> int:
    """Open the service of ``python -m backend <command>``, run ``action(service)`` (its exit code), close
    the store; a request error is one line on stderr and exit code 1."""
    from .errors import RequestError

    service = _open_service(command)
    if isinstance(service, int):
        return service
    try:
        return action(service)
    except RequestError as exc:
        print(f"backend {command}: {exc.message}", file=sys.stderr)
        return 1
    finally:
        service.store.close()


def export_main(argv: list[str]) -> int:
    """``python -m backend export``: write decision.json, ranking.csv/json, predictions.json."""
    import argparse

    from .export import build_export, write_export

    parser = argparse.ArgumentParser(prog="python -m backend export",
                                     description="Write a project's decision, ranking and the chosen "
                                                 "candidate's predictions (Label Studio import format).")
    parser.add_argument("--project", required=True, help="Label Studio project id")
    parser.add_argument("--out", required=True, help="directory to write the four files into")
    parser.add_argument("--round", default=None, help="round to export (default: the current round)")
    args = parser.parse_args(argv)

    def export(service) -> int:
        bundle = build_export(service, project_arg(args.project, "export"), args.round)
        try:
            paths = write_export(bundle, args.out)
        except OSError as exc:
            print(f"backend export: cannot write to {args.out}: {exc}", file=sys.stderr)
            return 1
        decision = bundle["decision"]
        state = "decided" if decision["stopped"] else "provisional (round not decided yet)"
        print(f"project {decision['project']} round {decision['round']}: {decision['chosen']} ({state}); "
              f"wrote {', '.join(str(p) for p in paths)}")
        tracked = service.tracker.after_export(decision["project"], bundle)  # None unless MLflow tracking is on
        if tracked is not None:
            registry = tracked.get("registry", {})
            where = registry.get("skipped") or f"{registry.get('uri')} is now @{registry.get('alias')}"
            print(f"MLflow: {tracked['error']}" if "error" in tracked else f"MLflow: files logged to the run; {where}")
        return 0

    return _with_service("export", export)


def sync_main(argv: list[str]) -> int:
    """``python -m backend sync``: read a project's labels back from Label Studio (see ``Service.sync``)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m backend sync",
                                     description="Store the labels Label Studio holds for a project, as the "
                                                 "webhooks would have (needs LABEL_STUDIO_URL/LABEL_STUDIO_API_KEY).")
    parser.add_argument("--project", required=True, help="Label Studio project id")
    args = parser.parse_args(argv)

    def sync(service) -> int:
        print(json.dumps(service.sync(project_arg(args.project, "sync")), indent=2))
        return 0

    return _with_service("sync", sync)


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
        check_bind(settings)
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
    try:
        server = bind(app, settings.host, settings.port)
    except OSError as exc:
        print(f"backend: cannot listen on {settings.host}:{settings.port}: {listen_error(exc)}", file=sys.stderr)
        service.store.close()
        return 1
    log = logging.getLogger("backend")
    log.info("serving %d candidates (%s) with strategy %r on %s:%d, state in %s, jobs %s",
             len(service.pool.candidates), ", ".join(service.pool.names), service.strategy,
             settings.host, settings.port, service.store.describe(), service.runner.kind)
    log.info("%s", auth_line(settings))
    # in the background: a Label Studio still starting must not delay serving; the outcome is in /health
    hint_sweeper.start(service, on_start=lambda status: _log_label_studio(status, log))
    if not settings.label_studio_configured:
        log.info("Label Studio write-back is off: LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY are not both set")
    server.serve_forever()
    return 0


def auth_line(settings) -> str:
    """The start line saying who may call the backend."""
    if settings.auth_enabled:
        return (f"authentication: HTTP basic auth required on every route (user {settings.basic_auth_user!r}); "
                f"enter it in Label Studio's model connection form")
    if settings.allow_unauthenticated and not settings.loopback_only:
        return (f"authentication: OFF and listening on {settings.host} (MODELPICKER_ALLOW_UNAUTHENTICATED=true): "
                f"anyone who reaches this port can change the labels")
    return ("authentication: off (no BASIC_AUTH_USER/BASIC_AUTH_PASS), so this backend serves this machine only "
            "(127.0.0.1)")


def bind(app, host: str, port: int):
    """Werkzeug's threaded server, already listening on ``host:port`` (raises ``OSError`` when it cannot).

    ``app.run`` binds inside ``run_simple``, after the start was announced;
    binding first lets a taken port stop the start with one clear line.
    The server is the one ``app.run(threaded=True)`` builds.
    """
    from werkzeug.serving import make_server

    return make_server(host, port, app, threaded=True)


def listen_error(exc: OSError) -> str:
    """Why a port cannot be listened on, and what to do, in words."""
    if exc.errno == errno.EADDRINUSE:
        return "the address is already in use (another process listens there; stop it or set PORT to a free port)"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges; set PORT to 1024 or above)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "this machine has no such address (set HOST to one of its addresses, or 0.0.0.0)"
    return exc.strerror or str(exc)


def _log_label_studio(status: dict, log) -> None:
    """The start-up line when Label Studio accepts the key (a failure was logged as one line already)."""
    if status["ok"]:
        log.info("Label Studio at %s accepts the API key (%s)", status["url"], status["token"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
