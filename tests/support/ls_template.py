"""A migrated, empty Label Studio SQLite database to start each test's Label Studio from.

A fresh data directory makes ``label-studio start`` apply every database
migration first: about 40 s of the 42 s a start takes on 2 cores, paid by
every end-to-end module that starts its own Label Studio.  The migrations
are applied once per Label Studio venv into a template (no user, no
project, no secret: the admin and the data directory's ``.env`` are still
made by each start), and each new SQLite data directory gets a copy of it.
Label Studio then finds nothing to migrate and starts in about 4 s.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: Label Studio's SQLite file name in its data directory (``core/settings/base.py``)
DATABASE_FILE = "label_studio.sqlite3"
#: environment variables that would point the migration at another database
_DATABASE_ENV_PREFIXES = ("DJANGO_DB", "POSTGRE_", "DATABASE_", "LABEL_STUDIO_BASE_DATA_DIR")


def template_path(venv: Path) -> Path:
    """Where the venv's template lives (inside the venv: a reinstall removes it with the old release)."""
    return venv / "modelpicker-template" / DATABASE_FILE


def migrated_template(venv: Path, timeout: float = 600.0) -> Path | None:
    """The template, made on first use (under a lock, so concurrent test runs make it once).

    Returns None, with a note on stderr, when the migration fails: Label Studio then migrates its own
    database at start, as without a template.
    """
    target = template_path(venv)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        return _migrate_into(venv, target, timeout)


def _migrate_into(venv: Path, target: Path, timeout: float) -> Path | None:
    python = venv / "bin" / "python"
    located = subprocess.run([str(python), "-c", "import label_studio, os; print(os.path.dirname("
                              "label_studio.__file__))"], capture_output=True, text=True, timeout=120)
    package = Path(located.stdout.strip())
    with tempfile.TemporaryDirectory(prefix="ls-template-", dir=target.parent) as data_dir:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_DATABASE_ENV_PREFIXES)}
        env["LABEL_STUDIO_BASE_DATA_DIR"] = data_dir
        result = subprocess.run([str(python), "manage.py", "migrate", "--noinput"], cwd=package, env=env,
                                capture_output=True, text=True, timeout=timeout)
        made = Path(data_dir) / DATABASE_FILE
        if located.returncode != 0 or result.returncode != 0 or not made.exists():
            print(f"[labelstudio] no migrated template (Label Studio will migrate at each start): "
                  f"{(located.stderr + result.stderr)[-2000:]}", file=sys.stderr)
            return None
        partial = target.with_suffix(".partial")
        shutil.copyfile(made, partial)
        os.replace(partial, target)  # whole or absent: a reader never sees half a file
    return target


def seed_data_dir(venv: Path, data_dir: Path) -> bool:
    """Put a copy of the template into a new SQLite data directory; False when there is none to copy or
    the directory already holds a database."""
    database = data_dir / DATABASE_FILE
    if database.exists():
        return False
    template = migrated_template(venv)
    if template is None:
        return False
    shutil.copyfile(template, database)
    return True
