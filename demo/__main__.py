"""``python -m demo run|serve``: the entry points of ``make run`` and ``make serve`` (see the Makefile).

Every option has an environment variable of the same role, which the Makefile
sets from its variables (``DEMO_DIR``, ``LS_PORT``, ``BACKEND_PORT``, ...):
``make run LS_PORT=8081`` and ``python -m demo run --ls-port 8081`` do the
same.  A bad option exits 2 with a message, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .config import DEFAULT_BACKEND_PORT, DEFAULT_LS_PORT, DEFAULT_REDIS_PORT, REPO_ROOT


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 1-65535")
    return port


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    top = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="the whole demo: Label Studio, backend, worker, digits project")
    run.add_argument("--demo-dir", type=Path, default=Path(env("DEMO_DIR") or REPO_ROOT / ".cache" / "demo"),
                     help="state of the demo: Label Studio data, admin login, backend state, logs "
                          "(default: $DEMO_DIR or .cache/demo)")
    run.add_argument("--example-dir", type=Path,
                     default=Path(env("EXAMPLE_DIR") or REPO_ROOT / "examples" / "digits" / "generated"),
                     help="the digits example (make example writes it; default: $EXAMPLE_DIR or "
                          "examples/digits/generated)")
    run.add_argument("--ls-venv", type=Path,
                     default=Path(env("MODELPICKER_LS_VENV") or REPO_ROOT / ".cache" / "ls-venv"),
                     help="Label Studio's own venv (default: $MODELPICKER_LS_VENV or .cache/ls-venv)")
    run.add_argument("--ls-port", type=_port, default=_port(env("LS_PORT") or str(DEFAULT_LS_PORT)),
                     help="Label Studio's port, the next free one when taken (default: $LS_PORT or 8080)")
    run.add_argument("--backend-port", type=_port, default=_port(env("BACKEND_PORT") or str(DEFAULT_BACKEND_PORT)),
                     help="the backend's port, the next free one when taken (default: $BACKEND_PORT or 9090)")
    run.add_argument("--redis-port", type=_port, default=_port(env("REDIS_PORT") or str(DEFAULT_REDIS_PORT)),
                     help="Redis's port, the next free one when taken (default: $REDIS_PORT or 6379)")
    run.add_argument("--no-redis", action="store_true", help="run the backend's jobs inline even when "
                                                              "redis-server is installed")
    serve = commands.add_parser("serve", help="the backend alone on your own candidate pool")
    serve.add_argument("--pool", default=env("POOL"), help="the candidate pool file (default: $POOL)")
    serve.add_argument("--model-dir", default=env("MODEL_DIR"), help="the backend's state directory "
                                                                      "(default: $MODEL_DIR or ./model_dir)")
    serve.add_argument("--gunicorn", action="store_true",
                       help="the production server (gunicorn with "
                            "backend/gunicorn_conf.py) instead of the development one")
    return top


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except argparse.ArgumentTypeError as exc:  # a bad default from the environment
        print(f"python -m demo: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        from .serve import serve
        return serve(args.pool, args.model_dir, production=args.gunicorn)
    from .run import Options, run
    return run(Options(demo_dir=args.demo_dir.resolve(), example_dir=args.example_dir.resolve(),
                       ls_venv=args.ls_venv.resolve(), ls_port=args.ls_port, backend_port=args.backend_port,
                       redis_port=args.redis_port, use_redis=not args.no_redis))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
