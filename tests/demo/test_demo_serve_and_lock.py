"""make serve's pool check, the constraints generator and the install files that use it."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from demo.config import ConfigError
from demo.lock import LockError, closure, parse_requirements, render
from demo.serve import backend_login, check_pool

REPO_ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ serve
@pytest.mark.parametrize("pool, message", [(None, "no candidate pool given"), ("  ", "no candidate pool given"),
                                           ("/no/such/pool.yaml", "pool file /no/such/pool.yaml does not exist")])
def test_check_pool_says_what_is_missing_and_how_to_call(pool, message):
    with pytest.raises(ConfigError) as info:
        check_pool(pool)
    assert message in str(info.value) and "make serve POOL=path/to/pool.yaml" in str(info.value)


def test_check_pool_rejects_a_directory_and_resolves_a_file(tmp_path):
    with pytest.raises(ConfigError, match="is not a file"):
        check_pool(str(tmp_path))
    (tmp_path / "pool.yaml").write_text("x")
    assert check_pool(str(tmp_path / "pool.yaml")) == (tmp_path / "pool.yaml").resolve()


def test_make_serve_login_is_made_once_with_mode_0600(tmp_path):
    import json
    import stat

    user, password, path = backend_login(tmp_path / "state")
    assert path == tmp_path / "state" / "basic-auth.json" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert user == "modelpicker" and len(password) == 32
    assert backend_login(tmp_path / "state") == (user, password, path)
    assert json.loads(path.read_text()) == {"user": user, "password": password}


def _make(*args: str) -> subprocess.CompletedProcess:
    # -o .venv/.installed: take the venv as up to date (the test must not reinstall it)
    return subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("pool", ["", "/no/such/pool.yaml"])
def test_make_serve_with_a_missing_pool_is_a_clear_message_not_makes_own(pool):
    result = _make("serve", f"POOL={pool}")
    assert result.returncode != 0
    assert "No rule to make target" not in result.stderr
    assert "make serve POOL=path/to/pool.yaml" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_make_run_calls_the_demo_entry_point_with_its_variables(tmp_path):
    (tmp_path / "pool.yaml").write_text("x")  # the example counts as built
    result = _make("-n", "run", f"EXAMPLE_DIR={tmp_path}", f"DEMO_DIR={tmp_path}/demo", "LS_PORT=18001",
                   "BACKEND_PORT=19001", "REDIS_PORT=16001")
    assert result.returncode == 0, result.stderr
    command = " ".join(result.stdout.replace("\\\n", " ").split())
    assert ".venv/bin/python -m demo run" in command
    for expected in (f'--demo-dir "{tmp_path}/demo"', f'--example-dir "{tmp_path}"', "--ls-port 18001",
                     "--backend-port 19001", "--redis-port 16001"):
        assert expected in command, expected


def test_demo_cli_rejects_a_bad_port_without_a_traceback():
    result = subprocess.run([sys.executable, "-m", "demo", "run", "--ls-port", "99999"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "port 99999 is outside 1-65535" in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------- lock
FAKE = {
    "app": ("app", "1.0", ["lib>=2", "extra-only; extra == 'fast'", "win-only; sys_platform == 'win32'"]),
    "lib": ("Lib", "2.5", ["base"]),
    "base": ("base", "0.1", []),
    "extra-only": ("extra_only", "3.0", []),
}


def test_closure_follows_requirements_markers_and_extras():
    installed = FAKE.get
    plain = closure(parse_requirements(["app==1.0  # comment", "", "# only a comment"]), installed)
    assert render(plain, "") == "app==1.0\nbase==0.1\nLib==2.5\n"  # sorted by canonical name
    with_extra = closure(parse_requirements(["app[fast]"]), installed)
    assert "extra-only" in with_extra and "win-only" not in with_extra


def test_closure_names_a_missing_or_mismatched_requirement():
    with pytest.raises(LockError, match="lib is required but not installed"):
        closure(parse_requirements(["lib"]), {}.get)
    with pytest.raises(LockError, match=r"installed Lib 2.5 does not satisfy lib>=3"):
        closure(parse_requirements(["lib>=3"]), FAKE.get)
    with pytest.raises(LockError, match="line 2"):
        parse_requirements(["ok", "not a requirement !!"])


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_constraints_pin_every_requirement_to_a_version_it_accepts():
    pins = _pins(REPO_ROOT / "constraints.txt")
    for requirement in parse_requirements((REPO_ROOT / "requirements.txt").read_text().splitlines()):
        key = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert key in pins, f"{requirement.name} is in requirements.txt but not pinned: run make constraints"
        assert requirement.specifier.contains(pins[key], prereleases=True), (requirement, pins[key])


def test_label_studio_constraints_pin_the_tested_release():
    pins = _pins(REPO_ROOT / "demo" / "label-studio-constraints.txt")
    assert pins["label-studio"] == "1.23.2" and len(pins) > 50
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", v) for v in pins.values())
    assert Requirement("label-studio==1.23.2")


def test_makefile_and_dockerfile_install_with_the_constraints():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "pip install --quiet -r requirements.txt -c constraints.txt" in makefile
    assert "-c $(LS_CONSTRAINTS) label-studio==1.23.2" in makefile
    dockerfile = (REPO_ROOT / "backend" / "Dockerfile").read_text()
    assert "RUN pip install -r requirements.txt -c constraints.txt" in dockerfile
