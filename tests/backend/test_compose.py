"""Structure of docker-compose.yml and backend/Dockerfile (Docker itself does not run here).

The compose file's PostgreSQL part is also run for real, without Docker: its first-start script
(deploy/postgres/create-databases.sh) runs against a throw-away cluster (:mod:`tests.support.postgres_server`),
and the backend opens its store with the compose file's ``DATABASE_URL``, pointed at that cluster.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from backend.database_url import check_url
from backend.settings import check_bind, from_env
from tests.support.postgres_server import PG_USER, find_pg_bin, postgres_server

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_PATH = REPO_ROOT / "docker-compose.yml"
DOCKERFILE_PATH = REPO_ROOT / "backend" / "Dockerfile"
INIT_SCRIPT = REPO_ROOT / "deploy" / "postgres" / "create-databases.sh"
LS_SETTINGS = (REPO_ROOT / ".cache" / "ls-venv" / "lib" / "python3.11" / "site-packages" / "label_studio" / "core"
               / "settings" / "base.py")
SERVICES = {"postgres", "label-studio", "redis", "backend", "worker"}
BACKEND_VARIABLES = {"LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "DATABASE_URL", "MODEL_DIR", "REDIS_URL",
                     "MODELPICKER_POOL"}
#: the roles and databases the first-start script creates (as Label Studio and DATABASE_URL name them)
LS_DATABASE = LS_ROLE = "labelstudio"
BACKEND_DATABASE, BACKEND_ROLE = "modelpicker", "backend"
#: this suite's ports (tests/backend/conftest.py's range)
PORTS = (19100, 19200)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_PATH.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment must be a mapping (KEY: value), so each line can carry a comment"
    return {str(k): str(v) for k, v in env.items()}


def default_of(value: str) -> str:
    """``${NAME:-default}`` -> ``default`` (what compose uses when NAME is unset)."""
    match = re.fullmatch(r"\$\{[A-Z_]+:-(.*)\}", value)
    return match.group(1) if match else value


def required(value: str) -> str | None:
    """``${NAME:?message}`` -> ``NAME`` (compose stops with the message when NAME is unset), else None."""
    match = re.fullmatch(r"\$\{([A-Z_]+):\?(.+)\}", value)
    return match.group(1) if match else None


def required_inside(value: str) -> list[str]:
    """The ``NAME`` of every ``${NAME:?message}`` anywhere in ``value``."""
    return re.findall(r"\$\{([A-Z_]+):\?[^}]+\}", value)


#: what `make compose-env` would put in .env (any values of the right form)
SAMPLE_ENV = {"LS_TOKEN": "0" * 40, "LS_PASSWORD": "pw", "BACKEND_PASSWORD": "backend-pw",
              "POSTGRES_PASSWORD": "superPw1", "LS_DB_PASSWORD": "lsDbPw2", "BACKEND_DB_PASSWORD": "backendDbPw3"}


def substituted(value: str, env: dict[str, str] | None = None) -> str:
    """``value`` with every ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?message}`` replaced as compose
    would, from ``env`` (default :data:`SAMPLE_ENV`); KeyError for a required variable ``env`` lacks."""
    env = SAMPLE_ENV if env is None else env

    def one(match: re.Match) -> str:
        name, op, rest = match.group(1), match.group(2), match.group(3)
        if op == ":?":
            return env[name]
        return env.get(name) or (rest if op == ":-" else "")

    return re.sub(r"\$\{([A-Z_]+)(?:(:[-?])([^}]*))?\}", one, value)


def resolved(value: str) -> str:
    return substituted(value)


def mounts(service: dict) -> dict[str, str]:
    """``{container path: source}`` of a service's volumes."""
    result = {}
    for entry in service.get("volumes", []):
        source, target, *_ = entry.split(":")
        result[target] = source
    return result


def test_the_five_services(services):
    assert set(services) == SERVICES


def test_label_studio_service(services):
    ls = services["label-studio"]
    assert ls["image"] == "heartexlabs/label-studio:1.23.2"
    assert ls["ports"] == ["127.0.0.1:8080:8080"]
    env = environment(ls)
    assert env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    assert env["ML_BLOCK_LOCAL_IP"] == "false" and env["SSRF_PROTECTION_ENABLED"] == "false"
    assert mounts(ls)["/label-studio/data"] == "label-studio-data"


def test_postgres_service(services):
    pg = services["postgres"]
    assert re.fullmatch(r"postgres:\d+", pg["image"])  # the official image, major version pinned
    assert "ports" not in pg and "container_name" not in pg  # reachable from the other containers only
    volumes = mounts(pg)
    assert volumes["/var/lib/postgresql/data"] == "postgres-data"
    init = {target: source for target, source in volumes.items() if target.startswith("/docker-entrypoint-initdb.d/")}
    assert list(init.values()) == ["./deploy/postgres/create-databases.sh"]
    assert next(iter(init)).endswith(".sh")  # the image runs *.sh, *.sql and *.sql.gz only
    assert INIT_SCRIPT.is_file() and os.access(INIT_SCRIPT, os.X_OK)
    assert any(entry.endswith("create-databases.sh:ro") for entry in pg["volumes"])
    test = pg["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "pg_isready"
    # over TCP: the image's temporary server of the first start listens on its Unix socket only, so the
    # service is not healthy before the script has created both databases
    assert test[test.index("-h") + 1] == "127.0.0.1"
    env = environment(pg)
    assert required(env["POSTGRES_PASSWORD"]) == "POSTGRES_PASSWORD"
    assert required(env["LS_DB_PASSWORD"]) == "LS_DB_PASSWORD"
    assert required(env["BACKEND_DB_PASSWORD"]) == "BACKEND_DB_PASSWORD"
    assert test[test.index("-U") + 1] == env["POSTGRES_USER"]


def test_label_studio_runs_on_its_own_postgres_database(services):
    env = environment(services["label-studio"])
    assert env["DJANGO_DB"] == "default"
    assert env["POSTGRE_HOST"] == "postgres" and "postgres" in services
    assert env["POSTGRE_PORT"] == "5432"
    assert (env["POSTGRE_NAME"], env["POSTGRE_USER"]) == (LS_DATABASE, LS_ROLE)
    # the password the first-start script gives the role
    assert required(env["POSTGRE_PASSWORD"]) == required(environment(services["postgres"])["LS_DB_PASSWORD"])


def test_label_studio_recounts_only_the_tasks_a_prediction_import_touched(services):
    """docs/large-projects.md: the setting the large-project figures were measured with."""
    from tests.support.labelstudio import EFFICIENT_PREDICTION_IMPORT

    env = environment(services["label-studio"])
    assert {k: env.get(k) for k in EFFICIENT_PREDICTION_IMPORT} == EFFICIENT_PREDICTION_IMPORT
    flag, = EFFICIENT_PREDICTION_IMPORT
    importer = LS_SETTINGS.parents[2] / "data_import" / "api.py"
    if not importer.is_file():
        pytest.skip(f"Label Studio's venv is not installed ({importer}; make ls-venv)")
    assert f"flag_set('{flag}'" in importer.read_text()              # the flag Label Studio 1.23.2 reads


def test_label_studio_reads_those_variable_names():
    """Label Studio 1.23.2's settings: DJANGO_DB "default" is PostgreSQL, configured by POSTGRE_*."""
    if not LS_SETTINGS.is_file():
        pytest.skip(f"Label Studio's venv is not installed ({LS_SETTINGS}; make ls-venv)")
    text = LS_SETTINGS.read_text()
    for name in ("POSTGRE_NAME", "POSTGRE_USER", "POSTGRE_PASSWORD", "POSTGRE_HOST", "POSTGRE_PORT"):
        assert f"get_env('{name}'" in text, name
    assert "DATABASES_ALL['default'] = DATABASES_ALL[DJANGO_DB_POSTGRESQL]" in text
    assert "get_env('DJANGO_DB'" in (LS_SETTINGS.parent / "label_studio.py").read_text()


def test_every_service_waits_for_a_healthy_postgres(services):
    for name in ("label-studio", "backend", "worker"):
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}, name
    assert "depends_on" not in services["postgres"]


def test_database_url_is_the_postgres_service_and_passes_the_backends_check(services):
    raw = environment(services["backend"])["DATABASE_URL"]
    assert required_inside(raw) == ["BACKEND_DB_PASSWORD"]  # the password part: required, no default
    assert required_inside(environment(services["postgres"])["BACKEND_DB_PASSWORD"]) == ["BACKEND_DB_PASSWORD"]
    url = substituted(raw)
    assert check_url(url) == url
    parts = urlsplit(url)
    assert parts.hostname == "postgres" and parts.hostname in services
    assert parts.port == 5432 and parts.path == "/" + BACKEND_DATABASE
    assert (parts.username, parts.password) == (BACKEND_ROLE, SAMPLE_ENV["BACKEND_DB_PASSWORD"])
    for service in ("backend", "worker"):  # the worker's settings are the backend's
        settings = from_env({k: substituted(v) for k, v in environment(services[service]).items()})
        assert settings.database_url == url
    with pytest.raises(KeyError):  # compose refuses to start without it
        substituted(raw, {})


def test_database_url_with_generated_passwords_passes_the_check(services, tmp_path):
    """What `make compose-env` writes, substituted into DATABASE_URL, is a URL the backend accepts as is."""
    from demo.compose_env import ensure, values_in

    env_file = tmp_path / ".env"
    ensure(env_file)
    env = values_in(env_file.read_text())
    url = substituted(environment(services["backend"])["DATABASE_URL"], env)
    assert check_url(url) == url and urlsplit(url).password == env["BACKEND_DB_PASSWORD"]


def test_backend_service(services):
    backend = services["backend"]
    assert backend["build"] == {"context": ".", "dockerfile": "backend/Dockerfile"}
    assert (REPO_ROOT / backend["build"]["dockerfile"]).is_file()
    assert [str(p) for p in backend["expose"]] == ["9090"]
    assert "ports" not in backend  # reachable from Label Studio only
    env = environment(backend)
    assert BACKEND_VARIABLES <= set(env)
    assert env["LABEL_STUDIO_URL"] == "http://label-studio:8080"
    assert env["REDIS_URL"].startswith("redis://redis:6379")
    volumes = mounts(backend)
    assert volumes[env["MODEL_DIR"]] == "backend-exports"  # export files; the state is in PostgreSQL
    assert env["MODELPICKER_POOL"].startswith("/pool/") and volumes["/pool"] == "./pool"
    assert set(backend["depends_on"]) == {"postgres", "redis", "label-studio"}
    assert backend["depends_on"]["redis"]["condition"] == "service_healthy"


def test_backend_token_is_label_studios_admin_token(services):
    backend_key = required(environment(services["backend"])["LABEL_STUDIO_API_KEY"])
    ls_token = required(environment(services["label-studio"])["LABEL_STUDIO_USER_TOKEN"])
    assert backend_key == ls_token == "LS_TOKEN"


SECRETS = ("LABEL_STUDIO_API_KEY", "LABEL_STUDIO_USER_TOKEN", "LABEL_STUDIO_PASSWORD", "BASIC_AUTH_PASS",
           "POSTGRES_PASSWORD", "LS_DB_PASSWORD", "BACKEND_DB_PASSWORD", "POSTGRE_PASSWORD")


def test_no_secret_has_a_shared_default_every_one_is_required(services):
    seen = set()
    for service in services.values():
        for name, value in environment(service).items():
            if name in SECRETS:
                assert required(value), f"{name} must be ${{VAR:?message}}, got {value!r}"
                seen.add(name)
            if name == "DATABASE_URL":
                assert re.fullmatch(r"postgresql://[a-z]+:\$\{[A-Z_]+:\?[^}]+\}@[^/]+/[a-z]+", value), value
    assert seen == set(SECRETS)
    assert ":-" not in " ".join(v for s in services.values() for k, v in environment(s).items()
                                if "PASSWORD" in k or k in ("DATABASE_URL", "LABEL_STUDIO_API_KEY"))
    env = environment(services["backend"])
    assert required(env["BASIC_AUTH_PASS"]) == "BACKEND_PASSWORD"
    assert default_of(env["BASIC_AUTH_USER"]) == "modelpicker"


def test_backend_runs_gunicorn_with_auth_on_and_the_worker_rq(services):
    backend = services["backend"]
    assert backend["command"] == ["gunicorn", "-c", "python:backend.gunicorn_conf", "backend.wsgi:app"]
    env = {k: resolved(v) for k, v in environment(backend).items()}
    settings = from_env({**env, "HOST": "0.0.0.0"})  # the image's HOST
    assert settings.auth_enabled and settings.basic_auth_pass == "backend-pw"
    check_bind(settings)  # would raise without credentials
    assert "backend" in settings.allowed_hosts


def test_backend_environment_is_accepted_by_the_settings(services):
    env = {k: resolved(v) for k, v in environment(services["backend"]).items()}
    settings = from_env(env)
    assert settings.label_studio_url == "http://label-studio:8080"
    assert str(settings.model_dir) == "/data" and str(settings.pool_path) == "/pool/pool.yaml"
    assert settings.redis_queue == "modelpicker" and settings.redis_url == "redis://redis:6379/0"


def test_worker_runs_rq_on_the_backends_queue_with_the_same_image_and_state(services):
    backend, worker = services["backend"], services["worker"]
    assert worker["build"] == backend["build"] and worker["image"] == backend["image"]
    assert environment(worker) == environment(backend)
    command = " ".join(worker["command"])
    assert ("rq worker --with-scheduler" in command and "SimpleWorker" in command
            and '"$$REDIS_URL"' in command and '"$$RQ_QUEUE_NAME"' in command)
    assert mounts(backend)["/data"] == "backend-exports"
    assert worker["healthcheck"] == {"disable": True}
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"


def test_the_worker_scales(services):
    """`docker compose up --scale worker=3`: nothing a replica would have to itself or fight over."""
    worker = services["worker"]
    for key in ("container_name", "ports", "hostname"):
        assert key not in worker, key
    assert worker.get("deploy", {}).get("replicas") is None  # --scale decides
    # no named volume (per-replica state two replicas would share), only read-only bind mounts
    for entry in worker.get("volumes", []):
        source, _, mode = entry.split(":")
        assert source.startswith("./") and mode == "ro", entry
    assert urlsplit(substituted(environment(worker)["DATABASE_URL"])).hostname == "postgres"  # shared state
    assert "exactly one" not in COMPOSE_PATH.read_text()


def test_every_image_is_pinned(services):
    for name, service in services.items():
        if "build" in service:
            dockerfile = REPO_ROOT / service["build"]["context"] / service["build"]["dockerfile"]
            bases = [args.split()[0] for instruction, args in dockerfile_instructions(dockerfile)
                     if instruction == "FROM"]
            images = bases
        else:
            images = [service["image"]]
        for image in images:
            assert re.fullmatch(r"[a-z0-9./-]+:[A-Za-z0-9._-]+", image), f"{name}: {image} has no tag"
            assert not image.endswith(":latest"), f"{name}: {image}"


def test_redis_service(services):
    redis = services["redis"]
    assert redis["image"].startswith("redis:")
    assert mounts(redis)["/data"] == "redis-data"
    assert "redis-cli" in redis["healthcheck"]["test"]


def test_named_volumes_are_declared(compose, services):
    named = {source for s in services.values() for source in mounts(s).values() if not source.startswith(".")}
    assert named == set(compose["volumes"]) == {"postgres-data", "label-studio-data", "redis-data",
                                                "backend-exports"}


def test_every_bind_mount_exists():
    for service in yaml.safe_load(COMPOSE_PATH.read_text())["services"].values():
        for source in mounts(service).values():
            if source.startswith("./") and source != "./pool":  # ./pool is the user's (README)
                assert (REPO_ROOT / source).exists(), source


def environment_lines(text: str) -> list[tuple[int, str, bool]]:
    """``(line number, variable, has a comment)`` for every line inside an environment block.

    A variable is commented when its line ends with a comment or the line
    above it is a comment line.
    """
    lines = text.split("\n")
    found, block_indent = [], None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if block_indent is not None and stripped and not stripped.startswith("#") and indent <= block_indent:
            block_indent = None
        if stripped.startswith("environment:") or stripped.startswith("x-backend-environment:"):
            block_indent = indent
            continue
        if block_indent is None or not stripped or stripped.startswith("#"):
            continue
        match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*:", stripped)
        if not match:
            continue
        above = lines[number - 2].strip() if number >= 2 else ""
        found.append((number, match.group(1), " #" in stripped or above.startswith("#")))
    return found


def test_every_environment_variable_is_explained_in_a_comment(services):
    text = COMPOSE_PATH.read_text()
    found = environment_lines(text)
    uncommented = [f"line {n}: {name}" for n, name, commented in found if not commented]
    assert not uncommented, f"environment variables without a comment: {uncommented}"
    # the scan saw every variable compose will set
    declared = {name for s in services.values() for name in environment(s)}
    assert {name for _, name, _ in found} == declared


def test_comment_check_catches_a_missing_comment():
    text = "x-backend-environment: &e\n  # ok\n  A: 1\n  B: 2\nservices:\n  s:\n    environment:\n      C: 3 # ok\n"
    assert [(name, commented) for _, name, commented in environment_lines(text)] == [
        ("A", True), ("B", False), ("C", True)]


def dockerfile_instructions(path: Path = DOCKERFILE_PATH) -> list[tuple[str, str]]:
    text = path.read_text().replace("\\\n", " ")
    return [tuple(line.strip().split(None, 1)) for line in text.split("\n")
            if line.strip() and not line.strip().startswith("#")]


def test_dockerfile():
    instructions = dockerfile_instructions()
    first = dict(instructions[:1])
    assert first == {"FROM": "python:3.11-slim"}
    by_name: dict[str, list[str]] = {}
    for name, args in instructions:
        by_name.setdefault(name, []).append(args)
    assert by_name["EXPOSE"] == ["9090"]
    assert json.loads(by_name["CMD"][-1]) == ["gunicorn", "-c", "python:backend.gunicorn_conf", "backend.wsgi:app"]
    env_line = " ".join(by_name["ENV"])
    assert "HOST=0.0.0.0" in env_line and "BASIC_AUTH_PASS" not in env_line  # credentials come from outside
    assert any("requirements.txt" in args for args in by_name["COPY"])
    assert any("pip install -r requirements.txt" in args for args in by_name["RUN"])
    users = by_name["USER"]
    assert users and users[-1] not in ("root", "0")
    copied = " ".join(by_name["COPY"])
    assert "modelpicker_core/" in copied and "backend/" in copied


# --- the PostgreSQL part, run for real (no Docker: the script against a throw-away cluster) -----------

@pytest.fixture(scope="module")
def cluster_after_first_start(services):
    """A throw-away cluster on which the compose file's first-start script ran, as the postgres image runs it:
    its superuser, the service's environment (passwords from :data:`SAMPLE_ENV`), ``sh``."""
    bin_dir = find_pg_bin()
    with postgres_server(PORTS) as server_url:
        server = urlsplit(server_url)
        env = {k: substituted(v) for k, v in environment(services["postgres"]).items()}
        env |= {"POSTGRES_USER": PG_USER, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                "PGHOST": server.hostname, "PGPORT": str(server.port), "PGPASSWORD": server.password}
        done = subprocess.run(["sh", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        yield server


def _login(server, user: str, password: str, database: str):
    import psycopg

    return psycopg.connect(host=server.hostname, port=server.port, user=user, password=password, dbname=database,
                           connect_timeout=5, autocommit=True)


def test_first_start_script_creates_both_databases_each_for_its_own_role(cluster_after_first_start):
    import psycopg

    server = cluster_after_first_start
    with _login(server, LS_ROLE, SAMPLE_ENV["LS_DB_PASSWORD"], LS_DATABASE) as ls:
        ls.execute("CREATE TABLE django_probe (id int)")  # Label Studio's migrations create tables
        assert ls.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
    with _login(server, BACKEND_ROLE, SAMPLE_ENV["BACKEND_DB_PASSWORD"], BACKEND_DATABASE) as backend:
        assert backend.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
    # neither may enter the other's database
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        _login(server, LS_ROLE, SAMPLE_ENV["LS_DB_PASSWORD"], BACKEND_DATABASE)
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        _login(server, BACKEND_ROLE, SAMPLE_ENV["BACKEND_DB_PASSWORD"], LS_DATABASE)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _login(server, BACKEND_ROLE, "wrong", BACKEND_DATABASE)


def test_backend_opens_and_migrates_its_store_with_the_compose_database_url(services, cluster_after_first_start):
    """The compose file's DATABASE_URL, with the postgres service's host swapped for the cluster's: the backend's
    settings accept it and its store is created and migrated at the newest revision by the role ``backend``."""
    from backend.store import open_store
    from backend.store.migrate import head

    server = cluster_after_first_start
    env = {k: substituted(v) for k, v in environment(services["backend"]).items()}
    env["DATABASE_URL"] = env["DATABASE_URL"].replace("@postgres:5432/", f"@{server.hostname}:{server.port}/")
    settings = from_env(env)
    for _ in range(2):  # the backend, then a worker (which finds it migrated)
        store = open_store(settings.database_url, settings.db_path)
        try:
            assert store.schema_revision() == head()
            assert BACKEND_DATABASE in store.describe() and SAMPLE_ENV["BACKEND_DB_PASSWORD"] not in store.describe()
        finally:
            store.close()
