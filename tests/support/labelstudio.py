"""Run a real Label Studio and a real backend process for end-to-end tests.

Label Studio is installed into its own virtual environment (never into the
backend's: it pins other Flask/Jinja2 versions, and users run it as a separate
service) and started on loopback with a throw-away data directory, so each
test session gets an empty Label Studio with one known admin user and API token.

Public API (kept stable; other suites import it):

* :func:`ls_venv_path`, :func:`ensure_label_studio` -- find or install
  ``label-studio==LS_VERSION`` in ``$MODELPICKER_LS_VENV``
  (default ``<repo>/.cache/ls-venv``).
* :func:`start_label_studio` -> :class:`LabelStudioServer` (``url``, ``token``
  (legacy), ``personal_token`` (a Personal Access Token, what Label Studio
  hands out by default), ``session``, ``database``, ``start_seconds``,
  :meth:`LabelStudioServer.api`, :meth:`LabelStudioServer.stop`).  On SQLite
  by default; ``database_url="postgresql://..."`` puts its database on PostgreSQL.
* :func:`label_studio_on_postgres` -- a context manager: a throw-away PostgreSQL cluster
  (:mod:`tests.support.postgres_server`) and a Label Studio whose database is on it.
* :func:`postgres_env` -- Label Studio's own settings for a PostgreSQL database URL.
* :func:`create_personal_token` -- a Personal Access Token for the admin, made through Label Studio's API.
* :data:`QUIET_ENV` -- the settings that keep a Label Studio from sending anything off the machine.
* :func:`start_backend` -> :class:`BackendServer` (``url``, ``session``,
  :meth:`BackendServer.stop`), running ``python -m backend`` as a subprocess.
* :func:`start_rq_worker` -> :class:`WorkerProcess` (``rq worker`` for a backend with ``REDIS_URL``).
* :func:`free_port` (from :mod:`tests.support.ports`), :func:`wait_for_http`, :func:`log_tail`, :func:`fast_temp_root`,
  :func:`stop_process_group` (also importable as ``_stop_process_group``).

Both server objects are context managers that stop their process group on exit
and print the tail of the server log when starting fails.
"""
from __future__ import annotations

import io
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from demo import config as demo_config
from demo import lsapi, processes

from . import ls_template
from .ports import free_port

#: the Label Studio release the project is tested against
LS_VERSION = "1.23.2"
#: repository root (``tests/support/`` is two levels below it)
REPO_ROOT = Path(__file__).resolve().parents[2]
#: first start runs the database migrations (about 45 s on 2 cores)
LS_START_TIMEOUT = 180.0
BACKEND_START_TIMEOUT = 60.0
#: environment variables of the calling process that must not leak into a
#: server that runs from another virtual environment (the demo's list)
_FOREIGN_ENV = demo_config.FOREIGN_ENV


#: the settings that keep Label Studio on the machine (no Sentry, no analytics, no PyPI version check):
#: the demo's :data:`demo.config.NOTHING_LEAVES`, with the ``LABEL_STUDIO_`` names Label Studio reads
#: first, so a caller's ``LABEL_STUDIO_SENTRY_DSN`` cannot switch Sentry back on
QUIET_ENV = demo_config.NOTHING_LEAVES

#: retries of an annotation (or a next-task request) that Label Studio refused with HTTP 500 (its SQLite lock),
#: and the wait between them
LOCKED_RETRIES, LOCKED_RETRY_SECONDS = 3, 2.0


class ServerError(RuntimeError):
    """A server could not be installed, started or reached; the message says why."""


# ------------------------------------------------------------------ helpers
def log_tail(path: Path | str, n_lines: int = 60) -> str:
    """Last ``n_lines`` lines of a log file ('' when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return ""
    lines = path.read_text(errors="replace").splitlines()
    return "\n".join(lines[-n_lines:])


def wait_for_http(
    url: str,
    timeout: float,
    process: subprocess.Popen | None = None,
    log_path: Path | None = None,
    what: str = "server",
    interval: float = 0.5,
) -> None:
    """Poll ``GET url`` until it answers 200 (the demo's :func:`demo.processes.wait_until`).

    Fails early, with the log tail, when ``process`` exits; fails with the log
    tail after ``timeout`` seconds.  Raises :class:`ServerError`.
    """
    last = ["no answer yet"]

    def answers() -> bool:
        try:
            response = requests.get(url, timeout=5)
        except requests.RequestException as exc:
            last[0] = type(exc).__name__
            return False
        if response.status_code == 200:
            return True
        last[0] = f"HTTP {response.status_code}: {response.text[:200]}"
        return False

    watch = [processes.Server(what, process, Path(log_path or os.devnull))] if process is not None else []
    try:
        # the demo's progress lines go nowhere: a test run stays as quiet as before
        processes.wait_until(answers, url, timeout, watch, out=io.StringIO(), interval=interval)
    except processes.StartError as exc:
        if process is not None and process.poll() is not None:
            raise ServerError(f"{exc}") from None
        raise ServerError(
            f"{what} did not answer 200 on {url} within {timeout:.0f} s (last: {last[0]})\n"
            f"--- last lines of {log_path} ---\n{log_tail(log_path) if log_path else ''}"
        ) from None


def _server_env(extra: Mapping[str, str], venv_bin: Path | None = None) -> dict[str, str]:
    """This process's environment without its venv variables, ``venv_bin`` first on PATH, plus ``extra``."""
    return demo_config.server_env(os.environ, extra, venv_bin)


def _stop_process_group(process: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM the process group started with ``start_new_session``; SIGKILL what is left after ``grace`` s.

    The demo's :func:`demo.processes.stop`: members of the group that outlive its leader are stopped too.
    """
    processes.stop(processes.Server("server", process, Path(os.devnull)), grace)


def _popen(name: str, command: list[str], env: Mapping[str, str], log_path: Path, cwd: Path) -> subprocess.Popen:
    """``command`` in its own session, output appended to ``log_path`` (the demo's :func:`demo.processes.start`:
    on Linux the server also gets SIGTERM when the test process dies)."""
    try:
        return processes.start(name, command, env, log_path, cwd).process
    except processes.StartError as exc:
        raise ServerError(str(exc)) from None


#: public name (other suites stop their own helper processes with it)
stop_process_group = _stop_process_group


def _raise_for_status(response: requests.Response, expected: Iterable[int] | None) -> None:
    ok = response.ok if expected is None else response.status_code in tuple(expected)
    if not ok:
        raise ServerError(
            f"{response.request.method} {response.url} answered HTTP {response.status_code}: "
            f"{response.text[:1000]}"
        )


# ------------------------------------------------------------- installing
def ls_venv_path() -> Path:
    """Where Label Studio's own venv lives: ``$MODELPICKER_LS_VENV`` or ``<repo>/.cache/ls-venv``."""
    configured = os.environ.get("MODELPICKER_LS_VENV")
    return Path(configured).expanduser().resolve() if configured else REPO_ROOT / ".cache" / "ls-venv"


def _installed_version(venv: Path) -> str | None:
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    result = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('label-studio'))"],
        capture_output=True, text=True, timeout=60,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def ensure_label_studio(venv: Path | str | None = None, version: str = LS_VERSION) -> Path:
    """Return the ``label-studio`` executable, installing ``label-studio==version`` if needed.

    The venv is created with the interpreter running the tests (``python -m
    venv``).  pip's progress goes to this process's stdout/stderr, so run the
    call with output capture disabled to watch it (the e2e conftest does).
    A venv holding another Label Studio version is upgraded/downgraded to
    ``version``.  Raises :class:`ServerError` naming the failing step.
    """
    venv = Path(venv) if venv is not None else ls_venv_path()
    executable = venv / "bin" / "label-studio"
    if executable.exists() and _installed_version(venv) == version:
        return executable
    if not (venv / "bin" / "python").exists():
        print(f"[labelstudio] creating venv {venv} with {sys.executable}", flush=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([sys.executable, "-m", "venv", str(venv)])
        if result.returncode != 0:
            raise ServerError(f"could not create the Label Studio venv at {venv} (exit {result.returncode})")
    print(
        f"[labelstudio] installing label-studio=={version} into {venv} "
        "(about 2 minutes on first use)", flush=True,
    )
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "on",
         f"label-studio=={version}"],
    )
    if result.returncode != 0 or not executable.exists():
        raise ServerError(
            f"pip install label-studio=={version} into {venv} failed (exit {result.returncode}); "
            "see the pip output above. Set MODELPICKER_LS_VENV to a venv that already holds "
            f"label-studio=={version} to skip the install."
        )
    installed = _installed_version(venv)
    if installed != version:
        raise ServerError(f"{venv} holds label-studio {installed!r} after install, expected {version}")
    return executable


# ----------------------------------------------------------------- servers
@dataclass
class _Server:
    """A server subprocess in its own process group, with its log file."""

    url: str
    process: subprocess.Popen
    log_path: Path
    session: requests.Session = field(default_factory=requests.Session)

    def api(self, method: str, path: str, expected: Iterable[int] | None = None, **kwargs: Any) -> Any:
        """Call ``method url+path`` with the session; return the decoded JSON (or None when empty).

        Raises :class:`ServerError` with the response body when the status is
        not in ``expected`` (default: any 2xx).
        """
        kwargs.setdefault("timeout", 120)
        response = self.session.request(method, self.url + path, **kwargs)
        for _ in range(LOCKED_RETRIES):
            # Label Studio on SQLite answers 500 while a refresh's clean-up holds its write lock ("database is
            # locked", issue 13); an annotator's browser asks to try again (or reloads the labelling page), so
            # the simulated one does too
            if response.status_code != 500 or not path.endswith(("/annotations/", "/next/")):
                break
            time.sleep(LOCKED_RETRY_SECONDS)
            response = self.session.request(method, self.url + path, **kwargs)
        _raise_for_status(response, expected)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    def log_tail(self, n_lines: int = 60) -> str:
        return log_tail(self.log_path, n_lines)

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        _stop_process_group(self.process)
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


@dataclass
class LabelStudioServer(_Server):
    """A running Label Studio: ``url``, admin ``username``/``password``, API tokens.

    ``token`` is the admin's legacy token (accepted because the server runs
    with ``LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true``); ``personal_token`` is
    the admin's Personal Access Token (a JWT refresh token, the default kind
    of token of Label Studio 1.23.2; clients exchange it for access tokens).
    ``session`` sends ``Authorization: Token <token>``.  ``data_dir`` is the
    temporary LABEL_STUDIO_BASE_DATA_DIR, removed by :meth:`stop` unless
    ``keep_data`` is set.  ``database`` is ``"sqlite"`` (in ``data_dir``) or
    ``"postgresql"`` (``database_url``, with its password); ``start_seconds`` is
    the time from starting the process until ``/health`` answered 200 (the
    database migrations included).
    """

    token: str = ""
    personal_token: str = ""
    username: str = ""
    password: str = ""
    data_dir: Path | None = None
    keep_data: bool = False
    database: str = "sqlite"
    database_url: str | None = None
    start_seconds: float | None = None

    def stop(self) -> None:
        super().stop()
        if self.data_dir is not None and not self.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)


@dataclass
class BackendServer(_Server):
    """A running ``python -m backend`` with the environment it was given (``env``)."""

    env: dict[str, str] = field(default_factory=dict)


def fast_temp_root() -> str | None:
    """``/dev/shm`` when it is a writable directory (RAM), else None (the system temp dir).

    Label Studio on SQLite commits every saved prediction separately; on a
    disk-backed temp dir each commit waits for an fsync, which made storing 100
    predictions take 12 s instead of 2 s here.
    """
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def create_personal_token(server: LabelStudioServer) -> str:
    """A new Personal Access Token for the admin (``POST /api/token/``, authenticated with the legacy token).

    The demo's :meth:`demo.lsapi.LabelStudio.personal_token`: Label Studio keeps one valid token per
    user and answers 409 when one exists (a restart on a kept data directory); the existing ones are
    then revoked and a new one is created.  Raises :class:`ServerError`.
    """
    api = lsapi.LabelStudio(server.url, server.token, timeout=60)
    try:
        return api.personal_token()
    except lsapi.LabelStudioError as exc:
        raise ServerError(f"{server.url}: {exc}") from None
    finally:
        api.session.close()


#: Label Studio's names for its PostgreSQL connection (``core/settings/base.py`` of 1.23.2 reads them with
#: ``get_env``; ``DJANGO_DB=default`` selects the PostgreSQL entry of its ``DATABASES_ALL``)
#: Label Studio's own setting for large projects (docs/large-projects.md): a bulk prediction import
#: recounts only the tasks it touched.  Without it Label Studio 1.23.2 recounts every task of the project
#: on each import: the backend's 100-prediction push took 17-18 s at 100,000 tasks, 0.2 s with it
#: (``benchmarks/backend_push.py --tasks 100000 --push-top 100 --database postgres [--efficient-import]``).
EFFICIENT_PREDICTION_IMPORT = {"fflag_fix_back_4620_memory_efficient_predictions_import_08012025_short": "true"}

POSTGRES_SETTINGS = ("DJANGO_DB", "POSTGRE_NAME", "POSTGRE_USER", "POSTGRE_PASSWORD", "POSTGRE_HOST", "POSTGRE_PORT")


def postgres_env(database_url: str) -> dict[str, str]:
    """Label Studio's settings for the database ``postgresql://user:password@host:port/name``.

    Each under its plain name (``DJANGO_DB=default``, ``POSTGRE_NAME``, ``POSTGRE_USER``,
    ``POSTGRE_PASSWORD``, ``POSTGRE_HOST``, ``POSTGRE_PORT``) and with the ``LABEL_STUDIO_`` prefix, which
    Label Studio's ``get_env`` reads first: a caller's ``LABEL_STUDIO_POSTGRE_HOST`` (or
    ``HEARTEX_...``) cannot point the test's Label Studio at another database.
    """
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or not parts.path.strip("/"):
        raise ValueError(f"not a PostgreSQL database URL (postgresql://user:password@host:port/name): "
                         f"{parts.scheme}://{parts.hostname}{parts.path}")
    plain = {
        "DJANGO_DB": "default",
        "POSTGRE_NAME": unquote(parts.path.strip("/")),
        "POSTGRE_USER": unquote(parts.username or "postgres"),
        "POSTGRE_PASSWORD": unquote(parts.password or ""),
        "POSTGRE_HOST": parts.hostname,
        "POSTGRE_PORT": str(parts.port or 5432),
    }
    return {**plain, **{f"LABEL_STUDIO_{name}": value for name, value in plain.items()}}


def start_label_studio(
    port_range: tuple[int, int] = (18100, 18200),
    venv: Path | str | None = None,
    timeout: float = LS_START_TIMEOUT,
    work_dir: Path | str | None = None,
    extra_env: Mapping[str, str] | None = None,
    database_url: str | None = None,
) -> LabelStudioServer:
    """Install (if needed) and start Label Studio on ``127.0.0.1``; wait until ``/health`` answers.

    Parameters
    ----------
    port_range : ``(start, stop)``, the first free port in it is used.
    venv : Label Studio's venv (default :func:`ls_venv_path`).
    timeout : seconds to wait for ``/health`` (a database on PostgreSQL is
        migrated at its first start, about 45 s; a SQLite data directory gets a
        copy of a migrated template, :mod:`tests.support.ls_template`).
    work_dir : where the data directory and ``label-studio.log`` go; if None a
        new temporary directory, in RAM when possible (:func:`fast_temp_root`),
        removed on :meth:`LabelStudioServer.stop` (kept when the start fails).
    extra_env : more environment variables for Label Studio (they override the
        defaults, :data:`QUIET_ENV` included).
    database_url : None (the default): Label Studio's SQLite file in the data
        directory.  ``postgresql://user:password@host:port/name``: Label Studio's
        database on that (existing, empty or already migrated) PostgreSQL database
        (:func:`postgres_env`); uploads and exports still go to the data directory.
        :func:`label_studio_on_postgres` makes a throw-away cluster for it.

    Returns
    -------
    LabelStudioServer, already answering, with a legacy ``token`` and a
    ``personal_token``; stop it with ``.stop()`` or ``with``.
    """
    executable = ensure_label_studio(venv)
    if work_dir is None:
        root = Path(tempfile.mkdtemp(prefix="modelpicker-ls-", dir=fast_temp_root()))
        keep = False
    else:
        root = Path(work_dir)
        root.mkdir(parents=True, exist_ok=True)
        keep = True
    paths = demo_config.DemoPaths(root)
    paths.ls_data.mkdir(exist_ok=True)
    if database_url is None:  # the migrations applied once per venv, not at every start
        ls_template.seed_data_dir(executable.parent.parent, paths.ls_data)
    log_path = root / "label-studio.log"
    port = free_port(*port_range)
    token = secrets.token_hex(20)
    username = demo_config.ADMIN_EMAIL
    password = "pw-" + secrets.token_hex(16)
    # the demo's environment (loopback backend allowed, nothing sent off the machine): the admin's
    # password and token go through it, not the command line, which every user can read with ps
    database = {} if database_url is None else postgres_env(database_url)
    env = demo_config.server_env(
        demo_config.label_studio_env(paths, os.environ, username, password, token),
        {**database, **(extra_env or {})}, executable.parent,
    )
    started = time.monotonic()
    process = _popen("Label Studio", demo_config.label_studio_command(executable, port), env, log_path, root)
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    server = LabelStudioServer(
        url=f"http://127.0.0.1:{port}", process=process, log_path=log_path, session=session,
        token=token, username=username, password=password,
        data_dir=None if keep else root, keep_data=keep,
        database="sqlite" if database_url is None else "postgresql", database_url=database_url,
    )
    try:
        wait_for_http(server.url + "/health", timeout, process, log_path, "Label Studio")
        server.start_seconds = time.monotonic() - started
        server.api("GET", "/api/projects/")  # the token works
        server.personal_token = create_personal_token(server)
    except BaseException as exc:
        if isinstance(exc, ServerError):
            print(f"[labelstudio] start failed:\n{exc}", file=sys.stderr)
        _stop_process_group(process)
        if not keep and log_path.exists():  # the data dir goes; keep the log for the post-mortem
            kept = Path(tempfile.gettempdir()) / f"{root.name}.log"
            shutil.copyfile(log_path, kept)
            print(f"[labelstudio] log kept at {kept}", file=sys.stderr)
        server.stop()
        raise
    return server


@contextmanager
def label_studio_on_postgres(
    port_range: tuple[int, int] = (18600, 18700),
    pg_port_range: tuple[int, int] = (15400, 15500),
    database: str = "label_studio",
    **kwargs: Any,
) -> Iterator[LabelStudioServer]:
    """A Label Studio whose database is on a throw-away PostgreSQL cluster, for the ``with`` block.

    The cluster (:func:`tests.support.postgres_server.postgres_server`, 127.0.0.1, a port of
    ``pg_port_range``) gets an empty database ``database``; Label Studio migrates it on its first start
    (:attr:`LabelStudioServer.start_seconds` says how long that took) and is stopped before the cluster.
    ``kwargs`` go to :func:`start_label_studio`; the server's ``database_url`` is the database's URL (with
    its password), for a test that looks into Label Studio's tables.
    Raises :class:`tests.support.postgres_server.PostgresServerError` when PostgreSQL cannot start.
    """
    from .postgres_server import create_database, postgres_server  # that module imports this one

    with postgres_server(pg_port_range) as server_url:
        url = create_database(server_url, database)
        server = start_label_studio(port_range=port_range, database_url=url, **kwargs)
        try:
            yield server
        finally:
            server.stop()


def backend_python() -> str:
    """The interpreter that runs the backend: ``<repo>/.venv/bin/python`` if present, else this one."""
    candidate = REPO_ROOT / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def start_backend(
    env: Mapping[str, str],
    log_path: Path | str,
    port_range: tuple[int, int] = (19200, 19300),
    timeout: float = BACKEND_START_TIMEOUT,
    python: str | None = None,
) -> BackendServer:
    """Start ``python -m backend`` from the repository root on ``127.0.0.1``; wait for ``/health``.

    Parameters
    ----------
    env : the backend's settings (``LABEL_STUDIO_URL``, ``LABEL_STUDIO_API_KEY``,
        ``MODEL_DIR``, ``MODELPICKER_POOL``, ``MODELPICKER_STRATEGY``, ...).
        ``HOST`` and ``PORT`` are set here (``PORT`` is taken from ``env`` when
        given, else the first free port of ``port_range``).
    log_path : file that receives the backend's stdout and stderr.
    python : interpreter (default :func:`backend_python`).
    """
    log_path = Path(log_path)
    port = int(env["PORT"]) if "PORT" in env else free_port(*port_range)
    settings = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    process = _popen("backend", [python or backend_python(), "-m", "backend"],
                     _server_env({"PYTHONUNBUFFERED": "1", **settings}), log_path, REPO_ROOT)
    server = BackendServer(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path,
                           env=dict(settings))
    try:
        wait_for_http(server.url + "/health", timeout, process, log_path, "backend")
    except BaseException as exc:
        if isinstance(exc, ServerError):
            print(f"[backend] start failed:\n{exc}", file=sys.stderr)
        server.stop()
        raise
    return server


@dataclass
class WorkerProcess:
    """A background process without an HTTP port (an rq worker): its ``process`` and ``log_path``."""

    process: subprocess.Popen
    log_path: Path

    def log_tail(self, n_lines: int = 60) -> str:
        return log_tail(self.log_path, n_lines)

    def stop(self) -> None:
        _stop_process_group(self.process)


def start_rq_worker(env: Mapping[str, str], redis_url: str, log_path: Path | str,
                    queue: str = "modelpicker", python: str | None = None) -> WorkerProcess:
    """Start ``rq worker --with-scheduler`` on ``queue`` the way the backend's deployment runs it.

    ``SimpleWorker`` runs each job in the worker process itself (no fork per job), from the
    repository root, with the backend's settings ``env``; stdout and stderr go to ``log_path``.
    """
    log_path = Path(log_path)
    rq = str(Path(python or backend_python()).parent / "rq")
    process = _popen("rq worker",
                     [rq, "worker", "--with-scheduler", "--worker-class", "rq.worker.SimpleWorker",
                      "-u", redis_url, "--path", str(REPO_ROOT), queue],
                     _server_env({"PYTHONUNBUFFERED": "1", **env}), log_path, REPO_ROOT)
    return WorkerProcess(process=process, log_path=log_path)
