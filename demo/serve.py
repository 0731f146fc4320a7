"""``python -m demo serve --pool FILE`` (``make serve POOL=...``): the backend alone, on your own pool.

Only checks what make cannot say clearly (no pool given, a path that is not a
file) and then replaces itself with ``python -m backend``, which checks the
pool's content and every other setting with its own messages.

Basic auth is on unless ``BASIC_AUTH_USER``/``BASIC_AUTH_PASS`` say otherwise:
a login is generated once and kept in ``<MODEL_DIR>/basic-auth.json`` (mode
0600); the start names the file, whose pair goes into Label Studio's *Connect
Model* form.  ``MODELPICKER_ALLOW_UNAUTHENTICATED=true`` without credentials
keeps auth off (loopback only unless ``HOST`` says otherwise).
"""
from __future__ import annotations

import json
import os
import secrets
import string
import sys
from pathlib import Path

from .config import REPO_ROOT, ConfigError

USAGE = "make serve POOL=path/to/pool.yaml   (the candidate pool file; see docs/pool-file.md)"


def check_pool(pool: str | None) -> Path:
    """The pool file as an absolute path; :class:`ConfigError` saying what is wrong and how to call it."""
    if not pool or not pool.strip():
        raise ConfigError(f"no candidate pool given; usage: {USAGE}")
    path = Path(pool).expanduser()
    if not path.exists():
        raise ConfigError(f"pool file {pool} does not exist; usage: {USAGE}")
    if not path.is_file():
        raise ConfigError(f"pool {pool} is not a file; usage: {USAGE}")
    return path.resolve()


def backend_login(model_dir: Path) -> tuple[str, str, Path]:
    """The kept (user, password) of ``<model_dir>/basic-auth.json``, made on first use with mode 0600."""
    path = model_dir / "basic-auth.json"
    try:
        data = json.loads(path.read_text())
        if data.get("user") and data.get("password"):
            return str(data["user"]), str(data["password"]), path
    except (OSError, ValueError, AttributeError):
        pass
    model_dir.mkdir(parents=True, exist_ok=True)
    user = "modelpicker"
    password = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"user": user, "password": password}, handle)
    os.replace(tmp, path)
    return user, password, path


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def serve(pool: str | None, model_dir: str | None, production: bool = False) -> int:
    """Exec ``python -m backend`` (``production``: gunicorn with :mod:`backend.gunicorn_conf`) with
    ``MODELPICKER_POOL`` (and ``MODEL_DIR``) set; returns only on error."""
    try:
        path = check_pool(pool)
    except ConfigError as exc:
        print(f"make serve: {exc}", file=sys.stderr)
        return 2
    env = dict(os.environ, MODELPICKER_POOL=str(path))
    # this machine only, unless HOST says otherwise (the backend's own default, 0.0.0.0, is the container's)
    env.setdefault("HOST", "127.0.0.1")
    if model_dir:
        env["MODEL_DIR"] = model_dir
    if not env.get("BASIC_AUTH_USER") and not env.get("BASIC_AUTH_PASS") and \
            not _truthy(env.get("MODELPICKER_ALLOW_UNAUTHENTICATED")):
        user, password, path = backend_login(Path(env.get("MODEL_DIR") or "model_dir").expanduser().resolve())
        env.update(BASIC_AUTH_USER=user, BASIC_AUTH_PASS=password)
        print(f"make serve: basic auth on: user {user!r}, password in {path} (mode 0600); enter both in Label "
              f"Studio's Connect Model form (Authentication: Basic)", file=sys.stderr, flush=True)
    os.chdir(REPO_ROOT)
    if production:
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        os.execve(gunicorn, [gunicorn, "-c", "python:backend.gunicorn_conf", "backend.wsgi:app"], env)
    os.execve(sys.executable, [sys.executable, "-m", "backend"], env)
    return 0  # pragma: no cover - execve does not return
