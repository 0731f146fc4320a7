"""A throw-away PostgreSQL cluster on 127.0.0.1 for the tests that run the backend's store on PostgreSQL.

:func:`postgres_server` runs ``initdb`` into a fresh temporary directory, starts ``postgres`` on a free
port of the caller's range (TCP on 127.0.0.1 only, no Unix socket; ``fsync`` off: nothing here has to
survive a crash), waits until it accepts a login, yields its URL and stops it (fast shutdown), removing the
directory.  The login is a password one (scram-sha-256) with a random password, so the tests see the
password in ``DATABASE_URL`` as production would.

``initdb`` and ``postgres`` refuse to run as root.  As root both run as the Debian package's ``postgres``
user (``runuser -u postgres --``), in a directory owned by it under the system's temporary directory (the
caller's pytest directory is private to root); as any other user they run as that user.
:func:`create_database` and :func:`drop_database` give each test a database of its own.
"""
from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .labelstudio import log_tail
from .ports import free_port

#: seconds a fresh cluster may take to accept a login
PG_START_TIMEOUT = 60.0
#: the cluster's superuser (the password is random per cluster)
PG_USER = "modelpicker"
#: the unprivileged user that runs the cluster when the tests run as root (created by Debian's package)
PG_SYSTEM_USER = "postgres"
INSTALL_HINT = ("`make postgres` installs them (Debian: apt-get install -y postgresql; elsewhere put the "
                "directory holding initdb and postgres in MODELPICKER_PG_BIN)")


class PostgresServerError(RuntimeError):
    """PostgreSQL's server binaries are missing or the cluster did not start; the message says why."""


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path)) or (0,)


def find_pg_bin() -> Path:
    """The directory holding ``initdb`` and ``postgres``: ``$MODELPICKER_PG_BIN``, else the newest
    ``/usr/lib/postgresql/<version>/bin`` (Debian), else ``initdb``'s directory on PATH.

    :class:`PostgresServerError` telling how to install them when none has both.
    """
    candidates = []
    if os.environ.get("MODELPICKER_PG_BIN"):
        candidates.append(os.environ["MODELPICKER_PG_BIN"])
    candidates += [os.path.dirname(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                                                      key=_version_key, reverse=True)]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(os.path.dirname(os.path.realpath(on_path)))
    for directory in candidates:
        if all(os.access(os.path.join(directory, name), os.X_OK) for name in ("initdb", "postgres")):
            return Path(directory)
    raise PostgresServerError("PostgreSQL's server binaries (initdb, postgres) are not installed: not in "
                              "$MODELPICKER_PG_BIN, /usr/lib/postgresql/*/bin or on PATH; " + INSTALL_HINT)


def _run_as() -> tuple[list[str], tuple[int, int] | None]:
    """The command prefix that drops root (``runuser -u postgres --``) and that user's ``(uid, gid)``;
    ``([], None)`` when not root."""
    if os.geteuid() != 0:
        return [], None
    try:
        user = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        raise PostgresServerError(f"running as root, and initdb refuses root: the tests run the cluster as the "
                                  f"user {PG_SYSTEM_USER!r}, which does not exist; " + INSTALL_HINT) from None
    runuser = shutil.which("runuser")
    if not runuser:
        raise PostgresServerError("running as root, and initdb refuses root: `runuser` (util-linux) is needed "
                                  f"to run the cluster as {PG_SYSTEM_USER!r}")
    return [runuser, "-u", PG_SYSTEM_USER, "--"], (user.pw_uid, user.pw_gid)


def _connect(url: str, timeout: float = 5.0):
    import psycopg

    return psycopg.connect(url, connect_timeout=max(1, int(timeout)), autocommit=True)


def _wait_ready(url: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _connect(url, 2).close()
            return
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                raise PostgresServerError(
                    f"postgres did not accept a login on 127.0.0.1:{url.rsplit(':', 1)[-1].split('/')[0]} within "
                    f"{timeout:.0f} s (exit code {process.poll()})\n--- last lines of {log_path} ---\n"
                    f"{log_tail(log_path)}") from None
            time.sleep(0.1)


def _stop(process: subprocess.Popen, data_dir: Path, grace: float = 20.0) -> None:
    """Fast shutdown (SIGINT to the postmaster: sessions are ended, no waiting for clients), SIGKILL after
    ``grace`` seconds."""
    pid = None
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    for target in filter(None, (pid, process.pid)):
        try:
            os.kill(target, signal.SIGINT)
        except ProcessLookupError:
            pass
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        for target in filter(None, (pid, process.pid)):
            try:
                os.kill(target, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(5)


def _initdb(bin_dir: Path, prefix: list[str], base: Path, log_path: Path) -> tuple[Path, str]:
    """A new cluster in ``base/data`` whose superuser :data:`PG_USER` logs in with the returned password."""
    password = secrets.token_urlsafe(18)
    pwfile = base / "pwfile"
    pwfile.write_text(password + "\n")
    data_dir = base / "data"
    command = [*prefix, str(bin_dir / "initdb"), "-D", str(data_dir), "-U", PG_USER, f"--pwfile={pwfile}",
               "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions"]
    with open(log_path, "ab") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              cwd=base, timeout=120)
    pwfile.unlink()
    if done.returncode != 0:
        raise PostgresServerError(f"initdb failed (exit code {done.returncode})\n--- last lines of {log_path} ---\n"
                                  f"{log_tail(log_path)}")
    return data_dir, password


@contextmanager
def postgres_server(port_range: tuple[int, int], timeout: float = PG_START_TIMEOUT) -> Iterator[str]:
    """Run a fresh PostgreSQL cluster on 127.0.0.1 for the ``with`` block.

    Yields ``postgresql://modelpicker:<password>@127.0.0.1:<port>/postgres`` (a superuser).

    Parameters
    ----------
    port_range : ``(start, stop)``; the first free port in it is used.
    timeout : seconds to wait for the first login.
    """
    bin_dir = find_pg_bin()
    prefix, owner = _run_as()
    base = Path(tempfile.mkdtemp(prefix="modelpicker-pg-"))
    try:
        if owner is not None:
            os.chown(base, *owner)
        log_path = base / "postgres.log"
        log_path.touch()
        if owner is not None:
            os.chown(log_path, *owner)
        data_dir, password = _initdb(bin_dir, prefix, base, log_path)
        port = free_port(*port_range)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [*prefix, str(bin_dir / "postgres"), "-D", str(data_dir), "-p", str(port), "-h", "127.0.0.1",
                 "-k", "", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=300", "-c", "shared_buffers=32MB"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=base, start_new_session=True)
        try:
            url = f"postgresql://{PG_USER}:{password}@127.0.0.1:{port}/postgres"
            _wait_ready(url, process, log_path, timeout)
            yield url
        finally:
            _stop(process, data_dir)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def database_url(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``server_url``."""
    return server_url.rsplit("/", 1)[0] + "/" + name


def create_database(server_url: str, name: str) -> str:
    """Create an empty database ``name`` (a plain identifier); returns its URL."""
    with _connect(server_url) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name``, ending the sessions still connected to it."""
    with _connect(server_url) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
