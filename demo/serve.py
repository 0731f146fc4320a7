"""``python -m demo serve --pool FILE`` (``make serve POOL=...``): the backend alone, on your own pool.

Only checks what make cannot say clearly (no pool given, a path that is not a
file) and then replaces itself with ``python -m backend``, which checks the
pool's content and every other setting with its own messages.
"""
from __future__ import annotations

import os
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


def serve(pool: str | None, model_dir: str | None) -> int:
    """Exec ``python -m backend`` with ``MODELPICKER_POOL`` (and ``MODEL_DIR``) set; returns only on error."""
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
    os.chdir(REPO_ROOT)
    os.execve(sys.executable, [sys.executable, "-m", "backend"], env)
    return 0  # pragma: no cover - execve does not return
