"""Structure of docker-compose.yml and backend/Dockerfile (Docker itself does not run here)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from backend.settings import check_bind, from_env

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_PATH = REPO_ROOT / "docker-compose.yml"
DOCKERFILE_PATH = REPO_ROOT / "backend" / "Dockerfile"
SERVICES = {"label-studio", "redis", "backend", "worker"}
BACKEND_VARIABLES = {"LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "MODEL_DIR", "REDIS_URL", "MODELPICKER_POOL"}


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


#: what `make compose-env` would put in .env (any values of the right form)
SAMPLE_ENV = {"LS_TOKEN": "0" * 40, "LS_PASSWORD": "pw", "BACKEND_PASSWORD": "backend-pw"}


def resolved(value: str) -> str:
    name = required(value)
    return SAMPLE_ENV[name] if name else default_of(value)


def mounts(service: dict) -> dict[str, str]:
    """``{container path: source}`` of a service's volumes."""
    result = {}
    for entry in service.get("volumes", []):
        source, target, *_ = entry.split(":")
        result[target] = source
    return result


def test_the_four_services(services):
    assert set(services) == SERVICES


def test_label_studio_service(services):
    ls = services["label-studio"]
    assert ls["image"] == "heartexlabs/label-studio:1.23.2"
    assert ls["ports"] == ["127.0.0.1:8080:8080"]
    env = environment(ls)
    assert env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    assert env["ML_BLOCK_LOCAL_IP"] == "false" and env["SSRF_PROTECTION_ENABLED"] == "false"
    assert mounts(ls)["/label-studio/data"] == "label-studio-data"


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
    assert volumes[env["MODEL_DIR"]] == "backend-state"
    assert env["MODELPICKER_POOL"].startswith("/pool/") and volumes["/pool"] == "./pool"
    assert set(backend["depends_on"]) == {"redis", "label-studio"}
    assert backend["depends_on"]["redis"]["condition"] == "service_healthy"


def test_backend_token_is_label_studios_admin_token(services):
    backend_key = required(environment(services["backend"])["LABEL_STUDIO_API_KEY"])
    ls_token = required(environment(services["label-studio"])["LABEL_STUDIO_USER_TOKEN"])
    assert backend_key == ls_token == "LS_TOKEN"


SECRETS = ("LABEL_STUDIO_API_KEY", "LABEL_STUDIO_USER_TOKEN", "LABEL_STUDIO_PASSWORD", "BASIC_AUTH_PASS")


def test_no_secret_has_a_shared_default_every_one_is_required(services):
    for service in services.values():
        for name, value in environment(service).items():
            if name in SECRETS:
                assert required(value), f"{name} must be ${{VAR:?message}}, got {value!r}"
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
    assert mounts(worker)["/data"] == mounts(backend)["/data"] == "backend-state"
    assert worker["healthcheck"] == {"disable": True}
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"


def test_redis_service(services):
    redis = services["redis"]
    assert redis["image"].startswith("redis:")
    assert mounts(redis)["/data"] == "redis-data"
    assert "redis-cli" in redis["healthcheck"]["test"]


def test_named_volumes_are_declared(compose, services):
    named = {source for s in services.values() for source in mounts(s).values() if not source.startswith(".")}
    assert named == set(compose["volumes"]) == {"label-studio-data", "redis-data", "backend-state"}


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


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE_PATH.read_text().replace("\\\n", " ")
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
